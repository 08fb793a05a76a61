//! Load generator and query timer for the metric store benchmarks
//! (docs/BENCHMARKS.md, tools/bench_metrics.sh): the same remote-write
//! stream and the same PromQL range queries against Watchfloor,
//! VictoriaMetrics and Prometheus.
//!
//!   metrics_bench write URL [TOKEN] SERIES HOURS STEP_SECS
//!   metrics_bench query URL [TOKEN] QUERY HOURS STEP_SECS RUNS
//!   metrics_bench flows HOST:PORT RECORDS RATE
//!   metrics_bench decode RECORDS
//!
//! `write` sends SERIES series (half counters, half gauges) over the last
//! HOURS hours at STEP_SECS, oldest first, 2,000 series per request, and
//! prints samples per second. `query` runs QUERY over the same span RUNS
//! times and prints the median and best latency. `flows` sends RECORDS
//! NetFlow v9 records (30 a datagram, one template first) to a collector as
//! fast as the socket takes them; `decode` times our decoder in process.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use watchfloor_telemetry::remote_write::{encode, Label, Sample, TimeSeries, WriteRequest};

fn usage() -> ! {
    eprintln!("usage: metrics_bench write URL [TOKEN] SERIES HOURS STEP_SECS | query URL [TOKEN] QUERY HOURS STEP_SECS RUNS | flows HOST:PORT RECORDS RATE | decode RECORDS");
    std::process::exit(2)
}

/// Splits the arguments after the URL into an optional token and the rest.
fn token_and_rest(args: &[String], rest: usize) -> (Option<String>, Vec<String>) {
    if args.len() == rest + 1 {
        (Some(args[0].clone()), args[1..].to_vec())
    } else if args.len() == rest {
        (None, args.to_vec())
    } else {
        usage()
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A deterministic stream: xorshift per series.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn write(url: &str, token: Option<&str>, series: usize, hours: i64, step: i64) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let end = now_secs() / step * step;
    let start = end - hours * 3600;
    let mut states: Vec<u64> = (0..series)
        .map(|i| 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1))
        .collect();
    let mut counters: Vec<f64> = vec![0.0; series];
    let labels: Vec<Vec<Label>> = (0..series)
        .map(|i| {
            let counter = i % 2 == 0;
            vec![
                Label {
                    name: "__name__".into(),
                    value: if counter {
                        "bench_requests_total"
                    } else {
                        "bench_load"
                    }
                    .into(),
                },
                Label {
                    name: "instance".into(),
                    value: format!("host-{:04}:9100", i / 20),
                },
                Label {
                    name: "job".into(),
                    value: "bench".into(),
                },
                Label {
                    name: "shard".into(),
                    value: (i % 20).to_string(),
                },
            ]
        })
        .collect();
    let (mut samples, mut requests) = (0u64, 0u64);
    let started = Instant::now();
    for t in (start..=end).step_by(step as usize) {
        for chunk_start in (0..series).step_by(2000) {
            let chunk_end = (chunk_start + 2000).min(series);
            let timeseries: Vec<TimeSeries> = (chunk_start..chunk_end)
                .map(|i| {
                    let r = next(&mut states[i]);
                    let value = if i % 2 == 0 {
                        counters[i] += (r % 100) as f64;
                        counters[i]
                    } else {
                        ((r % 10_000) as f64) / 100.0
                    };
                    TimeSeries {
                        labels: labels[i].clone(),
                        samples: vec![Sample {
                            value,
                            timestamp: t * 1000,
                        }],
                    }
                })
                .collect();
            samples += timeseries.len() as u64;
            let body = encode(&WriteRequest {
                timeseries,
                metadata: Vec::new(),
            });
            let mut req = client
                .post(url)
                .header("Content-Type", "application/x-protobuf")
                .header("Content-Encoding", "snappy")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().expect("write");
            if !resp.status().is_success() {
                panic!(
                    "write: {} {}",
                    resp.status(),
                    resp.text().unwrap_or_default()
                );
            }
            requests += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{samples} samples in {requests} requests, {secs:.1} s: {:.0} samples/s",
        samples as f64 / secs
    );
}

fn query(url: &str, token: Option<&str>, q: &str, hours: i64, step: i64, runs: usize) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("client");
    let end = now_secs() / step * step;
    let start = end - hours * 3600;
    let mut times = Vec::new();
    let mut points = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let mut req = client.get(url).query(&[
            ("query", q),
            ("start", &start.to_string()),
            ("end", &end.to_string()),
            ("step", &step.to_string()),
        ]);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let v: serde_json::Value = req.send().expect("query").json().expect("json");
        times.push(started.elapsed().as_secs_f64());
        assert_eq!(v["status"], "success", "{v}");
        points = v["data"]["result"].as_array().map_or(0, |r| {
            r.iter()
                .map(|s| s["values"].as_array().map_or(0, Vec::len))
                .sum()
        });
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{q}: median {:.3} s, best {:.3} s ({points} points)",
        times[times.len() / 2],
        times[0]
    );
}

/// NetFlow v9 datagrams: a template, then data of 30 records each.
fn v9_datagrams(records: usize) -> Vec<Vec<u8>> {
    let header = |count: u16, seq: u32| {
        let mut d = Vec::new();
        d.extend(9u16.to_be_bytes());
        d.extend(count.to_be_bytes());
        d.extend(100_000u32.to_be_bytes());
        d.extend((now_secs() as u32).to_be_bytes());
        d.extend(seq.to_be_bytes());
        d.extend(1u32.to_be_bytes());
        d
    };
    let fields: [(u16, u16); 9] = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (1, 4),
        (2, 4),
        (22, 4),
        (21, 4),
    ];
    let mut template = header(1, 0);
    template.extend(0u16.to_be_bytes());
    template.extend((4 + 4 + fields.len() as u16 * 4).to_be_bytes());
    template.extend(256u16.to_be_bytes());
    template.extend((fields.len() as u16).to_be_bytes());
    for (id, len) in fields {
        template.extend(id.to_be_bytes());
        template.extend(len.to_be_bytes());
    }
    let mut out = vec![template];
    let mut state = 0x1234_5678_9abc_def0u64;
    let indexes: Vec<usize> = (0..records).collect();
    for (seq, chunk) in (1..).zip(indexes.chunks(30)) {
        let mut d = header(chunk.len() as u16, seq);
        d.extend(256u16.to_be_bytes());
        d.extend((4 + chunk.len() as u16 * 29).to_be_bytes());
        for _ in chunk {
            let r = next(&mut state);
            d.extend([10, (r >> 8) as u8, (r >> 16) as u8, (r >> 24) as u8]);
            d.extend([192, 0, 2, (r >> 32) as u8 % 16]);
            d.extend(((r >> 40) as u16 | 1024).to_be_bytes());
            d.extend([0, 80, 6]);
            d.extend(((r % 1400) as u32 + 60).to_be_bytes());
            d.extend(1u32.to_be_bytes());
            d.extend(90_000u32.to_be_bytes());
            d.extend(99_000u32.to_be_bytes());
        }
        out.push(d);
    }
    out
}

/// Sends the records at `rate` records a second (paced every 10 ms, as
/// an exporter spreads its datagrams).
fn flows(target: &str, records: usize, rate: f64) {
    let datagrams = v9_datagrams(records);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
    socket.connect(target).expect("connect");
    let started = Instant::now();
    let mut sent_records = 0usize;
    for d in &datagrams {
        while socket.send(d).is_err() {}
        sent_records += 30;
        let due = Duration::from_secs_f64(sent_records as f64 / rate);
        let elapsed = started.elapsed();
        if due > elapsed + Duration::from_millis(10) {
            std::thread::sleep(due - elapsed);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent {records} records in {} datagrams, {secs:.2} s: {:.0} records/s offered",
        datagrams.len(),
        records as f64 / secs
    );
}

fn decode(records: usize) {
    let datagrams = v9_datagrams(records);
    let exporter = std::net::IpAddr::from([192, 0, 2, 1]);
    let mut decoder = watchfloor_telemetry::flows::Decoder::new();
    let mut aggregator = watchfloor_telemetry::flows::Aggregator::new(20);
    let mut out = Vec::new();
    let started = Instant::now();
    for d in &datagrams {
        out.clear();
        let _ = decoder.decode(exporter, d, 0, &mut out);
        for r in &out {
            aggregator.add(r, 60_000);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "decoded and aggregated {} records in {secs:.2} s: {:.0} records/s",
        decoder.stats.records,
        decoder.stats.records as f64 / secs
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("write") if args.len() >= 5 => {
            let (token, rest) = token_and_rest(&args[2..], 3);
            write(
                &args[1],
                token.as_deref(),
                rest[0].parse().unwrap_or_else(|_| usage()),
                rest[1].parse().unwrap_or_else(|_| usage()),
                rest[2].parse().unwrap_or_else(|_| usage()),
            );
        }
        Some("query") if args.len() >= 6 => {
            let (token, rest) = token_and_rest(&args[2..], 4);
            query(
                &args[1],
                token.as_deref(),
                &rest[0],
                rest[1].parse().unwrap_or_else(|_| usage()),
                rest[2].parse().unwrap_or_else(|_| usage()),
                rest[3].parse().unwrap_or_else(|_| usage()),
            );
        }
        Some("flows") if args.len() == 4 => flows(
            &args[1],
            args[2].parse().unwrap_or_else(|_| usage()),
            args[3].parse().unwrap_or_else(|_| usage()),
        ),
        Some("decode") if args.len() == 2 => decode(args[1].parse().unwrap_or_else(|_| usage())),
        _ => usage(),
    }
}
