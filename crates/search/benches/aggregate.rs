//! Counting the matches of a query (histogram and top values), as the
//! console's search counts do, over a store of syslog-like events of
//! which 40% are `sshd`: the cost per stored and per matching event.
//! `cargo bench -p watchfloor-search --bench aggregate`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use watchfloor_search::{
    AggregateRequest, EventDoc, EventStore, TantivyEventStore, TantivyOptions,
};

const EVENTS: u64 = 200_000;
const SPAN_NS: i64 = 3_600_000_000_000;

/// The programs of the load generator's mix, with a message of each.
fn line(n: u64) -> (&'static str, String) {
    match n % 10 {
        0..=2 => ("sshd", format!("Accepted publickey for deploy from 10.{}.{}.7 port {} ssh2", n % 256, n % 91, 1024 + n % 60000)),
        3 => ("sshd", format!("Connection closed by 10.0.{}.9 port {} [preauth]", n % 256, 1024 + n % 60000)),
        4 => ("CRON", format!("(root) CMD (run-parts /etc/cron.hourly) job {n}")),
        5 | 6 => ("kernel", format!("[UFW BLOCK] IN=eth0 OUT= SRC=10.1.{}.2 DST=10.2.0.{} LEN=60 PROTO=TCP SPT={} DPT=443 SYN", n % 256, n % 200, n % 60000)),
        _ => ("nginx", format!("10.3.0.{} - - \"GET /api/v1/items/{n} HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0\"", n % 250)),
    }
}

fn filled(dir: &std::path::Path) -> TantivyEventStore {
    let store = TantivyEventStore::open(dir, TantivyOptions::default()).expect("open");
    let step = SPAN_NS / EVENTS as i64;
    let batch: Vec<EventDoc> = (0..EVENTS)
        .map(|n| {
            let (program, message) = line(n.wrapping_mul(2_654_435_761) >> 7);
            let mut fields = serde_json::Map::new();
            fields.insert("program".into(), program.into());
            fields.insert("message".into(), message.into());
            EventDoc {
                id: n + 1,
                time_ns: n as i64 * step,
                received_ns: n as i64 * step,
                tenant: "default".into(),
                source: "loadgen".into(),
                host: Some(format!("host-{}", n % 500)),
                truncated: false,
                fields,
            }
        })
        .collect();
    store.append(&batch).expect("append");
    store.commit(EVENTS).expect("commit");
    store
}

fn counts(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = filled(dir.path());
    let request = |query: &str, top: Option<&str>| AggregateRequest {
        query: query.into(),
        tenant: "default".into(),
        from_ns: Some(0),
        to_ns: Some(SPAN_NS),
        interval_ns: Some(60_000_000_000),
        top_field: top.map(str::to_string),
        top_size: 10,
        max_events: u64::MAX,
        ..Default::default()
    };
    let mut g = c.benchmark_group("aggregate");
    g.sample_size(20);
    g.throughput(Throughput::Elements(EVENTS));
    for (name, query, top) in [
        ("histogram_of_the_range", "", None),
        (
            "query_histogram_and_top_hosts",
            "program:sshd",
            Some("host"),
        ),
        (
            "query_matching_few",
            "program:cron AND message:cmd",
            Some("host"),
        ),
    ] {
        let req = request(query, top);
        let matched = store.aggregate(&req).expect("aggregate").matched;
        eprintln!("{name}: {matched} of {EVENTS} events match");
        g.bench_function(name, |b| {
            b.iter(|| store.aggregate(&req).expect("aggregate"))
        });
    }
    g.finish();
}

criterion_group!(benches, counts);
criterion_main!(benches);
