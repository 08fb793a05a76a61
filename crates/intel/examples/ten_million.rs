//! Ten million indicators in one `IntelSet`: the time to load them and
//! the memory they take (resident set before and after), then the time to
//! check 100,000 values against them.
//!
//! `cargo run --release -p watchfloor-intel --example ten_million`

use std::time::Instant;

use watchfloor_intel::synthetic::{indicators, public_ipv4, Mix, Rng};
use watchfloor_intel::{DecayModel, IntelSet, Kind, Outcome, Warninglists};

/// The resident set of this process, in MiB (procfs).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() {
    let mix = Mix {
        addresses: 7_000_000,
        networks: 500_000,
        domains: 2_000_000,
        hashes: 500_000,
    };
    let before = rss_mib();
    let mut rng = Rng(0x5eed);
    let mut set = IntelSet::default();
    let started = Instant::now();
    // In slices of a million, so the generated values never all wait at once.
    for slice in 0..10u64 {
        let part = Mix {
            addresses: mix.addresses / 10,
            networks: mix.networks / 10,
            domains: mix.domains / 10,
            hashes: mix.hashes / 10,
        };
        for mut ind in indicators(&mut rng, part, 0) {
            if ind.kind == Kind::Domain {
                ind.value = format!("s{slice}-{}", ind.value);
            }
            let _ = set.add(ind);
        }
        eprintln!("{} indicators, {:.0} MiB", set.len(), rss_mib() - before);
    }
    let load = started.elapsed().as_secs_f64();
    let memory = rss_mib() - before;
    let (decay, lists) = (DecayModel::default(), Warninglists::default());
    let probes: Vec<String> = (0..100_000).map(|_| public_ipv4(&mut rng)).collect();
    let started = Instant::now();
    let hits = probes
        .iter()
        .filter(|p| matches!(set.check(Kind::Ip, p, &decay, &lists, 1), Outcome::Hit(_)))
        .count();
    let check = started.elapsed().as_secs_f64();
    println!(
        "{} indicators loaded in {load:.1} s, {memory:.0} MiB ({:.0} bytes an indicator); \
         100,000 address checks in {:.1} ms ({:.2} us each, {hits} hits)",
        set.len(),
        memory * 1024.0 * 1024.0 / set.len() as f64,
        check * 1e3,
        check * 1e6 / 100_000.0
    );
}
