//! ICMP echo over an unprivileged datagram socket (`net.ipv4.ping_group_range`),
//! or a raw socket when datagrams are refused and we may open one.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use surge_ping::{Client, Config, PingIdentifier, PingSequence, ICMP};

use crate::{IcmpCheck, Outcome, Status};

pub(crate) async fn run(c: &IcmpCheck) -> Outcome {
    let ip: IpAddr = match c.host.parse() {
        Ok(ip) => ip,
        Err(_) => match super::resolve(&c.host, 0).await {
            Ok(a) => a.ip(),
            Err(o) => return o,
        },
    };
    let config = match ip {
        IpAddr::V4(_) => Config::default(),
        IpAddr::V6(_) => Config::builder().kind(ICMP::V6).build(),
    };
    let client = match Client::new(&config) {
        Ok(c) => c,
        Err(e) => {
            return Outcome::new(
                Status::Unknown,
                format!("cannot open an ICMP socket ({e}); allow it with sysctl net.ipv4.ping_group_range or run with CAP_NET_RAW"),
            )
        }
    };
    let id = PingIdentifier((std::process::id() & 0xffff) as u16 ^ rand_u16());
    let mut pinger = client.pinger(ip, id).await;
    pinger.timeout(Duration::from_secs(5));
    let mut rtts = Vec::new();
    let mut last_error = String::new();
    for seq in 0..c.count {
        let start = Instant::now();
        match pinger.ping(PingSequence(seq as u16), &[0u8; 32]).await {
            Ok((_, rtt)) => rtts.push(rtt),
            Err(e) => last_error = e.to_string(),
        }
        if seq + 1 < c.count {
            // One echo a second at most would be polite; 200 ms keeps checks short.
            tokio::time::sleep(Duration::from_millis(200).saturating_sub(start.elapsed())).await;
        }
    }
    let lost = c.count as usize - rtts.len();
    let loss = lost as f64 * 100.0 / c.count as f64;
    let Some(best) = rtts.iter().min().copied() else {
        return Outcome::new(
            Status::Critical,
            format!("{ip}: no echo reply ({last_error})"),
        );
    };
    let avg = rtts.iter().sum::<Duration>() / rtts.len() as u32;
    let status = if lost > 0 {
        Status::Warning
    } else {
        Status::Ok
    };
    let mut o = Outcome::new(
        status,
        format!(
            "{ip}: {} of {} replies, loss {loss:.0}%, rtt min {:.3} ms",
            rtts.len(),
            c.count,
            best.as_secs_f64() * 1000.0
        ),
    )
    .with_latency(avg, c.warn_ms, c.crit_ms);
    o.perf.push(crate::Perf {
        label: "pl".into(),
        value: loss,
        unit: "%".into(),
        warn: None,
        crit: None,
    });
    o
}

/// A little per-call variety for the echo identifier, so concurrent checks
/// of one process do not answer each other's replies.
fn rand_u16() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0x5a5a);
    NEXT.fetch_add(0x9e37, Ordering::Relaxed)
}
