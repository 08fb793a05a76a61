//! `watchfloor loadgen`: a reproducible load for a running server.
//!
//! `send` writes realistic Linux syslog (sshd, sudo, cron, kernel firewall,
//! web access, systemd) over TCP with octet counting, or JSON over HTTP, at
//! a set rate, then waits until the server has committed everything and
//! reports the sustained rate, the ingest-to-alert latency (every Nth event
//! is a sudo root shell, which the starter rules alert on; its RFC 5424
//! time stamp is the send time) and where the server's time went.
//! `search` measures search latency; `fill` and `console` measure the
//! console at scale (see [`crate::loadgen_console`]).

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};

use watchfloor_testkit::synthetic::{message, syslog_line, Rng};

use crate::client::{Client, HttpError, ServerArgs};

#[derive(Subcommand)]
pub enum LoadgenCommand {
    /// Send events and report throughput and ingest-to-alert latency.
    Send(SendArgs),
    /// Run one query many times and report its latency.
    Search(SearchBenchArgs),
    /// Run many checks on the scheduler against loopback targets and
    /// report checks/s, drift and memory per check.
    Checks(crate::loadgen_checks::ChecksArgs),
    /// Fill a stopped server's data directory at a floor's scale
    /// (incidents, alerts, checks with results, events).
    Fill(crate::loadgen_console::FillArgs),
    /// Time every console page of a running server; optionally hold many
    /// live streams open and read the server's memory.
    Console(crate::loadgen_console::ConsoleArgs),
}

#[derive(Args)]
pub struct SendArgs {
    /// Syslog TCP address to send to (octet-counted frames); without it, HTTP ingest is used.
    #[arg(long, value_name = "ADDR")]
    pub tcp: Option<String>,
    /// Events per second over all connections (0: as fast as possible).
    #[arg(long, default_value_t = 50_000)]
    pub rate: u64,
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Parallel connections (threads).
    #[arg(long, default_value_t = 2)]
    pub connections: usize,
    /// Every Nth event raises an alert (0: none).
    #[arg(long, default_value_t = 1000)]
    pub alert_every: u64,
    /// Events per HTTP request.
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
    /// Number of distinct host names.
    #[arg(long, default_value_t = 200)]
    pub hosts: u64,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Args)]
pub struct SearchBenchArgs {
    pub query: String,
    #[arg(long, default_value_t = 200)]
    pub runs: usize,
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub fn run(cmd: LoadgenCommand) -> anyhow::Result<u8> {
    match cmd {
        LoadgenCommand::Send(args) => send(&args),
        LoadgenCommand::Search(args) => search(&args),
        LoadgenCommand::Checks(args) => crate::loadgen_checks::run(&args),
        LoadgenCommand::Fill(args) => crate::loadgen_console::fill(args),
        LoadgenCommand::Console(args) => crate::loadgen_console::console(args),
    }
}

fn rfc3339_micros(now: chrono::DateTime<chrono::Utc>) -> String {
    now.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Sends for `duration` at `rate` (per connection); returns events sent.
fn pace(
    rate: u64,
    duration: Duration,
    mut send_chunk: impl FnMut(u64) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < duration {
        let due = if rate == 0 {
            sent + 1000
        } else {
            (started.elapsed().as_secs_f64() * rate as f64) as u64
        };
        if due <= sent {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let n = (due - sent).min(5000);
        send_chunk(n)?;
        sent += n;
    }
    Ok(sent)
}

/// Counts one event; true for every `every`-th over all connections.
fn next_is_alert(counter: &std::sync::atomic::AtomicU64, every: u64) -> bool {
    let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    every > 0 && i.is_multiple_of(every)
}

fn tcp_worker(
    addr: &str,
    args: &SendArgs,
    seed: u64,
    counter: &std::sync::atomic::AtomicU64,
) -> anyhow::Result<u64> {
    let stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    let _ = stream.set_nodelay(true);
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stream);
    let mut rng = Rng::new(seed);
    let rate = args.rate / args.connections.max(1) as u64;
    pace(rate, Duration::from_secs(args.duration), |n| {
        for _ in 0..n {
            let alert = next_is_alert(counter, args.alert_every);
            let stamp = rfc3339_micros(chrono::Utc::now());
            let line = syslog_line(&mut rng, args.hosts, alert, &stamp);
            write!(out, "{} {line}", line.len())?;
        }
        out.flush()?;
        Ok(())
    })
}

fn http_worker(
    client: &Client,
    args: &SendArgs,
    seed: u64,
    counter: &std::sync::atomic::AtomicU64,
) -> anyhow::Result<u64> {
    let mut rng = Rng::new(seed);
    let rate = args.rate / args.connections.max(1) as u64;
    let mut body = Vec::new();
    let mut pending = 0usize;
    let sent = pace(rate, Duration::from_secs(args.duration), |n| {
        for _ in 0..n {
            let alert = next_is_alert(counter, args.alert_every);
            let (app, msg) = message(&mut rng, alert);
            let event = serde_json::json!({
                "@timestamp": rfc3339_micros(chrono::Utc::now()),
                "host": format!("web{}", rng.below(args.hosts)),
                "program": app,
                "message": msg,
            });
            serde_json::to_writer(&mut body, &event)?;
            body.push(b'\n');
            pending += 1;
            if pending >= args.batch {
                post_with_retry(client, std::mem::take(&mut body))?;
                pending = 0;
            }
        }
        Ok(())
    })?;
    if pending > 0 {
        post_with_retry(client, body)?;
    }
    Ok(sent)
}

fn post_with_retry(client: &Client, body: Vec<u8>) -> anyhow::Result<()> {
    loop {
        match client.post(
            "/api/v1/ingest",
            &[("source", "loadgen".to_string())],
            body.clone(),
            false,
        ) {
            Ok(_) => return Ok(()),
            Err(e) => match e.downcast_ref::<HttpError>() {
                Some(h) if h.status == 429 => std::thread::sleep(Duration::from_millis(100)),
                _ => return Err(e),
            },
        }
    }
}

/// Metric values from `/metrics`, by exact series name.
fn metrics(client: &Client) -> anyhow::Result<std::collections::HashMap<String, f64>> {
    let text = client.get_text("/metrics", &[])?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect())
}

fn mean(m: &std::collections::HashMap<String, f64>, base: &str) -> f64 {
    let sum = m.get(&format!("{base}_sum")).copied().unwrap_or(0.0);
    let count = m.get(&format!("{base}_count")).copied().unwrap_or(0.0);
    if count > 0.0 {
        sum / count
    } else {
        0.0
    }
}

fn delta(
    before: &std::collections::HashMap<String, f64>,
    after: &std::collections::HashMap<String, f64>,
    series: &str,
) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Latencies (seconds) of the alerts raised since `from_ns`.
fn alert_latencies(client: &Client, from_ns: i64) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![
            ("rule", "Root shell through sudo".to_string()),
            ("from", (from_ns / 1_000_000_000).to_string()),
            ("limit", "10000".to_string()),
        ];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let page = client.get("/api/v1/alerts", &q)?;
        let alerts = page["alerts"].as_array().cloned().unwrap_or_default();
        for a in &alerts {
            if let (Some(created), Some(time)) = (a["created_ns"].as_i64(), a["time_ns"].as_i64()) {
                out.push((created - time) as f64 / 1e9);
            }
        }
        match page["next"].as_str() {
            Some(n) if !alerts.is_empty() => cursor = Some(n.to_string()),
            _ => break,
        }
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

fn send(args: &SendArgs) -> anyhow::Result<u8> {
    let client = args.server.connect()?;
    let before = metrics(&client)?;
    let start_ns = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let counter = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    let results: Vec<anyhow::Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.connections.max(1))
            .map(|c| {
                let (client, counter) = (&client, &counter);
                let seed =
                    0x9e37_79b9_7f4a_7c15 ^ (c as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
                scope.spawn(move || match &args.tcp {
                    Some(addr) => tcp_worker(addr, args, seed, counter),
                    None => http_worker(client, args, seed, counter),
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("sender thread failed")))
            })
            .collect()
    });
    let send_secs = started.elapsed().as_secs_f64();
    let mut sent = 0;
    for r in results {
        sent += r?;
    }
    eprintln!("sent {sent} events in {send_secs:.1} s ({:.0}/s offered); waiting for the server to commit them", sent as f64 / send_secs);
    let target = before
        .get("watchfloor_pipeline_events_total")
        .copied()
        .unwrap_or(0.0)
        + sent as f64;
    let after = loop {
        let m = metrics(&client)?;
        let processed = m
            .get("watchfloor_pipeline_events_total")
            .copied()
            .unwrap_or(0.0);
        let committed = m
            .get("watchfloor_pipeline_checkpoint_lsn")
            .copied()
            .unwrap_or(0.0)
            >= m.get("watchfloor_wal_durable_lsn").copied().unwrap_or(0.0);
        if processed >= target && committed {
            break m;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(args.duration * 10 + 120),
            "the server did not catch up"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let total_secs = started.elapsed().as_secs_f64();
    let latencies = alert_latencies(&client, start_ns)?;
    let report = serde_json::json!({
        "transport": if args.tcp.is_some() { "syslog-tcp" } else { "http" },
        "events": sent,
        "offered_per_s": (sent as f64 / send_secs).round(),
        "sustained_per_s": (sent as f64 / total_secs).round(),
        "seconds_to_commit_all": (total_secs * 10.0).round() / 10.0,
        "alerts": latencies.len(),
        "alert_latency_ms": {
            "p50": (percentile(&latencies, 50.0) * 1e4).round() / 10.0,
            "p99": (percentile(&latencies, 99.0) * 1e4).round() / 10.0,
            "max": (latencies.last().copied().unwrap_or(f64::NAN) * 1e4).round() / 10.0,
        },
        "server_time_per_event_us": {
            "rule_evaluation": (mean(&after, "watchfloor_rule_evaluation_seconds") * 1e7).round() / 10.0,
            "decode_and_detect": (delta(&before, &after, "watchfloor_pipeline_batch_seconds_sum") / sent.max(1) as f64 * 1e7).round() / 10.0,
        },
        "server_commit_ms_mean": (mean(&after, "watchfloor_store_commit_seconds") * 1e4).round() / 10.0,
        "wal_syncs": delta(&before, &after, "watchfloor_wal_syncs"),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(0)
}

fn search(args: &SearchBenchArgs) -> anyhow::Result<u8> {
    let client = args.server.connect()?;
    let mut times = Vec::with_capacity(args.runs);
    let mut hits = 0;
    for _ in 0..args.runs {
        let t = Instant::now();
        let page = client.get(
            "/api/v1/events",
            &[("q", args.query.clone()), ("limit", args.limit.to_string())],
        )?;
        times.push(t.elapsed().as_secs_f64());
        hits = page["events"].as_array().map_or(0, Vec::len);
    }
    times.sort_by(f64::total_cmp);
    let ms = |p: f64| (percentile(&times, p) * 1e4).round() / 10.0;
    let report = serde_json::json!({
        "query": args.query,
        "runs": args.runs,
        "events_returned": hits,
        "latency_ms": {"p50": ms(50.0), "p95": ms(95.0), "p99": ms(99.0), "max": ms(100.0)},
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(0)
}
