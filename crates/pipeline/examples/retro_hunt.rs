//! A retro-hunt at scale: fills an embedded event store with synthetic
//! syslog (as `watchfloor loadgen` sends it), then looks for new
//! indicators in all of it, as an import does.
//!
//! `cargo run --release -p watchfloor-pipeline --example retro_hunt -- DIR EVENTS INDICATORS [--network]`
//!
//! `DIR` keeps the store: a second run with the same `DIR` and `EVENTS`
//! skips the fill. The indicators are addresses of the synthetic mix's
//! 10.0.0.0/8 (half of them), domains and SHA-256 hashes; `--network` adds
//! one /24, which makes every event parsed (no fixed text stands for a
//! network).

use std::sync::Arc;
use std::time::Instant;

use watchfloor_intel::synthetic::{indicator, Rng as IntelRng};
use watchfloor_intel::{DecayModel, Intel, Kind, Warninglists};
use watchfloor_pipeline::decode::{decode, to_doc};
use watchfloor_pipeline::retro::retro_hunt;
use watchfloor_search::{EventStore, TantivyEventStore, TantivyOptions};
use watchfloor_state::SqliteStateStore;
use watchfloor_testkit::synthetic::Rng;

#[path = "../benches/common/mod.rs"]
mod common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn fill(store: &TantivyEventStore, events: usize) {
    let parsers = watchfloor_formats::parsers::Parsers::shipped();
    let mut rng = Rng::new(11);
    let started = Instant::now();
    let mut batch = Vec::with_capacity(4096);
    for i in 0..events {
        let raw = common::record(&mut rng, i, false);
        let lsn = i as u64 + 1;
        let (event, _) = decode(lsn, &raw, &parsers);
        batch.push(to_doc(lsn, &raw, &event));
        // A commit says "everything up to here is appended": the batch
        // goes in first (ids at or below a commit are taken for replays).
        let commit = (i + 1) % commit_every() == 0 || i + 1 == events;
        if batch.len() == 4096 || commit {
            store.append(&batch).expect("append");
            batch.clear();
        }
        if commit {
            store.commit(lsn).expect("commit");
            eprintln!(
                "filled {} events, {:.0}/s",
                i + 1,
                (i + 1) as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(events), Some(count)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: retro_hunt DIR EVENTS INDICATORS [--network]");
        std::process::exit(2);
    };
    let events: usize = events.parse().expect("EVENTS");
    let count: usize = count.parse().expect("INDICATORS");
    let network = args.iter().any(|a| a == "--network");
    let dir = std::path::Path::new(dir);
    let store = Arc::new(
        TantivyEventStore::open(&dir.join("events"), TantivyOptions::default()).expect("store"),
    );
    let held = store.stats().expect("stats").events;
    if held < events as u64 {
        fill(&store, events);
    }
    let stats = store.stats().expect("stats");
    eprintln!(
        "{} events stored in {} buckets",
        stats.events, stats.buckets
    );

    let now = watchfloor_model::now_ns();
    let mut rng = IntelRng(0x5eed);
    let mut indicators = Vec::with_capacity(count + 1);
    for i in 0..count {
        let value = match i % 4 {
            0 | 1 => format!(
                "10.{}.{}.{}",
                rng.next_u64() % 256,
                rng.next_u64() % 256,
                1 + rng.next_u64() % 254
            ),
            2 => format!("c2-{i}.bad{}.example", rng.next_u64() % 1000),
            _ => format!(
                "{:016x}{:016x}{:016x}{:016x}",
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64()
            ),
        };
        let kind = match i % 4 {
            0 | 1 => Kind::Ip,
            2 => Kind::Domain,
            _ => Kind::Sha256,
        };
        indicators.push(indicator(kind, value, now));
    }
    if network {
        indicators.push(indicator(Kind::Ip, "10.20.30.0/24".into(), now));
    }
    let state_dir = tempfile::tempdir().expect("temp dir");
    let state = SqliteStateStore::open(&state_dir.path().join("state.db")).expect("state");
    let intel = Intel::new(DecayModel::default(), Warninglists::default());
    intel.import("default", indicators.clone());

    let started = Instant::now();
    let report = retro_hunt(
        store.as_ref(),
        &state,
        &intel,
        "default",
        indicators,
        (0, now),
    )
    .expect("retro-hunt");
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} indicators over {} events: {:.2} s ({:.0} events/s), {} parsed, {} matches, {} alerts",
        report.indicators,
        report.events,
        seconds,
        report.events as f64 / seconds,
        report.parsed,
        report.matches,
        report.alerts
    );
}

/// Events between commits while filling (`RETRO_COMMIT_EVERY`, a million).
fn commit_every() -> usize {
    std::env::var("RETRO_COMMIT_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}
