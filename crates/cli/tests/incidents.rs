//! The incident queue through the API of a real `watchfloor serve`: alerts
//! from syslog grouped into one incident, RACI defaults, SLA timers on the
//! server's test clock, regulatory clocks, the tamper-evident timeline,
//! roles and tenants on every endpoint, and concurrent writers.

mod server;

use reqwest::Method;
use serde_json::{json, Value};
use server::{free_port, logger, wait_for, write_config, Server};

const START: &str = "2026-11-25T10:00:00Z";

fn start(dir: &std::path::Path) -> Server {
    let config = write_config(dir, free_port(), free_port(), "", "");
    Server::start_env(dir, &config, &[], &[("WATCHFLOOR_TEST_CLOCK", START)])
}

fn token(s: &Server, role: &str, tenant: &str) -> String {
    let data = s.dir.join("data");
    let out = std::process::Command::new(server::BIN)
        .args([
            "token",
            "create",
            "--name",
            &format!("{role}-{tenant}"),
            "--role",
            role,
            "--tenant",
            tenant,
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn open(s: &Server, kind: &str, extra: Value) -> Value {
    let mut body = json!({ "title": format!("{kind} test"), "type": kind });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (status, incident) = s.call(Method::POST, "/api/v1/incidents", &s.token, Some(body));
    assert_eq!(status, 201, "{incident}");
    incident
}

fn teams_and_activities(incident: &Value) -> Vec<(String, String)> {
    incident["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["team"].as_str().unwrap().to_string(),
                t["activity"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_burst_of_syslog_alerts_becomes_one_incident_worked_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let p = s.syslog.port().to_string();
    let tcp = ["-n", "127.0.0.1", "-P", &p, "-T"];
    for i in 0..12 {
        let args = [&tcp[..], &["-t", "sshd"]].concat();
        logger(
            &args,
            &format!("Failed password for root from 198.51.100.7 port {i} ssh2"),
        );
    }
    for _ in 0..3 {
        let args = [&tcp[..], &["-t", "sudo"]].concat();
        logger(&args, "mallory : user NOT in sudoers ; TTY=pts/0 ; PWD=/home/mallory ; USER=root ; COMMAND=/bin/bash");
    }
    // Every alert filed, all into one incident.
    let alerts = wait_for("alerts filed into incidents", || {
        let alerts = s.alerts("", 1);
        // Two brute-force alerts (at the 5th and 10th failure), and per sudo
        // line one "not in sudoers" and one "root shell through sudo".
        let filed = alerts.len() >= 8 && alerts.iter().all(|a| a["incident_id"].is_i64());
        filed.then_some(alerts)
    });
    let (_, list) = s.get("/api/v1/incidents");
    let incidents = list["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{list:#}");
    let incident = &incidents[0];
    let id = incident["id"].as_i64().unwrap();
    assert!(alerts.iter().all(|a| a["incident_id"] == id));
    let entries = incident["alerts"].as_array().unwrap();
    let counted: u64 = entries.iter().map(|a| a["count"].as_u64().unwrap()).sum();
    assert_eq!(
        counted as usize,
        alerts.len(),
        "repeats are counted, not dropped"
    );
    assert!(
        entries.len() < alerts.len(),
        "repeats do not add entries: {entries:#?}"
    );
    assert_eq!(incident["type"], "intrusion");
    assert_eq!(incident["severity"], "high");
    assert!(teams_and_activities(incident).contains(&("soc".into(), "triage".into())));

    // Worked from the CLI.
    let cli = |args: &[&str]| {
        let mut all = vec!["incident"];
        all.extend_from_slice(args);
        let out = s.cli(&all);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let ids = id.to_string();
    let (code, out) = cli(&["list", "--open"]);
    assert_eq!(code, 0);
    assert!(out.contains("intrusion") && out.contains(&ids), "{out}");
    assert_eq!(cli(&["ack", &ids]).0, 0);
    let (code, out) = cli(&["assign", &ids, "ana", "--team", "soc"]);
    assert!(code == 0 && out.contains("assignee ana"), "{out}");
    let (code, out) = cli(&[
        "resolve",
        &ids,
        "--comment",
        "blocked 198.51.100.7 at the edge",
    ]);
    assert!(code == 0 && out.contains("is resolved"), "{out}");
    let (code, out) = cli(&["show", &ids]);
    assert!(
        code == 0 && out.contains("status resolved") && out.contains("comment"),
        "{out}"
    );

    // Refusals: a bad transition and a stale version are 409, an unknown field 400.
    let (_, now) = s.get(&format!("/api/v1/incidents/{id}"));
    let v = now["version"].as_i64().unwrap();
    let path = format!("/api/v1/incidents/{id}");
    let (status, body) = s.call(
        Method::PATCH,
        &path,
        &s.token,
        Some(json!({"version": v, "status": "closed"})),
    );
    assert_eq!(status, 409);
    assert!(
        body["error"].as_str().unwrap().contains("post-incident"),
        "{body}"
    );
    let (status, body) = s.call(
        Method::PATCH,
        &path,
        &s.token,
        Some(json!({"version": v - 1, "title": "x"})),
    );
    assert_eq!(status, 409);
    assert!(
        body["error"].as_str().unwrap().contains("version"),
        "{body}"
    );
    let (status, body) = s.call(
        Method::PATCH,
        &path,
        &s.token,
        Some(json!({"version": v, "colour": "red"})),
    );
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("colour"), "{body}");

    // The timeline verifies; a row changed in the database is caught.
    let (code, out) = cli(&["verify", &ids]);
    assert!(code == 0 && out.contains("intact"), "{out}");
    let db = rusqlite::Connection::open(s.dir.join("data/state.db")).unwrap();
    db.execute(
        "UPDATE timeline SET actor = 'someone-else' WHERE incident_id = ?1 AND action = 'assigned'",
        [id],
    )
    .unwrap();
    let (code, out) = cli(&["verify", &ids]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN") && out.contains("changed"), "{out}");
}

#[test]
fn raci_defaults_sla_timers_and_regulatory_clocks() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());

    let ddos = teams_and_activities(&open(&s, "ddos", json!({})));
    assert!(ddos.contains(&("noc".into(), "contain".into())), "{ddos:?}");
    assert!(ddos.contains(&("soc".into(), "block".into())), "{ddos:?}");
    let link = teams_and_activities(&open(&s, "link_failure", json!({})));
    assert!(link.contains(&("noc".into(), "restore".into())), "{link:?}");
    assert!(link.contains(&("soc".into(), "triage".into())), "{link:?}");
    let phishing = teams_and_activities(&open(&s, "phishing", json!({})));
    assert!(
        phishing.contains(&("soc".into(), "contain".into())),
        "{phishing:?}"
    );
    assert!(
        phishing.contains(&("it".into(), "reset_credentials".into())),
        "{phishing:?}"
    );

    // SLA: a priority 1 outage, timers fired by moving the server's clock.
    let p1 = open(&s, "outage", json!({"impact": "high", "urgency": "high"}));
    assert_eq!(p1["priority"], 1);
    let id = p1["id"].as_i64().unwrap();
    let tick = |secs: i64| {
        let (status, body) = s.call(
            Method::POST,
            "/api/v1/test/clock",
            &s.token,
            Some(json!({"advance_secs": secs})),
        );
        assert_eq!(status, 200, "{body}");
        body["sla_events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["incident"] == id)
            .map(|e| e["event"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // The background worker ticks too: collect from both.
    let mut seen = tick(11 * 60);
    seen.extend(tick(60));
    seen.extend(tick(4 * 60));
    seen.extend(tick(4 * 3600));
    let (_, t) = s.get(&format!("/api/v1/incidents/{id}/timeline"));
    let sla: Vec<&str> = t["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str().filter(|a| a.starts_with("sla_")))
        .collect();
    assert_eq!(
        sla,
        [
            "sla_acknowledge_warning",
            "sla_acknowledge_breach",
            "sla_resolve_warning",
            "sla_resolve_breach"
        ]
    );
    let due: Vec<i64> = t["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("sla_"))
        .map(|e| e["time_ns"].as_i64().unwrap())
        .collect();
    assert!(
        due.windows(2).all(|w| w[0] <= w[1]),
        "in time order: {due:?}"
    );
    assert!(seen.len() <= 4);

    // Regulatory clocks: DORA classified major a day after awareness.
    let r = open(&s, "ransomware", json!({}));
    let rid = r["id"].as_i64().unwrap();
    let flag = json!({"regimes": ["dora", "gdpr", "nis2"], "aware": "2026-11-24T09:00:00Z", "classified": "2026-11-25T09:00:00Z"});
    let (status, body) = s.call(
        Method::POST,
        &format!("/api/v1/incidents/{rid}/compliance"),
        &s.token,
        Some(flag),
    );
    assert_eq!(status, 200, "{body}");
    let (_, clocks) = s.get(&format!("/api/v1/incidents/{rid}/clocks"));
    let due = |regime: &str, report: &str| {
        clocks["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["regime"] == regime && d["report"] == report)
            .map(|d| {
                (
                    d["due_ns"].as_i64(),
                    d["state"].as_str().unwrap().to_string(),
                )
            })
            .unwrap()
    };
    let ns = |t: &str| watchfloor_model::parse_timestamp(t);
    assert_eq!(
        due("dora", "initial_notification"),
        (ns("2026-11-25T09:00:00Z"), "late".into())
    );
    assert_eq!(due("dora", "intermediate_report"), (None, "pending".into()));
    assert_eq!(
        due("gdpr", "notification"),
        (ns("2026-11-27T09:00:00Z"), "due".into())
    );
    assert_eq!(due("nis2", "early_warning").0, ns("2026-11-25T09:00:00Z"));
    assert_eq!(due("nis2", "notification").0, ns("2026-11-27T09:00:00Z"));
    let submit = format!("/api/v1/incidents/{rid}/reports/dora/initial_notification/submit");
    let (status, body) = s.call(Method::POST, &submit, &s.token, Some(json!({})));
    assert_eq!(status, 409, "late needs a reason: {body}");
    let (status, body) = s.call(
        Method::POST,
        &submit,
        &s.token,
        Some(json!({"late_reason": "classified major a day after awareness"})),
    );
    assert_eq!(status, 200, "{body}");
    let (_, clocks) = s.get(&format!("/api/v1/incidents/{rid}/clocks"));
    let intermediate = clocks["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["report"] == "intermediate_report")
        .unwrap()
        .clone();
    assert!(intermediate["due_ns"].is_i64(), "{clocks:#}");
    let md = s
        .request(
            Method::GET,
            &format!("/api/v1/incidents/{rid}/reports/dora/initial_notification?format=md"),
            Some(&s.token),
        )
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(md.starts_with("# DORA initial notification"), "{md}");
    assert!(
        md.contains("report_submitted") && md.contains("## Actions taken"),
        "{md}"
    );
}

#[test]
fn every_incident_endpoint_checks_token_role_and_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let incident = open(&s, "phishing", json!({}));
    let id = incident["id"].as_i64().unwrap();
    let tokens: Vec<(&str, String)> = [
        "soc_analyst",
        "noc_engineer",
        "incident_manager",
        "viewer",
        "ingest",
    ]
    .into_iter()
    .map(|r| (r, token(&s, r, "default")))
    .collect();
    let other_admin = token(&s, "admin", "other");
    let task = incident["tasks"][0]["id"].as_u64().unwrap();
    let (status, user) = s.call(
        Method::POST,
        "/api/v1/users",
        &s.token,
        Some(json!({"username": "u1", "password": "a long enough password", "role": "viewer"})),
    );
    assert_eq!(status, 201, "{user}");
    let user = user["id"].as_i64().unwrap();
    let (status, body) = s.call(
        Method::PUT,
        "/api/v1/schedules/sched",
        &s.token,
        Some(json!({"layers": [{"name": "l", "users": ["u1"],
                                "start": "2026-11-23T09:00:00Z", "shift_hours": 24}]})),
    );
    assert_eq!(status, 201, "{body}");
    // (method, path, body, action): action "any" (every valid credential),
    // "read", "work", "compliance" or "admin".
    let endpoints: Vec<(Method, String, Value, &str)> = vec![
        (Method::GET, "/api/v1/incidents".into(), Value::Null, "read"),
        (
            Method::GET,
            format!("/api/v1/incidents/{id}"),
            Value::Null,
            "read",
        ),
        (
            Method::GET,
            format!("/api/v1/incidents/{id}/timeline"),
            Value::Null,
            "read",
        ),
        (
            Method::GET,
            format!("/api/v1/incidents/{id}/timeline/verify"),
            Value::Null,
            "read",
        ),
        (
            Method::GET,
            format!("/api/v1/incidents/{id}/clocks"),
            Value::Null,
            "read",
        ),
        (
            Method::GET,
            "/api/v1/incident-types".into(),
            Value::Null,
            "read",
        ),
        (
            Method::GET,
            "/api/v1/sla-policies".into(),
            Value::Null,
            "read",
        ),
        (
            Method::POST,
            "/api/v1/incidents".into(),
            json!({"title": "t", "type": "malware"}),
            "work",
        ),
        (
            Method::PATCH,
            format!("/api/v1/incidents/{id}"),
            json!({"version": 0, "title": "t"}),
            "work",
        ),
        (
            Method::POST,
            format!("/api/v1/incidents/{id}/comments"),
            json!({"text": "hi"}),
            "work",
        ),
        (
            Method::POST,
            format!("/api/v1/incidents/{id}/tasks"),
            json!({"title": "t", "team": "it"}),
            "work",
        ),
        (
            Method::PATCH,
            format!("/api/v1/incidents/{id}/tasks/{task}"),
            json!({"assignee": "bo"}),
            "work",
        ),
        (
            Method::POST,
            format!("/api/v1/incidents/{id}/observables"),
            json!({"kind": "other", "value": "v"}),
            "work",
        ),
        (
            Method::POST,
            format!("/api/v1/incidents/{id}/merge"),
            json!({"into": id, "reason": "r"}),
            "work",
        ),
        (
            Method::POST,
            format!("/api/v1/incidents/{id}/split"),
            json!({"alerts": [], "reason": "r"}),
            "work",
        ),
        (
            Method::POST,
            format!("/api/v1/incidents/{id}/compliance"),
            json!({"regimes": ["gdpr"]}),
            "compliance",
        ),
        (
            Method::GET,
            format!("/api/v1/incidents/{id}/reports/gdpr/notification"),
            Value::Null,
            "read",
        ),
        (
            Method::POST,
            format!("/api/v1/incidents/{id}/reports/gdpr/notification/submit"),
            json!({}),
            "compliance",
        ),
        (
            Method::POST,
            "/api/v1/test/clock".into(),
            json!({"advance_secs": 0}),
            "admin",
        ),
        (Method::GET, "/api/v1/me".into(), Value::Null, "any"),
        (
            Method::GET,
            "/api/v1/openapi.json".into(),
            Value::Null,
            "any",
        ),
        (Method::DELETE, "/api/v1/session".into(), Value::Null, "any"),
        (Method::GET, "/api/v1/users".into(), Value::Null, "admin"),
        (
            Method::POST,
            "/api/v1/users".into(),
            json!({"username": "x", "password": "short", "role": "viewer"}),
            "admin",
        ),
        (
            Method::PATCH,
            format!("/api/v1/users/{user}"),
            json!({"display_name": "U One"}),
            "admin",
        ),
        (Method::GET, "/api/v1/tenants".into(), Value::Null, "admin"),
        (
            Method::POST,
            "/api/v1/tenants".into(),
            json!({"name": "bad name!"}),
            "admin",
        ),
        (Method::GET, "/api/v1/audit".into(), Value::Null, "admin"),
        (Method::GET, "/api/v1/schedules".into(), Value::Null, "read"),
        (
            Method::GET,
            "/api/v1/schedules/sched".into(),
            Value::Null,
            "read",
        ),
        (
            Method::GET,
            "/api/v1/schedules/sched/oncall".into(),
            Value::Null,
            "read",
        ),
        (
            Method::GET,
            "/api/v1/schedules/sched/shifts".into(),
            Value::Null,
            "read",
        ),
        (
            Method::POST,
            "/api/v1/schedules/sched/overrides".into(),
            json!({"user": "u1", "start": "2026-11-25T00:00:00Z", "end": "2026-11-25T01:00:00Z"}),
            "work",
        ),
        (Method::GET, "/api/v1/oncall".into(), Value::Null, "read"),
        (
            Method::PUT,
            "/api/v1/schedules/other".into(),
            json!({"layers": []}),
            "oncall",
        ),
        (
            Method::GET,
            "/api/v1/escalation-policies".into(),
            Value::Null,
            "read",
        ),
        (
            Method::PUT,
            "/api/v1/escalation-policies/p".into(),
            json!({"steps": []}),
            "oncall",
        ),
        (Method::GET, "/api/v1/teams".into(), Value::Null, "read"),
        (
            Method::PUT,
            "/api/v1/teams/t".into(),
            json!({"channels": []}),
            "oncall",
        ),
        (
            Method::GET,
            "/api/v1/channels".into(),
            Value::Null,
            "oncall",
        ),
        (
            Method::DELETE,
            "/api/v1/channels/none".into(),
            Value::Null,
            "oncall",
        ),
        (
            Method::GET,
            "/api/v1/notifications".into(),
            Value::Null,
            "read",
        ),
    ];
    let allowed = |role: &str, action: &str| match role {
        _ if action == "any" => true,
        "soc_analyst" => matches!(action, "read" | "work"),
        "noc_engineer" => matches!(action, "read" | "work" | "checks"),
        "incident_manager" => {
            matches!(action, "read" | "work" | "compliance" | "oncall" | "checks")
        }
        "viewer" => action == "read",
        _ => false,
    };
    let send = |m: &Method, path: &str, token: Option<&str>, body: &Value| {
        let mut req = s.request(m.clone(), path, token);
        if !body.is_null() {
            req = req.json(body);
        }
        let r = req.send().unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().unwrap_or(Value::Null))
    };
    for (m, path, body, action) in &endpoints {
        for bad in [None, Some("wf_wrong")] {
            assert_eq!(send(m, path, bad, body).0, 401, "{m} {path} with {bad:?}");
        }
        for (role, t) in &tokens {
            let (status, answer) = send(m, path, Some(t), body);
            if allowed(role, action) {
                assert!(
                    status != 401 && status != 403,
                    "{role} may {m} {path}: {status} {answer}"
                );
            } else {
                assert_eq!(status, 403, "{role} may not {m} {path}: {answer}");
            }
        }
        // Another tenant's admin: the incident does not exist for it.
        let (status, answer) = send(m, path, Some(&other_admin), body);
        if path.starts_with(&format!("/api/v1/incidents/{id}"))
            || path.starts_with("/api/v1/users/")
            || path.starts_with("/api/v1/schedules/sched")
        {
            assert_eq!(status, 404, "other tenant on {m} {path}: {answer}");
        } else if *m == Method::GET {
            let own_only = match path.as_str() {
                "/api/v1/incidents" => answer["incidents"] == json!([]),
                "/api/v1/users" => answer["users"] == json!([]),
                "/api/v1/tenants" => answer["tenants"] == json!([]),
                "/api/v1/schedules" => answer["schedules"] == json!([]),
                "/api/v1/oncall" => answer["oncall"] == json!([]),
                "/api/v1/notifications" => answer["notifications"] == json!([]),
                "/api/v1/checks" => answer["checks"] == json!([]),
                "/api/v1/topology" => answer["nodes"] == json!([]),
                "/api/v1/maintenance" => answer["maintenance"] == json!([]),
                "/api/v1/availability" => answer["rows"] == json!([]),
                "/api/v1/audit" => answer["audit"]
                    .as_array()
                    .is_some_and(|a| a.iter().all(|e| e["tenant"] == "other")),
                _ => true,
            };
            assert!(
                own_only,
                "other tenant sees only its own on {path}: {answer}"
            );
        } else if path == "/api/v1/tenants" {
            assert_eq!(status, 403, "only the provider creates tenants");
        }
    }
}

#[test]
fn concurrent_writers_never_lose_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let incident = open(&s, "outage", json!({}));
    let id = incident["id"].as_i64().unwrap();
    let version = incident["version"].as_i64().unwrap();
    let s = std::sync::Arc::new(s);
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let s = s.clone();
            std::thread::spawn(move || {
                let path = format!("/api/v1/incidents/{id}");
                let (status, _) = s.call(
                    Method::PATCH,
                    &path,
                    &s.token,
                    Some(json!({"version": version, "title": format!("writer {n}")})),
                );
                let mut comments = 0;
                for c in 0..5 {
                    let (st, body) = s.call(
                        Method::POST,
                        &format!("{path}/comments"),
                        &s.token,
                        Some(json!({"text": format!("{n}/{c}")})),
                    );
                    assert_eq!(st, 201, "{body}");
                    comments += 1;
                }
                (status, comments)
            })
        })
        .collect();
    let results: Vec<(u16, usize)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let won = results.iter().filter(|r| r.0 == 200).count();
    let lost = results.iter().filter(|r| r.0 == 409).count();
    assert_eq!(
        (won, lost),
        (1, 7),
        "one stale-free write wins: {results:?}"
    );
    let (_, now) = s.get(&format!("/api/v1/incidents/{id}"));
    assert_eq!(
        now["comments"].as_array().unwrap().len(),
        40,
        "no comment lost"
    );
    let (_, v) = s.get(&format!("/api/v1/incidents/{id}/timeline/verify"));
    assert_eq!(v["valid"], true, "{v}");
}
