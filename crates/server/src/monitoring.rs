//! Runs the checks of `serve`: those of `[[checks]]` and those made through
//! the API (tenant documents of kind `check`), on the monitor crate's
//! scheduler. Results are stored as samples (batched), states are saved
//! when they change, and a hard change to a problem becomes an alert of
//! domain `operations`, which the incident worker files like any other.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use watchfloor_model::now_ns;
use watchfloor_model::{Alert, AlertKind, Domain, Severity};
use watchfloor_monitor::flap::FlapChange;
use watchfloor_monitor::maintenance::MaintenanceWindow;
use watchfloor_monitor::topology::{NodeState, Own, Topology};
use watchfloor_monitor::{CheckState, Control, Monitor, MonitorSpec, Outcome, Report, Status};
use watchfloor_state::{AlertStore, CheckSample, CheckStore, DocumentStore};

use crate::config::MonitorConfig;

/// Document kind of checks made through the API.
pub const CHECK_DOC: &str = "check";
/// Document kind of maintenance windows.
pub const MAINTENANCE_DOC: &str = "maintenance";

/// Document kind (and name) of a tenant's topology.
pub const TOPOLOGY_DOC: &str = "topology";
pub const TOPOLOGY_NAME: &str = "default";

/// Every tenant's topology, as last read.
pub type Topologies = Arc<RwLock<HashMap<String, Topology>>>;

fn load_topologies(outbox: &dyn DocumentStore) -> HashMap<String, Topology> {
    let mut out = HashMap::new();
    match outbox.documents_of_kind(TOPOLOGY_DOC) {
        Ok(docs) => {
            for d in docs.into_iter().filter(|d| d.name == TOPOLOGY_NAME) {
                match serde_json::from_value(d.body) {
                    Ok(t) => {
                        out.insert(d.tenant, t);
                    }
                    Err(e) => tracing::error!("topology of {}: {e}", d.tenant),
                }
            }
        }
        Err(e) => tracing::error!("reading topologies: {e}"),
    }
    out
}

/// Every tenant's maintenance windows, as last read.
pub type Windows = Arc<RwLock<HashMap<String, Vec<MaintenanceWindow>>>>;

fn load_windows(outbox: &dyn DocumentStore) -> HashMap<String, Vec<MaintenanceWindow>> {
    let mut out: HashMap<String, Vec<MaintenanceWindow>> = HashMap::new();
    match outbox.documents_of_kind(MAINTENANCE_DOC) {
        Ok(docs) => {
            for d in docs {
                match serde_json::from_value(d.body) {
                    Ok(w) => out.entry(d.tenant).or_default().push(w),
                    Err(e) => tracing::error!("maintenance {:?} of {}: {e}", d.name, d.tenant),
                }
            }
        }
        Err(e) => tracing::error!("reading maintenance windows: {e}"),
    }
    out
}

fn in_maintenance(
    windows: &Windows,
    tenant: &str,
    check: &str,
    node: Option<&str>,
    at: i64,
) -> bool {
    let windows = windows.read().unwrap_or_else(|p| p.into_inner());
    windows
        .get(tenant)
        .is_some_and(|ws| ws.iter().any(|w| w.covers(check, node) && w.active_at(at)))
}

/// What the API shows of a check.
#[derive(Clone)]
pub struct Live {
    pub monitor: Arc<Monitor>,
    /// Defined in the configuration file (not changeable through the API).
    pub from_config: bool,
    pub state: Option<CheckState>,
    pub last: Option<Outcome>,
}

/// The API's handle on the running checks.
#[derive(Clone)]
pub struct Monitoring {
    pub control: mpsc::Sender<Control>,
    /// By (tenant, name).
    pub live: Arc<RwLock<HashMap<(String, String), Live>>>,
    pub windows: Windows,
    pub topologies: Topologies,
    outbox: Arc<dyn DocumentStore>,
}

impl Monitoring {
    pub fn of_tenant(&self, tenant: &str) -> Vec<Live> {
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Live> = live
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, l)| l.clone())
            .collect();
        out.sort_by(|a, b| a.monitor.name.cmp(&b.monitor.name));
        out
    }

    pub fn get(&self, tenant: &str, name: &str) -> Option<Live> {
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        live.get(&(tenant.to_string(), name.to_string())).cloned()
    }

    /// Starts or replaces a check.
    pub async fn upsert(&self, monitor: Monitor, from_config: bool) {
        {
            let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
            let key = (monitor.tenant.clone(), monitor.name.clone());
            let previous = live.remove(&key);
            live.insert(
                key,
                Live {
                    monitor: Arc::new(monitor.clone()),
                    from_config,
                    state: previous.as_ref().and_then(|p| p.state.clone()),
                    last: previous.and_then(|p| p.last),
                },
            );
        }
        let _ = self
            .control
            .send(Control::Upsert(Box::new(scheduled(monitor))))
            .await;
    }

    /// Reads the topologies again (after a change through the API).
    pub async fn reload_topologies(&self) {
        let outbox = self.outbox.clone();
        if let Ok(t) = tokio::task::spawn_blocking(move || load_topologies(outbox.as_ref())).await {
            *self.topologies.write().unwrap_or_else(|p| p.into_inner()) = t;
        }
    }

    /// A tenant's topology (empty when it has none).
    pub fn topology_of(&self, tenant: &str) -> Topology {
        let all = self.topologies.read().unwrap_or_else(|p| p.into_inner());
        all.get(tenant).cloned().unwrap_or_default()
    }

    /// What each node's own checks say, for a tenant.
    pub fn own_states(&self, tenant: &str) -> HashMap<String, Own> {
        own_states(&self.live, tenant)
    }

    /// Reads the maintenance windows again (after a change through the API).
    pub async fn reload_windows(&self) {
        let outbox = self.outbox.clone();
        if let Ok(w) = tokio::task::spawn_blocking(move || load_windows(outbox.as_ref())).await {
            *self.windows.write().unwrap_or_else(|p| p.into_inner()) = w;
        }
    }

    pub async fn remove(&self, tenant: &str, name: &str) {
        self.live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(tenant.to_string(), name.to_string()));
        let _ = self
            .control
            .send(Control::Remove(scheduler_name(tenant, name)))
            .await;
    }
}

/// Names are unique per tenant; the scheduler knows them as `tenant/name`.
fn scheduler_name(tenant: &str, name: &str) -> String {
    format!("{tenant}/{name}")
}

fn scheduled(mut m: Monitor) -> Monitor {
    m.name = scheduler_name(&m.tenant, &m.name);
    m
}

/// The checks to run at start: the configuration's, then the API's.
fn initial_monitors(
    specs: &[MonitorSpec],
    default_tenant: &str,
    outbox: &dyn DocumentStore,
) -> Vec<(Monitor, bool)> {
    let mut out: Vec<(Monitor, bool)> = specs
        .iter()
        .map(|s| (s.to_monitor(default_tenant), true))
        .collect();
    match outbox.documents_of_kind(CHECK_DOC) {
        Ok(docs) => {
            for d in docs {
                match serde_json::from_value::<MonitorSpec>(d.body) {
                    Ok(spec) => out.push((spec.to_monitor(&d.tenant), false)),
                    Err(e) => tracing::error!("check {:?} of tenant {}: {e}", d.name, d.tenant),
                }
            }
        }
        Err(e) => tracing::error!("reading the checks made through the API: {e}"),
    }
    out
}

fn saved_states(store: &dyn CheckStore) -> HashMap<String, CheckState> {
    store
        .check_states()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(t, n, v)| Some((scheduler_name(&t, &n), serde_json::from_value(v).ok()?)))
        .collect()
}

/// Starts the scheduler and the task that stores what it reports.
#[allow(clippy::too_many_arguments)]
pub fn start(
    specs: &[MonitorSpec],
    default_tenant: &str,
    cfg: &MonitorConfig,
    appender: watchfloor_ingest::Appender,
    checks: Arc<dyn CheckStore>,
    outbox: Arc<dyn DocumentStore>,
    alerts: Arc<dyn AlertStore>,
) -> Monitoring {
    let monitors = initial_monitors(specs, default_tenant, outbox.as_ref());
    let states = saved_states(checks.as_ref());
    let live: HashMap<(String, String), Live> = monitors
        .iter()
        .map(|(m, from_config)| {
            let state = states.get(&scheduler_name(&m.tenant, &m.name)).cloned();
            (
                (m.tenant.clone(), m.name.clone()),
                Live {
                    monitor: Arc::new(m.clone()),
                    from_config: *from_config,
                    state,
                    last: None,
                },
            )
        })
        .collect();
    let live = Arc::new(RwLock::new(live));
    let windows: Windows = Arc::new(RwLock::new(load_windows(outbox.as_ref())));
    let topologies: Topologies = Arc::new(RwLock::new(load_topologies(outbox.as_ref())));
    let (control, control_rx) = mpsc::channel(256);
    let (reports_tx, reports_rx) = mpsc::channel(4096);
    let scheduled_monitors: Vec<Monitor> =
        monitors.into_iter().map(|(m, _)| scheduled(m)).collect();
    tokio::spawn(watchfloor_monitor::scheduler::run(
        scheduled_monitors,
        states,
        control_rx,
        reports_tx,
        cfg.max_concurrent as usize,
    ));
    let sink = Sink {
        live: live.clone(),
        windows: windows.clone(),
        topologies: topologies.clone(),
        control: control.clone(),
        checks: checks.clone(),
        alerts,
        appender,
    };
    tokio::spawn(sink.run(reports_rx));
    tokio::spawn(downsample(checks, cfg.clone()));
    Monitoring {
        control,
        live,
        windows,
        topologies,
        outbox,
    }
}

/// Per node: down when one of its checks is hard CRITICAL or UNKNOWN, up
/// when its checks have results and none is, no data otherwise.
fn own_states(
    live: &RwLock<HashMap<(String, String), Live>>,
    tenant: &str,
) -> HashMap<String, Own> {
    let live = live.read().unwrap_or_else(|p| p.into_inner());
    let mut out: HashMap<String, Own> = HashMap::new();
    for ((t, _), l) in live.iter() {
        let (Some(node), Some(state)) = (&l.monitor.host, &l.state) else {
            continue;
        };
        if t != tenant || state.last_check_ns == 0 {
            continue;
        }
        let down = matches!(state.hard_status, Status::Critical | Status::Unknown);
        let entry = out.entry(node.clone()).or_insert(Own::Up);
        if down {
            *entry = Own::Down;
        }
    }
    out
}

fn sample(r: &Report, tenant: &str, name: &str, maintenance: bool) -> CheckSample {
    CheckSample {
        maintenance,
        output: (r.outcome.status != Status::Ok).then(|| r.outcome.summary.clone()),
        tenant: tenant.to_string(),
        check: name.to_string(),
        time_ns: r.at_ns,
        status: r.outcome.status.exit_code(),
        hard: r.state.hard,
        latency_ms: r.outcome.latency_ms,
        cert_days_left: r.outcome.cert_days_left,
    }
}

fn level(s: Status) -> Severity {
    match s {
        Status::Critical => Severity::Critical,
        Status::Warning => Severity::Medium,
        Status::Unknown => Severity::High,
        Status::Ok => Severity::Informational,
    }
}

fn flapping_alert(r: &Report, tenant: &str, name: &str, percent: f64) -> Alert {
    let mut a = base_alert(r, tenant, name, r.at_ns);
    a.key = format!("check:{tenant}:{name}:flapping:{}", r.at_ns);
    a.rule_title = format!(
        "{} {name} FLAPPING: {percent:.0}% state change over the last results",
        r.monitor.check.service()
    );
    a.level = Severity::High;
    a.fields.insert("status".into(), json!("FLAPPING"));
    a.fields
        .insert("state_change_percent".into(), json!(percent));
    a
}

/// The alert for a hard change to a problem: the root cause of an
/// outage, or (with `behind`) a node cut off by it, attached to the root's
/// alert through `parent` so that it joins the root's incident.
fn problem_alert(
    r: &Report,
    tenant: &str,
    name: &str,
    behind: Option<(&[String], Option<String>)>,
) -> Option<Alert> {
    let change = r.change.as_ref().filter(|c| c.to != Status::Ok)?;
    let mut a = base_alert(r, tenant, name, change.at_ns);
    a.fields.insert("status".into(), json!(change.to.as_str()));
    a.fields
        .insert("previous".into(), json!(change.from.as_str()));
    a.fields.insert("output".into(), json!(change.output));
    let service = r.monitor.check.service();
    match behind {
        None => {
            a.rule_title = format!("{service} {name} {}: {}", change.to.as_str(), change.output);
            a.level = level(change.to);
        }
        Some((roots, parent)) => {
            a.rule_title = format!("{service} {name} UNREACHABLE behind {}", roots.join(", "));
            a.level = Severity::Low;
            a.fields.insert("state".into(), json!("UNREACHABLE"));
            a.fields.insert("root_cause".into(), json!(roots));
            a.parent = parent;
        }
    }
    Some(a)
}

fn base_alert(r: &Report, tenant: &str, name: &str, at_ns: i64) -> Alert {
    let m = &r.monitor;
    let mut fields = serde_json::Map::new();
    fields.insert("check".into(), json!(name));
    fields.insert("check_type".into(), json!(m.check.service()));
    fields.insert("target".into(), json!(m.check.describe()));
    if let Some(s) = &m.service {
        fields.insert("service".into(), json!(s));
    }
    Alert {
        id: 0,
        key: format!("check:{tenant}:{name}:{at_ns}"),
        tenant: tenant.to_string(),
        domain: Domain::Operations,
        rule_id: Some(format!("check:{name}")),
        rule_title: String::new(),
        kind: AlertKind::Check,
        level: Severity::Medium,
        tags: Vec::new(),
        time_ns: at_ns,
        created_ns: now_ns(),
        host: m.host.clone(),
        user: None,
        ips: Vec::new(),
        event_ids: Vec::new(),
        fields,
        value: r.outcome.latency_ms,
        parent: None,
        incident_id: None,
    }
}

/// A problem held back until the node's parents have been checked again,
/// so that a host behind a failed router is not paged as its own outage.
struct Held {
    report: Report,
    tenant: String,
    name: String,
    node: String,
    asked_ns: i64,
    since: std::time::Instant,
}

/// How long a problem waits for its parents' fresh results at most.
const SETTLE: Duration = Duration::from_secs(30);

/// Takes the scheduler's reports: samples in batches (every second),
/// states that changed, alerts with the topology's root cause applied.
struct Sink {
    live: Arc<RwLock<HashMap<(String, String), Live>>>,
    windows: Windows,
    topologies: Topologies,
    control: mpsc::Sender<Control>,
    checks: Arc<dyn CheckStore>,
    alerts: Arc<dyn AlertStore>,
    /// State changes also go into the event stream, searchable like logs.
    appender: watchfloor_ingest::Appender,
}

#[derive(Default)]
struct Batch {
    samples: Vec<CheckSample>,
    states: Vec<(String, String, CheckState)>,
    alerts: Vec<Alert>,
    held: Vec<Held>,
    /// (tenant, node) of a down root cause, to its alert's dedup key.
    roots: HashMap<(String, String), String>,
}

impl Sink {
    async fn run(self, mut rx: mpsc::Receiver<Report>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut b = Batch::default();
        loop {
            tokio::select! {
                report = rx.recv() => {
                    let Some(r) = report else { break };
                    self.take(r, &mut b).await;
                    self.settle(&mut b, false);
                }
                _ = tick.tick() => {
                    self.settle(&mut b, false);
                    self.flush(&mut b).await;
                }
            }
        }
        self.settle(&mut b, true);
        self.flush(&mut b).await;
    }

    async fn take(&self, r: Report, b: &mut Batch) {
        let Some((tenant, name)) = r.monitor.name.split_once('/') else {
            return;
        };
        let (tenant, name) = (tenant.to_string(), name.to_string());
        let node = r.monitor.host.clone();
        let quiet = in_maintenance(&self.windows, &tenant, &name, node.as_deref(), r.at_ns);
        b.samples.push(sample(&r, &tenant, &name, quiet));
        self.remember(&r, &tenant, &name, b);
        self.record_event(&r, &tenant, &name, quiet);
        if quiet {
            return;
        }
        if let Some(FlapChange::Started { percent }) = r.flap {
            b.alerts.push(flapping_alert(&r, &tenant, &name, percent));
            return;
        }
        let Some(change) = r.change.clone().filter(|_| !r.state.flap.flapping) else {
            return;
        };
        if change.to == Status::Ok {
            if let Some(n) = node {
                b.roots.remove(&(tenant, n));
            }
            return;
        }
        match node.filter(|n| !self.parent_checks(&tenant, n).is_empty()) {
            Some(node) => {
                for parent in self.parent_checks(&tenant, &node) {
                    let _ = self
                        .control
                        .send(Control::RunNow(scheduler_name(&tenant, &parent)))
                        .await;
                }
                b.held.push(Held {
                    report: r,
                    tenant,
                    name,
                    node,
                    asked_ns: watchfloor_model::now_ns(),
                    since: std::time::Instant::now(),
                });
            }
            None => self.raise_root(&r, &tenant, &name, b),
        }
    }

    /// Writes a hard state change (and the start or end of flapping) into
    /// the event log, as JSON from source `monitor`.
    fn record_event(&self, r: &Report, tenant: &str, name: &str, maintenance: bool) {
        let m = &r.monitor;
        let mut events = Vec::new();
        if let Some(c) = &r.change {
            events.push(json!({
                "@timestamp": watchfloor_model::format_rfc3339(c.at_ns),
                "event": {"module": "monitor", "kind": "state_change"},
                "check": name, "check_type": m.check.service(), "target": m.check.describe(),
                "node": m.host, "service": m.service, "state": c.to.as_str(),
                "previous": c.from.as_str(), "output": c.output, "maintenance": maintenance,
                "message": format!("{} {name} {} (was {}): {}", m.check.service(), c.to.as_str(), c.from.as_str(), c.output),
            }));
        }
        if let Some(f) = r.flap {
            let (what, percent) = match f {
                FlapChange::Started { percent } => ("flapping_started", percent),
                FlapChange::Stopped { percent } => ("flapping_stopped", percent),
            };
            events.push(json!({
                "@timestamp": watchfloor_model::format_rfc3339(r.at_ns),
                "event": {"module": "monitor", "kind": what},
                "check": name, "node": m.host, "state_change_percent": percent,
                "message": format!("{} {name}: {what} ({percent:.0}% state change)", m.check.service()),
            }));
        }
        if events.is_empty() {
            return;
        }
        let records: Vec<watchfloor_ingest::RawRecord> = events
            .iter()
            .map(|e| watchfloor_ingest::RawRecord {
                received_ns: watchfloor_model::now_ns(),
                kind: watchfloor_ingest::Kind::Json,
                source: "monitor".into(),
                tenant: tenant.to_string(),
                peer: String::new(),
                truncated: false,
                body: e.to_string().into_bytes(),
            })
            .collect();
        let appender = self.appender.clone();
        tokio::spawn(async move {
            if let Err(e) = appender.append(records).await {
                tracing::error!("writing a check state change to the log: {e}");
            }
        });
    }

    /// Keeps the live state for the API and queues changed states.
    fn remember(&self, r: &Report, tenant: &str, name: &str, b: &mut Batch) {
        let mut live = self.live.write().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = live.get_mut(&(tenant.to_string(), name.to_string())) {
            let changed = l.state.as_ref().is_none_or(|s| {
                (s.status, s.hard, s.attempt, s.hard_status, s.flap.flapping)
                    != (
                        r.state.status,
                        r.state.hard,
                        r.state.attempt,
                        r.state.hard_status,
                        r.state.flap.flapping,
                    )
            });
            if changed {
                b.states
                    .push((tenant.to_string(), name.to_string(), r.state.clone()));
            }
            l.state = Some(r.state.clone());
            l.last = Some(r.outcome.clone());
        }
    }

    fn raise_root(&self, r: &Report, tenant: &str, name: &str, b: &mut Batch) {
        if let Some(a) = problem_alert(r, tenant, name, None) {
            if let Some(node) = &r.monitor.host {
                b.roots.insert(
                    (tenant.to_string(), node.clone()),
                    watchfloor_incident::grouping::dedup_key(&a),
                );
            }
            b.alerts.push(a);
        }
    }

    /// The checks of the parents of `node` in the tenant's topology.
    fn parent_checks(&self, tenant: &str, node: &str) -> Vec<String> {
        let topologies = self.topologies.read().unwrap_or_else(|p| p.into_inner());
        let Some(parents) = topologies
            .get(tenant)
            .and_then(|t| t.nodes.iter().find(|n| n.name == node))
            .map(|n| n.parents.clone())
        else {
            return Vec::new();
        };
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        live.iter()
            .filter(|((t, _), l)| {
                t == tenant && l.monitor.host.as_ref().is_some_and(|h| parents.contains(h))
            })
            .map(|((_, n), _)| n.clone())
            .collect()
    }

    /// Whether every parent check has a result since `asked_ns`.
    fn parents_fresh(&self, tenant: &str, node: &str, asked_ns: i64) -> bool {
        let parents = self.parent_checks(tenant, node);
        let live = self.live.read().unwrap_or_else(|p| p.into_inner());
        parents.iter().all(|p| {
            live.get(&(tenant.to_string(), p.clone()))
                .and_then(|l| l.state.as_ref())
                .is_some_and(|s| s.last_check_ns >= asked_ns && s.hard)
        })
    }

    /// Decides the held problems whose parents have answered (or after
    /// [`SETTLE`], or at shutdown): unreachable behind a down parent, or a
    /// root cause of its own.
    fn settle(&self, b: &mut Batch, all: bool) {
        let held = std::mem::take(&mut b.held);
        for h in held {
            let ready = all
                || h.since.elapsed() >= SETTLE
                || self.parents_fresh(&h.tenant, &h.node, h.asked_ns);
            if !ready {
                b.held.push(h);
                continue;
            }
            let evaluated = {
                let topologies = self.topologies.read().unwrap_or_else(|p| p.into_inner());
                topologies.get(&h.tenant).map(|t| {
                    t.evaluate(&own_states(&self.live, &h.tenant))
                        .remove(&h.node)
                })
            };
            match evaluated.flatten() {
                Some(e) if e.state == NodeState::Unreachable => {
                    let roots: Vec<String> = e.root_causes.into_iter().collect();
                    let parent = roots
                        .iter()
                        .find_map(|r| b.roots.get(&(h.tenant.clone(), r.clone())).cloned());
                    b.alerts.extend(problem_alert(
                        &h.report,
                        &h.tenant,
                        &h.name,
                        Some((&roots, parent)),
                    ));
                }
                _ => self.raise_root(&h.report, &h.tenant, &h.name, b),
            }
        }
    }

    async fn flush(&self, b: &mut Batch) {
        let samples = std::mem::take(&mut b.samples);
        let states = std::mem::take(&mut b.states);
        let raised = std::mem::take(&mut b.alerts);
        if samples.is_empty() && states.is_empty() && raised.is_empty() {
            return;
        }
        let (checks, alerts) = (self.checks.clone(), self.alerts.clone());
        let done = tokio::task::spawn_blocking(move || -> Result<(), String> {
            checks.append_samples(&samples).map_err(|e| e.to_string())?;
            for (t, n, s) in &states {
                let v = serde_json::to_value(s).map_err(|e| e.to_string())?;
                checks
                    .save_check_state(t, n, &v)
                    .map_err(|e| e.to_string())?;
            }
            if !raised.is_empty() {
                alerts.insert_alerts(&raised).map_err(|e| e.to_string())?;
            }
            Ok(())
        })
        .await;
        if !matches!(done, Ok(Ok(()))) {
            tracing::error!("storing check results failed: {done:?}");
        }
    }
}

/// Rolls raw results past their retention into hourly rollups, hourly.
async fn downsample(checks: Arc<dyn CheckStore>, cfg: MonitorConfig) {
    const DAY_NS: i64 = 86_400_000_000_000;
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        let now = now_ns();
        let raw = now - cfg.raw_retention_days as i64 * DAY_NS;
        let rollups = now - cfg.rollup_retention_days as i64 * DAY_NS;
        let checks = checks.clone();
        match tokio::task::spawn_blocking(move || checks.downsample(raw, rollups)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!("check results: {n} rolled up into hours"),
            Ok(Err(e)) => tracing::error!("downsampling check results: {e}"),
            _ => {}
        }
    }
}
