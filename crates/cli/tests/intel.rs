//! Threat intelligence in `watchfloor serve` as an analyst uses it: indicators
//! imported with `watchfloor intel import` (a plain list and a STIX 2.1
//! bundle), syslog from `logger` matched live, the corpus's MISP
//! warninglists keeping a public resolver quiet, `intel match`, and the
//! indicators with their sightings surviving `kill -9`; a retro-hunt
//! finding an event stored before its indicator arrived; exports loaded
//! by their real consumers (nftables in a network namespace, Unbound's
//! RPZ, the OASIS STIX 2.1 validator).
//!
//! The export test needs root (network namespaces), `nft`, `unbound` and
//! `stix2_validator` (installed by `tools/test`).

mod server;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::json;
use server::{free_port, logger, wait_for, Server};

fn stix_bundle(now: &str) -> String {
    json!({
        "type": "bundle",
        "id": "bundle--8d3c5b2e-1f1e-4f6a-9a43-0b7e2a1f5c01",
        "objects": [{
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--a1f3c1d2-6b7e-4c55-8d2e-2f6c0b9e7a10",
            "created": now,
            "modified": now,
            "valid_from": now,
            "name": "Phishing domain",
            "labels": ["phishing"],
            "confidence": 85,
            "pattern": "[domain-name:value = 'login-portal.example'] OR [url:value = 'http://login-portal.example/reset']",
            "pattern_type": "stix",
            "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]
        }]
    })
    .to_string()
}

#[test]
fn indicators_imported_by_the_cli_match_live_syslog_and_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let warninglists = watchfloor_testkit::corpus("MISP warninglists in serve")
        .map(|c| c.join("intel/misp-warninglists"));
    let extra = match &warninglists {
        Some(w) => format!("[intel]\nwarninglists = \"{}\"\n", w.display()),
        None => String::new(),
    };
    let mut s = Server::start(dir.path(), &extra, &[]);

    // Not a documentation range (203.0.113.0/24): the warninglist of
    // RFC 5735 blocks would keep it quiet.
    let list = dir.path().join("blocklist.txt");
    std::fs::write(&list, "# attackers\n45.137.21.0/24\n8.8.8.8\n").unwrap();
    let out = s.cli(&[
        "intel",
        "import",
        list.to_str().unwrap(),
        "--confidence",
        "90",
        "--labels",
        "ssh-scanner",
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("2 added, 0 merged, 0 refused"), "{said}");
    let bundle = dir.path().join("phishing.json");
    let now = watchfloor_model::format_rfc3339(watchfloor_model::now_ns());
    std::fs::write(&bundle, stix_bundle(&now)).unwrap();
    let out = s.cli(&["intel", "import", bundle.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 added"),
        "{out:?}"
    );

    let port = s.syslog.port().to_string();
    let send = |tag: &str, message: &str| {
        logger(&["-n", "127.0.0.1", "-P", &port, "-T", "-t", tag], message)
    };
    send(
        "sshd",
        "Failed password for root from 45.137.21.9 port 52000 ssh2",
    );
    send(
        "dnsmasq",
        "query[A] mail.login-portal.example from 10.0.0.23",
    );
    send(
        "sshd",
        "Accepted publickey for ops from 8.8.8.8 port 52001 ssh2",
    );
    let alerts = s.alerts("kind=intel", 2);
    let mut titles: Vec<&str> = alerts
        .iter()
        .filter_map(|a| a["rule_title"].as_str())
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "Threat intel match: domain login-portal.example [phishing] from phishing.json",
            "Threat intel match: ip 45.137.21.0/24 [ssh-scanner] from blocklist.txt",
        ],
        "{alerts:#?}"
    );
    let ssh = alerts
        .iter()
        .find(|a| a["fields"]["intel.kind"] == "ip")
        .unwrap();
    assert_eq!(ssh["fields"]["intel.value"], "45.137.21.9");
    assert_eq!(ssh["user"], "root");
    assert_eq!(ssh["level"], "high");

    if warninglists.is_some() {
        wait_for("the warned match counted", || {
            (s.metric("watchfloor_intel_matches_total{outcome=\"warned\"}") == 1.0).then_some(())
        });
        let out = s.cli(&["intel", "match", "8.8.8.8"]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("on the warninglist \"List of known IPv4 public DNS resolvers\""),
            "{said}"
        );
        assert_eq!(out.status.code(), Some(0), "a warned value is no hit");
    }
    let out = s.cli(&["intel", "match", "45.137.21.200"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("HIT 45.137.21.0/24 from blocklist.txt"),
        "{said}"
    );
    assert_eq!(out.status.code(), Some(1));
    // The incident queue files the matches.
    wait_for("the matches filed into incidents", || {
        let alerts = s.alerts("kind=intel", 2);
        alerts
            .iter()
            .all(|a| a["incident_id"].is_i64())
            .then_some(())
    });

    s.kill9();
    let s = Server::start_with(dir.path(), &s.config.clone(), &[]);
    let out = s.cli(&["intel", "list", "--kind", "ip", "--json"]);
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let scanners = page["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["value"] == "45.137.21.0/24")
        .cloned()
        .unwrap_or_default();
    assert_eq!(scanners["sightings"], 1, "{page}");
    assert_eq!(scanners["labels"], json!(["ssh-scanner"]));
    let (status, seen) = s.get("/api/v1/intel/sightings");
    assert_eq!(status, 200, "{seen}");
    let values: Vec<&str> = seen["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["value"].as_str())
        .collect();
    assert!(
        values.contains(&"45.137.21.0/24") && values.contains(&"login-portal.example"),
        "{seen}"
    );
}

/// Runs a command; panics with its output when it fails.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed (tools/test installs it): {e}"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {}: {said}", args.join(" "));
    said
}

/// A network namespace of the test's own, removed on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("wfintel{}", std::process::id() % 100_000);
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run("ip", &["netns", "add", &name]);
        Netns(name)
    }

    fn nft(&self, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.0, "nft"];
        all.extend_from_slice(args);
        run("ip", &all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// Unbound on a loopback port with the exported zone as its RPZ, and one
/// name of its own; killed on drop.
struct Unbound {
    child: Child,
    port: u16,
}

impl Unbound {
    fn start(dir: &Path, zone: &Path) -> Unbound {
        let port = free_port();
        let conf = dir.join("unbound.conf");
        std::fs::write(
            &conf,
            format!(
                "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-daemonize: no\n  \
                 username: \"\"\n  chroot: \"\"\n  directory: \"{dir}\"\n  pidfile: \"\"\n  \
                 use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n  do-ip6: no\n  \
                 access-control: 127.0.0.0/8 allow\n  module-config: \"respip iterator\"\n  \
                 local-zone: \"good.example.\" static\n  \
                 local-data: \"good.example. A 192.0.2.1\"\n\
                 rpz:\n  name: \"rpz.watchfloor.\"\n  zonefile: \"{zone}\"\n",
                dir = dir.display(),
                zone = zone.display()
            ),
        )
        .unwrap();
        run("unbound-checkconf", &[conf.to_str().unwrap()]);
        let child = Command::new("unbound")
            .args(["-d", "-c", conf.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unbound");
        let unbound = Unbound { child, port };
        wait_for("unbound to answer", || unbound.rcode("good.example"));
        unbound
    }

    /// The response code of an A query for `name` (0 NOERROR, 3 NXDOMAIN).
    fn rcode(&self, name: &str) -> Option<u8> {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
        socket
            .set_read_timeout(Some(std::time::Duration::from_millis(500)))
            .ok()?;
        let mut query = vec![0x4a, 0x17, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            query.push(label.len() as u8);
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 1, 0, 1]);
        socket.send_to(&query, ("127.0.0.1", self.port)).ok()?;
        let mut answer = [0u8; 512];
        let n = socket.recv(&mut answer).ok()?;
        (n >= 12 && answer[..2] == query[..2]).then_some(answer[3] & 0x0f)
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The STIX validator beside the test Python (tools/test installs it).
fn stix_validator() -> std::path::PathBuf {
    let python = std::env::var_os("WATCHFLOOR_TEST_PYTHON").expect(
        "WATCHFLOOR_TEST_PYTHON must name the Python with stix2-validator (tools/test sets it)",
    );
    Path::new(&python).with_file_name("stix2_validator")
}

#[test]
fn a_retro_hunt_finds_past_events_and_exports_load_into_nftables_unbound_and_the_stix_validator() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "", &[]);
    let port = s.syslog.port().to_string();
    // Before the indicator: a lookup of a name under it, stored.
    logger(
        &["-n", "127.0.0.1", "-P", &port, "-T", "-t", "dnsmasq"],
        "query[A] c2.late.example from 10.0.0.23",
    );
    wait_for("the lookup stored", || {
        (!s.search("c2.late.example", 1).is_empty()).then_some(())
    });

    let list = dir.path().join("feed.txt");
    std::fs::write(
        &list,
        "45.137.21.0/24\n45.137.21.9\n2001:db8:66::/48\nlate.example\nhttp://late.example/x\n",
    )
    .unwrap();
    let out = s.cli(&[
        "intel",
        "import",
        list.to_str().unwrap(),
        "--confidence",
        "90",
        "--tlp",
        "green",
    ]);
    assert!(out.status.success(), "{out:?}");
    let hunt = wait_for("the retro-hunt done", || {
        let out = s.cli(&["intel", "hunts", "--json"]);
        let page: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let hunt = page["hunts"][0].clone();
        (hunt["state"] == "done").then_some(hunt)
    });
    assert_eq!(hunt["report"]["alerts"], 1, "{hunt}");
    let alerts = s.alerts("kind=intel", 1);
    assert_eq!(alerts[0]["fields"]["intel.retro"], true, "{alerts:#?}");
    assert_eq!(alerts[0]["fields"]["intel.value"], "c2.late.example");
    let out = s.cli(&["intel", "hunts"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("done"),
        "{out:?}"
    );

    let export = |format: &str, file: &str| {
        let path = dir.path().join(file);
        let out = s.cli(&[
            "intel",
            "export",
            "--format",
            format,
            "-o",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{out:?}");
        path
    };

    // nftables: the script loads (twice: it flushes before it fills) in a
    // namespace of the test's own, and the sets hold the networks.
    let ns = Netns::new();
    let script = export("nftables", "intel.nft");
    ns.nft(&["-f", script.to_str().unwrap()]);
    ns.nft(&["-f", script.to_str().unwrap()]);
    let v4 = ns.nft(&["list", "set", "inet", "watchfloor", "intel_v4"]);
    assert!(v4.contains("45.137.21.0/24"), "{v4}");
    assert!(!v4.contains("45.137.21.9"), "inside the /24: {v4}");
    let v6 = ns.nft(&["list", "set", "inet", "watchfloor", "intel_v6"]);
    assert!(v6.contains("2001:db8:66::/48"), "{v6}");

    // RPZ: Unbound loads the zone; the domain and names under it answer
    // NXDOMAIN, a name of its own still resolves.
    let zone = export("rpz", "intel.rpz");
    let unbound = Unbound::start(dir.path(), &zone);
    assert_eq!(unbound.rcode("good.example"), Some(0));
    assert_eq!(unbound.rcode("late.example"), Some(3));
    assert_eq!(unbound.rcode("www.late.example"), Some(3));

    // STIX: the OASIS validator passes the bundle, strictly.
    let bundle = export("stix", "intel.json");
    let validator = stix_validator();
    let said = run(
        validator.to_str().unwrap(),
        &["--strict", bundle.to_str().unwrap()],
    );
    assert!(said.contains("STIX JSON: Valid"), "{said}");
}
