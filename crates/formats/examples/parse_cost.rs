//! What parsing one line costs, by program, on the load generator's lines
//! (`watchfloor loadgen send`): the shipped parsers run on a copy of an
//! event that holds the line, minus the copy's own cost.
//!
//! ```sh
//! cargo run --release -p watchfloor-formats --example parse_cost
//! ONLY=kernel cargo run --release -p watchfloor-formats --example parse_cost
//! ```
//!
//! One thread, the system allocator (the server uses mimalloc, where the
//! new fields' allocations cost less).

use std::time::Instant;

use watchfloor_formats::parsers::Parsers;
use watchfloor_model::{Event, Value};
use watchfloor_testkit::synthetic::{message, Rng};

const ROUNDS: usize = 200_000;

fn main() {
    let parsers = Parsers::shipped();
    let only = std::env::var("ONLY").ok();
    let mut rng = Rng::new(7);
    let mut seen: Vec<(&str, String)> = Vec::new();
    // One line of each kind the generator writes (the alert is sudo's):
    // a kind is a program and the line's first word if it is a word.
    let kind = |program: &str, line: &str| {
        let first = line
            .split(' ')
            .next()
            .filter(|w| w.starts_with(char::is_alphabetic));
        (program.to_string(), first.map(str::to_string))
    };
    for i in 0..10_000 {
        let (program, line) = message(&mut rng, i == 0);
        if seen.iter().any(|(p, l)| kind(p, l) == kind(program, &line))
            || only.as_deref().is_some_and(|o| o != program)
        {
            continue;
        }
        seen.push((program, line));
    }
    for (program, line) in seen {
        let mut event = Event::new(Default::default());
        event.push("message", Value::Str(line.as_str().into()));
        event.core.provider = Some(program.into());
        let parsed = time(|| {
            let mut e = event.clone();
            std::hint::black_box(parsers.apply(&mut e));
        });
        let copied = time(|| {
            std::hint::black_box(event.clone());
        });
        println!("{program:8} {:6.0} ns  {line}", parsed - copied);
    }
}

/// Nanoseconds a call of `f`, over [`ROUNDS`] calls.
fn time(mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..ROUNDS {
        f();
    }
    started.elapsed().as_nanos() as f64 / ROUNDS as f64
}
