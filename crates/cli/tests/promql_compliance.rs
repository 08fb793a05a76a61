//! The PromQL compliance tester's query list
//! (`promql/compliance/promql-test-queries.yml`, expanded over its variant
//! arguments as the tester does) run against Debian's Prometheus 2.42 and
//! against `serve`, on the same data: a small exporter in this test serves
//! the PromLabs demo service's metric names for three instances, Prometheus
//! scrapes it every second (the folder's scrape configuration, faster) and
//! remote-writes every sample to `serve`. Results are range queries
//! compared as the tester compares them: same series, same timestamps,
//! values equal within a fraction of 1e-5, NaN equal to NaN, and a query
//! Prometheus refuses must be refused too.

mod server;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use server::{free_port, wait_for, Peer, Server};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// The demo service's metrics for one instance at time `t` (seconds):
/// counters that grow (and reset now and then), gauges that move, a
/// histogram, a metric that comes and goes.
fn demo_page(instance: u32, t: f64) -> String {
    let k = instance as f64 + 1.0;
    let mut out = String::new();
    out.push_str("# HELP demo_cpu_usage_seconds_total Total CPU usage.\n# TYPE demo_cpu_usage_seconds_total counter\n");
    // A reset every 50 s on the first instance.
    let since_reset = if instance == 0 { t % 50.0 } else { t - 1.7e9 };
    for (mode, share) in [("idle", 0.7), ("user", 0.2), ("system", 0.1)] {
        out.push_str(&format!(
            "demo_cpu_usage_seconds_total{{mode=\"{mode}\"}} {}\n",
            since_reset * share * k
        ));
    }
    out.push_str("# TYPE demo_memory_usage_bytes gauge\n");
    for (i, kind) in ["buffers", "cached", "free", "used"].iter().enumerate() {
        let v = 1e9 * k + 3e8 * ((t / 7.0) + i as f64).sin() + (t * 13.0) % 1000.0;
        out.push_str(&format!(
            "demo_memory_usage_bytes{{type=\"{kind}\"}} {}\n",
            v.round()
        ));
    }
    out.push_str("# TYPE demo_disk_usage_bytes gauge\n");
    out.push_str(&format!(
        "demo_disk_usage_bytes {}\n",
        (1e10 + (t - 1.7e9) * 1000.0 * k).round()
    ));
    out.push_str(&format!(
        "# TYPE demo_num_cpus gauge\ndemo_num_cpus {}\n",
        2 * (instance + 1)
    ));
    let last_batch = (t / 15.0).floor() * 15.0;
    out.push_str(&format!("# TYPE demo_batch_last_success_timestamp_seconds gauge\ndemo_batch_last_success_timestamp_seconds {last_batch}\n"));
    if (t / 10.0).floor() as i64 % 2 == 0 {
        out.push_str("# TYPE demo_intermittent_metric gauge\ndemo_intermittent_metric 1\n");
    }
    out.push_str("# TYPE demo_api_request_duration_seconds histogram\n");
    for (method, path, status) in [("GET", "/api/foo", "200"), ("POST", "/api/bar", "500")] {
        let rate = if status == "200" { 10.0 } else { 1.0 } * k;
        let total = ((t - 1.7e9) * rate).floor();
        let mut sum = 0.0;
        for (le, share) in [
            ("0.005", 0.05),
            ("0.01", 0.1),
            ("0.025", 0.3),
            ("0.05", 0.5),
            ("0.1", 0.7),
            ("0.25", 0.85),
            ("0.5", 0.95),
            ("1", 0.99),
            ("+Inf", 1.0),
        ] {
            let count = (total * share).floor();
            sum += count * 0.001;
            out.push_str(&format!("demo_api_request_duration_seconds_bucket{{method=\"{method}\",path=\"{path}\",status=\"{status}\",le=\"{le}\"}} {count}\n"));
        }
        out.push_str(&format!("demo_api_request_duration_seconds_sum{{method=\"{method}\",path=\"{path}\",status=\"{status}\"}} {sum}\n"));
        out.push_str(&format!("demo_api_request_duration_seconds_count{{method=\"{method}\",path=\"{path}\",status=\"{status}\"}} {total}\n"));
    }
    out
}

/// Set once the data is collected: the exporters answer 503 from then on,
/// so Prometheus has nothing newer than what it has remote-written.
static STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Serves `demo_page` for one instance on a free port.
fn demo_exporter(instance: u32) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut stream = reader.into_inner();
            if STOPPED.load(std::sync::atomic::Ordering::Acquire) {
                let _ = write!(stream, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                continue;
            }
            let body = demo_page(instance, now());
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    port
}

/// The query list expanded over the tester's variant arguments.
fn expanded_queries(file: &Path) -> Vec<(String, bool)> {
    let variants: &[(&str, &[&str])] = &[
        ("range", &["1s", "15s", "1m", "5m", "15m", "1h"]),
        ("offset", &["1m", "5m", "10m"]),
        (
            "simpleAggrOp",
            &["sum", "avg", "max", "min", "count", "stddev", "stdvar"],
        ),
        (
            "simpleTimeAggrOp",
            &[
                "sum", "avg", "max", "min", "count", "stddev", "stdvar", "absent", "last",
            ],
        ),
        ("topBottomOp", &["topk", "bottomk"]),
        (
            "quantile",
            &[
                "-0.5", "0.1", "0.5", "0.75", "0.95", "0.90", "0.99", "1", "1.5",
            ],
        ),
        ("arithBinOp", &["+", "-", "*", "/", "%", "^"]),
        ("compBinOp", &["==", "!=", "<", ">", "<=", ">="]),
        (
            "binOp",
            &[
                "+", "-", "*", "/", "%", "^", "==", "!=", "<", ">", "<=", ">=",
            ],
        ),
        (
            "simpleMathFunc",
            &[
                "abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "round",
            ],
        ),
        ("extrapolatedRateFunc", &["delta", "rate", "increase"]),
        ("clampFunc", &["clamp_min", "clamp_max"]),
        ("instantRateFunc", &["idelta", "irate"]),
        (
            "dateFunc",
            &[
                "day_of_month",
                "day_of_week",
                "days_in_month",
                "hour",
                "minute",
                "month",
                "year",
            ],
        ),
    ];
    let text = std::fs::read_to_string(file).expect("query list");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
    let mut out = Vec::new();
    for case in doc["test_cases"].as_sequence().expect("test_cases") {
        let query = case["query"].as_str().expect("query").to_string();
        let fail = case["should_fail"].as_bool().unwrap_or(false);
        let args: Vec<&str> = case["variant_args"]
            .as_sequence()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let mut queries = vec![query];
        for arg in args {
            let values = variants
                .iter()
                .find(|(n, _)| *n == arg)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("unknown variant {arg}"));
            queries = queries
                .iter()
                .flat_map(|q| {
                    values
                        .iter()
                        .map(move |v| q.replace(&format!("{{{{.{arg}}}}}"), v))
                })
                .collect();
        }
        out.extend(queries.into_iter().map(|q| (q, fail)));
    }
    out
}

fn range_query(
    base: &str,
    token: Option<&str>,
    query: &str,
    start: f64,
    end: f64,
) -> Result<Vec<Value>, String> {
    let client = reqwest::blocking::Client::new();
    let mut req = client.get(format!("{base}/api/v1/query_range")).query(&[
        ("query", query),
        ("start", &format!("{start}")),
        ("end", &format!("{end}")),
        ("step", "1"),
    ]);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let v: Value = req
        .send()
        .map_err(|e| e.to_string())?
        .json()
        .map_err(|e| e.to_string())?;
    if v["status"] != "success" {
        return Err(v["error"].as_str().unwrap_or("error").to_string());
    }
    let mut result = v["data"]["result"].as_array().cloned().unwrap_or_default();
    result.sort_by_key(|s| s["metric"].to_string());
    Ok(result)
}

fn parse_value(v: &Value) -> f64 {
    match v.as_str() {
        Some("+Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(s) => s.parse().unwrap_or(f64::NAN),
        None => f64::NAN,
    }
}

/// cmpopts.EquateApprox(1e-5, 0) with EquateNaNs.
fn approx(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-5 * a.abs().min(b.abs())
}

fn diff(theirs: &[Value], ours: &[Value]) -> Option<String> {
    if theirs.len() != ours.len() {
        return Some(format!(
            "{} series, Prometheus {}",
            ours.len(),
            theirs.len()
        ));
    }
    for (t, o) in theirs.iter().zip(ours) {
        if t["metric"] != o["metric"] {
            return Some(format!(
                "series {} where Prometheus has {}",
                o["metric"], t["metric"]
            ));
        }
        let (tv, ov) = (
            t["values"].as_array().cloned().unwrap_or_default(),
            o["values"].as_array().cloned().unwrap_or_default(),
        );
        if tv.len() != ov.len() {
            return Some(format!(
                "{}: {} points, Prometheus {}",
                t["metric"],
                ov.len(),
                tv.len()
            ));
        }
        for (a, b) in tv.iter().zip(&ov) {
            if a[0].as_f64() != b[0].as_f64() || !approx(parse_value(&a[1]), parse_value(&b[1])) {
                return Some(format!("{}: {b} where Prometheus has {a}", t["metric"]));
            }
        }
    }
    None
}

#[test]
fn promql_compliance_queries_agree_with_prometheus() {
    let Some(corpus) = watchfloor_testkit::corpus("the PromQL compliance queries") else {
        return;
    };
    let queries = expanded_queries(&corpus.join("promql/compliance/promql-test-queries.yml"));
    let tmp = tempfile::tempdir().expect("tmp");
    let server = Server::start(tmp.path(), "[metrics]\nself_scrape_secs = 0\n", &[]);
    let token = |role: &str| {
        let (status, v) = server.call(
            reqwest::Method::POST,
            "/api/v1/tokens",
            &server.token,
            Some(serde_json::json!({"name": role, "role": role})),
        );
        assert_eq!(status, 201, "{v}");
        v["token"].as_str().expect("token").to_string()
    };
    let (ingest, viewer) = (token("ingest"), token("viewer"));
    let credentials = tmp.path().join("token");
    std::fs::write(&credentials, &ingest).expect("token file");
    let ports: Vec<u16> = (0..3).map(demo_exporter).collect();
    let targets: String = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("      - targets: ['127.0.0.1:{p}']\n        labels:\n          instance: 'demo.promlabs.com:1000{i}'\n"))
        .collect();
    let prom_port = free_port();
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: demo\n    static_configs:\n{targets}remote_write:\n  - url: {}/api/v1/write\n    authorization:\n      credentials_file: {}\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
            server.http,
            credentials.display()
        ),
    )
    .expect("config");
    let _prometheus = Peer(
        Command::new("/usr/bin/prometheus")
            .args([
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={}", tmp.path().join("prom").display()),
                format!("--web.listen-address=127.0.0.1:{prom_port}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(tmp.path().join("prometheus.log")).expect("log"))
            .spawn()
            .expect("prometheus (tools/test installs it)"),
    );
    let prom = format!("http://127.0.0.1:{prom_port}");
    let started = now();
    wait_for("the first remote write", || {
        range_query(
            &server.http,
            Some(&viewer),
            "demo_num_cpus",
            now() - 5.0,
            now(),
        )
        .ok()
        .filter(|r| r.len() == 3)
    });
    // Enough history for the windows; then the exporters stop (Prometheus
    // marks their series stale) and the remote write catches up.
    let data_secs = 70.0;
    std::thread::sleep(Duration::from_secs_f64(
        (started + data_secs - now()).max(0.0),
    ));
    STOPPED.store(true, std::sync::atomic::Ordering::Release);
    let stopped = now();
    std::thread::sleep(Duration::from_secs(5));
    let end = stopped.floor() - 2.0;
    let start = end - 45.0;

    let (mut passed, mut failures) = (0, Vec::new());
    for (query, should_fail) in &queries {
        let theirs = range_query(&prom, None, query, start, end);
        let ours = range_query(&server.http, Some(&viewer), query, start, end);
        let verdict = match (&theirs, &ours, should_fail) {
            (Err(_), Err(_), true) => None,
            (Err(e), _, false) => panic!("Prometheus refused {query}: {e}"),
            (Ok(_), _, true) => panic!("Prometheus accepted {query}, which should fail"),
            (Err(_), Ok(_), true) => Some("accepted a query Prometheus refuses".to_string()),
            (Ok(_), Err(e), false) => Some(format!("refused: {e}")),
            (Ok(t), Ok(o), false) => diff(t, o),
        };
        match verdict {
            None => passed += 1,
            Some(why) => failures.push(format!("{query}: {why}")),
        }
    }
    println!(
        "PromQL compliance queries: {passed}/{} agree with Prometheus 2.42",
        queries.len()
    );
    for f in &failures {
        println!("DIFF {f}");
    }
    assert!(
        queries.len() >= 500,
        "the query list expands to {} queries",
        queries.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} queries differ from Prometheus",
        failures.len(),
        queries.len()
    );
}
