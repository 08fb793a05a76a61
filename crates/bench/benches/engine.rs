//! Events per second of one core: Watchfloor's compiled engine against
//! rsigma-eval 0.23.0, same events (the EVTX files of the regression
//! corpus), same rules (SigmaHQ `rules`, `rules-emerging-threats`,
//! `rules-threat-hunting`). The run stops before timing anything if the two
//! engines disagree on a single event.
//!
//! `WATCHFLOOR_CORPUS=../shared/corpus cargo bench -p watchfloor-bench`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use watchfloor_bench::{
    as_json, compare, corpus, regression_events, rsigma_rules, watchfloor_rules,
};
use watchfloor_sigma::Scratch;

fn engines(c: &mut Criterion) {
    let Some(corpus) = corpus() else { return };
    let events = regression_events(&corpus);
    let json = as_json(&events);
    let unrouted = watchfloor_rules(&corpus, false);
    let routed = watchfloor_rules(&corpus, true);
    let rsigma = rsigma_rules(&corpus);

    let (matches, diffs) = compare(&unrouted, &rsigma, &events, &json);
    for (source, ours, theirs) in &diffs {
        eprintln!("DISAGREE {source}: only watchfloor {ours:?}, only rsigma {theirs:?}");
    }
    assert!(
        diffs.is_empty(),
        "{} events with different match sets",
        diffs.len()
    );
    eprintln!(
        "{} events, {} watchfloor rules, {} rsigma rules, {matches} matches, identical match sets",
        events.len(),
        unrouted.rules().len(),
        rsigma.rule_count()
    );

    let mut group = c.benchmark_group("sigma_engine");
    group.throughput(Throughput::Elements(events.len() as u64));
    for (name, rules) in [
        ("watchfloor/unrouted", &unrouted),
        ("watchfloor/routed", &routed),
    ] {
        group.bench_function(name, |b| {
            let mut scratch = Scratch::default();
            let mut out = Vec::new();
            b.iter(|| {
                for e in &events {
                    out.clear();
                    rules.evaluate(black_box(e), &mut scratch, &mut out);
                }
                out.len()
            })
        });
    }
    group.bench_function("rsigma-eval-0.23.0", |b| {
        b.iter(|| {
            let mut n = 0;
            for doc in &json {
                let e = rsigma_eval::event::JsonEvent::borrow(black_box(doc));
                n += rsigma.evaluate(&e).len();
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, engines);
criterion_main!(benches);
