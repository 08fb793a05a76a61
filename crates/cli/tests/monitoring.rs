//! Availability checks inside `watchfloor serve`: a check from the
//! configuration file watching a TCP port that the test opens and closes
//! (soft, then hard CRITICAL, an operations alert, an incident), checks made,
//! paused and deleted through the API, their stored results, and who may
//! change them.

mod server;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use server::{free_port, wait_for, write_config, Server};

fn check_state(s: &Server, name: &str) -> Value {
    let (status, c) = s.get(&format!("/api/v1/checks/{name}"));
    assert_eq!(status, 200, "{c}");
    c
}

/// An HTTP server answering 200 to everything.
fn http_ok() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    port
}

#[test]
fn a_port_that_closes_becomes_a_hard_critical_alert_and_an_incident() {
    let dir = tempfile::tempdir().unwrap();
    let watched = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = watched.local_addr().unwrap().port();
    let checks = format!(
        "[[checks]]\nname = \"db-port\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         interval_secs = 1\nretry_interval_secs = 1\nretries = 1\nservice = \"billing-db\"\n"
    );
    let config = write_config(dir.path(), free_port(), free_port(), "", &checks);
    let s = Server::start_with(dir.path(), &config, &[]);
    wait_for("the first OK", || {
        let c = check_state(&s, "db-port");
        (c["state"]["status"] == "ok" && c["state"]["last_check"].is_string()).then_some(())
    });
    assert_eq!(check_state(&s, "db-port")["defined_in"], "config");
    drop(watched);
    let hard = wait_for("a hard CRITICAL", || {
        let c = check_state(&s, "db-port");
        (c["state"]["hard_status"] == "critical").then_some(c)
    });
    assert_eq!(hard["state"]["attempt"], 2, "one retry, then hard: {hard}");
    // The change is in the event log too, searchable like any log.
    let events = s.search("check:db-port AND state:CRITICAL", 1);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["source"], "monitor", "{}", events[0]);
    let alert = wait_for("the operations alert", || {
        s.alerts("", 1)
            .into_iter()
            .find(|a| a["rule_id"] == "check:db-port")
    });
    assert_eq!(alert["domain"], "operations");
    assert_eq!(alert["level"], "critical");
    assert_eq!(alert["host"], "127.0.0.1");
    let incident = wait_for("an incident", || {
        let (_, l) = s.get("/api/v1/incidents?open=true");
        l["incidents"].as_array().and_then(|a| a.first().cloned())
    });
    assert_eq!(incident["domain"], "operations", "{incident}");
    let (_, results) = s.get("/api/v1/checks/db-port/results");
    let statuses: Vec<i64> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert!(
        statuses.first() == Some(&0) && statuses.contains(&2),
        "{statuses:?}"
    );
    // The results are series in the metric store too (PromQL, rules, charts).
    wait_for("check results as series", || {
        let (_, q) = s.get(
            "/api/v1/query?query=max_over_time(check_status%7Bcheck%3D%22db-port%22%7D%5B1h%5D)",
        );
        (q["data"]["result"][0]["value"][1] == "2").then_some(())
    });

    // The configuration's checks are changed in the configuration only.
    let (status, _) = s.call(
        Method::POST,
        "/api/v1/checks/db-port/pause",
        &s.token,
        Some(json!({"paused": true})),
    );
    assert_eq!(status, 409);
}

#[test]
fn checks_made_paused_and_deleted_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), free_port(), free_port(), "", "");
    let s = Server::start_with(dir.path(), &config, &[]);
    let port = http_ok();
    let spec = json!({"name": "web", "type": "http", "url": format!("http://127.0.0.1:{port}/"),
                      "contains": "ok", "interval_secs": 1});
    let (status, created) = s.call(Method::POST, "/api/v1/checks", &s.token, Some(spec.clone()));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["defined_in"], "api");
    wait_for("results", || {
        let (_, r) = s.get("/api/v1/checks/web/results");
        (r["results"].as_array().unwrap().len() >= 2).then_some(())
    });
    let (status, paused) = s.call(
        Method::POST,
        "/api/v1/checks/web/pause",
        &s.token,
        Some(json!({"paused": true})),
    );
    assert_eq!((status, &paused["paused"]), (200, &json!(true)), "{paused}");
    std::thread::sleep(Duration::from_millis(1500));
    let count = |s: &Server| {
        let (_, r) = s.get("/api/v1/checks/web/results");
        r["results"].as_array().unwrap().len()
    };
    let before = count(&s);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(count(&s), before, "a paused check does not run");

    // Who may, and what is refused.
    let data = s.dir.join("data");
    let token = |role: &str, tenant: &str| {
        let out = std::process::Command::new(server::BIN)
            .args([
                "token", "create", "--name", role, "--role", role, "--tenant", tenant,
            ])
            .args(["--data-dir", data.to_str().unwrap()])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let viewer = token("viewer", "default");
    let engineer = token("noc_engineer", "default");
    let other = token("admin", "other");
    assert_eq!(
        s.call(Method::POST, "/api/v1/checks", &viewer, Some(spec.clone()))
            .0,
        403
    );
    assert_eq!(s.call(Method::GET, "/api/v1/checks", &viewer, None).0, 200);
    let (_, theirs) = s.call(Method::GET, "/api/v1/checks", &other, None);
    assert_eq!(theirs["checks"], json!([]), "tenants are apart");
    assert_eq!(
        s.call(Method::GET, "/api/v1/checks/web", &other, None).0,
        404
    );
    let (status, bad) = s.call(
        Method::POST,
        "/api/v1/checks",
        &engineer,
        Some(json!({"name": "x y", "type": "tcp", "host": "h", "port": 0})),
    );
    assert_eq!(status, 400);
    let message = bad["error"].as_str().unwrap();
    assert!(
        message.contains("name") && message.contains("port"),
        "{message}"
    );
    let r = s
        .request(Method::DELETE, "/api/v1/checks/web", Some(&engineer))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(s.get("/api/v1/checks/web").0, 404);
}

fn rfc3339(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[test]
fn maintenance_silences_a_check_and_availability_counts_it_out() {
    let dir = tempfile::tempdir().unwrap();
    let watched = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = watched.local_addr().unwrap().port();
    let checks = format!(
        "[[checks]]\nname = \"db-port\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         interval_secs = 1\nretry_interval_secs = 1\nretries = 0\n"
    );
    let config = write_config(dir.path(), free_port(), free_port(), "", &checks);
    let s = Server::start_with(dir.path(), &config, &[]);
    let (status, w) = s.call(
        Method::PUT,
        "/api/v1/maintenance/patching",
        &s.token,
        Some(
            json!({"checks": ["db-port"], "start": rfc3339(-60), "end": rfc3339(3600),
                    "description": "database patching"}),
        ),
    );
    assert_eq!(status, 201, "{w}");
    wait_for("an OK result", || {
        (check_state(&s, "db-port")["state"]["status"] == "ok").then_some(())
    });
    drop(watched);
    wait_for("hard CRITICAL inside the window", || {
        (check_state(&s, "db-port")["state"]["hard_status"] == "critical").then_some(())
    });
    let results = wait_for("results flagged as maintenance", || {
        let (_, r) = s.get("/api/v1/checks/db-port/results");
        let rows = r["results"].as_array().cloned().unwrap_or_default();
        (rows.iter().filter(|x| x["status"] == 2).count() >= 2).then_some(rows)
    });
    assert!(
        results.iter().all(|r| r["maintenance"] == true),
        "{results:?}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (_, alerts) = s.get("/api/v1/alerts?rule=check:db-port");
    assert_eq!(alerts["alerts"], json!([]), "no alert inside the window");

    // The window ends: the next problem pages again.
    let r = s
        .request(
            Method::DELETE,
            "/api/v1/maintenance/patching",
            Some(&s.token),
        )
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let reopened = TcpListener::bind(("127.0.0.1", port)).unwrap();
    wait_for("the recovery", || {
        (check_state(&s, "db-port")["state"]["hard_status"] == "ok").then_some(())
    });
    drop(reopened);
    wait_for("an alert after the window", || {
        let (_, a) = s.get("/api/v1/alerts?rule=check:db-port");
        a["alerts"].as_array().and_then(|a| a.first().cloned())
    });
    std::thread::sleep(Duration::from_millis(1200));
    let (status, report) = s.get("/api/v1/availability?check=db-port&from=now-1h");
    assert_eq!(status, 200, "{report}");
    let row = &report["rows"][0];
    assert_eq!(row["check"], "db-port");
    assert!(row["maintenance_secs"].as_f64().unwrap() > 0.0, "{row}");
    assert!(row["down_secs"].as_f64().unwrap() > 0.0, "{row}");
    let outages = row["outages"].as_array().unwrap();
    assert_eq!(
        outages.len(),
        1,
        "only the outage outside the window: {row}"
    );
    assert_eq!(outages[0]["end"], Value::Null, "still down");
    assert!(
        outages[0]["cause"].as_str().unwrap().contains("refused"),
        "{row}"
    );
    let uptime = row["uptime_percent"].as_f64().unwrap();
    assert!(uptime > 0.0 && uptime < 100.0, "{row}");

    let out = s.cli(&[
        "report",
        "availability",
        "--from",
        "now-1h",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{out:?}");
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(csv.starts_with("check,uptime_percent"), "{csv}");
    assert!(csv.contains("db-port,"), "{csv}");
    let (status, by_node) = s.get("/api/v1/availability?by=node&from=now-1h");
    assert_eq!(status, 200, "{by_node}");
    assert_eq!(by_node["rows"][0]["node"], "127.0.0.1", "{by_node}");
    assert_eq!(by_node["rows"][0]["outages"].as_array().unwrap().len(), 1);
    assert_eq!(s.get("/api/v1/availability?by=planet").0, 400);
}

#[test]
fn a_flapping_check_raises_one_flapping_alert_and_then_stays_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let checks = format!(
        "[[checks]]\nname = \"flappy\"\ntype = \"tcp\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         interval_secs = 1\nretry_interval_secs = 1\nretries = 0\n"
    );
    let config = write_config(dir.path(), free_port(), free_port(), "", &checks);
    let s = Server::start_with(dir.path(), &config, &[]);
    // Open and close the port after every result, so each result differs
    // from the one before.
    let mut listener: Option<TcpListener> = None;
    let mut seen = String::new();
    let mut results = 0;
    let flapping = loop {
        let c = wait_for("the next result", || {
            let c = check_state(&s, "flappy");
            let last = c["state"]["last_check"].as_str().unwrap_or("").to_string();
            (!last.is_empty() && last != seen).then_some(c)
        });
        seen = c["state"]["last_check"].as_str().unwrap().to_string();
        results += 1;
        listener = match listener {
            Some(_) => None,
            None => Some(TcpListener::bind(("127.0.0.1", port)).unwrap()),
        };
        let (_, a) = s.get("/api/v1/alerts?rule=check:flappy&limit=1000");
        let alerts = a["alerts"].as_array().cloned().unwrap_or_default();
        if let Some(f) = alerts.iter().find(|a| a["fields"]["status"] == "FLAPPING") {
            break (f.clone(), alerts.len());
        }
        assert!(
            results < 40,
            "no flapping alert after {results} results: {alerts:?}"
        );
    };
    assert_eq!(flapping.0["level"], "high");
    assert!(
        flapping.0["fields"]["state_change_percent"]
            .as_f64()
            .unwrap()
            > 50.0
    );
    // Keep flapping for a few more results: no further alert of any kind.
    for _ in 0..6 {
        wait_for("the next result", || {
            let c = check_state(&s, "flappy");
            let last = c["state"]["last_check"].as_str().unwrap_or("").to_string();
            (last != seen).then_some(())
        });
        seen = check_state(&s, "flappy")["state"]["last_check"]
            .as_str()
            .unwrap()
            .to_string();
        listener = match listener {
            Some(_) => None,
            None => Some(TcpListener::bind(("127.0.0.1", port)).unwrap()),
        };
    }
    std::thread::sleep(Duration::from_millis(1200));
    let (_, a) = s.get("/api/v1/alerts?rule=check:flappy&limit=1000");
    let after = a["alerts"].as_array().map_or(0, Vec::len);
    assert_eq!(after, flapping.1, "quiet while it flaps");
    let events = s.search("check:flappy AND event.kind:flapping_started", 1);
    assert_eq!(events.len(), 1, "the start of flapping is in the event log");
    drop(listener);
}
