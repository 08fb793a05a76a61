//! Matching values against a million indicators, and importing them.
//!
//! `cargo bench -p watchfloor-intel --bench matching`

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use watchfloor_intel::synthetic::{indicators as synthetic, ipv4 as ip, Mix, Rng};
use watchfloor_intel::{DecayModel, IntelSet, Kind, Outcome, Warninglists};

fn matching(c: &mut Criterion) {
    let mut rng = Rng(0x5eed);
    let indicators = synthetic(&mut rng, Mix::MILLION, 0);
    let mut set = IntelSet::default();
    for i in indicators.iter().cloned() {
        set.add(i).expect("valid");
    }
    // Probes as events carry them: addresses (one in five held), names
    // under held and unheld domains, and hashes.
    let mut probes: Vec<(Kind, String)> = Vec::new();
    for i in 0..10_000u64 {
        let value = if i % 5 == 0 {
            indicators[(rng.next_u64() % 700_000) as usize]
                .value
                .clone()
        } else {
            ip(rng.next_u64())
        };
        probes.push((Kind::Ip, value));
        probes.push((
            Kind::Domain,
            format!(
                "www.c2-{}.bad{}.example",
                rng.next_u64() % 400_000,
                rng.next_u64() % 1000
            ),
        ));
    }
    let (decay, lists) = (DecayModel::default(), Warninglists::default());
    let mut g = c.benchmark_group("intel");
    g.throughput(Throughput::Elements(probes.len() as u64));
    g.bench_function("check_1m_indicators", |b| {
        b.iter(|| {
            let mut hits = 0;
            for (kind, value) in &probes {
                if matches!(set.check(*kind, value, &decay, &lists, 1), Outcome::Hit(_)) {
                    hits += 1;
                }
            }
            black_box(hits)
        })
    });
    g.sample_size(10);
    g.throughput(Throughput::Elements(indicators.len() as u64));
    g.bench_function("import_1m_indicators", |b| {
        b.iter_batched(
            || indicators.clone(),
            |all| {
                let mut set = IntelSet::default();
                for i in all {
                    let _ = set.add(i);
                }
                black_box(set.len())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
