//! The flow collector of `serve`: NetFlow v5/v9 and IPFIX on one UDP port,
//! decoded by the telemetry crate; every flow an event (searchable) when
//! `store_records` is on; interface counters and per-minute top talkers
//! into the metric store; the DDoS signature checked every window, raising
//! one alert for both crews per attack.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use watchfloor_telemetry::flows::ddos::{destination_rates, DdosDetector};
use watchfloor_telemetry::flows::{
    to_event, Aggregator, DecodeStats, Decoder, FlowRecord, FlowsConfig,
};
use watchfloor_tsdb::MetricStore;

use crate::api::Shared;
use crate::config::Config;
use crate::ServerError;

/// The collector's counters on `/metrics`.
#[derive(Default, Clone)]
pub struct FlowMetrics {
    datagrams: Counter,
    records: Counter,
    malformed: Counter,
    held: Counter,
    dropped: Counter,
    templates: Counter,
    socket_drops: Counter,
}

impl FlowMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "watchfloor_flow_datagrams",
            "NetFlow/IPFIX datagrams received",
            self.datagrams.clone(),
        );
        r.register(
            "watchfloor_flow_records",
            "Flow records decoded",
            self.records.clone(),
        );
        r.register(
            "watchfloor_flow_malformed",
            "Datagrams that did not decode (counted, the rest kept)",
            self.malformed.clone(),
        );
        r.register(
            "watchfloor_flow_held_sets",
            "Data sets held until their template came",
            self.held.clone(),
        );
        r.register(
            "watchfloor_flow_dropped_sets",
            "Held data sets whose template never came (their records are lost)",
            self.dropped.clone(),
        );
        r.register(
            "watchfloor_flow_templates",
            "Templates learned",
            self.templates.clone(),
        );
    }

    fn update(&self, now: &DecodeStats, before: &DecodeStats) {
        self.datagrams.inc_by(now.datagrams - before.datagrams);
        self.records.inc_by(now.records - before.records);
        self.malformed.inc_by(now.malformed - before.malformed);
        self.held.inc_by(now.held - before.held);
        self.dropped.inc_by(now.dropped_sets - before.dropped_sets);
        self.templates.inc_by(now.templates - before.templates);
    }
}

fn now_ms() -> i64 {
    watchfloor_model::now_ns() / 1_000_000
}

/// Binds the collector (when `[telemetry.flows] listen` is set) and runs it:
/// one thread receives and decodes (nothing else waits on it), a task
/// writes the events, flushes the metrics and checks the DDoS signature.
pub async fn spawn(
    app: Shared,
    cfg: &Config,
    metrics: FlowMetrics,
) -> Result<Option<SocketAddr>, ServerError> {
    let flows = cfg.telemetry.flows.clone();
    if flows.listen.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = flows
        .listen
        .parse()
        .map_err(|e| crate::start_err(format!("flows {}", flows.listen))(&e))?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(|e| crate::start_err("flows socket")(&e))?;
    // Bursts of export datagrams must wait in the kernel, not be dropped
    // (the kernel caps this at net.core.rmem_max; drops are counted).
    let _ = socket.set_recv_buffer_size(32 << 20);
    socket
        .bind(&addr.into())
        .map_err(|e| crate::start_err(format!("flows {addr}"))(&e))?;
    let socket: std::net::UdpSocket = socket.into();
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let local = socket.local_addr().ok();
    let tenant = flows.tenant.clone().unwrap_or_else(|| cfg.tenant.clone());
    let shared = Arc::new(Mutex::new(Collected {
        aggregator: Aggregator::new(flows.top_n as usize),
        stats: DecodeStats::default(),
    }));
    let (events_tx, events_rx) = tokio::sync::mpsc::channel(64);
    let inode = socket_inode(&socket);
    {
        let (shared, flows, tenant) = (shared.clone(), flows.clone(), tenant.clone());
        std::thread::Builder::new()
            .name("flows".into())
            .spawn(move || receive(socket, flows, tenant, shared, events_tx))
            .map_err(|e| crate::start_err("flows thread")(&e))?;
    }
    tokio::spawn(write_events(app.clone(), events_rx));
    tokio::spawn(run(app, flows, tenant, shared, metrics, inode));
    Ok(local)
}

/// What the receiving thread shares with the task.
struct Collected {
    aggregator: Aggregator,
    stats: DecodeStats,
}

fn lock(m: &Mutex<Collected>) -> std::sync::MutexGuard<'_, Collected> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Receives, decodes and aggregates; hands events over in batches.
fn receive(
    socket: std::net::UdpSocket,
    flows: FlowsConfig,
    tenant: String,
    shared: Arc<Mutex<Collected>>,
    events: tokio::sync::mpsc::Sender<Vec<watchfloor_ingest::RawRecord>>,
) {
    let mut decoder = Decoder::new();
    decoder.configured_sampling = flows
        .exporters
        .iter()
        .map(|e| (e.address, e.sampling_rate))
        .collect::<HashMap<_, _>>();
    let mut buf = vec![0u8; 65_535];
    let mut records: Vec<FlowRecord> = Vec::new();
    let mut batch = Vec::new();
    let mut last_handoff = std::time::Instant::now();
    loop {
        let received = socket.recv_from(&mut buf);
        let now = now_ms();
        records.clear();
        if let Ok((n, peer)) = received {
            if let Err(e) = decoder.decode(peer.ip(), &buf[..n], now, &mut records) {
                tracing::debug!(%peer, error = %e, "flow datagram refused");
            }
        }
        {
            let mut c = lock(&shared);
            for r in &records {
                c.aggregator.add(r, now);
            }
            c.stats = decoder.stats.clone();
        }
        if flows.store_records {
            batch.extend(records.iter().map(|r| event_record(&tenant, r)));
        }
        if !batch.is_empty()
            && (batch.len() >= 5000 || last_handoff.elapsed() >= Duration::from_millis(200))
        {
            // Waits when the log is behind: the kernel's queue takes the
            // slack, and what it drops is counted (`socket_drops`).
            if events.blocking_send(std::mem::take(&mut batch)).is_err() {
                return;
            }
            last_handoff = std::time::Instant::now();
        }
    }
}

async fn write_events(
    app: Shared,
    mut rx: tokio::sync::mpsc::Receiver<Vec<watchfloor_ingest::RawRecord>>,
) {
    while let Some(batch) = rx.recv().await {
        if let Err(e) = app.appender.append(batch).await {
            tracing::error!(error = %e, "writing flow records to the log");
        }
    }
}

/// The socket's inode, to find its drop count in /proc/net/udp.
fn socket_inode(socket: &std::net::UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
    link.to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Datagrams the kernel dropped for the socket (queue full), from
/// /proc/net/udp{,6}: the last column of the socket's line.
fn socket_drops(inode: u64) -> Option<u64> {
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.get(9).and_then(|i| i.parse::<u64>().ok()) == Some(inode) {
                return cols.last().and_then(|d| d.parse().ok());
            }
        }
    }
    None
}

async fn run(
    app: Shared,
    flows: FlowsConfig,
    tenant: String,
    shared: Arc<Mutex<Collected>>,
    metrics: FlowMetrics,
    inode: Option<u64>,
) {
    let mut detector = DdosDetector::new(flows.ddos.clone());
    let mut reported = DecodeStats::default();
    let mut reported_drops = 0;
    let mut flush = tokio::time::interval(Duration::from_secs(flows.flush_secs.max(1)));
    let mut ddos_tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = flush.tick() => {
                let now = now_ms();
                let (batch, stats) = {
                    let mut c = lock(&shared);
                    (c.aggregator.flush(now), c.stats.clone())
                };
                metrics.update(&stats, &reported);
                reported = stats;
                if let Some(drops) = inode.and_then(socket_drops) {
                    metrics.socket_drops.inc_by(drops.saturating_sub(reported_drops));
                    reported_drops = drops;
                }
                let (stores, t) = (app.metrics.clone(), tenant.clone());
                let _ = tokio::task::spawn_blocking(move || stores.append(&t, &batch)).await;
            }
            _ = ddos_tick.tick(), if detector.config.enabled => {
                let window_ms = detector.config.window_secs as i64 * 1000;
                let taken = lock(&shared).aggregator.take_window(now_ms(), window_ms);
                if let Some((window, length)) = taken {
                    check_ddos(&app, &tenant, &mut detector, window, length).await;
                }
            }
        }
    }
}

fn event_record(tenant: &str, r: &FlowRecord) -> watchfloor_ingest::RawRecord {
    watchfloor_ingest::RawRecord {
        received_ns: watchfloor_model::now_ns(),
        kind: watchfloor_ingest::Kind::Json,
        source: "netflow".into(),
        tenant: tenant.into(),
        peer: r.exporter.to_string().into(),
        truncated: false,
        body: to_event(r).to_string().into_bytes(),
    }
}

async fn check_ddos(
    app: &Shared,
    tenant: &str,
    detector: &mut DdosDetector,
    window: Vec<(
        std::net::IpAddr,
        watchfloor_telemetry::flows::DestinationMinute,
    )>,
    length: i64,
) {
    let expr = detector.config.overload_expr.clone();
    let (app2, t) = (app.clone(), tenant.to_string());
    let overloaded = tokio::task::spawn_blocking(move || {
        if expr.trim().is_empty() {
            return false;
        }
        let Ok(store) = app2.metrics.tenant(&t) else { return false };
        matches!(app2.metrics_engine.instant(store.as_ref() as &dyn MetricStore, &expr, now_ms()), Ok(watchfloor_tsdb::promql::QueryValue::Vector(v)) if !v.is_empty())
    })
    .await
    .unwrap_or(false);
    let now = now_ms();
    let rates = destination_rates(&window, length, now, detector.config.top_sources as usize);
    if let Ok(store) = app.metrics.tenant(tenant) {
        if let Err(e) = store.append(&rates) {
            tracing::warn!(tenant, error = %e, "destination rates into the metric store");
        }
    }
    let alerts: Vec<watchfloor_model::Alert> = detector
        .evaluate(&window, length, overloaded, now)
        .iter()
        .map(|a| a.alert(tenant, now))
        .collect();
    if alerts.is_empty() {
        return;
    }
    for a in &alerts {
        tracing::warn!(tenant, title = %a.rule_title, "DDoS signature");
    }
    let state = app.state.clone();
    let _ = tokio::task::spawn_blocking(move || state.insert_alerts(&alerts)).await;
}
