//! Synthetic Linux syslog for load generation and benchmarks: sshd, sudo,
//! cron, kernel firewall, web access and systemd lines with varying hosts,
//! addresses, ports and ids, so that indexes see realistic term counts.
//! The same seed gives the same stream.

/// A small fast generator (xorshift).
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is made odd).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The message body of one event, with its program name. An `alert` line
/// is a sudo root shell, which the starter rules detect.
pub fn message(rng: &mut Rng, alert: bool) -> (&'static str, String) {
    if alert {
        let user = ["alice", "bob", "carol"][rng.below(3) as usize];
        return (
            "sudo",
            format!(
                "{user} : TTY=pts/{} ; PWD=/home/{user} ; USER=root ; COMMAND=/bin/bash",
                rng.below(9)
            ),
        );
    }
    let ip = |r: &mut Rng| format!("10.{}.{}.{}", r.below(256), r.below(256), 1 + r.below(254));
    match rng.below(10) {
        0..=2 => (
            "sshd",
            format!(
                "Accepted publickey for deploy from {} port {} ssh2: ED25519 SHA256:{:x}",
                ip(rng),
                1024 + rng.below(60000),
                rng.next_u64()
            ),
        ),
        3 => (
            "sshd",
            format!(
                "Connection closed by {} port {} [preauth]",
                ip(rng),
                1024 + rng.below(60000)
            ),
        ),
        4 => (
            "CRON",
            format!(
                "(root) CMD (run-parts /etc/cron.hourly) job {}",
                rng.below(100000)
            ),
        ),
        5 | 6 => (
            "kernel",
            format!(
                "[UFW BLOCK] IN=eth0 OUT= SRC={} DST={} LEN=60 PROTO=TCP SPT={} DPT={} SYN",
                ip(rng),
                ip(rng),
                1024 + rng.below(60000),
                [22, 80, 443, 3389, 445][rng.below(5) as usize]
            ),
        ),
        7 | 8 => (
            "nginx",
            format!(
                "{} - - \"GET /api/v1/items/{} HTTP/1.1\" {} {} \"-\" \"Mozilla/5.0\"",
                ip(rng),
                rng.below(100000),
                [200, 200, 200, 304, 404, 500][rng.below(6) as usize],
                rng.below(50000)
            ),
        ),
        _ => (
            "systemd",
            format!(
                "Started Session {} of user {}.",
                rng.below(100000),
                ["alice", "bob", "deploy"][rng.below(3) as usize]
            ),
        ),
    }
}

/// One RFC 5424 line stamped `timestamp` (RFC 3339), from one of `hosts`
/// host names.
pub fn syslog_line(rng: &mut Rng, hosts: u64, alert: bool, timestamp: &str) -> String {
    let (app, msg) = message(rng, alert);
    let host = rng.below(hosts);
    format!(
        "<38>1 {timestamp} web{host} {app} {} - - {msg}",
        rng.below(30000)
    )
}
