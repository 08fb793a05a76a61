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
use watchfloor_ingest::now_ns;
use watchfloor_monitor::flap::FlapChange;
use watchfloor_monitor::maintenance::MaintenanceWindow;
use watchfloor_monitor::{CheckState, Control, Monitor, MonitorSpec, Outcome, Report, Status};
use watchfloor_store::{Alert, CheckSample, CheckStore, OutboxStore, StateStore};

use crate::config::MonitorConfig;

/// Document kind of checks made through the API.
pub const CHECK_DOC: &str = "check";
/// Document kind of maintenance windows.
pub const MAINTENANCE_DOC: &str = "maintenance";

/// Every tenant's maintenance windows, as last read.
pub type Windows = Arc<RwLock<HashMap<String, Vec<MaintenanceWindow>>>>;

fn load_windows(outbox: &dyn OutboxStore) -> HashMap<String, Vec<MaintenanceWindow>> {
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
    outbox: Arc<dyn OutboxStore>,
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
    outbox: &dyn OutboxStore,
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
pub fn start(
    specs: &[MonitorSpec],
    default_tenant: &str,
    cfg: &MonitorConfig,
    checks: Arc<dyn CheckStore>,
    outbox: Arc<dyn OutboxStore>,
    alerts: Arc<dyn StateStore>,
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
    tokio::spawn(store_reports(
        reports_rx,
        live.clone(),
        windows.clone(),
        checks.clone(),
        alerts,
    ));
    tokio::spawn(downsample(checks, cfg.clone()));
    Monitoring {
        control,
        live,
        windows,
        outbox,
    }
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

fn level(s: Status) -> &'static str {
    match s {
        Status::Critical => "critical",
        Status::Warning => "medium",
        Status::Unknown => "high",
        Status::Ok => "informational",
    }
}

/// The alert a result raises, if any: one when flapping starts; else,
/// unless the check flaps, one for a hard change to a problem.
fn alert(r: &Report, tenant: &str, name: &str) -> Option<Alert> {
    if let Some(FlapChange::Started { percent }) = r.flap {
        let mut a = base_alert(r, tenant, name, r.at_ns);
        a.key = format!("check:{tenant}:{name}:flapping:{}", r.at_ns);
        a.rule_title = format!(
            "{} {name} FLAPPING: {percent:.0}% state change over the last results",
            r.monitor.check.service()
        );
        a.level = "high".into();
        a.fields.insert("status".into(), json!("FLAPPING"));
        a.fields
            .insert("state_change_percent".into(), json!(percent));
        return Some(a);
    }
    if r.state.flap.flapping {
        return None;
    }
    let change = r.change.as_ref().filter(|c| c.to != Status::Ok)?;
    let mut a = base_alert(r, tenant, name, change.at_ns);
    a.fields.insert("status".into(), json!(change.to.as_str()));
    a.fields
        .insert("previous".into(), json!(change.from.as_str()));
    a.fields.insert("output".into(), json!(change.output));
    a.rule_title = format!(
        "{} {} {}: {}",
        r.monitor.check.service(),
        name,
        change.to.as_str(),
        change.output
    );
    a.level = level(change.to).into();
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
        domain: "operations".into(),
        rule_id: Some(format!("check:{name}")),
        rule_title: String::new(),
        rule_kind: "check".into(),
        level: "medium".into(),
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

/// Stores samples in batches (every second), saves states that changed,
/// raises alerts for hard problems.
async fn store_reports(
    mut rx: mpsc::Receiver<Report>,
    live: Arc<RwLock<HashMap<(String, String), Live>>>,
    windows: Windows,
    checks: Arc<dyn CheckStore>,
    alerts: Arc<dyn StateStore>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut samples = Vec::new();
    let mut states = Vec::new();
    let mut raised = Vec::new();
    loop {
        tokio::select! {
            report = rx.recv() => {
                let Some(r) = report else { break };
                let Some((tenant, name)) = r.monitor.name.split_once('/') else { continue };
                let (tenant, name) = (tenant.to_string(), name.to_string());
                let quiet = in_maintenance(&windows, &tenant, &name, r.monitor.host.as_deref(), r.at_ns);
                samples.push(sample(&r, &tenant, &name, quiet));
                if !quiet {
                    raised.extend(alert(&r, &tenant, &name));
                }
                let mut live = live.write().unwrap_or_else(|p| p.into_inner());
                if let Some(l) = live.get_mut(&(tenant.clone(), name.clone())) {
                    let changed = l.state.as_ref().is_none_or(|s| {
                        (s.status, s.hard, s.attempt, s.hard_status)
                            != (r.state.status, r.state.hard, r.state.attempt, r.state.hard_status)
                    });
                    if changed {
                        states.push((tenant, name, r.state.clone()));
                    }
                    l.state = Some(r.state);
                    l.last = Some(r.outcome);
                }
            }
            _ = tick.tick() => {
                flush(&checks, &alerts, std::mem::take(&mut samples), std::mem::take(&mut states), std::mem::take(&mut raised)).await;
            }
        }
    }
    flush(&checks, &alerts, samples, states, raised).await;
}

async fn flush(
    checks: &Arc<dyn CheckStore>,
    alerts: &Arc<dyn StateStore>,
    samples: Vec<CheckSample>,
    states: Vec<(String, String, CheckState)>,
    raised: Vec<Alert>,
) {
    if samples.is_empty() && states.is_empty() && raised.is_empty() {
        return;
    }
    let (checks, alerts) = (checks.clone(), alerts.clone());
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
