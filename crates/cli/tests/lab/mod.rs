//! A network lab in namespaces, for the tests that need real traffic:
//! attacker - router - victim, the router reaching the root namespace (the
//! collectors), and softflowd's arguments for quick exports.
#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three namespaces: attacker (10.77.1.2) - router - victim (10.77.2.2),
/// and the router reaching the root namespace at 10.77.9.1 (the
/// collectors). Removed on drop.
pub struct Lab {
    pub tag: String,
    /// Second octet of this lab's addresses (labs of one run run in
    /// parallel, each on its own subnets).
    pub net: u8,
}

static LABS: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

impl Lab {
    pub fn new() -> Lab {
        let k = LABS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{}{k}", std::process::id() % 10_000);
        let lab = Lab { tag, net: 70 + k };
        let (a, r, v) = (lab.ns("a"), lab.ns("r"), lab.ns("v"));
        for ns in [&a, &r, &v] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            run("ip", &["netns", "add", ns]);
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        let link = |left: &str,
                    left_ns: Option<&str>,
                    left_ip: &str,
                    right: &str,
                    right_ns: &str,
                    right_ip: &str| {
            let _ = Command::new("ip").args(["link", "del", left]).output();
            run(
                "ip",
                &["link", "add", left, "type", "veth", "peer", "name", right],
            );
            if let Some(ns) = left_ns {
                run("ip", &["link", "set", left, "netns", ns]);
            }
            run("ip", &["link", "set", right, "netns", right_ns]);
            let exec_left: Vec<&str> = left_ns.map_or(vec![], |ns| vec!["-n", ns]);
            let mut args = exec_left.clone();
            args.extend(["addr", "add", left_ip, "dev", left]);
            run("ip", &args);
            let mut args = exec_left;
            args.extend(["link", "set", left, "up"]);
            run("ip", &args);
            run(
                "ip",
                &["-n", right_ns, "addr", "add", right_ip, "dev", right],
            );
            run("ip", &["-n", right_ns, "link", "set", right, "up"]);
        };
        let t = &lab.tag;
        let ip = |host: &str| lab.ip(host);
        link(
            &format!("wa{t}"),
            Some(&a),
            &format!("{}/24", ip("1.2")),
            &format!("ra{t}"),
            &r,
            &format!("{}/24", ip("1.1")),
        );
        link(
            &format!("wv{t}"),
            Some(&v),
            &format!("{}/24", ip("2.2")),
            &format!("rv{t}"),
            &r,
            &format!("{}/24", ip("2.1")),
        );
        link(
            &format!("wc{t}"),
            None,
            &format!("{}/24", ip("9.1")),
            &format!("rc{t}"),
            &r,
            &format!("{}/24", ip("9.2")),
        );
        run(
            "ip",
            &["-n", &a, "route", "add", "default", "via", &ip("1.1")],
        );
        run(
            "ip",
            &["-n", &v, "route", "add", "default", "via", &ip("2.1")],
        );
        run(
            "ip",
            &[
                "netns",
                "exec",
                &r,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ],
        );
        for ns in [&r, &v] {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    "net.ipv4.conf.all.rp_filter=0",
                ],
            );
        }
        lab
    }

    /// `10.<net>.<host>`: 1.x attacker side, 2.x victim side, 9.x collectors.
    pub fn ip(&self, host: &str) -> String {
        format!("10.{}.{host}", self.net)
    }

    pub fn victim(&self) -> String {
        self.ip("2.2")
    }

    pub fn ns(&self, which: &str) -> String {
        format!("wf{which}{}", self.tag)
    }

    pub fn exec(&self, which: &str, args: &[&str]) {
        let ns = self.ns(which);
        let mut all = vec!["netns", "exec", ns.as_str()];
        all.extend(args);
        run("ip", &all);
    }

    pub fn spawn(&self, which: &str, args: &[&str], log: &Path) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(which)])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log"))
            .spawn()
            .expect("spawn in namespace")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for which in ["a", "r", "v"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(which)])
                .output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &format!("wc{}", self.tag)])
            .output();
    }
}

/// Receives export datagrams on the lab's collector address and sends
/// each to every target.
pub fn relay(lab: &Lab, targets: Vec<String>) -> (String, u16) {
    let socket = UdpSocket::bind(format!("{}:0", lab.ip("9.1"))).expect("relay socket");
    let port = socket.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let out = UdpSocket::bind("127.0.0.1:0").expect("out socket");
        let mut buf = vec![0u8; 65_535];
        while let Ok(n) = socket.recv(&mut buf) {
            for t in &targets {
                let _ = out.send_to(&buf[..n], t);
            }
        }
    });
    (lab.ip("9.1"), port)
}

pub fn softflowd_args<'a>(
    iface: &'a str,
    target: &'a str,
    version: &'a str,
    ctl: &'a str,
) -> Vec<&'a str> {
    vec![
        "softflowd",
        "-d",
        "-i",
        iface,
        "-n",
        target,
        "-v",
        version,
        "-c",
        ctl,
        "-t",
        "maxlife=2",
        "-t",
        "expint=1",
        "-t",
        "udp=1",
        "-t",
        "icmp=1",
        "-t",
        "tcp=1",
        "-t",
        "general=1",
        "-t",
        "tcp.rst=1",
        "-t",
        "tcp.fin=1",
    ]
}

impl Lab {
    /// softflowd on the router's victim side exporting NetFlow v9 (through
    /// a relay on the lab's collector address) to `127.0.0.1:collector`;
    /// its log and control socket in `dir`.
    pub fn export_flows(&self, dir: &Path, collector: u16) -> Child {
        let (relay_ip, relay_port) = relay(self, vec![format!("127.0.0.1:{collector}")]);
        let target = format!("{relay_ip}:{relay_port}");
        let ctl = dir.join("softflowd.ctl").display().to_string();
        let iface = format!("rv{}", self.tag);
        self.spawn(
            "r",
            &softflowd_args(&iface, &target, "9", &ctl),
            &dir.join("softflowd.log"),
        )
    }

    /// Forty attacker addresses (1.10 to 1.49) added to the attacker side.
    pub fn add_attackers(&self) -> Vec<String> {
        let attackers: Vec<String> = (10..50).map(|i| self.ip(&format!("1.{i}"))).collect();
        let dev = format!("wa{}", self.tag);
        for a in &attackers {
            self.exec("a", &["ip", "addr", "add", &format!("{a}/24"), "dev", &dev]);
        }
        attackers
    }
}
