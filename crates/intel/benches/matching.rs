//! Matching values against a million indicators, and importing them.
//!
//! `cargo bench -p watchfloor-intel --bench matching`

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use watchfloor_intel::{DecayModel, Indicator, IntelSet, Kind, Outcome, Tlp, Warninglists};

/// A small deterministic generator (xorshift), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn indicator(kind: Kind, value: String) -> Indicator {
    Indicator {
        kind,
        value,
        source: "bench".into(),
        confidence: 80,
        tlp: Tlp::Amber,
        labels: Vec::new(),
        first_seen_ns: 0,
        last_seen_ns: 0,
        valid_until_ns: None,
        sightings: 0,
    }
}

fn ip(n: u64) -> String {
    let n = n as u32;
    std::net::Ipv4Addr::from(n).to_string()
}

/// One million indicators: 700,000 addresses, 50,000 networks, 200,000
/// domains, 50,000 SHA-256 hashes.
fn million(rng: &mut Rng) -> Vec<Indicator> {
    let mut out = Vec::with_capacity(1_000_000);
    for _ in 0..700_000 {
        out.push(indicator(Kind::Ip, ip(rng.next())));
    }
    for _ in 0..50_000 {
        let len = 16 + rng.next() % 13;
        out.push(indicator(Kind::Ip, format!("{}/{len}", ip(rng.next()))));
    }
    for i in 0..200_000 {
        out.push(indicator(
            Kind::Domain,
            format!("c2-{i}.bad{}.example", rng.next() % 1000),
        ));
    }
    for _ in 0..50_000 {
        let hash = format!(
            "{:016x}{:016x}{:016x}{:016x}",
            rng.next(),
            rng.next(),
            rng.next(),
            rng.next()
        );
        out.push(indicator(Kind::Sha256, hash));
    }
    out
}

fn matching(c: &mut Criterion) {
    let mut rng = Rng(0x5eed);
    let indicators = million(&mut rng);
    let mut set = IntelSet::default();
    for i in indicators.iter().cloned() {
        set.add(i).expect("valid");
    }
    // Probes as events carry them: addresses (one in five held), names
    // under held and unheld domains, and hashes.
    let mut probes: Vec<(Kind, String)> = Vec::new();
    for i in 0..10_000u64 {
        let value = if i % 5 == 0 {
            indicators[(rng.next() % 700_000) as usize].value.clone()
        } else {
            ip(rng.next())
        };
        probes.push((Kind::Ip, value));
        probes.push((
            Kind::Domain,
            format!(
                "www.c2-{}.bad{}.example",
                rng.next() % 400_000,
                rng.next() % 1000
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
