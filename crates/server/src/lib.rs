//! `watchfloor serve`: assembles the stores, the log, the pipeline, the
//! syslog receivers and the HTTP API, and runs them until a signal.
//! The domain work happens in the library crates; this crate wires them.

pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod console;
pub mod feeds;
pub mod flows;
pub mod listener;
pub mod metrics;
pub mod monitoring;
pub mod openapi;
pub mod respond;
pub mod timeparse;
pub mod timeseries;
pub mod traps;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use watchfloor_incident::{Clock, Incidents, ManualClock, SystemClock};
use watchfloor_ingest::{syslog, IngestMetrics, SyslogOptions, Wal, WalOptions};
use watchfloor_pipeline::{
    load_checkpoint, Pipeline, PipelineMetrics, PipelineOptions, RuleSources, Rules,
};
use watchfloor_search::{TantivyEventStore, TantivyOptions};
use watchfloor_sigma::{Limits, RuleSetOptions};
use watchfloor_state::SqliteStateStore;

pub use config::Config;

/// Why the server could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{what}: {message}")]
    Start { what: String, message: String },
}

fn start_err(what: impl Into<String>) -> impl FnOnce(&dyn std::fmt::Display) -> ServerError {
    let what = what.into();
    move |e| ServerError::Start {
        what,
        message: e.to_string(),
    }
}

/// The shipped parsers and the configured directory's; every bad file is
/// named at once.
fn parsers(cfg: &Config) -> Result<watchfloor_formats::parsers::Parsers, ServerError> {
    use watchfloor_formats::parsers::Parsers;
    match &cfg.pipeline.parsers_dir {
        None => Ok(Parsers::shipped()),
        Some(dir) => Parsers::with_dir(dir).map_err(|problems| ServerError::Start {
            what: format!("parsers in {}", dir.display()),
            message: problems.join("; "),
        }),
    }
}

/// Runs the server on its own runtime until SIGINT or SIGTERM.
pub fn run(config: Config) -> Result<(), ServerError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("watchfloor")
        .build()
        .map_err(|e| start_err("runtime")(&e))?;
    runtime.block_on(serve(config))
}

/// Holds the data directory for one server at a time.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, ServerError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| start_err(format!("data directory {}", dir.display()))(&e))?;
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| start_err(format!("{}", path.display()))(&e))?;
    file.try_lock().map_err(|_| ServerError::Start {
        what: format!("data directory {}", dir.display()),
        message: "in use by another watchfloor server".into(),
    })?;
    Ok(file)
}

fn addr(what: &str, text: &str) -> Result<Option<SocketAddr>, ServerError> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|e| start_err(format!("{what} address {text:?}"))(&e))
}

struct Parts {
    events: Arc<TantivyEventStore>,
    state: Arc<SqliteStateStore>,
    wal: Arc<Wal>,
    rules: Arc<Rules>,
}

fn open_parts(cfg: &Config) -> Result<Parts, ServerError> {
    let data = &cfg.data_dir;
    let state = Arc::new(
        SqliteStateStore::open(&data.join("state.db")).map_err(|e| start_err("state store")(&e))?,
    );
    match auth::ensure_initial_token(state.as_ref(), data, &cfg.tenant) {
        Ok(Some(path)) => tracing::warn!(
            "first start: an admin token was created and written to {} (mode 0600); use it as 'Authorization: Bearer <token>'",
            path.display()
        ),
        Ok(None) => {}
        Err(e) => return Err(start_err("initial admin token")(&e)),
    }
    let store_options = TantivyOptions {
        bucket_secs: (cfg.store.bucket_hours * 3600) as i64,
        writer_memory: (cfg.store.writer_memory_mb as usize) << 20,
        writer_threads: cfg.store.writer_threads as usize,
        ..TantivyOptions::default()
    };
    let events = Arc::new(
        TantivyEventStore::open(&data.join("events"), store_options)
            .map_err(|e| start_err("event store")(&e))?,
    );
    let (checkpoint, _) =
        load_checkpoint(state.as_ref()).map_err(|e| start_err("checkpoint")(&e))?;
    let wal_options = WalOptions {
        segment_bytes: cfg.wal.segment_mb << 20,
        max_unprocessed: cfg.wal.max_unprocessed,
        ..WalOptions::default()
    };
    let wal = Wal::open(&data.join("wal"), wal_options, checkpoint + 1)
        .map_err(|e| start_err("write-ahead log")(&e))?;
    if wal.recovery.truncated_bytes > 0 {
        tracing::warn!(
            bytes = wal.recovery.truncated_bytes,
            "write-ahead log: a torn tail from a crash was cut (never acknowledged)"
        );
    }
    tracing::info!(checkpoint, durable = wal.durable(), "write-ahead log open");
    let sources = RuleSources {
        paths: cfg.rules.paths.clone(),
        starter: cfg.rules.starter,
        options: RuleSetOptions::default(),
    };
    let rules = Arc::new(Rules::load(sources).map_err(|e| start_err("rules")(&e))?);
    Ok(Parts {
        events,
        state,
        wal: Arc::new(wal),
        rules,
    })
}

fn syslog_options(cfg: &Config) -> SyslogOptions {
    SyslogOptions {
        tenant: cfg.tenant.clone(),
        max_message: cfg.syslog.max_message_bytes as usize,
        idle_timeout: Duration::from_secs(cfg.syslog.idle_timeout_secs),
        frame_timeout: Duration::from_secs(cfg.syslog.frame_timeout_secs),
        max_connections: cfg.syslog.max_connections as usize,
        ..SyslogOptions::default()
    }
}

async fn start_syslog(
    cfg: &Config,
    wal: &Arc<Wal>,
    ingest: &Arc<IngestMetrics>,
) -> Result<(), ServerError> {
    let opts = Arc::new(syslog_options(cfg));
    if let Some(a) = addr("syslog udp", &cfg.syslog.udp)? {
        let socket = syslog::bind_udp(a).map_err(|e| start_err(format!("syslog udp {a}"))(&e))?;
        tracing::info!("syslog over UDP on {a}");
        let (appender, m, o) = (wal.appender(), ingest.clone(), opts.clone());
        tokio::spawn(async move {
            if let Err(e) = syslog::serve_udp(socket, appender, m, o).await {
                tracing::error!("syslog udp {a}: {e}");
            }
        });
    }
    let tls = match (&cfg.syslog.tls_cert, &cfg.syslog.tls_key) {
        (Some(c), Some(k)) => Some(
            watchfloor_ingest::tls_acceptor_checking_clients(
                c,
                k,
                cfg.syslog.tls_client_ca.as_deref(),
            )
            .map_err(|e| start_err("syslog TLS")(&e))?,
        ),
        _ => None,
    };
    let streams = [
        ("syslog tcp", &cfg.syslog.tcp, false, false),
        ("syslog tls", &cfg.syslog.tls, true, false),
        ("relp", &cfg.syslog.relp, false, true),
        ("relp tls", &cfg.syslog.relp_tls, true, true),
    ];
    for (what, text, use_tls, relp) in streams {
        let Some(a) = addr(what, text)? else { continue };
        let acceptor = if use_tls {
            Some(
                tls.clone()
                    .ok_or_else(|| start_err(what)(&"needs tls_cert and tls_key"))?,
            )
        } else {
            None
        };
        let listener = TcpListener::bind(a)
            .await
            .map_err(|e| start_err(format!("{what} {a}"))(&e))?;
        tracing::info!("{what} on {a}");
        let (appender, m, o) = (wal.appender(), ingest.clone(), opts.clone());
        tokio::spawn(async move {
            let served = if relp {
                watchfloor_ingest::relp::serve(listener, acceptor, appender, m, o).await
            } else {
                syslog::serve_stream(listener, acceptor, appender, m, o).await
            };
            if let Err(e) = served {
                tracing::error!("{what} {a}: {e}");
            }
        });
    }
    Ok(())
}

fn start_tailers(cfg: &Config, wal: &Arc<Wal>, ingest: &Arc<IngestMetrics>) {
    if cfg.files.is_empty() {
        return;
    }
    let positions =
        watchfloor_ingest::PositionStore::open(&cfg.data_dir.join("file-positions.json"));
    for f in &cfg.files {
        let spec = watchfloor_ingest::TailSpec {
            path: f.path.clone(),
            kind: if f.format == config::FileFormat::Json {
                watchfloor_ingest::Kind::Json
            } else {
                watchfloor_ingest::Kind::Syslog
            },
            tenant: f.tenant.clone().unwrap_or_else(|| cfg.tenant.clone()),
            start_at_end: f.start_at != config::StartAt::Beginning,
            max_line: cfg.syslog.max_message_bytes as usize,
        };
        tracing::info!("following {}", f.path.display());
        let tailer =
            watchfloor_ingest::Tailer::new(spec, wal.appender(), ingest.clone(), positions.clone());
        tokio::spawn(tailer.run());
    }
}

/// The indicators kept in the state store, and the warninglists of
/// `[intel]`.
fn open_intel(
    cfg: &Config,
    state: &dyn watchfloor_state::StateStore,
) -> Result<Arc<watchfloor_intel::Intel>, ServerError> {
    use watchfloor_intel::{Intel, Warninglists};
    let warninglists = match &cfg.intel.warninglists {
        Some(dir) => Warninglists::load(dir).map_err(|e| start_err("[intel] warninglists")(&e))?,
        None => Warninglists::default(),
    };
    for skipped in &warninglists.skipped {
        tracing::warn!("warninglist not used: {skipped}");
    }
    let intel = Intel::new(cfg.intel.decay(), warninglists);
    let started = std::time::Instant::now();
    let mut scopes: std::collections::BTreeMap<String, Vec<watchfloor_model::Indicator>> =
        Default::default();
    state
        .for_each_indicator(&mut |scope, ind| {
            if !scopes.contains_key(scope) {
                scopes.insert(scope.to_string(), Vec::new());
            }
            if let Some(list) = scopes.get_mut(scope) {
                list.push(ind);
            }
        })
        .map_err(|e| start_err("indicators")(&e))?;
    for (scope, indicators) in scopes {
        intel.restore(&scope, indicators);
    }
    tracing::info!(
        indicators = intel.len(),
        warninglists = intel.warninglists.len(),
        seconds = started.elapsed().as_secs_f64(),
        "intel loaded"
    );
    Ok(Arc::new(intel))
}

/// The server's parts, assembled and their background tasks started
/// (notifications, checks), but nothing listening yet and no pipeline
/// thread: what `serve` runs, and what in-process tests drive through
/// [`api::router`].
pub struct Assembled {
    pub app: Arc<api::AppState>,
    pipeline: Pipeline,
    http_metrics: listener::HttpMetrics,
}

/// Opens the data directory's stores and builds the API's state. `api_url`
/// is where the API will be reachable (acknowledge links use it).
pub async fn assemble(
    cfg: &Config,
    api_url: SocketAddr,
    stop: Arc<AtomicBool>,
) -> Result<Assembled, ServerError> {
    let parts = open_parts(cfg)?;
    let ingest = Arc::new(IngestMetrics::default());
    let pipeline_metrics = Arc::new(PipelineMetrics::default());
    let gauges = metrics::LiveGauges::default();
    let mut registry = Registry::default();
    ingest.register(&mut registry);
    pipeline_metrics.register(&mut registry);
    gauges.register(&mut registry);
    let http_metrics = listener::HttpMetrics::default();
    http_metrics.register(&mut registry);

    let intel = open_intel(cfg, parts.state.as_ref())?;
    let metric_stores = Arc::new(
        watchfloor_telemetry::Stores::open(
            &cfg.data_dir.join("metrics"),
            cfg.metrics.store_options(),
        )
        .map_err(|e| start_err("metric store")(&e))?,
    );
    let tsdb_metrics = metrics::TsdbMetrics::default();
    tsdb_metrics.register(&mut registry);
    let flow_metrics = flows::FlowMetrics::default();
    flow_metrics.register(&mut registry);
    let scrape_health = watchfloor_telemetry::scrape::spawn(
        &cfg.telemetry.scrape,
        &cfg.tenant,
        metric_stores.clone(),
    );
    pipeline_metrics.intel_indicators.set(intel.len() as i64);
    let pipeline = Pipeline {
        wal: parts.wal.clone(),
        events: parts.events.clone(),
        state: parts.state.clone(),
        rules: parts.rules.clone(),
        intel: cfg.intel.enabled.then(|| intel.clone()),
        metrics: pipeline_metrics.clone(),
        options: PipelineOptions {
            commit_interval: Duration::from_millis(cfg.pipeline.commit_interval_ms),
            correlation_limits: Limits {
                max_groups: cfg.rules.max_correlation_groups as usize,
                max_entries: cfg.rules.max_correlation_entries as usize,
            },
            retention_max_age: (cfg.store.retention_days > 0)
                .then(|| Duration::from_secs(cfg.store.retention_days * 86_400)),
            retention_max_bytes: (cfg.store.max_bytes > 0).then_some(cfg.store.max_bytes),
            parsers: Arc::new(parsers(cfg)?),
            ..PipelineOptions::default()
        },
        stop: stop.clone(),
    };
    let (clock, test_clock) = incident_clock()?;
    let mut incident_config = cfg.incidents.to_incident_config();
    incident_config.notify.public_url = public_url(cfg, api_url);
    let incidents = Arc::new(Incidents::new(
        parts.state.clone(),
        Arc::new(incident_config),
        clock.clone(),
    ));
    let desk = Arc::new(respond::Desk {
        incidents: incidents.clone(),
        events: parts.events.clone(),
        intel: intel.clone(),
        state: parts.state.clone(),
        pipeline_metrics: pipeline_metrics.clone(),
        link_key: respond::link_key(parts.state.as_ref())
            .map_err(|e| start_err("playbook answer links")(&e))?,
        public_url: public_url(cfg, api_url),
    });
    let desk_key = desk.link_key.clone();
    let responder = open_responder(cfg, parts.state.as_ref(), desk, clock);
    let notify_metrics = watchfloor_respond::notifier::NotifyMetrics::default();
    registry.register(
        "watchfloor_notification_attempts",
        "Notification delivery attempts by transport and outcome (sent, retry, failed)",
        notify_metrics.attempts.clone(),
    );
    let notifier = watchfloor_respond::notifier::Notifier::new(
        parts.state.clone(),
        &cfg.notify,
        notify_metrics,
    )
    .map_err(|e| start_err("notifications")(&e))?;
    tokio::spawn(notifier.run(stop.clone()));
    let monitoring = monitoring::start(
        &cfg.monitors,
        &cfg.tenant,
        &cfg.monitor,
        parts.wal.appender(),
        parts.state.clone(),
        parts.state.clone(),
        parts.state.clone(),
        metric_stores.clone(),
        cfg.metrics.retention_days,
    );
    let app = Arc::new(api::AppState {
        events: parts.events.clone(),
        state: parts.state.clone(),
        access: parts.state.clone(),
        documents: parts.state.clone(),
        outbox: parts.state.clone(),
        checks: parts.state.clone(),
        monitoring,
        provider_tenant: cfg.tenant.clone(),
        appender: parts.wal.appender(),
        wal: parts.wal.clone(),
        rules: parts.rules.clone(),
        intel,
        retro: Default::default(),
        feeds: Arc::new(feeds::Feeds::new(&cfg.intel.feeds)),
        retro_window_ns: cfg.intel.retro_window_ns(),
        pipeline_metrics,
        registry,
        ingest: ingest.clone(),
        gauges,
        limits: api::BodyLimits {
            max_body: cfg.http.max_body_bytes as usize,
            max_decoded: cfg.http.max_decoded_bytes,
            max_event: cfg.http.max_event_bytes as usize,
        },
        incidents,
        metrics: metric_stores,
        metrics_engine: Arc::new(cfg.metrics.engine()),
        tsdb_metrics,
        scrape_health,
        metric_rules: Default::default(),
        test_clock,
        responder: responder.clone(),
        respond_link_key: desk_key,
        respond_dir: cfg.respond.playbooks.clone(),
        console_secure: cfg.http.tls_cert.is_some(),
    });
    respond::spawn(responder, parts.state.clone(), stop.clone());
    timeseries::spawn(app.clone(), cfg, stop.clone());
    watchfloor_telemetry::snmp::spawn(
        &cfg.telemetry.snmp,
        &cfg.tenant,
        app.metrics.clone(),
        app.scrape_health.clone(),
    );
    traps::spawn(app.clone(), cfg).await?;
    flows::spawn(app.clone(), cfg, flow_metrics).await?;
    Ok(Assembled {
        app,
        pipeline,
        http_metrics,
    })
}

/// The respond room: the playbooks (shipped and `[respond] playbooks`),
/// the connectors, and the incident room as their host and timeline.
fn open_responder(
    cfg: &Config,
    state: &dyn watchfloor_state::StateStore,
    desk: Arc<respond::Desk>,
    clock: Arc<dyn Clock>,
) -> Arc<watchfloor_respond::Responder> {
    let library = respond::load_library(cfg.respond.playbooks.as_deref(), &cfg.tenant, state);
    for rejected in &library.rejected {
        tracing::warn!(
            "playbook {} refused: {}",
            rejected.source,
            rejected.problems.join("; ")
        );
    }
    let runs: Arc<dyn watchfloor_state::RunStore> = desk.state.clone();
    Arc::new(watchfloor_respond::Responder::new(
        runs,
        library,
        watchfloor_respond::actions::Actions::new(cfg.respond.clone(), desk.clone()),
        desk,
        clock,
    ))
}

async fn serve(cfg: Config) -> Result<(), ServerError> {
    let _lock = lock_data_dir(&cfg.data_dir)?;
    raise_open_file_limit(&cfg);
    let http_addr = addr("http", &cfg.http.listen)?
        .ok_or_else(|| start_err("http")(&"listen address is empty"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let Assembled {
        app,
        pipeline,
        http_metrics,
    } = assemble(&cfg, http_addr, stop.clone()).await?;
    let pipeline_thread = std::thread::Builder::new()
        .name("pipeline".into())
        .spawn(move || {
            let result = pipeline.run();
            if let Err(e) = &result {
                tracing::error!("pipeline stopped: {e}");
            }
            result
        })
        .map_err(|e| start_err("pipeline thread")(&e))?;
    start_syslog(&cfg, &app.wal, &app.ingest).await?;
    start_tailers(&cfg, &app.wal, &app.ingest);
    let listener = TcpListener::bind(http_addr)
        .await
        .map_err(|e| start_err(format!("http {http_addr}"))(&e))?;
    spawn_reload_on_sighup(app.rules.clone());
    feeds::spawn(app.clone(), cfg.intel.feeds.clone());
    let incident_thread = spawn_incident_worker(app.incidents.clone(), stop.clone())?;
    let router = api::router(app);
    let tls = match (&cfg.http.tls_cert, &cfg.http.tls_key) {
        (Some(c), Some(k)) => {
            Some(watchfloor_ingest::tls_acceptor(c, k).map_err(|e| start_err("http TLS")(&e))?)
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("API on {scheme}://{http_addr}");
    // Tests and scripts wait for this line on stderr.
    eprintln!("watchfloor: ready (api {scheme}://{http_addr})");
    listener::serve(
        listener,
        tls,
        router,
        connection_limits(&cfg),
        http_metrics,
        shutdown_signal(),
        Duration::from_secs(5),
    )
    .await;
    tracing::info!("stopping: committing the pipeline");
    stop.store(true, Ordering::Release);
    let joined = tokio::task::spawn_blocking(move || {
        let _ = incident_thread.join();
        pipeline_thread.join()
    })
    .await;
    match joined {
        Ok(Ok(Ok(()))) => tracing::info!("stopped cleanly"),
        Ok(Ok(Err(e))) => tracing::error!("pipeline: {e}"),
        _ => tracing::error!("pipeline thread failed"),
    }
    Ok(())
}

/// The base of acknowledge links: `[notify] public_url`, or the HTTP
/// listen address (loopback when it listens on every address).
fn public_url(cfg: &Config, http_addr: SocketAddr) -> String {
    if let Some(url) = &cfg.notify.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let scheme = if cfg.http.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let mut addr = http_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("{scheme}://{addr}")
}

fn connection_limits(cfg: &Config) -> listener::ConnectionLimits {
    listener::ConnectionLimits {
        max_connections: cfg.http.max_connections as usize,
        max_connections_per_client: cfg.http.max_connections_per_client as usize,
        header_read_timeout: Duration::from_secs(cfg.http.header_read_timeout_secs),
        max_header_bytes: cfg.http.max_header_bytes as usize,
    }
}

/// Raises the soft limit on open files to the hard one (as nginx's
/// `worker_rlimit_nofile` does) and warns when the connection limits of
/// the HTTP and syslog listeners could still run the process out of them.
fn raise_open_file_limit(cfg: &Config) {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => return tracing::warn!("could not raise the open-file limit: {e}"),
    };
    // Stores, the log, sockets of checks and notifications need some too.
    let wanted = cfg.http.max_connections + cfg.syslog.max_connections + 512;
    if limit < wanted {
        tracing::warn!(
            limit,
            wanted,
            "the open-file limit is below http.max_connections + syslog.max_connections + 512: lower them or raise the limit (LimitNOFILE=)"
        );
    }
}

/// The wall clock, or with `WATCHFLOOR_TEST_CLOCK=<RFC 3339 time>` a clock
/// that only moves through `POST /api/v1/test/clock` (for tests of SLA
/// timers; never set it in production).
#[allow(clippy::type_complexity)]
fn incident_clock() -> Result<(Arc<dyn Clock>, Option<Arc<ManualClock>>), ServerError> {
    match std::env::var("WATCHFLOOR_TEST_CLOCK") {
        Ok(start) => {
            let ns = watchfloor_model::parse_timestamp(&start)
                .ok_or_else(|| start_err("WATCHFLOOR_TEST_CLOCK")(&"expected an RFC 3339 time"))?;
            tracing::warn!("incident clock is manual (WATCHFLOOR_TEST_CLOCK): for tests only");
            let clock = Arc::new(ManualClock::new(ns));
            Ok((clock.clone(), Some(clock)))
        }
        Err(_) => Ok((Arc::new(SystemClock), None)),
    }
}

/// Files new alerts into incidents and runs the SLA timers, a few times a
/// second, until `stop`.
fn spawn_incident_worker(
    incidents: Arc<Incidents>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, ServerError> {
    std::thread::Builder::new()
        .name("incidents".into())
        .spawn(move || {
            while !stop.load(Ordering::Acquire) {
                if let Err(e) = incidents.file_alerts() {
                    tracing::error!("filing alerts into incidents: {e}");
                }
                if let Err(e) = incidents.tick() {
                    tracing::error!("incident timers: {e}");
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
        .map_err(|e| start_err("incident thread")(&e))
}

fn spawn_reload_on_sighup(rules: Arc<Rules>) {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading rules");
            let r = rules.clone();
            match tokio::task::spawn_blocking(move || r.reload()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("reload refused, current rules kept: {e}"),
                Err(e) => tracing::error!("reload: {e}"),
            }
        }
    });
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
