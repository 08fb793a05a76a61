//! `watchfloor loadgen fill` fills a stopped server's data directory at a
//! real floor's scale (incidents, alerts, checks with their results,
//! events); `watchfloor loadgen console` then signs in to the running
//! server's console and times every page and fragment (p50, p95, max over
//! many rounds), and can hold many live-update streams open while it
//! reads the server's memory.

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use watchfloor_incident::{Incidents, NewIncident, SystemClock};
use watchfloor_model::{Alert, CheckSample};
use watchfloor_search::{EventDoc, EventStore, TantivyEventStore, TantivyOptions};
use watchfloor_state::{AlertStore, DocumentStore, SqliteStateStore};
use watchfloor_testkit::synthetic::{message, Rng};

#[derive(Args)]
pub struct FillArgs {
    /// The data directory of a stopped server (as in its config).
    #[arg(long)]
    pub data_dir: std::path::PathBuf,
    #[arg(long, default_value = "default")]
    pub tenant: String,
    #[arg(long, default_value_t = 100_000)]
    pub incidents: u64,
    /// Of them, how many stay open (the rest are resolved).
    #[arg(long, default_value_t = 1_000)]
    pub open: u64,
    #[arg(long, default_value_t = 20_000)]
    pub alerts: u64,
    #[arg(long, default_value_t = 10_000)]
    pub checks: u64,
    /// Where the TCP checks connect (the default, the discard port on
    /// loopback, is refused: every check is down and alerts).
    #[arg(long, default_value = "127.0.0.1:9")]
    pub check_target: String,
    /// Results stored per check (one per hour back from now).
    #[arg(long, default_value_t = 24)]
    pub samples: u64,
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Over how many hours back from now the events spread.
    #[arg(long, default_value_t = 24)]
    pub hours: u64,
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} {bar:40} {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_string());
    pb
}

const HOUR_NS: i64 = 3_600_000_000_000;

pub fn fill(a: FillArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&a.data_dir)?;
    let state =
        Arc::new(SqliteStateStore::open(&a.data_dir.join("state.db")).context("state store")?);
    let now = watchfloor_model::now_ns();
    fill_incidents(&a, state.clone())?;
    fill_alerts(&a, state.as_ref(), now)?;
    fill_checks(&a, state.as_ref(), now)?;
    fill_events(&a, now)?;
    eprintln!("filled {}", a.data_dir.display());
    Ok(0)
}

fn fill_incidents(a: &FillArgs, state: Arc<SqliteStateStore>) -> anyhow::Result<()> {
    let config = watchfloor_incident::IncidentsConfig::default().to_incident_config();
    let incidents = Incidents::new(state, Arc::new(config), Arc::new(SystemClock));
    let kinds = [
        "phishing",
        "ddos",
        "outage",
        "malware",
        "suspicious_activity",
        "degradation",
    ];
    let pb = bar(a.incidents, "incidents");
    let mut rng = Rng::new(7);
    for n in 0..a.incidents {
        let kind = kinds[rng.below(kinds.len() as u64) as usize];
        let grades = ["high", "medium", "low"];
        let (impact, urgency) = (grades[rng.below(3) as usize], grades[rng.below(3) as usize]);
        let new: NewIncident = serde_json::from_value(serde_json::json!({
            "title": format!("{kind} #{n} on host-{}", rng.below(500)),
            "type": kind,
            "impact": impact,
            "urgency": urgency,
        }))?;
        let i = incidents.open(&a.tenant, "user:loadgen", new)?;
        if n >= a.open {
            let patch: watchfloor_incident::IncidentPatch = serde_json::from_value(
                serde_json::json!({"version": i.version, "status": "resolved"}),
            )?;
            incidents.update(&a.tenant, i.id, "user:loadgen", patch)?;
        }
        pb.inc(1);
    }
    pb.finish();
    Ok(())
}

fn fill_alerts(a: &FillArgs, state: &SqliteStateStore, now: i64) -> anyhow::Result<()> {
    let pb = bar(a.alerts, "alerts");
    let rules = [
        "SSH brute force",
        "Sudo root shell",
        "Port scan",
        "Check down: web",
        "Suspicious PowerShell",
    ];
    let mut rng = Rng::new(11);
    let mut batch = Vec::new();
    for n in 0..a.alerts {
        let t = now - (rng.below(24 * 3600) as i64) * 1_000_000_000;
        let rule = rules[rng.below(rules.len() as u64) as usize];
        let alert: Alert = serde_json::from_value(serde_json::json!({
            "key": format!("loadgen-{n}"), "tenant": a.tenant, "domain": "security",
            "rule_id": null, "rule_title": rule, "rule_kind": "detection", "level": "high",
            "tags": [], "time_ns": t, "created_ns": t, "host": format!("host-{}", rng.below(500)),
            "user": null, "ips": [], "event_ids": [], "fields": {}, "value": null,
        }))?;
        batch.push(alert);
        if batch.len() == 1000 {
            state.insert_alerts(&batch)?;
            pb.inc(batch.len() as u64);
            batch.clear();
        }
    }
    state.insert_alerts(&batch)?;
    pb.finish();
    Ok(())
}

fn fill_checks(a: &FillArgs, state: &SqliteStateStore, now: i64) -> anyhow::Result<()> {
    // Results are series of the tenant's metric store, as `serve` keeps them.
    let metrics = watchfloor_telemetry::Stores::open(
        &a.data_dir.join("metrics"),
        watchfloor_tsdb::MetricsConfig::default().store_options(),
    )
    .context("metric store")?;
    let pb = bar(a.checks, "checks");
    let mut rng = Rng::new(13);
    let (host, port) = a
        .check_target
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| anyhow::anyhow!("--check-target: host:port"))?;
    for n in 0..a.checks {
        let name = format!("check-{n:05}");
        let spec = serde_json::json!({
            "name": name, "type": "tcp", "host": host, "port": port,
            "interval_secs": 300, "node": format!("host-{}", n % 500),
        });
        state.put_document(&a.tenant, "check", &name, &spec, None, now)?;
        let samples: Vec<CheckSample> = (0..a.samples)
            .rev()
            .map(|h| CheckSample {
                tenant: a.tenant.clone(),
                check: name.clone(),
                time_ns: now - (h as i64 + 1) * HOUR_NS,
                status: if rng.below(50) == 0 { 2 } else { 0 },
                hard: true,
                latency_ms: Some(0.2 + rng.below(300) as f64 / 100.0),
                cert_days_left: None,
                maintenance: false,
                output: None,
            })
            .collect();
        for (tenant, series) in watchfloor_telemetry::checks::to_series(&samples) {
            metrics.append(&tenant, &series).context("check results")?;
        }
        pb.inc(1);
    }
    pb.finish();
    Ok(())
}

fn fill_events(a: &FillArgs, now: i64) -> anyhow::Result<()> {
    let store = TantivyEventStore::open(&a.data_dir.join("events"), TantivyOptions::default())
        .context("event store")?;
    let pb = bar(a.events, "events");
    let mut rng = Rng::new(17);
    let span_ns = (a.hours.max(1) * 3600) as i64 * 1_000_000_000;
    let step = span_ns / a.events.max(1) as i64;
    let mut batch = Vec::with_capacity(10_000);
    // Ids above any the write-ahead log will hand out soon: the log starts
    // after the pipeline's checkpoint, which this leaves untouched.
    let first_id = 1u64 << 40;
    for n in 0..a.events {
        let (program, text) = message(&mut rng, n % 1000 == 0);
        let t = now - span_ns + n as i64 * step;
        let host = format!("host-{}", rng.below(500));
        let mut fields = serde_json::Map::new();
        fields.insert("program".into(), program.into());
        fields.insert("message".into(), text.into());
        batch.push(EventDoc {
            id: first_id + n,
            time_ns: t,
            received_ns: t,
            tenant: a.tenant.clone(),
            source: "loadgen".into(),
            host: Some(host),
            truncated: false,
            fields,
        });
        if batch.len() == batch.capacity() {
            store.append(&batch)?;
            pb.inc(batch.len() as u64);
            batch.clear();
        }
    }
    store.append(&batch)?;
    store.commit(first_id + a.events)?;
    pb.finish();
    Ok(())
}

#[derive(Args)]
pub struct ConsoleArgs {
    /// The server's address.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A console user (created with `watchfloor user create`).
    #[arg(long)]
    pub user: String,
    /// Its password, read from this environment variable.
    #[arg(long, default_value = "WATCHFLOOR_PASSWORD")]
    pub password_env: String,
    /// Requests per page.
    #[arg(long, default_value_t = 50)]
    pub rounds: usize,
    /// Live-update streams to hold open while the server's memory is read.
    #[arg(long, default_value_t = 0)]
    pub sse_clients: usize,
    /// The server's process id (for its memory, from /proc).
    #[arg(long)]
    pub pid: Option<u32>,
    /// End of the searched time ranges (RFC 3339), so that runs at
    /// different times count the same events; now by default.
    #[arg(long)]
    pub window_end: Option<String>,
}

/// A page path with its time range placeholders filled: `{1h}`, `{15m}`,
/// `{24h}` before the window's end, `{end}` the end itself.
fn with_window(page: &str, end: Option<chrono::DateTime<chrono::Utc>>) -> String {
    let before = |secs: i64| match end {
        Some(e) => (e - chrono::Duration::seconds(secs))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        None => format!("now-{secs}s"),
    };
    let end_text = end
        .map(|e| e.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "now".into());
    page.replace("{1h}", &before(3600))
        .replace("{15m}", &before(900))
        .replace("{24h}", &before(86_400))
        .replace("{end}", &end_text)
}

const PAGES: &[&str] = &[
    "/wallboard",
    "/wallboard/panel",
    "/incidents",
    "/incidents/rows",
    "/incidents?status=all&sort=-created",
    "/incidents/1",
    "/alerts",
    "/search",
    "/search?q=program:sshd&from={1h}&to={end}&field=host",
    "/search/counts?from={1h}&to={end}",
    "/search/counts?from={24h}&to={end}",
    "/search/counts?q=program:sshd&from={15m}&to={end}&field=host",
    "/search/counts?q=program:sshd&from={1h}&to={end}&field=host",
    "/rules",
    "/checks",
    "/checks/check-00001",
    "/topology",
    "/oncall",
    "/admin",
];

fn login(client: &reqwest::blocking::Client, a: &ConsoleArgs) -> anyhow::Result<String> {
    let password = std::env::var(&a.password_env)
        .with_context(|| format!("the password is read from ${}", a.password_env))?;
    let r = client
        .post(format!("{}/login", a.url))
        .form(&[
            ("username", a.user.as_str()),
            ("password", password.as_str()),
        ])
        .send()?;
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("wf_session=") && !c.starts_with("wf_session=;"))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("login refused for {} ({})", a.user, r.status()))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn console(a: ConsoleArgs) -> anyhow::Result<u8> {
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?;
    let cookie = login(&client, &a)?;
    let end = a
        .window_end
        .as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.with_timezone(&chrono::Utc))
                .with_context(|| format!("--window-end {t:?}: RFC 3339"))
        })
        .transpose()?;
    println!(
        "{:<48} {:>9} {:>9} {:>9} {:>9}",
        "page", "p50 ms", "p95 ms", "max ms", "KiB"
    );
    for page in PAGES {
        let page = &with_window(page, end);
        let mut times = Vec::with_capacity(a.rounds);
        let mut size = 0;
        for _ in 0..a.rounds {
            let started = Instant::now();
            let r = client
                .get(format!("{}{page}", a.url))
                .header("cookie", &cookie)
                .send()?;
            let status = r.status();
            let body = r.bytes()?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            size = body.len();
            anyhow::ensure!(status.is_success(), "{page}: {status}");
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{page:<48} {:>9.1} {:>9.1} {:>9.1} {:>9}",
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            times.last().copied().unwrap_or(0.0),
            size / 1024
        );
    }
    if a.sse_clients > 0 {
        hold_streams(&a, &cookie)?;
    }
    Ok(0)
}

/// Opens `sse_clients` live streams, reads them for a minute, and reports
/// the server's memory before and during.
fn hold_streams(a: &ConsoleArgs, cookie: &str) -> anyhow::Result<()> {
    let before = a.pid.and_then(rss_kib);
    let streams: Vec<_> = (0..a.sse_clients)
        .map(|_| {
            let (url, cookie) = (format!("{}/live", a.url), cookie.to_string());
            std::thread::spawn(move || -> anyhow::Result<usize> {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(70))
                    .build()?;
                let r = client.get(url).header("cookie", cookie).send()?;
                let mut lines = 0;
                let started = Instant::now();
                for line in BufReader::new(r).lines() {
                    if line.is_err() || started.elapsed() > Duration::from_secs(60) {
                        break;
                    }
                    lines += 1;
                }
                Ok(lines)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(30));
    let during = a.pid.and_then(rss_kib);
    let mut lines = 0;
    for s in streams {
        lines += s.join().map_err(|_| anyhow::anyhow!("stream thread"))??;
    }
    println!(
        "{} live streams for 60 s: {lines} lines received; server RSS {} KiB before, {} KiB with them open",
        a.sse_clients,
        before.map(|k| k.to_string()).unwrap_or_else(|| "?".into()),
        during.map(|k| k.to_string()).unwrap_or_else(|| "?".into()),
    );
    Ok(())
}
