//! The flow collector of `serve`: NetFlow v5/v9 and IPFIX on one UDP port,
//! decoded by the telemetry crate; every flow an event (searchable) when
//! `store_records` is on; interface counters and per-minute top talkers
//! into the metric store; the DDoS signature checked every window, raising
//! one alert for both crews per attack.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tokio::net::UdpSocket;
use watchfloor_telemetry::flows::ddos::DdosDetector;
use watchfloor_telemetry::flows::{to_event, Aggregator, DecodeStats, Decoder, FlowRecord};
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

/// Binds the collector (when `[telemetry.flows] listen` is set) and runs it.
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
    // Bursts of export datagrams must wait in the kernel, not be dropped.
    let _ = socket.set_recv_buffer_size(16 << 20);
    socket
        .set_nonblocking(true)
        .map_err(|e| crate::start_err("flows socket")(&e))?;
    socket
        .bind(&addr.into())
        .map_err(|e| crate::start_err(format!("flows {addr}"))(&e))?;
    let socket =
        UdpSocket::from_std(socket.into()).map_err(|e| crate::start_err("flows socket")(&e))?;
    let local = socket.local_addr().ok();
    let tenant = flows.tenant.clone().unwrap_or_else(|| cfg.tenant.clone());
    tokio::spawn(run(app, flows, tenant, socket, metrics));
    Ok(local)
}

async fn run(
    app: Shared,
    flows: watchfloor_telemetry::flows::FlowsConfig,
    tenant: String,
    socket: UdpSocket,
    metrics: FlowMetrics,
) {
    let mut decoder = Decoder::new();
    decoder.configured_sampling = flows
        .exporters
        .iter()
        .map(|e| (e.address, e.sampling_rate))
        .collect::<HashMap<_, _>>();
    let mut aggregator = Aggregator::new(flows.top_n as usize);
    let mut detector = DdosDetector::new(flows.ddos.clone());
    let mut reported = DecodeStats::default();
    let mut buf = vec![0u8; 65_535];
    let mut records: Vec<FlowRecord> = Vec::new();
    let mut events = Vec::new();
    let mut flush = tokio::time::interval(Duration::from_secs(flows.flush_secs.max(1)));
    let mut ddos_tick = tokio::time::interval(Duration::from_millis(500));
    let mut events_tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let Ok((n, peer)) = received else { continue };
                let now = now_ms();
                records.clear();
                if let Err(e) = decoder.decode(peer.ip(), &buf[..n], now, &mut records) {
                    tracing::debug!(%peer, error = %e, "flow datagram refused");
                }
                for r in &records {
                    aggregator.add(r, now);
                    if flows.store_records {
                        events.push(event_record(&tenant, r));
                    }
                }
                if events.len() >= 5000 {
                    append_events(&app, &mut events).await;
                }
            }
            _ = events_tick.tick() => append_events(&app, &mut events).await,
            _ = flush.tick() => {
                metrics.update(&decoder.stats, &reported);
                reported = decoder.stats.clone();
                let batch = aggregator.flush(now_ms());
                let (stores, t) = (app.metrics.clone(), tenant.clone());
                let _ = tokio::task::spawn_blocking(move || stores.append(&t, &batch)).await;
            }
            _ = ddos_tick.tick(), if detector.config.enabled => {
                let window_ms = detector.config.window_secs as i64 * 1000;
                if let Some((window, length)) = aggregator.take_window(now_ms(), window_ms) {
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
        tenant: tenant.to_string(),
        peer: r.exporter.to_string(),
        truncated: false,
        body: to_event(r).to_string().into_bytes(),
    }
}

async fn append_events(app: &Shared, events: &mut Vec<watchfloor_ingest::RawRecord>) {
    if events.is_empty() {
        return;
    }
    if let Err(e) = app.appender.append(std::mem::take(events)).await {
        tracing::error!(error = %e, "writing flow records to the log");
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
