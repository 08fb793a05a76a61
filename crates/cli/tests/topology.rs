//! Topology in network namespaces: a router namespace with two hosts
//! behind it, joined by veth pairs, watched by ICMP checks of a real
//! `watchfloor serve`. Cutting the router's uplink must give exactly one
//! root-cause alert (the router) with the hosts behind it unreachable and
//! attached to it, in one incident; restoring the link clears them.
//!
//! Needs root and iproute2 (`ip netns`); where namespaces cannot be made
//! the test fails and says why.

mod server;

use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};
use server::{free_port, wait_for, write_config, Server};

/// Runs `ip ARGS`; panics with the reason when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("this test needs iproute2 (`ip`): {e}"));
    assert!(
        out.status.success(),
        "ip {}: {} (the topology test needs root to create network namespaces)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// The namespaces and links, removed on drop.
struct Lab {
    n: u32,
    net: u32,
}

impl Lab {
    fn ns(&self, role: &str) -> String {
        format!("wf{role}{}", self.n)
    }

    fn dev(&self, role: &str) -> String {
        format!("wf{role}{}", self.n)
    }

    fn addr(&self, subnet: u32, host: u32) -> String {
        format!("10.{}.{subnet}.{host}", self.net)
    }

    fn build() -> Lab {
        let n = std::process::id() % 10_000;
        let lab = Lab {
            n,
            net: 200 + n % 50,
        };
        let (router, up, up_r) = (lab.ns("r"), lab.dev("u"), lab.dev("v"));
        ip(&["netns", "add", &router]);
        ip(&["-n", &router, "link", "set", "lo", "up"]);
        ip(&[
            "link", "add", &up, "type", "veth", "peer", "name", &up_r, "netns", &router,
        ]);
        ip(&["addr", "add", &format!("{}/30", lab.addr(0, 1)), "dev", &up]);
        ip(&["link", "set", &up, "up"]);
        ip(&[
            "-n",
            &router,
            "addr",
            "add",
            &format!("{}/30", lab.addr(0, 2)),
            "dev",
            &up_r,
        ]);
        ip(&["-n", &router, "link", "set", &up_r, "up"]);
        for (i, host) in [(1u32, "a"), (2, "b")] {
            let ns = lab.ns(host);
            let (r_side, h_side) = (lab.dev(&format!("{host}r")), lab.dev(&format!("{host}h")));
            ip(&["netns", "add", &ns]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&[
                "-n", &router, "link", "add", &r_side, "type", "veth", "peer", "name", &h_side,
                "netns", &ns,
            ]);
            ip(&[
                "-n",
                &router,
                "addr",
                "add",
                &format!("{}/30", lab.addr(i, 1)),
                "dev",
                &r_side,
            ]);
            ip(&["-n", &router, "link", "set", &r_side, "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/30", lab.addr(i, 2)),
                "dev",
                &h_side,
            ]);
            ip(&["-n", &ns, "link", "set", &h_side, "up"]);
            ip(&["-n", &ns, "route", "add", "default", "via", &lab.addr(i, 1)]);
            ip(&[
                "route",
                "add",
                &format!("{}/30", lab.addr(i, 0)),
                "via",
                &lab.addr(0, 2),
            ]);
        }
        let forward = Command::new("ip")
            .args([
                "netns",
                "exec",
                &router,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])
            .status()
            .expect("sysctl in the router namespace");
        assert!(
            forward.success(),
            "cannot enable forwarding in the router namespace"
        );
        lab
    }

    /// Cuts or restores the router's uplink. The router's end goes down;
    /// the paths through it are also marked unreachable here, because some
    /// virtual machines answer pings for addresses whose link is down from
    /// their own network stack, which would hide the cut.
    fn set_uplink(&self, up: bool) {
        let router = format!("{}/32", self.addr(0, 2));
        if up {
            ip(&["route", "del", "prohibit", &router]);
            for i in [1, 2] {
                let net = format!("{}/30", self.addr(i, 0));
                ip(&["route", "replace", &net, "via", &self.addr(0, 2)]);
            }
            ip(&["-n", &self.ns("r"), "link", "set", &self.dev("v"), "up"]);
        } else {
            ip(&["-n", &self.ns("r"), "link", "set", &self.dev("v"), "down"]);
            ip(&["route", "add", "prohibit", &router]);
            for i in [1, 2] {
                let net = format!("{}/30", self.addr(i, 0));
                ip(&["route", "replace", "prohibit", &net]);
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for i in [1, 2] {
            let _ = Command::new("ip")
                .args(["route", "del", &format!("{}/30", self.addr(i, 0))])
                .stderr(std::process::Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args([
                "route",
                "del",
                "prohibit",
                &format!("{}/32", self.addr(0, 2)),
            ])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.dev("u")])
            .stderr(std::process::Stdio::null())
            .status();
        for role in ["r", "a", "b"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(role)])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn state_of(s: &Server, name: &str) -> Value {
    let (_, c) = s.get(&format!("/api/v1/checks/{name}"));
    c["state"].clone()
}

#[test]
fn a_cut_uplink_pages_once_for_the_router_and_marks_the_hosts_unreachable() {
    let lab = Lab::build();
    let dir = tempfile::tempdir().unwrap();
    let mut checks = String::new();
    for (name, target) in [
        ("router", lab.addr(0, 2)),
        ("h1", lab.addr(1, 2)),
        ("h2", lab.addr(2, 2)),
    ] {
        checks.push_str(&format!(
            "[[checks]]\nname = \"{name}\"\ntype = \"icmp\"\nhost = \"{target}\"\nnode = \"{name}\"\n\
             interval_secs = 1\nretry_interval_secs = 1\nretries = 1\ntimeout_ms = 800\n"
        ));
    }
    let config = write_config(dir.path(), free_port(), free_port(), "", &checks);
    let s = Server::start_with(dir.path(), &config, &[]);
    let (status, t) = s.call(
        Method::PUT,
        "/api/v1/topology",
        &s.token,
        Some(json!({"nodes": [
            {"name": "router"},
            {"name": "h1", "parents": ["router"]},
            {"name": "h2", "parents": ["router"]},
            {"name": "shop", "kind": "business", "components": ["h1", "h2"], "require": "any"}
        ]})),
    );
    assert_eq!(status, 200, "{t}");
    wait_for("every host answering", || {
        ["router", "h1", "h2"]
            .iter()
            .all(|n| state_of(&s, n)["status"] == "ok")
            .then_some(())
    });

    lab.set_uplink(false);
    wait_for("all three hard CRITICAL", || {
        ["router", "h1", "h2"]
            .iter()
            .all(|n| state_of(&s, n)["hard_status"] == "critical")
            .then_some(())
    });
    let alerts = wait_for("the router's alert and two unreachable hosts", || {
        let (_, a) = s.get("/api/v1/alerts?limit=100");
        let a = a["alerts"].as_array().cloned().unwrap_or_default();
        (a.len() >= 3).then_some(a)
    });
    let roots: Vec<&Value> = alerts.iter().filter(|a| a["level"] == "critical").collect();
    assert_eq!(roots.len(), 1, "exactly one root-cause alert: {alerts:?}");
    assert_eq!(roots[0]["rule_id"], "check:router");
    let unreachable: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["fields"]["state"] == "UNREACHABLE")
        .collect();
    assert_eq!(unreachable.len(), 2, "{alerts:?}");
    assert!(unreachable
        .iter()
        .all(|a| a["parent"].is_string() && a["fields"]["root_cause"] == json!(["router"])));
    let (_, topo) = s.get("/api/v1/topology");
    assert_eq!(topo["states"]["router"]["state"], "down", "{topo}");
    assert_eq!(topo["states"]["h1"]["state"], "unreachable");
    assert_eq!(topo["states"]["shop"]["state"], "down");
    assert_eq!(topo["states"]["shop"]["root_causes"], json!(["router"]));
    let incidents = wait_for("one incident holding all three", || {
        let (_, l) = s.get("/api/v1/incidents?open=true");
        let list = l["incidents"].as_array().cloned().unwrap_or_default();
        (list.len() == 1 && list[0]["alerts"].as_array().map_or(0, Vec::len) == 3).then_some(list)
    });
    assert_eq!(incidents[0]["domain"], "operations");

    lab.set_uplink(true);
    wait_for("everything back", || {
        let (_, topo) = s.get("/api/v1/topology");
        ["router", "h1", "h2", "shop"]
            .iter()
            .all(|n| topo["states"][n]["state"] == "up")
            .then_some(())
    });
    // Results reach the store in batches (every second), so the report
    // catches up with the live states a moment later.
    let shop = wait_for("the report's outage ended", || {
        let (status, report) = s.get("/api/v1/availability?by=business&from=now-1h");
        assert_eq!(status, 200, "{report}");
        let shop = report["rows"][0].clone();
        shop["outages"][0]["end"].is_string().then_some(shop)
    });
    assert_eq!(shop["business_service"], "shop", "{shop}");
    assert!(shop["down_secs"].as_f64().unwrap() > 0.0, "{shop}");
    assert_eq!(shop["outages"].as_array().unwrap().len(), 1, "{shop}");
}
