//! Flows with real peers, in network namespaces the test makes (an
//! attacker, a router, a victim): softflowd on the router exports NetFlow
//! v9 and IPFIX of the traffic the test sends; each export datagram goes
//! both to `serve` and to nfdump's `nfcapd`, whose counts are the oracle
//! (same flows, packets and bytes). Then the DDoS signature: a bounded SYN
//! flood from 40 attacker addresses raises exactly one DDoS incident for
//! both crews with those addresses as the top sources; normal traffic
//! raises none.

mod browser;
mod lab;
mod server;

use browser::{create_user, Browser};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use lab::{relay, softflowd_args, Lab};
use serde_json::Value;
use server::{free_port, wait_for, Peer, Server};

fn query_value(server: &Server, token: &str, q: &str) -> Option<f64> {
    let v: Value = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/query", server.http))
        .bearer_auth(token)
        .query(&[("query", q)])
        .send()
        .ok()?
        .json()
        .ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// nfdump's totals over the files nfcapd wrote: (flows, packets, bytes).
fn nfdump_totals(dir: &Path) -> (u64, u64, u64) {
    let out = Command::new("nfdump")
        .args([
            "-R",
            &dir.display().to_string(),
            "-q",
            "-N",
            "-o",
            "fmt:%pkt %byt",
        ])
        .output()
        .expect("nfdump");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut totals = (0, 0, 0);
    for line in text.lines() {
        let mut it = line
            .split_whitespace()
            .map(|n| n.parse::<u64>().unwrap_or(0));
        let (Some(p), Some(b)) = (it.next(), it.next()) else {
            continue;
        };
        totals.0 += 1;
        totals.1 += p;
        totals.2 += b;
    }
    totals
}

fn flows_agree_with_nfcapd(version: &str) {
    let tmp = tempfile::tempdir().expect("tmp");
    let lab = Lab::new();
    let collector = free_port();
    let nfcapd_port = free_port();
    let nf_dir = tmp.path().join("nfcapd");
    std::fs::create_dir_all(&nf_dir).expect("nfcapd dir");
    let extra = format!("[telemetry.flows]\nlisten = \"127.0.0.1:{collector}\"\nflush_secs = 1\n\n[telemetry.flows.ddos]\nenabled = false\n");
    let server = Server::start(tmp.path(), &extra, &[]);
    let viewer = server.new_token("viewer");
    let _nfcapd = Peer(
        Command::new("nfcapd")
            .args([
                "-b",
                "127.0.0.1",
                "-p",
                &nfcapd_port.to_string(),
                "-w",
                &nf_dir.display().to_string(),
                "-t",
                "3600",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nfcapd (tools/test installs nfdump)"),
    );
    let (relay_ip, relay_port) = relay(
        &lab,
        vec![
            format!("127.0.0.1:{collector}"),
            format!("127.0.0.1:{nfcapd_port}"),
        ],
    );
    let target = format!("{relay_ip}:{relay_port}");
    let victim = lab.victim();
    let ctl = tmp.path().join("softflowd.ctl").display().to_string();
    let iface = format!("rv{}", lab.tag);
    let softflowd = Peer(lab.spawn(
        "r",
        &softflowd_args(&iface, &target, version, &ctl),
        &tmp.path().join("softflowd.log"),
    ));
    std::thread::sleep(Duration::from_millis(500));
    // Traffic through the router: ICMP echo, a UDP stream, TCP SYNs
    // answered. (softflowd reads libpcap's buffer a block at a time: some
    // thousands of packets make sure it exports; both collectors see the
    // same exports either way.)
    lab.exec(
        "a",
        &["hping3", "-q", "-1", "-c", "3000", "-i", "u300", &victim],
    );
    lab.exec(
        "a",
        &[
            "hping3", "-q", "-2", "-p", "5353", "-c", "3000", "-i", "u300", "-d", "200", &victim,
        ],
    );
    lab.exec(
        "a",
        &[
            "hping3", "-q", "-S", "-p", "22", "-c", "2000", "-i", "u500", &victim,
        ],
    );
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("r"),
            "softflowctl",
            "-c",
            &ctl,
            "expire-all",
        ])
        .output();
    std::thread::sleep(Duration::from_secs(3));
    drop(softflowd);
    // nfcapd writes its file when it stops (SIGTERM; a kill would lose it).
    let mut nfcapd = _nfcapd;
    // SAFETY: the pid is our own child's.
    unsafe { libc::kill(nfcapd.0.id() as i32, libc::SIGTERM) };
    let _ = nfcapd.0.wait();
    let (flows, packets, bytes) = nfdump_totals(&nf_dir);
    assert!(
        flows >= 2 && packets >= 1000,
        "nfdump saw ({flows}, {packets}, {bytes})"
    );
    // The relay resends from loopback: that is the exporter both collectors see.
    let exporter = r#"{exporter="127.0.0.1"}"#;
    let totals = || {
        let get = |name: &str| {
            query_value(&server, &viewer, &format!("{name}{exporter}")).unwrap_or(0.0) as u64
        };
        (
            get("flow_records_total"),
            get("flow_packets_total"),
            get("flow_bytes_total"),
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut ours = totals();
    while ours != (flows, packets, bytes) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        ours = totals();
    }
    assert_eq!(
        ours,
        (flows, packets, bytes),
        "(flows, packets, bytes): ours, then nfdump's"
    );
    println!("NetFlow v{version}: {ours:?} = nfdump's (flows, packets, bytes)");
    // Every flow is an event with its ECS fields.
    let events = server.search("source:netflow AND network.transport:udp", 1);
    let e = &events[0]["fields"];
    assert_eq!(
        (
            e["source.ip"].as_str(),
            e["destination.ip"].as_str(),
            e["destination.port"].as_u64()
        ),
        (
            Some(lab.ip("1.2").as_str()),
            Some(victim.as_str()),
            Some(5353)
        ),
        "{e}"
    );
    // The collector's own counters (read from /metrics, where they always
    // stand): every record decoded, no datagram refused.
    assert!(server.metric("watchfloor_flow_records_total") >= flows as f64);
    assert_eq!(server.metric("watchfloor_flow_malformed_total"), 0.0);
}

#[test]
fn netflow_v9_from_softflowd_agrees_with_nfcapd() {
    flows_agree_with_nfcapd("9");
}

#[test]
fn ipfix_from_softflowd_agrees_with_nfcapd() {
    flows_agree_with_nfcapd("10");
}

#[test]
fn a_syn_flood_raises_one_ddos_incident_for_both_crews_and_normal_traffic_none() {
    let tmp = tempfile::tempdir().expect("tmp");
    let lab = Lab::new();
    let collector = free_port();
    let extra = format!(
        "[telemetry.flows]\nlisten = \"127.0.0.1:{collector}\"\nflush_secs = 1\nstore_records = false\n\n[telemetry.flows.ddos]\nwindow_secs = 3\nmin_pps = 1000\nmin_sources = 20\nquiet_minutes = 10\n"
    );
    let server = Server::start(tmp.path(), &extra, &[]);
    let victim = lab.victim();
    let _softflowd = Peer(lab.export_flows(tmp.path(), collector));
    std::thread::sleep(Duration::from_millis(500));

    // Normal traffic first: a heavy TCP transfer (4,000 packets a second,
    // established: ACKs) from one host, and some DNS: over the rate, but
    // no mark of an attack, so no DDoS.
    let viewer = server.new_token("viewer");
    lab.exec(
        "a",
        &[
            "hping3", "-q", "-A", "-p", "443", "-s", "40000", "-k", "-c", "4000", "-i", "u250",
            &victim,
        ],
    );
    lab.exec(
        "a",
        &[
            "hping3", "-q", "-2", "-p", "53", "-c", "1000", "-i", "u1000", &victim,
        ],
    );
    wait_for("the normal traffic's flows", || {
        query_value(&server, &viewer, "sum(flow_records_total)").filter(|n| *n >= 1.0)
    });
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        server.alerts("kind=signature", 0).is_empty(),
        "normal traffic raised a DDoS alert"
    );

    // The flood: 40 attacker addresses, 600 SYNs each, bounded.
    let attackers = lab.add_attackers();
    for a in &attackers {
        lab.exec(
            "a",
            &[
                "hping3", "-q", "-S", "-p", "80", "-a", a, "-c", "600", "-i", "u50", &victim,
            ],
        );
    }
    let alert = wait_for("the DDoS alert", || {
        server.alerts("kind=signature", 1).into_iter().next()
    });
    assert_eq!(
        (
            alert["domain"].as_str(),
            alert["host"].as_str(),
            alert["level"].as_str()
        ),
        (Some("both"), Some(victim.as_str()), Some("critical")),
        "{alert}"
    );
    let top: Vec<&str> = alert["ips"]
        .as_array()
        .expect("ips")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // The flood visits the 40 addresses in turn, so how many have sent when
    // the signature fires depends on the machine's load: at least a
    // handful, and none but attackers.
    assert!(
        top.len() >= 5 && top.iter().all(|ip| attackers.iter().any(|a| a == ip)),
        "the top sources are attackers (and only attackers): {top:?}"
    );
    assert!(
        alert["rule_title"]
            .as_str()
            .is_some_and(|t| t.contains("SYN")),
        "{alert}"
    );
    // More of the same attack: still one alert, one incident.
    for a in attackers.iter().take(10) {
        lab.exec(
            "a",
            &[
                "hping3", "-q", "-S", "-p", "80", "-a", a, "-c", "600", "-i", "u50", &victim,
            ],
        );
    }
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(server.alerts("kind=signature", 1).len(), 1);
    let incident = wait_for("the DDoS incident", || {
        let (_, v) = server.get("/api/v1/incidents?type=ddos");
        v["incidents"]
            .as_array()
            .and_then(|l| (l.len() == 1).then(|| l[0].clone()))
    });
    assert_eq!(incident["domain"], "both", "{incident}");
    let (_, v) = server.get("/api/v1/incidents?type=ddos");
    assert_eq!(
        v["incidents"].as_array().map(Vec::len),
        Some(1),
        "exactly one DDoS incident"
    );
    let (_, full) = server.get(&format!("/api/v1/incidents/{}", incident["id"]));
    let tasks = full["tasks"].as_array().cloned().unwrap_or_default();
    let owner = |activity: &str| {
        tasks
            .iter()
            .find(|t| t["activity"] == activity)
            .and_then(|t| t["team"].as_str().map(str::to_string))
    };
    assert_eq!(
        owner("contain").as_deref(),
        Some("noc"),
        "the NOC mitigates: {tasks:?}"
    );
    assert_eq!(
        owner("block").as_deref(),
        Some("soc"),
        "the SOC decides the block: {tasks:?}"
    );
    let observables: Vec<&str> = full["observables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o["value"].as_str())
        .collect();
    assert!(
        observables.contains(&victim.as_str()) && observables.contains(&top[0]),
        "victim and attackers observed: {observables:?}"
    );

    // The incident's flow view in Chromium: the victim's traffic charted
    // (uPlot draws a canvas), the attackers and protocols listed.
    create_user(&server, "noc-ed", "noc_engineer");
    let b = Browser::start(&server.http);
    b.login("noc-ed");
    b.goto(&format!("/incidents/{}", incident["id"]));
    b.wait_until("the flow view's chart", |b| {
        b.has("[data-testid=flow-view] canvas")
    });
    let view = b.text("[data-testid=flow-view]");
    assert!(view.contains(top[0]), "the top attacker listed: {view}");
    assert!(view.contains("tcp"), "the protocol listed: {view}");
    b.script("document.querySelector('[data-testid=flow-view]').scrollIntoView(); return 1;");
    b.screenshot("ddos-flow-view");
}
