//! CPU time the embedded event store spends per event, merges included:
//! appends synthetic syslog (as `watchfloor loadgen` sends it) in
//! commits of a given size and reports the store's share of the process
//! CPU time.
//!
//! `cargo run --release -p watchfloor-pipeline --example store_cpu -- EVENTS COMMIT_EVERY [BLOCK_EVENTS]`

use watchfloor_pipeline::decode::{decode, to_doc};
use watchfloor_search::{EventDoc, EventStore, TantivyEventStore, TantivyOptions};
use watchfloor_testkit::synthetic::Rng;

#[path = "../benches/common/mod.rs"]
mod common;

/// The allocator of the `watchfloor` binary, so that the figure is the one
/// the server pays.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU seconds of the whole process so far (all threads), from procfs.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime, in clock ticks of 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}

fn documents(rng: &mut Rng, lsns: std::ops::Range<usize>) -> Vec<EventDoc> {
    let parsers = watchfloor_formats::parsers::Parsers::shipped();
    lsns.map(|i| {
        let raw = common::record(rng, i, false);
        let lsn = i as u64 + 1;
        to_doc(lsn, &raw, &decode(lsn, &raw, &parsers).0)
    })
    .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (events, every) = (arg(1, 2_000_000), arg(2, 50_000).max(1));
    let options = TantivyOptions {
        block_events: arg(3, TantivyOptions::default().block_events),
        ..TantivyOptions::default()
    };
    let mut rng = Rng::new(7);
    let dir = tempfile::tempdir()?;
    let store = TantivyEventStore::open(dir.path(), options)?;
    let started = std::time::Instant::now();
    let mut generating = 0.0;
    let mut done = 0;
    while done < events {
        let before = process_cpu_seconds();
        let docs = documents(&mut rng, done..done + every);
        generating += process_cpu_seconds() - before;
        for chunk in docs.chunks(1024) {
            store.append(chunk)?;
        }
        // Making and dropping the documents is the pipeline's work.
        let before = process_cpu_seconds();
        drop(docs);
        generating += process_cpu_seconds() - before;
        done += every;
        store.commit(done as u64)?;
    }
    // Dropping the store waits for its merges.
    drop(store);
    let store_cpu = process_cpu_seconds() - generating;
    println!(
        "{done} events, a commit every {every}: {:.1} s, store CPU {store_cpu:.1} s = {:.1} µs an event",
        started.elapsed().as_secs_f64(),
        store_cpu * 1e6 / done as f64
    );
    Ok(())
}
