//! Runs the checks of `serve`: those of `[[checks]]` and those made through
//! the API (tenant documents of kind `check`), on the monitor crate's
//! scheduler, and feeds its reports to the monitor crate's alerting state
//! machine ([`CheckAlerting`]). This module only wires: it stores the
//! samples (batched), the states that changed and the alerts (which the
//! incident worker files like any other), appends state changes to the log,
//! and keeps the live view the API shows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use watchfloor_model::{now_ns, Alert};
use watchfloor_monitor::alerting::{CheckAlerting, Context};
use watchfloor_monitor::maintenance::MaintenanceWindow;
use watchfloor_monitor::topology::{Own, Topology};
use watchfloor_monitor::{CheckState, Control, Monitor, MonitorSpec, Outcome, Report};
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

fn load_topologies(documents: &dyn DocumentStore) -> HashMap<String, Topology> {
    let mut out = HashMap::new();
    match documents.documents_of_kind(TOPOLOGY_DOC) {
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

fn load_windows(documents: &dyn DocumentStore) -> HashMap<String, Vec<MaintenanceWindow>> {
    let mut out: HashMap<String, Vec<MaintenanceWindow>> = HashMap::new();
    match documents.documents_of_kind(MAINTENANCE_DOC) {
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

/// What the API shows of a check.
#[derive(Clone)]
pub struct Live {
    pub monitor: Arc<Monitor>,
    /// Defined in the configuration file (not changeable through the API).
    pub from_config: bool,
    pub state: Option<CheckState>,
    pub last: Option<Outcome>,
}

/// A tenant's checks by confirmed state (see [`Monitoring::state_counts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub up: usize,
    pub down: usize,
    pub other: usize,
    /// The first down checks by name.
    pub down_names: Vec<String>,
}

/// The API's handle on the running checks.
#[derive(Clone)]
pub struct Monitoring {
    pub control: mpsc::Sender<Control>,
    /// By (tenant, name).
    pub live: Arc<RwLock<HashMap<(String, String), Live>>>,
    pub windows: Windows,
    pub topologies: Topologies,
    /// The check-to-alert state machine the report sink feeds.
    machine: Arc<Mutex<CheckAlerting>>,
    documents: Arc<dyn DocumentStore>,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
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

    /// A tenant's checks counted by confirmed state, with the first
    /// `named` down ones by name: read in place, nothing cloned (the
    /// wallboard asks every few seconds, with thousands of checks).
    pub fn state_counts(&self, tenant: &str, named: usize) -> StateCounts {
        let live = read(&self.live);
        let mut counts = StateCounts::default();
        for ((t, name), l) in live.iter() {
            if t != tenant {
                continue;
            }
            match l.state.as_ref().map(|s| s.hard_status) {
                Some(watchfloor_monitor::Status::Ok) => counts.up += 1,
                Some(watchfloor_monitor::Status::Critical) => {
                    counts.down += 1;
                    counts.down_names.push(name.clone());
                }
                _ => counts.other += 1,
            }
        }
        counts.down_names.sort();
        counts.down_names.truncate(named);
        counts
    }

    /// A number that changes when any of a tenant's checks changes its
    /// confirmed state or its pause, or comes or goes (for live pages).
    pub fn fingerprint(&self, tenant: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let live = read(&self.live);
        live.iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, name), l)| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                name.hash(&mut h);
                l.monitor.paused.hash(&mut h);
                // Confirmed states only: a check run that changes nothing
                // (dozens a second with thousands of checks) is no news.
                l.state.as_ref().map(|s| s.hard_status as u8).hash(&mut h);
                h.finish()
            })
            // Order-free: the map's order is not stable.
            .fold(0u64, u64::wrapping_add)
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
        lock(&self.machine).track(&monitor.tenant, &monitor.name, monitor.host.clone(), None);
        let _ = self
            .control
            .send(Control::Upsert(Box::new(scheduled(monitor))))
            .await;
    }

    /// Reads the topologies again (after a change through the API).
    pub async fn reload_topologies(&self) {
        let documents = self.documents.clone();
        if let Ok(t) =
            tokio::task::spawn_blocking(move || load_topologies(documents.as_ref())).await
        {
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
        lock(&self.machine).own_states(tenant)
    }

    /// Reads the maintenance windows again (after a change through the API).
    pub async fn reload_windows(&self) {
        let documents = self.documents.clone();
        if let Ok(w) = tokio::task::spawn_blocking(move || load_windows(documents.as_ref())).await {
            *self.windows.write().unwrap_or_else(|p| p.into_inner()) = w;
        }
    }

    pub async fn remove(&self, tenant: &str, name: &str) {
        self.live
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(tenant.to_string(), name.to_string()));
        lock(&self.machine).forget(tenant, name);
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
    documents: &dyn DocumentStore,
) -> Vec<(Monitor, bool)> {
    let mut out: Vec<(Monitor, bool)> = specs
        .iter()
        .map(|s| (s.to_monitor(default_tenant), true))
        .collect();
    match documents.documents_of_kind(CHECK_DOC) {
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
    documents: Arc<dyn DocumentStore>,
    alerts: Arc<dyn AlertStore>,
    metrics: Arc<watchfloor_telemetry::Stores>,
    output_retention_days: u64,
) -> Monitoring {
    let monitors = initial_monitors(specs, default_tenant, documents.as_ref());
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
    let mut machine = CheckAlerting::new();
    for ((tenant, name), l) in &live {
        machine.track(tenant, name, l.monitor.host.clone(), l.state.clone());
    }
    let machine = Arc::new(Mutex::new(machine));
    let live = Arc::new(RwLock::new(live));
    let windows: Windows = Arc::new(RwLock::new(load_windows(documents.as_ref())));
    let topologies: Topologies = Arc::new(RwLock::new(load_topologies(documents.as_ref())));
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
        machine: machine.clone(),
        windows: windows.clone(),
        topologies: topologies.clone(),
        control: control.clone(),
        checks: checks.clone(),
        alerts,
        appender,
        metrics,
    };
    tokio::spawn(sink.run(reports_rx));
    tokio::spawn(expire_outputs(checks, output_retention_days));
    Monitoring {
        control,
        live,
        windows,
        topologies,
        machine,
        documents,
    }
}

/// Takes the scheduler's reports through the alerting state machine:
/// samples in batches (every second), states that changed, state changes
/// into the event log, alerts with the topology's root cause applied.
struct Sink {
    live: Arc<RwLock<HashMap<(String, String), Live>>>,
    machine: Arc<Mutex<CheckAlerting>>,
    windows: Windows,
    topologies: Topologies,
    control: mpsc::Sender<Control>,
    checks: Arc<dyn CheckStore>,
    alerts: Arc<dyn AlertStore>,
    /// State changes also go into the event stream, searchable like logs.
    appender: watchfloor_ingest::Appender,
    /// Results are series too (`check_up`, `check_latency_seconds`, ...),
    /// for PromQL, rules and charts.
    metrics: Arc<watchfloor_telemetry::Stores>,
}

#[derive(Default)]
struct Batch {
    samples: Vec<CheckSample>,
    states: Vec<(String, String, CheckState)>,
    alerts: Vec<Alert>,
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
        let (outcome, state) = (r.outcome.clone(), r.state.clone());
        let step = {
            let topologies = read(&self.topologies);
            let windows = read(&self.windows);
            let ctx = Context {
                topologies: &topologies,
                windows: &windows,
            };
            lock(&self.machine).report(r, &tenant, &name, now_ns(), ctx)
        };
        if let Some(l) = write(&self.live).get_mut(&(tenant.clone(), name.clone())) {
            l.state = Some(state);
            l.last = Some(outcome);
        }
        b.samples.push(step.sample);
        if let Some(s) = step.changed_state {
            b.states.push((tenant.clone(), name.clone(), s));
        }
        b.alerts.extend(step.alerts);
        self.record_events(&tenant, step.events);
        for parent in step.run_now {
            let _ = self
                .control
                .send(Control::RunNow(scheduler_name(&tenant, &parent)))
                .await;
        }
    }

    /// Writes state changes into the event log, as JSON from source `monitor`.
    fn record_events(&self, tenant: &str, events: Vec<serde_json::Value>) {
        if events.is_empty() {
            return;
        }
        let records: Vec<watchfloor_ingest::RawRecord> = events
            .iter()
            .map(|e| watchfloor_ingest::RawRecord {
                received_ns: now_ns(),
                kind: watchfloor_ingest::Kind::Json,
                source: "monitor".into(),
                tenant: tenant.into(),
                peer: "".into(),
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

    fn settle(&self, b: &mut Batch, all: bool) {
        let topologies = read(&self.topologies);
        let windows = read(&self.windows);
        let ctx = Context {
            topologies: &topologies,
            windows: &windows,
        };
        b.alerts
            .extend(lock(&self.machine).settle(now_ns(), all, ctx));
    }

    async fn flush(&self, b: &mut Batch) {
        let samples = std::mem::take(&mut b.samples);
        let states = std::mem::take(&mut b.states);
        let raised = std::mem::take(&mut b.alerts);
        if samples.is_empty() && states.is_empty() && raised.is_empty() {
            return;
        }
        let (checks, alerts, metrics) = (
            self.checks.clone(),
            self.alerts.clone(),
            self.metrics.clone(),
        );
        let done = tokio::task::spawn_blocking(move || -> Result<(), String> {
            // The results are series; only problem outputs (text) go to
            // the state store.
            for (tenant, series) in watchfloor_telemetry::checks::to_series(&samples) {
                if let Err(e) = metrics.append(&tenant, &series) {
                    tracing::error!(tenant, error = %e, "check results into the metric store");
                }
            }
            checks.append_outputs(&samples).map_err(|e| e.to_string())?;
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

/// Drops problem outputs past the metric store's retention (`days`; 0
/// keeps them), hourly.
async fn expire_outputs(checks: Arc<dyn CheckStore>, days: u64) {
    const DAY_NS: i64 = 86_400_000_000_000;
    if days == 0 {
        return;
    }
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        let before = now_ns() - days as i64 * DAY_NS;
        let checks = checks.clone();
        match tokio::task::spawn_blocking(move || checks.expire_outputs(before)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!("check outputs: {n} past the retention dropped"),
            Ok(Err(e)) => tracing::error!("expiring check outputs: {e}"),
            _ => {}
        }
    }
}
