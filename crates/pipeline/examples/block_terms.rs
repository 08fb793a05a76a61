//! Distinct terms an event in the index: the load generator's syslog
//! decoded with the shipped parsers and with none, stored in blocks of
//! 128 as the server stores them.
//!
//! `cargo run --release -p watchfloor-pipeline --example block_terms`

use watchfloor_formats::parsers::Parsers;
use watchfloor_pipeline::decode::{decode, to_doc};
use watchfloor_search::{block_term_count, EventDoc};
use watchfloor_testkit::synthetic::Rng;

#[path = "../benches/common/mod.rs"]
mod common;

const EVENTS: usize = 128_000;
const BLOCK: usize = 128;

fn terms_per_event(parsers: &Parsers) -> f64 {
    let mut rng = Rng::new(7);
    let docs: Vec<EventDoc> = (0..EVENTS)
        .map(|i| {
            let raw = common::record(&mut rng, i, false);
            let lsn = i as u64 + 1;
            to_doc(lsn, &raw, &decode(lsn, &raw, parsers).0)
        })
        .collect();
    let terms: usize = docs.chunks(BLOCK).map(block_term_count).sum();
    terms as f64 / EVENTS as f64
}

fn main() {
    println!(
        "terms an event, blocks of {BLOCK}: {:.2} with the shipped parsers, {:.2} with none",
        terms_per_event(&Parsers::shipped()),
        terms_per_event(&Parsers::default())
    );
}
