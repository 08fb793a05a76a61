//! The metric store with real peers: Debian's prometheus-node-exporter
//! scraped by `serve`, Debian's Prometheus 2.42 scraping the same exporter
//! and remote-writing to `serve` (its answers compared with ours), and
//! remote writes that were acknowledged surviving `kill -9`.

mod server;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use server::{free_port, wait_for, Peer, Server};
use watchfloor_telemetry::remote_write::{encode, Label, Sample, TimeSeries, WriteRequest};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const PROMETHEUS: &str = "/usr/bin/prometheus";

fn peer(program: &str, args: &[String], log: &Path) -> Peer {
    Peer(
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log"))
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e} (tools/test installs it)")),
    )
}

fn node_exporter(dir: &Path) -> (Peer, u16) {
    let port = free_port();
    let args = [
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--collector.disable-defaults".into(),
        "--collector.cpu".into(),
        "--collector.loadavg".into(),
        "--collector.meminfo".into(),
    ];
    let p = peer(NODE_EXPORTER, &args, &dir.join("node-exporter.log"));
    wait_for("node exporter", || {
        reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics"))
            .ok()
            .filter(|r| r.status().is_success())
    });
    (p, port)
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// An instant query against a Prometheus API at `base`: the result array.
fn instant(base: &str, token: Option<&str>, query: &str, time: f64) -> Vec<Value> {
    let client = reqwest::blocking::Client::new();
    let mut req = client
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", query), ("time", &format!("{time:.3}"))]);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let v: Value = req.send().expect("query").json().expect("json");
    assert_eq!(v["status"], "success", "{base} {query}: {v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Series (labels as text) and values of a vector result, sorted.
fn by_series(result: &[Value]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = result
        .iter()
        .map(|r| {
            (
                r["metric"].to_string(),
                r["value"][1].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn node_exporter_scraped_and_prometheus_remote_writing_agree_with_prometheus() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_exporter, port) = node_exporter(tmp.path());
    let target = format!("127.0.0.1:{port}");
    let scrape = format!("[[telemetry.scrape]]\njob = \"node\"\ntargets = [\"{target}\"]\ninterval_secs = 1\ntimeout_secs = 1\nlabels = {{ site = \"lab\" }}\n");
    let server = Server::start(tmp.path(), &scrape, &[]);
    let ingest = server.new_token("ingest");
    let viewer = server.new_token("viewer");
    let credentials = tmp.path().join("remote-write-token");
    std::fs::write(&credentials, &ingest).expect("token file");

    // Debian's Prometheus scrapes the same exporter and remote-writes it.
    let prom_port = free_port();
    let prom_config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: prom-node\n    static_configs:\n      - targets: ['{target}']\nremote_write:\n  - url: {}/api/v1/write\n    authorization:\n      credentials_file: {}\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
            server.http,
            credentials.display()
        ),
    )
    .expect("prometheus config");
    let prom_base = format!("http://127.0.0.1:{prom_port}");
    let _prometheus = peer(
        PROMETHEUS,
        &[
            format!("--config.file={}", prom_config.display()),
            format!(
                "--storage.tsdb.path={}",
                tmp.path().join("prom-data").display()
            ),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &tmp.path().join("prometheus.log"),
    );

    // Our own scrape: up, the target's series with job/instance and the
    // job's labels, and the scrape's own series.
    wait_for("our scrape", || {
        let r = instant(&server.http, Some(&viewer), r#"up{job="node"}"#, now_secs());
        (r.first().and_then(|s| s["value"][1].as_str()) == Some("1")).then_some(())
    });
    let cpu = instant(
        &server.http,
        Some(&viewer),
        r#"count(node_cpu_seconds_total{job="node",site="lab"})"#,
        now_secs(),
    );
    assert!(
        cpu.first()
            .and_then(|s| s["value"][1].as_str())
            .is_some_and(|n| n.parse::<u32>().unwrap_or(0) >= 1),
        "{cpu:?}"
    );
    let duration = instant(
        &server.http,
        Some(&viewer),
        r#"scrape_duration_seconds{job="node"}"#,
        now_secs(),
    );
    assert_eq!(duration.len(), 1);

    // Prometheus's remote write arrives; a few seconds back, both stores
    // hold the same samples, so the same queries give the same answers.
    wait_for("remote write from prometheus", || {
        let r = instant(
            &server.http,
            Some(&viewer),
            r#"count(node_cpu_seconds_total{job="prom-node"})"#,
            now_secs(),
        );
        (!r.is_empty()).then_some(())
    });
    // Scrapes under load come late: a few seconds of data, a 10 s window.
    std::thread::sleep(Duration::from_secs(6));
    let at = now_secs().floor() - 3.0;
    for query in [
        r#"node_cpu_seconds_total{job="prom-node"}"#,
        r#"sum by (mode) (rate(node_cpu_seconds_total{job="prom-node"}[10s]))"#,
        r#"node_memory_MemTotal_bytes{job="prom-node"} / 1024"#,
        r#"count by (job) (up{job="prom-node"})"#,
    ] {
        let theirs = by_series(&instant(&prom_base, None, query, at));
        let ours = by_series(&instant(&server.http, Some(&viewer), query, at));
        assert!(!theirs.is_empty(), "{query}: prometheus has nothing");
        assert_eq!(ours, theirs, "{query} at {at}");
    }
    // Series metadata came with the writes or the scrapes.
    let (status, v) = server.get("/api/v1/metadata?metric=node_cpu_seconds_total");
    assert_eq!(status, 200);
    assert_eq!(
        v["data"]["node_cpu_seconds_total"][0]["type"], "counter",
        "{v}"
    );
}

fn write_batch(
    client: &reqwest::blocking::Client,
    http: &str,
    token: &str,
    i: u64,
    base: i64,
) -> bool {
    let series = |name: &str| TimeSeries {
        labels: vec![
            Label {
                name: "__name__".into(),
                value: name.into(),
            },
            Label {
                name: "writer".into(),
                value: "kill9".into(),
            },
        ],
        samples: vec![Sample {
            value: i as f64,
            timestamp: base + i as i64 * 1000,
        }],
    };
    let body = encode(&WriteRequest {
        timeseries: vec![series("kill_a"), series("kill_b")],
        metadata: Vec::new(),
    });
    client
        .post(format!("{http}/api/v1/write"))
        .bearer_auth(token)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .body(body)
        .send()
        .is_ok_and(|r| r.status().as_u16() == 204)
}

#[test]
fn acknowledged_remote_writes_survive_kill_9() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut server = Server::start(tmp.path(), "", &[]);
    let ingest = server.new_token("ingest");
    let base = (now_secs() as i64 - 3600) * 1000;
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (http, ingest, acked, stop) = (
            server.http.clone(),
            ingest.clone(),
            acked.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client");
            let mut i = 0;
            while !stop.load(Ordering::Acquire) {
                if !write_batch(&client, &http, &ingest, i, base) {
                    break; // the server is gone: nothing after this was acknowledged
                }
                acked.store(i + 1, Ordering::Release);
                i += 1;
            }
        })
    };
    wait_for("a few hundred acknowledged writes", || {
        (acked.load(Ordering::Acquire) >= 300).then_some(())
    });
    server.kill9();
    stop.store(true, Ordering::Release);
    writer.join().expect("writer");
    let acked = acked.load(Ordering::Acquire);

    let server = Server::start_with(tmp.path(), &server.config.clone(), &[]);
    let viewer = server.new_token("viewer");
    let client = reqwest::blocking::Client::new();
    let end = (base + (acked as i64 - 1) * 1000) as f64 / 1000.0;
    for name in ["kill_a", "kill_b"] {
        let v: Value = client
            .get(format!("{}/api/v1/query_range", server.http))
            .bearer_auth(&viewer)
            .query(&[
                ("query", name),
                ("start", &format!("{}", base as f64 / 1000.0)),
                ("end", &format!("{end}")),
                ("step", "1"),
            ])
            .send()
            .expect("query")
            .json()
            .expect("json");
        let values = v["data"]["result"][0]["values"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            values.len() as u64,
            acked,
            "{name}: every acknowledged step has a point"
        );
        for (i, point) in values.iter().enumerate() {
            assert_eq!(
                point[1].as_str(),
                Some(i.to_string().as_str()),
                "{name}: sample {i} (a gap shows as the previous value)"
            );
        }
    }
}
