//! The respond API in process: triggers start runs as incidents open, the
//! approval inbox says who may answer, answers follow roles, teams and
//! tenants, runs act on the incident (tasks, comments, timeline), dry runs
//! and validation report, cancel stops. The runner and the triggers run as
//! in `serve` (tasks of the assembled server).

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;
use watchfloor_model::{Alert, AlertKind, Domain, Severity};
use watchfloor_server::api::AppState;
use watchfloor_server::auth;

struct Server {
    router: Router,
    app: Arc<AppState>,
    admin: String,
    _dir: tempfile::TempDir,
}

const OUTAGE_PLAYBOOK: &str = r#"
id: outage-triage
title: Outage triage
trigger: {incident_types: [outage]}
steps:
  - id: approve
    approval:
      roles: [soc_analyst, admin]
      teams: [soc]
      deadline: 1h
      message: "Open an IT task for incident {{ incident.id }}?"
      shows: [task]
  - id: task
    action: incident.task
    with: {team: it, title: "Check the uplink of incident {{ incident.id }}"}
  - id: note
    action: incident.comment
    with: {text: "Task {{ steps.task.task }} opened for IT"}
"#;

async fn server() -> Server {
    server_with(&[]).await
}

/// A server with the outage playbook and a site's values for playbooks'
/// params: (playbook, [(name, value)]).
async fn server_with(params: &[(&str, &[(&str, &str)])]) -> Server {
    let params: Vec<watchfloor_respond::config::PlaybookParams> = params
        .iter()
        .map(
            |(playbook, values)| watchfloor_respond::config::PlaybookParams {
                playbook: playbook.to_string(),
                values: values
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
        )
        .collect();
    let (router, app, dir) = common::assembled_with(|cfg, dir| {
        let playbooks = dir.join("playbooks");
        std::fs::create_dir_all(&playbooks).unwrap();
        std::fs::write(playbooks.join("outage.yml"), OUTAGE_PLAYBOOK).unwrap();
        cfg.respond.playbooks = Some(playbooks);
        cfg.respond.params = params;
    })
    .await;
    let admin = std::fs::read_to_string(dir.path().join("initial-admin-token"))
        .unwrap()
        .trim()
        .to_string();
    Server {
        router,
        app,
        admin,
        _dir: dir,
    }
}

impl Server {
    fn token(&self, role: &str, tenant: &str) -> String {
        auth::create_token(self.app.access.as_ref(), role, role, tenant)
            .unwrap()
            .0
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        let body = match body {
            Some(text) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(text)
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body.to_string()))
            .await
    }

    /// The incident's runs, once one is in `status` (waits for the runner).
    async fn run_in(&self, incident: i64, status: &str) -> Value {
        for _ in 0..200 {
            let (_, runs) = self
                .get(&format!("/api/v1/runs?incident={incident}"), &self.admin)
                .await;
            if let Some(run) = runs["runs"]
                .as_array()
                .and_then(|r| r.iter().find(|r| r["status"] == status))
            {
                return run.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (_, runs) = self
            .get(&format!("/api/v1/runs?incident={incident}"), &self.admin)
            .await;
        panic!("no run of incident {incident} became {status}: {runs}");
    }
}

async fn open_outage(s: &Server) -> i64 {
    let (status, opened) = s
        .post(
            "/api/v1/incidents",
            &s.admin,
            json!({"title": "Uplink down", "type": "outage"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    opened["id"].as_i64().unwrap()
}

#[tokio::test]
async fn an_opened_incident_starts_its_playbook_and_the_soc_approves() {
    let s = server().await;
    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/teams/soc",
            &s.admin,
            Some(json!({"members": ["soc_analyst"]}).to_string()),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let id = open_outage(&s).await;
    let run = s.run_in(id, "waiting_approval").await;
    let run_id = run["id"].as_i64().unwrap();
    assert_eq!(run["playbook"], "outage-triage");

    let analyst = s.token("soc_analyst", "default");
    let noc = s.token("noc_engineer", "default");
    let viewer = s.token("viewer", "default");
    let (status, inbox) = s.get("/api/v1/approvals", &analyst).await;
    assert_eq!(status, StatusCode::OK);
    let item = &inbox["approvals"][0];
    assert_eq!(item["may_answer"], true, "{inbox}");
    assert_eq!(
        item["approval"]["request"]["shows"],
        json!([format!("task for it: Check the uplink of incident {id}")]),
        "the approver sees what will be done"
    );
    let (_, inbox) = s.get("/api/v1/approvals", &noc).await;
    assert_eq!(inbox["approvals"][0]["may_answer"], false);
    assert!(inbox["approvals"][0]["why_not"]
        .as_str()
        .unwrap()
        .contains("noc_engineer"));

    let answer = |d: &str| json!({"decision": d, "comment": "checked"});
    let path = format!("/api/v1/runs/{run_id}/answer");
    let (status, _) = s.post(&path, &viewer, answer("approve")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "viewers do not work incidents"
    );
    let (status, body) = s.post(&path, &noc, answer("approve")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = s
        .post(&path, &s.token("soc_analyst", "acme"), answer("approve"))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another tenant's run: {body}"
    );
    let (status, body) = s.post(&path, &analyst, json!({"decision": "maybe"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = s.post(&path, &analyst, answer("approve")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    s.run_in(id, "succeeded").await;
    let (_, incident) = s.get(&format!("/api/v1/incidents/{id}"), &s.admin).await;
    let tasks: Vec<&str> = incident["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    assert!(
        tasks.contains(&format!("Check the uplink of incident {id}").as_str()),
        "{tasks:?}"
    );
    let comments = incident["comments"].as_array().unwrap();
    assert!(comments
        .iter()
        .any(|c| c["text"].as_str().unwrap().starts_with("Task ")));

    let (_, timeline) = s
        .get(&format!("/api/v1/incidents/{id}/timeline"), &s.admin)
        .await;
    let timeline = &timeline["timeline"];
    let moments: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "playbook")
        .filter_map(|e| e["detail"]["event"].as_str())
        .collect();
    for moment in [
        "started",
        "approval_requested",
        "approval_answered",
        "approval_decided",
        "finished",
    ] {
        assert!(
            moments.contains(&moment),
            "{moment} missing from {moments:?}"
        );
    }
    let answered = timeline
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["detail"]["event"] == "approval_answered")
        .unwrap();
    assert_eq!(
        answered["actor"], "soc_analyst",
        "the approver is the actor"
    );
    let (_, verified) = s
        .get(&format!("/api/v1/incidents/{id}/timeline/verify"), &s.admin)
        .await;
    assert_eq!(verified["valid"], true, "{verified}");

    let (status, view) = s.get(&format!("/api/v1/runs/{run_id}"), &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    let kinds: Vec<&str> = view["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["body"]["type"].as_str())
        .collect();
    assert_eq!(kinds.first(), Some(&"started"));
    assert_eq!(kinds.last(), Some(&"finished"));
    let (status, _) = s
        .get(
            &format!("/api/v1/runs/{run_id}"),
            &s.token("viewer", "acme"),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "tenants never see each other's runs"
    );
}

#[tokio::test]
async fn the_ddos_incident_asks_to_block_its_attackers() {
    let s = server().await;
    let mut fields = serde_json::Map::new();
    fields.insert("attackers".into(), json!(["198.51.100.7", "203.0.113.9"]));
    fields.insert("victim".into(), json!("10.0.0.80"));
    let now = watchfloor_model::now_ns();
    let alert = Alert {
        id: 0,
        key: "ddos:test".into(),
        tenant: "default".into(),
        domain: Domain::Both,
        rule_id: Some("signature:ddos".into()),
        rule_title: "DDoS on 10.0.0.80: 120.0 kpps".into(),
        kind: AlertKind::Signature,
        level: Severity::Critical,
        tags: vec!["attack.t1498".into()],
        time_ns: now,
        created_ns: now,
        host: Some("10.0.0.80".into()),
        user: None,
        ips: vec!["198.51.100.7".into(), "203.0.113.9".into()],
        users: Vec::new(),
        indicators: Default::default(),
        event_ids: Vec::new(),
        fields,
        value: Some(120_000.0),
        parent: None,
        incident_id: None,
    };
    s.app.state.insert_alerts(&[alert]).unwrap();
    s.app.incidents.file_alerts().unwrap();
    let (_, list) = s.get("/api/v1/incidents?type=ddos", &s.admin).await;
    let id = list["incidents"][0]["id"]
        .as_i64()
        .expect("a ddos incident");
    let run = s.run_in(id, "waiting_approval").await;
    let (_, view) = s
        .get(&format!("/api/v1/runs/{}", run["id"]), &s.admin)
        .await;
    let request = &view["approval"]["request"];
    assert_eq!(
        request["shows"],
        json!(["nftables: add 198.51.100.7, 203.0.113.9 to inet watchfloor blocked for 30m"]),
        "{request}"
    );
    assert!(
        request["message"]
            .as_str()
            .unwrap()
            .contains("block 2 source address(es)"),
        "{request}"
    );
    assert_eq!(request["teams"], json!(["soc"]));

    // The same, dry: nothing stored, every step rendered.
    let (status, dry) = s
        .post(
            "/api/v1/playbooks/ddos-block/dry-run",
            &s.admin,
            json!({"incident_id": id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    let steps: Vec<&str> = dry["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|st| st["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        ["approve", "block", "tell-blocked", "hold", "unblock", "end"]
    );

    // Denied: the block never happens, the incident is told.
    let (status, body) = s
        .post(
            &format!("/api/v1/runs/{}/answer", run["id"]),
            &s.admin,
            json!({"decision": "deny"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.run_in(id, "succeeded").await;
    let (_, incident) = s.get(&format!("/api/v1/incidents/{id}"), &s.admin).await;
    let comment = incident["comments"][0]["text"].as_str().unwrap();
    assert!(comment.contains("did not approve"), "{comment}");
}

#[tokio::test]
async fn playbooks_are_listed_validated_started_and_cancelled() {
    let s = server().await;
    let (status, list) = s
        .get("/api/v1/playbooks", &s.token("viewer", "default"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list["playbooks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "ddos-block",
            "link-failover",
            "outage-triage",
            "phishing-response"
        ]
    );

    let (status, checked) = s
        .call(
            Method::POST,
            "/api/v1/playbooks/validate",
            &s.admin,
            Some("id: x\ntitle: t\nsteps:\n  - id: a\n    action: nope.nope\n".into()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(checked["valid"], false);
    assert!(checked["problems"][0]
        .as_str()
        .unwrap()
        .contains("nope.nope"));

    let id = open_outage(&s).await;
    // A manual run on the same incident (the trigger's run is separate).
    let (status, started) = s
        .post(
            "/api/v1/playbooks/outage-triage/runs",
            &s.token("noc_engineer", "default"),
            json!({"incident_id": id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let run_id = started["id"].as_i64().unwrap();
    let (status, _) = s
        .post(
            "/api/v1/playbooks/outage-triage/runs",
            &s.token("viewer", "default"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = s
        .post("/api/v1/playbooks/nope/runs", &s.admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = s
        .post(
            "/api/v1/playbooks/outage-triage/runs",
            &s.admin,
            json!({"incident_id": 999_999}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = s
        .post(
            &format!("/api/v1/runs/{run_id}/cancel"),
            &s.admin,
            json!({"compensate": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for _ in 0..200 {
        let (_, view) = s.get(&format!("/api/v1/runs/{run_id}"), &s.admin).await;
        if view["status"] == "cancelled" {
            let (status, _) = s
                .post(
                    &format!("/api/v1/runs/{run_id}/cancel"),
                    &s.admin,
                    json!({}),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::CONFLICT,
                "a finished run cannot be cancelled"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the run was not cancelled");
}

#[tokio::test]
async fn reported_messages_are_parsed_judged_and_filed_once() {
    let s = server().await;
    let eml = "From: \"Desk\" <it@corp-example.help>\r\nTo: bob@corp.example\r\nSubject: Verify your account\r\nMessage-ID: <api-1@corp-example.help>\r\nContent-Type: text/html\r\n\r\n<a href=\"https://login.corp-example.help/x\">verify</a> or https://www.google.com/\r\n";
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/phishing/reports",
            &s.admin,
            Some(eml.into()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["report"]["subject"], "Verify your account");
    let mut urls: Vec<&str> = body["report"]["urls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u.as_str())
        .collect();
    urls.sort();
    assert_eq!(
        urls,
        [
            "https://login.corp-example.help/x",
            "https://www.google.com/"
        ]
    );
    let blocked = body["assessment"]["block_domains"].as_array().unwrap();
    assert!(
        blocked.contains(&json!("login.corp-example.help")),
        "{body}"
    );
    assert!(
        !blocked.contains(&json!("corp.example")),
        "the organisation's own domain: {body}"
    );
    let (status, again) = s
        .call(
            Method::POST,
            "/api/v1/phishing/reports",
            &s.admin,
            Some(eml.into()),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, bad) = s
        .call(
            Method::POST,
            "/api/v1/phishing/reports",
            &s.admin,
            Some(String::new()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert!(bad["error"]
        .as_str()
        .unwrap()
        .contains("not an e-mail message"));
    let (status, _) = s
        .call(
            Method::POST,
            "/api/v1/phishing/reports",
            &s.token("viewer", "default"),
            Some(eml.into()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    s.app.incidents.file_alerts().unwrap();
    let (_, list) = s.get("/api/v1/incidents?type=phishing", &s.admin).await;
    assert_eq!(
        list["incidents"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
}

/// A DDoS alert on `victim` from `attackers`, filed into its incident.
fn ddos_incident(s: &Server, attackers: &[&str]) -> i64 {
    let mut fields = serde_json::Map::new();
    fields.insert("attackers".into(), json!(attackers));
    let now = watchfloor_model::now_ns();
    let alert = Alert {
        id: 0,
        key: format!("ddos:fail:{now}"),
        tenant: "default".into(),
        domain: Domain::Both,
        rule_id: Some("signature:ddos".into()),
        rule_title: "DDoS on 10.0.0.80: 90.0 kpps".into(),
        kind: AlertKind::Signature,
        level: Severity::Critical,
        tags: vec!["attack.t1498".into()],
        time_ns: now,
        created_ns: now,
        host: Some("10.0.0.80".into()),
        user: None,
        ips: attackers.iter().map(|a| a.to_string()).collect(),
        users: Vec::new(),
        indicators: Default::default(),
        event_ids: Vec::new(),
        fields,
        value: None,
        parent: None,
        incident_id: None,
    };
    s.app.state.insert_alerts(&[alert]).unwrap();
    s.app.incidents.file_alerts().unwrap();
    s.app
        .state
        .list_incidents(&watchfloor_state::IncidentFilter {
            tenant: "default".into(),
            kind: Some("ddos".into()),
            limit: 1,
            ..Default::default()
        })
        .unwrap()[0]
        .id
}

/// When the router cannot be reached (its namespace is gone), the block's
/// retries end on the error path: the NOC gets a task to block by hand.
#[tokio::test]
async fn a_block_that_cannot_be_made_takes_the_error_path_and_tells_the_incident() {
    let s = server_with(&[(
        "ddos-block",
        &[("auto_approve", "true"), ("netns", "wf-no-such-router")],
    )])
    .await;
    let id = ddos_incident(&s, &["198.51.100.7"]);
    let run = s.run_in(id, "succeeded").await;
    let (_, view) = s
        .get(&format!("/api/v1/runs/{}", run["id"]), &s.admin)
        .await;
    let failures = view["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["body"]["type"] == "action_failed" && e["body"]["step"] == "block")
        .count();
    assert_eq!(failures, 3, "three attempts: {view}");
    let (_, incident) = s.get(&format!("/api/v1/incidents/{id}"), &s.admin).await;
    let task = incident["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["title"]
                .as_str()
                .unwrap_or_default()
                .starts_with("The automatic block failed")
        })
        .unwrap_or_else(|| panic!("no hand-block task: {incident}"));
    assert_eq!(task["team"], "noc");
    assert!(
        task["title"]
            .as_str()
            .unwrap()
            .contains("wf-no-such-router"),
        "{task}"
    );
}

/// When the reroute cannot be made (the data-center router's namespace is
/// gone), the link-failover playbook's error path gives the NOC a task.
#[tokio::test]
async fn a_reroute_without_a_backup_next_hop_leaves_a_task_for_the_noc() {
    let s = server_with(&[(
        "link-failover",
        &[("netns", "wf-no-such-dc"), ("backup_via", "192.0.2.6")],
    )])
    .await;
    let (status, opened) = s
        .post(
            "/api/v1/incidents",
            &s.admin,
            json!({"title": "dc1 uplink down", "type": "link_failure"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let id = opened["id"].as_i64().unwrap();
    s.run_in(id, "succeeded").await;
    let (_, incident) = s.get(&format!("/api/v1/incidents/{id}"), &s.admin).await;
    let titles: Vec<&str> = incident["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("The automatic reroute failed") && t.contains("wf-no-such-dc")),
        "{titles:?}"
    );
}

/// The approvers of a run are e-mailed a personal link; the link's page
/// shows what will be done, and its button answers as them (once).
#[tokio::test]
async fn an_approver_answers_from_the_link_in_their_e_mail() {
    let s = server().await;
    s.app
        .access
        .create_user(&watchfloor_state::NewUser {
            username: "sam".into(),
            display_name: "Sam".into(),
            email: Some("sam@corp.example".into()),
            role: "soc_analyst".into(),
            tenant: "default".into(),
            tenants: Vec::new(),
            password_hash: auth::hash_password("correct horse battery").unwrap(),
        })
        .unwrap();
    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/teams/soc",
            &s.admin,
            Some(json!({"members": ["sam"]}).to_string()),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let id = open_outage(&s).await;
    let run = s.run_in(id, "waiting_approval").await;
    let mails = s
        .app
        .outbox
        .list_notifications("default", Some(id), 100)
        .unwrap();
    let mail = mails
        .iter()
        .find(|n| n.message.target == "sam@corp.example")
        .unwrap_or_else(|| panic!("no e-mail to sam: {mails:?}"));
    assert!(
        mail.message.body.contains("task for it: Check the uplink"),
        "{}",
        mail.message.body
    );
    let link = mail
        .message
        .body
        .split_whitespace()
        .find(|w| w.contains("/approve/"))
        .expect("a link");
    let path = &link[link.find("/approve/").unwrap()..];

    let page = |path: String| {
        let router = s.router.clone();
        async move {
            let r = router
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = r.status();
            let text = String::from_utf8_lossy(
                &axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap(),
            )
            .into_owned();
            (status, text)
        }
    };
    let (status, text) = page(path.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains("Check the uplink") && text.contains("Approve"),
        "{text}"
    );
    let forged = format!("{}x", path);
    assert_eq!(page(forged).await.0, StatusCode::NOT_FOUND);

    let post = |path: String| {
        let router = s.router.clone();
        async move {
            let r = router
                .oneshot(
                    Request::post(path)
                        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                        .body(Body::from("decision=approve"))
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = r.status();
            let text = String::from_utf8_lossy(
                &axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap(),
            )
            .into_owned();
            (status, text)
        }
    };
    let (status, text) = post(path.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("approved by sam"), "{text}");
    s.run_in(id, "succeeded").await;
    let (status, _) = post(path.to_string()).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "decided: the link answers nothing more"
    );
    let (_, view) = s
        .get(&format!("/api/v1/runs/{}", run["id"]), &s.admin)
        .await;
    let answered = view["log"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["body"]["type"] == "approval_answered")
        .unwrap();
    assert_eq!(answered["body"]["answer"]["via"], "link");
    assert_eq!(answered["body"]["answer"]["by"], "sam");
}

/// A tenant's own playbook, sent through the API, replaces the shared one
/// of that id for that tenant only, triggers for it, and survives a reload.
#[tokio::test]
async fn a_tenants_playbook_from_the_api_is_its_own() {
    let s = server().await;
    let (status, _) = s
        .post("/api/v1/tenants", &s.admin, json!({"name": "acme"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let acme = s.token("soc_analyst", "acme");
    let text = "id: outage-triage\ntitle: Acme's triage\ntrigger: {incident_types: [outage]}\nsteps:\n  - id: note\n    action: incident.comment\n    with: {text: \"acme's own playbook ran\"}\n";
    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/playbooks/outage-triage",
            &acme,
            Some(text.into()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["source"], "api:acme");
    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/playbooks/other-id",
            &acme,
            Some(text.into()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = s
        .call(
            Method::PUT,
            "/api/v1/playbooks/broken",
            &acme,
            Some("id: broken\ntitle: x\nsteps: []\n".into()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("no steps"),
        "{body}"
    );
    let (status, _) = s
        .call(
            Method::PUT,
            "/api/v1/playbooks/outage-triage",
            &s.token("viewer", "acme"),
            Some(text.into()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, mine) = s.get("/api/v1/playbooks/outage-triage", &acme).await;
    assert_eq!(mine["playbook"]["title"], "Acme's triage");
    let (_, theirs) = s.get("/api/v1/playbooks/outage-triage", &s.admin).await;
    assert_eq!(
        theirs["playbook"]["title"], "Outage triage",
        "other tenants keep the shared one"
    );

    // Acme's outage runs acme's playbook.
    let (status, opened) = s
        .post(
            "/api/v1/incidents",
            &acme,
            json!({"title": "Acme uplink down", "type": "outage"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let id = opened["id"].as_i64().unwrap();
    for _ in 0..200 {
        let (_, incident) = s.get(&format!("/api/v1/incidents/{id}"), &acme).await;
        if incident["comments"][0]["text"] == "acme's own playbook ran" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, incident) = s.get(&format!("/api/v1/incidents/{id}"), &acme).await;
    assert_eq!(
        incident["comments"][0]["text"], "acme's own playbook ran",
        "{incident}"
    );

    let (status, _) = s
        .post("/api/v1/playbooks/reload", &s.admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, mine) = s.get("/api/v1/playbooks/outage-triage", &acme).await;
    assert_eq!(
        mine["playbook"]["title"], "Acme's triage",
        "kept across a reload"
    );
    let (status, _) = s
        .call(
            Method::DELETE,
            "/api/v1/playbooks/outage-triage",
            &acme,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, mine) = s.get("/api/v1/playbooks/outage-triage", &acme).await;
    assert_eq!(mine["playbook"]["title"], "Outage triage");
    let (status, _) = s
        .call(Method::DELETE, "/api/v1/playbooks/ddos-block", &acme, None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "shared playbooks are not deleted through the API"
    );
}

/// Every action, failing against a peer that is down, refuses, or is not
/// there: the step's error path runs and the incident is told the cause.
#[tokio::test]
async fn each_action_that_fails_takes_the_error_path_and_tells_the_incident() {
    let s = server().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let cases: [(&str, String, &str); 9] = [
        (
            "http.request",
            format!("{{url: \"{down}\"}}"),
            "Connection refused",
        ),
        (
            "nftables.add",
            "{set: blocked, netns: wf-no-such-ns, addresses: 192.0.2.1}".into(),
            "nft -f - failed",
        ),
        (
            "route.replace",
            "{destination: default, via: 192.0.2.6, netns: wf-no-such-ns}".into(),
            "ip -n wf-no-such-ns route replace",
        ),
        (
            "dns.block",
            "{domains: [evil.example]}".into(),
            "no [respond.dns] file",
        ),
        (
            "ldap.account",
            "{user: bob, operation: mark_reset}".into(),
            "no [respond.ldap] url",
        ),
        (
            "command.run",
            "{command: nothing}".into(),
            "not in [[respond.commands]]",
        ),
        (
            "intel.block",
            "{kind: planet, values: [x]}".into(),
            "`kind` \"planet\"",
        ),
        (
            "email.send",
            "{to: [not-an-address], subject: hi}".into(),
            "is not an e-mail address",
        ),
        (
            "notify.send",
            "{to: [team:nobody], subject: hi}".into(),
            "nobody could be addressed",
        ),
    ];
    for (action, with, cause) in cases {
        let id = format!("fail-{}", action.replace('.', "-"));
        let text = format!(
            "id: {id}\ntitle: t\nsteps:\n  - id: act\n    action: {action}\n    with: {with}\n    on_error: tell\n  - id: tell\n    action: incident.comment\n    with: {{text: \"failed: {{{{ steps.act.error }}}}\"}}\n"
        );
        let (status, body) = s
            .call(
                Method::PUT,
                &format!("/api/v1/playbooks/{id}"),
                &s.admin,
                Some(text),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{action}: {body}");
        let incident = open_outage(&s).await;
        let (status, run) = s
            .post(
                &format!("/api/v1/playbooks/{id}/runs"),
                &s.admin,
                json!({"incident_id": incident}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{action}: {run}");
        let mut told = String::new();
        for _ in 0..200 {
            let (_, i) = s
                .get(&format!("/api/v1/incidents/{incident}"), &s.admin)
                .await;
            if let Some(t) = i["comments"].as_array().and_then(|c| {
                c.iter()
                    .find_map(|c| c["text"].as_str().filter(|t| t.starts_with("failed: ")))
            }) {
                told = t.to_string();
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            told.contains(cause),
            "{action}: the incident is told {told:?}, not {cause:?}"
        );
    }
}
