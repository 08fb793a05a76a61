//! Where the time of the live pipeline goes, stage by stage, on the
//! synthetic syslog of `watchfloor loadgen`: decoding a record, running
//! the starter rules (and the SigmaHQ rules when `WATCHFLOOR_CORPUS` is
//! set), building the stored document, and appending to the embedded
//! event store with a commit.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use watchfloor_formats::parsers::Parsers;
use watchfloor_ingest::RawRecord;
use watchfloor_pipeline::decode::{decode, to_doc};
use watchfloor_pipeline::{Detector, RuleSources, TenantSnapshots};
use watchfloor_search::{EventDoc, EventStore, TantivyEventStore, TantivyOptions};
use watchfloor_sigma::Limits;
use watchfloor_testkit::synthetic::Rng;

mod common;

const EVENTS: usize = 20_000;
const STORE_EVENTS: usize = 100_000;

fn records(n: usize) -> Vec<RawRecord> {
    let mut rng = Rng::new(7);
    (0..n).map(|i| common::record(&mut rng, i, true)).collect()
}

fn docs(records: &[RawRecord]) -> Vec<EventDoc> {
    let parsers = Parsers::shipped();
    records
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let lsn = i as u64 + 1;
            to_doc(lsn, raw, &decode(lsn, raw, &parsers).0)
        })
        .collect()
}

fn decode_and_build(c: &mut Criterion) {
    let raws = records(EVENTS);
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(EVENTS as u64));
    // Decoding with the shipped parsers (sshd, sudo, kernel firewall lines
    // get ECS fields) and without any: what parsing costs.
    let shipped = Parsers::shipped();
    let none = Parsers::default();
    for (name, parsers) in [("decode", &shipped), ("decode_no_parsers", &none)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for (i, raw) in raws.iter().enumerate() {
                    black_box(decode(i as u64, raw, parsers));
                }
            })
        });
    }
    let events: Vec<_> = raws
        .iter()
        .enumerate()
        .map(|(i, r)| decode(i as u64, r, &shipped).0)
        .collect();
    g.bench_function("to_doc", |b| {
        b.iter(|| {
            for (i, (raw, ev)) in raws.iter().zip(&events).enumerate() {
                black_box(to_doc(i as u64, raw, ev));
            }
        })
    });
    let mut sets = vec![(
        "detect_starter",
        RuleSources {
            starter: true,
            ..Default::default()
        },
    )];
    if let Some(corpus) = watchfloor_testkit::corpus("detect with the SigmaHQ rules") {
        sets.push((
            "detect_sigmahq",
            RuleSources {
                starter: true,
                paths: vec![corpus.join("sigma/rules")],
                ..Default::default()
            },
        ));
    }
    for (name, sources) in sets {
        let rules = sources.build().expect("rules load");
        let mut detector = Detector::new(&rules, Limits::default(), &TenantSnapshots::new());
        let mut alerts = Vec::new();
        g.bench_function(name, |b| {
            b.iter(|| {
                alerts.clear();
                for (i, ev) in events.iter().enumerate() {
                    detector.detect(i as u64, ev, 0, &mut alerts);
                }
                black_box(alerts.len())
            })
        });
    }
    g.finish();
}

/// Live matching on the same events, against a million indicators (the
/// tenant's) and none: what intel costs an event, warninglists and decay
/// included.
fn intel(c: &mut Criterion) {
    use watchfloor_intel::synthetic::{indicators, Mix, Rng as IntelRng};
    use watchfloor_intel::{DecayModel, Intel, Warninglists};
    let raws = records(EVENTS);
    let parsers = Parsers::shipped();
    let events: Vec<_> = raws
        .iter()
        .enumerate()
        .map(|(i, r)| decode(i as u64, r, &parsers).0)
        .collect();
    let rules = RuleSources::default().build().expect("no rules");
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(EVENTS as u64));
    for (name, count) in [("match_intel_none", 0), ("match_intel_1m", 1)] {
        let intel = Intel::new(DecayModel::default(), Warninglists::default());
        if count > 0 {
            let now = watchfloor_model::now_ns();
            intel.import(
                "default",
                indicators(&mut IntelRng(0x5eed), Mix::MILLION, now),
            );
        }
        let mut detector = Detector::new(&rules, Limits::default(), &TenantSnapshots::new());
        let mut alerts = Vec::new();
        let now = watchfloor_model::now_ns();
        g.bench_function(name, |b| {
            b.iter(|| {
                alerts.clear();
                let reader = intel.reader();
                for (i, ev) in events.iter().enumerate() {
                    detector.match_intel(&reader, i as u64, ev, now, &mut alerts);
                }
                black_box(alerts.len())
            })
        });
    }
    g.finish();
}

fn store(c: &mut Criterion) {
    let docs = docs(&records(STORE_EVENTS));
    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    g.throughput(Throughput::Elements(STORE_EVENTS as u64));
    g.bench_function("append_and_commit", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("temp dir");
                let store = TantivyEventStore::open(dir.path(), TantivyOptions::default())
                    .expect("open store");
                (dir, store)
            },
            |(dir, store)| {
                for chunk in docs.chunks(1024) {
                    store.append(chunk).expect("append");
                }
                store.commit(STORE_EVENTS as u64).expect("commit");
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, decode_and_build, intel, store);
criterion_main!(benches);
