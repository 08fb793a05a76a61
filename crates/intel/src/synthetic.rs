//! Made-up indicators for benchmarks and load tests (a seeded generator,
//! so runs compare): addresses, networks from /16 to /28, domains and
//! SHA-256 hashes in given numbers.

use crate::indicator::{Indicator, Kind, Tlp};

/// A small deterministic generator (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// How many of each kind.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    pub addresses: usize,
    pub networks: usize,
    pub domains: usize,
    pub hashes: usize,
}

impl Mix {
    /// One million: 700,000 addresses, 50,000 networks, 200,000 domains,
    /// 50,000 SHA-256 hashes.
    pub const MILLION: Mix = Mix {
        addresses: 700_000,
        networks: 50_000,
        domains: 200_000,
        hashes: 50_000,
    };
}

pub fn indicator(kind: Kind, value: String, now_ns: i64) -> Indicator {
    Indicator {
        kind,
        value,
        source: "synthetic".into(),
        confidence: 80,
        tlp: Tlp::Amber,
        labels: Vec::new(),
        first_seen_ns: now_ns,
        last_seen_ns: now_ns,
        valid_until_ns: None,
        sightings: 0,
    }
}

pub fn ipv4(n: u64) -> String {
    std::net::Ipv4Addr::from(n as u32).to_string()
}

/// A public address, as feeds list them: not in 0/8, 10/8, 127/8, nor
/// multicast and above (so it does not match the load generator's
/// 10.0.0.0/8 traffic by chance).
pub fn public_ipv4(rng: &mut Rng) -> String {
    loop {
        let n = rng.next_u64() as u32;
        if !matches!(n >> 24, 0 | 10 | 127 | 224..) {
            return std::net::Ipv4Addr::from(n).to_string();
        }
    }
}

/// Indicators of `mix`, seen at `now_ns`.
pub fn indicators(rng: &mut Rng, mix: Mix, now_ns: i64) -> Vec<Indicator> {
    let mut out = Vec::with_capacity(mix.addresses + mix.networks + mix.domains + mix.hashes);
    for _ in 0..mix.addresses {
        out.push(indicator(Kind::Ip, public_ipv4(rng), now_ns));
    }
    for _ in 0..mix.networks {
        let len = 16 + rng.next_u64() % 13;
        out.push(indicator(
            Kind::Ip,
            format!("{}/{len}", public_ipv4(rng)),
            now_ns,
        ));
    }
    for i in 0..mix.domains {
        let value = format!("c2-{i}.bad{}.example", rng.next_u64() % 1000);
        out.push(indicator(Kind::Domain, value, now_ns));
    }
    for _ in 0..mix.hashes {
        let hash = format!(
            "{:016x}{:016x}{:016x}{:016x}",
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64()
        );
        out.push(indicator(Kind::Sha256, hash, now_ns));
    }
    out
}
