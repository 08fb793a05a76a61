//! Threat intelligence in `watchfloor serve` as an analyst uses it: indicators
//! imported with `watchfloor intel import` (a plain list and a STIX 2.1
//! bundle), syslog from `logger` matched live, the corpus's MISP
//! warninglists keeping a public resolver quiet, `intel match`, and the
//! indicators with their sightings surviving `kill -9`.

mod server;

use serde_json::json;
use server::{logger, wait_for, Server};

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
}
