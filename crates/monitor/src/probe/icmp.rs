//! ICMP echo over an unprivileged datagram socket (`net.ipv4.ping_group_range`),
//! or a raw socket when datagrams are refused and we may open one.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::{Arc, Weak};
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
    let client = match shared_client(ip.is_ipv6()) {
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
        match pinger.ping(next_sequence(), &[0u8; 32]).await {
            Ok((packet, rtt)) => match not_a_reply(&packet) {
                None => rtts.push(rtt),
                Some(error) => last_error = error,
            },
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

/// Why an answer to our echo request is not an echo reply: an ICMP error
/// quoting it (a router's "destination unreachable", "time exceeded"),
/// which surge-ping hands back as the answer. Counting those as replies
/// made a host behind a dead link look up while its router still
/// answered for it.
fn not_a_reply(packet: &surge_ping::IcmpPacket) -> Option<String> {
    let (kind, code, from) = match packet {
        surge_ping::IcmpPacket::V4(p) if p.get_icmp_type().0 != 0 => (
            p.get_icmp_type().0,
            p.get_icmp_code().0,
            p.get_source().to_string(),
        ),
        surge_ping::IcmpPacket::V6(p) if p.get_icmpv6_type().0 != 129 => (
            p.get_icmpv6_type().0,
            p.get_icmpv6_code().0,
            p.get_source().to_string(),
        ),
        _ => return None,
    };
    let v6 = matches!(packet, surge_ping::IcmpPacket::V6(_));
    let what = match (v6, kind) {
        (false, 3) | (true, 1) => "destination unreachable",
        (false, 11) | (true, 3) => "time exceeded",
        (false, 12) | (true, 4) => "parameter problem",
        (true, 2) => "packet too big",
        _ => "ICMP error",
    };
    Some(format!("{what} (type {kind}, code {code}) from {from}"))
}

/// A client (socket and receiving task) of this runtime, shared by the
/// checks running on this thread.
struct Shared {
    client: Client,
    /// Alive while the runtime that runs the client's receiving task is.
    runtime: Weak<()>,
}

thread_local! {
    /// Per address family (v4, v6).
    static CLIENTS: RefCell<[Option<Shared>; 2]> = const { RefCell::new([None, None]) };
}

/// The ICMP client of this thread for one address family, opened on first
/// use. One socket serves every check (a socket per check stopped keeping
/// up past about 5,000 checks a second). The client's receiving task lives
/// on the runtime that opened it, so a client whose runtime has gone (a
/// command or a test that ran its own) is replaced.
fn shared_client(v6: bool) -> std::io::Result<Client> {
    CLIENTS.with(|clients| {
        let slot = &mut clients.borrow_mut()[usize::from(v6)];
        if let Some(shared) = slot.as_ref().filter(|s| s.runtime.strong_count() > 0) {
            return Ok(shared.client.clone());
        }
        let config = if v6 {
            Config::builder().kind(ICMP::V6).build()
        } else {
            Config::default()
        };
        let client = Client::new(&config)?;
        let alive = Arc::new(());
        let runtime = Arc::downgrade(&alive);
        // Dropped, with `alive`, when the runtime shuts down.
        tokio::spawn(async move {
            let _alive = alive;
            std::future::pending::<()>().await
        });
        *slot = Some(Shared {
            client: client.clone(),
            runtime,
        });
        Ok(client)
    })
}

/// Echo sequence numbers, unique across the process: Linux's unprivileged
/// ICMP sockets replace the identifier with their own, so on a shared
/// socket replies are told apart by address and sequence number only.
fn next_sequence() -> PingSequence {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    PingSequence(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A little per-call variety for the echo identifier, so concurrent checks
/// of one process do not answer each other's replies.
fn rand_u16() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0x5a5a);
    NEXT.fetch_add(0x9e37, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loopback echoes: the same permission `watchfloor check icmp://`
    /// needs (an unprivileged ICMP socket or CAP_NET_RAW).
    #[test]
    fn one_socket_serves_concurrent_checks_of_one_host_in_each_runtime() {
        let check = IcmpCheck {
            host: "127.0.0.1".into(),
            count: 2,
            warn_ms: None,
            crit_ms: None,
        };
        // A second runtime on the same thread: the first one's client is
        // gone with it and must be replaced, not reused.
        for _ in 0..2 {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let outcomes = rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..50 {
                    let check = check.clone();
                    set.spawn(async move { run(&check).await });
                }
                set.join_all().await
            });
            for o in &outcomes {
                assert_eq!(o.status, Status::Ok, "{}", o.summary);
            }
        }
    }
}
