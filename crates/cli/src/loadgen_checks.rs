//! `watchfloor loadgen checks`: the check scheduler under load, in this
//! process, against loopback targets it starts itself (TCP listeners, a
//! minimal HTTP server) or the loopback address (ICMP). Reports checks per
//! second sustained, how late checks started (drift), failures, and memory
//! per configured check.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use watchfloor_monitor::{Check, IcmpCheck, Monitor, Status, TcpCheck};

#[derive(Clone, Copy, ValueEnum)]
pub enum CheckKind {
    Tcp,
    Http,
    Icmp,
}

#[derive(Args)]
pub struct ChecksArgs {
    #[arg(long, value_enum, default_value = "tcp")]
    pub kind: CheckKind,
    /// Checks configured.
    #[arg(long, default_value_t = 10_000)]
    pub checks: usize,
    /// Each check's interval, in seconds.
    #[arg(long, default_value_t = 1)]
    pub interval: u64,
    /// Seconds measured (after one interval of warm-up).
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Checks running at once, at most.
    #[arg(long, default_value_t = 1000)]
    pub max_concurrent: usize,
    /// Loopback listeners the TCP and HTTP checks spread over.
    #[arg(long, default_value_t = 16)]
    pub targets: usize,
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Loopback listeners that accept and answer (HTTP) or just close (TCP).
async fn start_targets(n: usize, http: bool) -> anyhow::Result<Vec<u16>> {
    let mut ports = Vec::new();
    for _ in 0..n {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        ports.push(l.local_addr()?.port());
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    continue;
                };
                if http {
                    tokio::spawn(async move {
                        let mut buf = [0u8; 2048];
                        let _ = s.read(&mut buf).await;
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                            .await;
                    });
                }
            }
        });
    }
    Ok(ports)
}

fn monitor(
    i: usize,
    kind: CheckKind,
    ports: &[u16],
    interval: Duration,
) -> anyhow::Result<Monitor> {
    let port = ports.get(i % ports.len().max(1)).copied().unwrap_or(0);
    let check = match kind {
        CheckKind::Tcp => Check::Tcp(TcpCheck {
            host: "127.0.0.1".into(),
            port,
            warn_ms: None,
            crit_ms: None,
        }),
        CheckKind::Icmp => Check::Icmp(IcmpCheck {
            host: "127.0.0.1".into(),
            count: 1,
            warn_ms: None,
            crit_ms: None,
        }),
        CheckKind::Http => {
            let url = format!("http://127.0.0.1:{port}/");
            match watchfloor_monitor::parse_target(&url) {
                Ok(Check::Http(mut h)) => {
                    h.max_redirects = 0;
                    Check::Http(h)
                }
                other => return Err(anyhow::anyhow!("{url}: {other:?}")),
            }
        }
    };
    Ok(Monitor {
        name: format!("c{i}"),
        tenant: "bench".into(),
        check,
        interval,
        retry_interval: interval,
        timeout: Duration::from_secs(5),
        retries: 0,
        paused: false,
        host: None,
        service: None,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn run(a: &ChecksArgs) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(load(a))
}

async fn load(a: &ChecksArgs) -> anyhow::Result<u8> {
    let kind = a.kind;
    let ports = match kind {
        CheckKind::Icmp => Vec::new(),
        CheckKind::Tcp => start_targets(a.targets, false).await?,
        CheckKind::Http => start_targets(a.targets, true).await?,
    };
    let interval = Duration::from_secs(a.interval.max(1));
    let before = rss_bytes();
    let monitors = (0..a.checks)
        .map(|i| monitor(i, kind, &ports, interval))
        .collect::<anyhow::Result<Vec<Monitor>>>()?;
    let (control, control_rx) = mpsc::channel(1);
    let (tx, mut rx) = mpsc::channel(65_536);
    tokio::spawn(watchfloor_monitor::scheduler::run(
        monitors,
        HashMap::new(),
        control_rx,
        tx,
        a.max_concurrent,
    ));
    let started = Instant::now();
    let warm = started + interval;
    let end = warm + Duration::from_secs(a.duration);
    let mut done = 0u64;
    let mut failed = 0u64;
    let mut drifts: Vec<f64> = Vec::new();
    let mut rss_peak = 0;
    let mut last_print = Instant::now();
    while Instant::now() < end {
        let Ok(Some(r)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await else {
            continue;
        };
        rss_peak = rss_peak.max(rss_bytes());
        if Instant::now() < warm {
            continue;
        }
        done += 1;
        if r.outcome.status != Status::Ok {
            failed += 1;
        }
        drifts.push(r.drift.as_secs_f64() * 1000.0);
        if last_print.elapsed() >= Duration::from_secs(5) {
            let secs = warm.elapsed().as_secs_f64();
            eprintln!(
                "  {:.0} s: {done} checks, {:.0}/s",
                secs,
                done as f64 / secs
            );
            last_print = Instant::now();
        }
    }
    drop(control);
    drifts.sort_by(f64::total_cmp);
    let secs = a.duration as f64;
    let expected = a.checks as f64 / interval.as_secs_f64();
    let per_check = rss_peak.saturating_sub(before) as f64 / a.checks.max(1) as f64;
    let summary = serde_json::json!({
        "kind": match kind { CheckKind::Tcp => "tcp", CheckKind::Http => "http", CheckKind::Icmp => "icmp" },
        "checks": a.checks, "interval_secs": interval.as_secs(), "seconds": secs,
        "results": done, "checks_per_sec": done as f64 / secs, "scheduled_per_sec": expected,
        "failed": failed,
        "drift_ms": {"p50": percentile(&drifts, 0.5), "p99": percentile(&drifts, 0.99),
                     "max": drifts.last().copied().unwrap_or(0.0)},
        "rss_mib": rss_peak as f64 / 1048576.0, "bytes_per_check": per_check,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(0)
}
