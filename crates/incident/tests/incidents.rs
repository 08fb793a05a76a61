//! The incident logic on the embedded state store, with a hand-moved clock.

use std::sync::Arc;

use serde_json::json;
use watchfloor_incident::{
    IncidentConfig, IncidentError, IncidentPatch, Incidents, ManualClock, NewIncident,
};
use watchfloor_model::incident::{Domain, Phase, Regime, Status};
use watchfloor_model::parse_timestamp;
use watchfloor_model::{Alert, Severity};
use watchfloor_state::{AlertStore, IncidentFilter, SqliteStateStore};

const MIN: i64 = 60_000_000_000;

struct Floor {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: Arc<SqliteStateStore>,
    clock: Arc<ManualClock>,
    incidents: Incidents,
}

fn floor() -> Floor {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Arc::new(SqliteStateStore::open(&path).unwrap());
    let clock = Arc::new(ManualClock::new(
        parse_timestamp("2026-11-25T10:00:00Z").unwrap(),
    ));
    let incidents = Incidents::new(
        store.clone(),
        Arc::new(IncidentConfig::default()),
        clock.clone(),
    );
    Floor {
        _dir: dir,
        path,
        store,
        clock,
        incidents,
    }
}

fn alert(key: &str, rule: &str, level: &str, host: &str, ip: &str, secs: i64) -> Alert {
    serde_json::from_value(json!({
        "key": key, "tenant": "acme", "domain": "security", "rule_id": rule, "rule_title": rule,
        "rule_kind": "detection", "level": level, "tags": [], "time_ns": parse_timestamp("2026-11-25T10:00:00Z").unwrap() + secs * 1_000_000_000,
        "created_ns": 0, "host": host, "user": null, "ips": if ip.is_empty() { vec![] } else { vec![ip] },
        "event_ids": [1], "fields": {}, "value": null
    }))
    .unwrap()
}

/// An incident opened by hand: a title and a type, nothing else.
fn new_incident(title: &str, kind: &str) -> NewIncident {
    NewIncident {
        title: title.into(),
        kind: kind.into(),
        description: String::new(),
        impact: None,
        urgency: None,
        severity: None,
        entities: Default::default(),
    }
}

fn open_ids(f: &Floor) -> Vec<i64> {
    f.incidents
        .list(&IncidentFilter {
            tenant: "acme".into(),
            open_only: true,
            limit: 100,
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect()
}

#[test]
fn an_incident_gathers_its_alerts_entities_as_observables_once() {
    let f = floor();
    let mut phishing = alert("url:1", "Phishing URL", "high", "mail2", "198.51.100.7", 0);
    phishing.user = Some("carol".into());
    phishing.indicators.urls = vec!["http://evil.example/login".into()];
    phishing.indicators.domains = vec!["Evil.Example".into()];
    let mut repeat = alert("url:2", "Phishing URL", "high", "mail2", "198.51.100.7", 5);
    repeat.indicators = phishing.indicators.clone();
    f.store.insert_alerts(&[phishing, repeat]).unwrap();
    f.incidents.file_alerts().unwrap();
    let ids = open_ids(&f);
    assert_eq!(ids.len(), 1);
    let incident = f.incidents.get("acme", ids[0]).unwrap();
    let mut gathered: Vec<(String, String)> = incident
        .observables
        .iter()
        .map(|o| (o.kind.clone(), o.value.clone()))
        .collect();
    gathered.sort();
    let want = [
        ("domain", "evil.example"),
        ("host", "mail2"),
        ("ip", "198.51.100.7"),
        ("url", "http://evil.example/login"),
        ("user", "carol"),
    ];
    assert_eq!(
        gathered,
        want.map(|(k, v)| (k.to_string(), v.to_string())),
        "each entity once, domains in lower case"
    );
    assert!(incident
        .observables
        .iter()
        .all(|o| !o.ioc && o.tlp == watchfloor_model::incident::Tlp::Amber));
    let ids: std::collections::BTreeSet<u32> = incident.observables.iter().map(|o| o.id).collect();
    assert_eq!(ids.len(), 5, "distinct ids");
}

#[test]
fn a_burst_of_related_alerts_becomes_one_incident() {
    let f = floor();
    let mut burst = Vec::new();
    for n in 0..20 {
        burst.push(alert(
            &format!("ssh:{n}"),
            "SSH Brute Force",
            "medium",
            "web1",
            "203.0.113.9",
            n,
        ));
    }
    burst.push(alert("sudo:1", "Sudo Abuse", "high", "web1", "", 30));
    burst.push(alert(
        "scan:1",
        "Port Scan",
        "low",
        "db7",
        "203.0.113.9",
        40,
    ));
    burst.push(alert("other:1", "Log Cleared", "high", "mail2", "", 50));
    f.store.insert_alerts(&burst).unwrap();
    assert_eq!(f.incidents.file_alerts().unwrap(), 23);
    assert_eq!(
        f.incidents.file_alerts().unwrap(),
        0,
        "each alert is filed once"
    );

    let ids = open_ids(&f);
    assert_eq!(
        ids.len(),
        2,
        "web1's burst plus the scan sharing its IP, and mail2 alone"
    );
    let all: Vec<_> = ids
        .iter()
        .map(|&id| f.incidents.get("acme", id).unwrap())
        .collect();
    let big = all
        .iter()
        .find(|i| i.alerts.len() == 3)
        .expect("the grouped incident");
    assert_eq!(big.alerts[0].count, 20, "repeats raise a count");
    assert_eq!(big.kind, "intrusion");
    assert_eq!(big.severity, Severity::High, "the sudo alert raised it");
    assert!(big.entities.hosts.contains("db7") && big.entities.ips.contains("203.0.113.9"));
    assert_eq!(
        f.incidents.verify("acme", big.id).unwrap(),
        Ok(big.timeline_seq as usize)
    );
}

fn tasks_by_team(f: &Floor, kind: &str) -> Vec<(String, String)> {
    let i = f
        .incidents
        .open(
            "acme",
            "ana",
            NewIncident {
                title: kind.into(),
                kind: kind.into(),
                description: String::new(),
                impact: None,
                urgency: None,
                severity: None,
                entities: Default::default(),
            },
        )
        .unwrap();
    i.tasks
        .iter()
        .map(|t| (t.team.clone(), t.activity.clone().unwrap()))
        .collect()
}

#[test]
fn raci_defaults_create_the_right_tasks_for_the_right_teams() {
    let f = floor();
    let ddos = tasks_by_team(&f, "ddos");
    assert!(ddos.contains(&("noc".into(), "contain".into())), "{ddos:?}");
    assert!(ddos.contains(&("soc".into(), "block".into())), "{ddos:?}");
    assert!(
        ddos.contains(&("soc".into(), "investigate".into())),
        "{ddos:?}"
    );
    assert!(
        !ddos.contains(&("soc".into(), "contain".into())),
        "the SOC is consulted on mitigation, not responsible"
    );
    let link = tasks_by_team(&f, "link_failure");
    assert!(link.contains(&("noc".into(), "restore".into())), "{link:?}");
    assert!(link.contains(&("soc".into(), "triage".into())), "{link:?}");
    let phishing = tasks_by_team(&f, "phishing");
    assert!(
        phishing.contains(&("soc".into(), "contain".into())),
        "{phishing:?}"
    );
    assert!(
        phishing.contains(&("it".into(), "reset_credentials".into())),
        "{phishing:?}"
    );
    let ransomware = tasks_by_team(&f, "ransomware");
    assert!(
        ransomware.contains(&("noc".into(), "contain".into())),
        "{ransomware:?}"
    );
    assert!(
        ransomware.contains(&("legal_dpo".into(), "notify".into())),
        "{ransomware:?}"
    );
    let i = f
        .incidents
        .list(&IncidentFilter {
            tenant: "acme".into(),
            kind: Some("ddos".into()),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(i[0].domain, Domain::Both);
    assert!(
        i[0].notices.iter().any(|n| n.team == "management"),
        "management is informed"
    );
}

#[test]
fn sla_warnings_and_breaches_fire_in_order() {
    let f = floor();
    let i = f
        .incidents
        .open(
            "acme",
            "ana",
            NewIncident {
                title: "db down".into(),
                kind: "outage".into(),
                description: String::new(),
                impact: Some(watchfloor_model::incident::Grade::High),
                urgency: Some(watchfloor_model::incident::Grade::High),
                severity: Some(Severity::Critical),
                entities: Default::default(),
            },
        )
        .unwrap();
    assert_eq!(i.priority, 1);
    assert!(f.incidents.tick().unwrap().is_empty());
    f.clock.advance(12 * MIN);
    assert_eq!(
        f.incidents.tick().unwrap(),
        vec![(i.id, "sla_acknowledge_warning")]
    );
    f.clock.advance(4 * MIN);
    assert_eq!(
        f.incidents.tick().unwrap(),
        vec![(i.id, "sla_acknowledge_breach")]
    );
    assert!(
        f.incidents.tick().unwrap().is_empty(),
        "each is recorded once"
    );
    // Acknowledging stops nothing already recorded; the resolve clock runs on.
    let version = f.incidents.get("acme", i.id).unwrap().version;
    let i = f
        .incidents
        .update(
            "acme",
            i.id,
            "ana",
            IncidentPatch {
                version,
                assignee: Some("ana".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(i.status, Status::Acknowledged);
    f.clock.advance(5 * 60 * MIN);
    assert_eq!(
        f.incidents.tick().unwrap(),
        vec![(i.id, "sla_resolve_warning"), (i.id, "sla_resolve_breach")]
    );
    let timeline = f.incidents.timeline("acme", i.id).unwrap();
    let sla: Vec<&str> = timeline
        .iter()
        .filter(|e| e.action.starts_with("sla_"))
        .map(|e| e.action.as_str())
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
}

#[test]
fn lifecycle_refuses_invalid_changes_and_stale_versions() {
    let f = floor();
    let i = f
        .incidents
        .open("acme", "ana", new_incident("x", "malware"))
        .unwrap();
    let v = i.version;
    let patch = |version, status| IncidentPatch {
        version,
        status: Some(status),
        ..Default::default()
    };
    let err = f
        .incidents
        .update("acme", i.id, "ana", patch(v, Status::Closed))
        .unwrap_err();
    assert!(
        matches!(&err, IncidentError::Refused(m) if m.contains("new cannot move to closed")),
        "{err}"
    );
    let i = f
        .incidents
        .update("acme", i.id, "ana", patch(v, Status::Resolved))
        .unwrap();
    let err = f
        .incidents
        .update("acme", i.id, "bob", patch(v, Status::InProgress))
        .unwrap_err();
    assert!(
        matches!(err, IncidentError::Stale { expected, current, .. } if expected == v && current == v + 1)
    );
    let err = f
        .incidents
        .update("acme", i.id, "ana", patch(i.version, Status::Closed))
        .unwrap_err();
    assert!(err.to_string().contains("post-incident review"), "{err}");
    let i = f
        .incidents
        .update(
            "acme",
            i.id,
            "ana",
            IncidentPatch {
                version: i.version,
                phase: Some(Phase::PostIncident),
                ..Default::default()
            },
        )
        .unwrap();
    let i = f
        .incidents
        .update("acme", i.id, "ana", patch(i.version, Status::Closed))
        .unwrap();
    assert!(
        f.incidents
            .comment("acme", i.id, "ana", "late note")
            .is_ok(),
        "comments stay possible"
    );
    let err = f
        .incidents
        .update(
            "acme",
            i.id,
            "ana",
            patch(i.version + 1, Status::InProgress),
        )
        .unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
    assert!(
        matches!(
            f.incidents.get("other", i.id),
            Err(IncidentError::NotFound(_))
        ),
        "tenants are apart"
    );
}

#[test]
fn concurrent_comments_are_all_kept() {
    let f = Arc::new(floor());
    let i = f
        .incidents
        .open("acme", "ana", new_incident("x", "outage"))
        .unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let f = f.clone();
            std::thread::spawn(move || {
                for n in 0..10 {
                    f.incidents
                        .comment("acme", i.id, &format!("user{t}"), &format!("note {n}"))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let i = f.incidents.get("acme", i.id).unwrap();
    assert_eq!(i.comments.len(), 80);
    assert_eq!(
        f.incidents.verify("acme", i.id).unwrap(),
        Ok(i.timeline_seq as usize)
    );
}

#[test]
fn a_tampered_timeline_row_is_detected() {
    let f = floor();
    let i = f
        .incidents
        .open("acme", "ana", new_incident("x", "phishing"))
        .unwrap();
    f.incidents
        .comment("acme", i.id, "ana", "user clicked at 09:12")
        .unwrap();
    let n = f.incidents.verify("acme", i.id).unwrap().unwrap();
    let db = rusqlite::Connection::open(&f.path).unwrap();
    db.execute(
        "UPDATE timeline SET detail = replace(detail, '09:12', '09:45') WHERE action = 'comment'",
        [],
    )
    .unwrap();
    let broken = f.incidents.verify("acme", i.id).unwrap().unwrap_err();
    assert_eq!(broken.seq, n as i64);
    assert!(broken.reason.contains("changed"), "{broken:?}");
    db.execute(
        "UPDATE timeline SET detail = replace(detail, '09:45', '09:12') WHERE action = 'comment'",
        [],
    )
    .unwrap();
    db.execute("DELETE FROM timeline WHERE seq = ?1", [n as i64])
        .unwrap();
    let broken = f.incidents.verify("acme", i.id).unwrap().unwrap_err();
    assert!(
        broken.reason.contains("recorded"),
        "a removed last entry is detected too: {broken:?}"
    );
}

#[test]
fn merge_and_split_record_their_reasons() {
    let f = floor();
    f.store
        .insert_alerts(&[
            alert("a:1", "Rule A", "medium", "h1", "", 0),
            alert("b:1", "Rule B", "high", "h2", "", 5),
        ])
        .unwrap();
    f.incidents.file_alerts().unwrap();
    let ids = open_ids(&f);
    assert_eq!(ids.len(), 2);
    let merged = f
        .incidents
        .merge("acme", ids[1], ids[0], "ana", "same attacker")
        .unwrap();
    assert_eq!(merged.alerts.len(), 2);
    assert_eq!(open_ids(&f), vec![ids[0]]);
    let gone = f.incidents.get("acme", ids[1]).unwrap();
    assert_eq!(
        (gone.status, gone.merged_into),
        (Status::Closed, Some(ids[0]))
    );
    let moved = merged.alerts[1].alert_id;
    let split = f
        .incidents
        .split("acme", ids[0], &[moved], "ana", "different cause")
        .unwrap();
    assert_eq!(split.alerts.len(), 1);
    assert_eq!(f.incidents.get("acme", ids[0]).unwrap().alerts.len(), 1);
    let t = f.incidents.timeline("acme", split.id).unwrap();
    assert!(t
        .iter()
        .any(|e| e.action == "split_from" && e.detail["reason"] == "different cause"));
    assert!(
        f.incidents
            .split("acme", ids[0], &[moved], "ana", "x")
            .is_err(),
        "not there any more"
    );
}

#[test]
fn compliance_clocks_from_flags() {
    let f = floor();
    let i = f
        .incidents
        .open("acme", "ana", new_incident("x", "ransomware"))
        .unwrap();
    let aware = parse_timestamp("2026-11-24T10:00:00Z").unwrap();
    let classified = parse_timestamp("2026-11-25T10:00:00Z").unwrap();
    let i = f
        .incidents
        .flag(
            "acme",
            i.id,
            "dpo",
            &[Regime::Dora, Regime::Gdpr, Regime::Nis2],
            Some(aware),
            Some(classified),
        )
        .unwrap();
    let due = |r: Regime, rep: &str| {
        i.compliance
            .deadlines
            .iter()
            .find(|d| d.regime == r && d.report == rep)
            .and_then(|d| d.due_ns)
            .map(watchfloor_model::format_rfc3339)
    };
    assert_eq!(
        due(Regime::Dora, "initial_notification").as_deref(),
        Some("2026-11-25T10:00:00.000000Z")
    );
    assert_eq!(
        due(Regime::Gdpr, "notification").as_deref(),
        Some("2026-11-27T10:00:00.000000Z")
    );
    assert_eq!(
        due(Regime::Nis2, "early_warning").as_deref(),
        Some("2026-11-25T10:00:00.000000Z")
    );
    f.clock.advance(MIN);
    let err = f
        .incidents
        .submit_report(
            "acme",
            i.id,
            "dpo",
            Regime::Dora,
            "initial_notification",
            None,
        )
        .unwrap_err();
    assert!(
        matches!(err, IncidentError::Refused(_)),
        "late without a reason: {err}"
    );
    let i = f
        .incidents
        .submit_report(
            "acme",
            i.id,
            "dpo",
            Regime::Dora,
            "initial_notification",
            Some("classified a day after awareness"),
        )
        .unwrap();
    let d = &i
        .compliance
        .deadlines
        .iter()
        .find(|d| d.report == "initial_notification")
        .unwrap();
    assert_eq!(
        (d.state.as_str(), d.submitted_by.as_deref()),
        ("late", Some("dpo"))
    );
    assert!(i
        .compliance
        .deadlines
        .iter()
        .any(|d| d.report == "intermediate_report" && d.due_ns.is_some()));
}

fn put(f: &Floor, kind: &str, name: &str, body: serde_json::Value) {
    use watchfloor_state::DocumentStore;
    f.store
        .put_document("acme", kind, name, &body, None, 0)
        .unwrap();
}

#[test]
fn escalation_steps_fire_in_order_until_acknowledged_by_link() {
    use watchfloor_state::{AccessStore, NewUser, OutboxStore};
    let f = floor();
    for (name, email) in [("ann", Some("ann@example.org")), ("lead", None)] {
        f.store
            .create_user(&NewUser {
                username: name.into(),
                display_name: name.into(),
                email: email.map(Into::into),
                role: "noc_engineer".into(),
                tenant: "acme".into(),
                tenants: vec![],
                password_hash: "x".into(),
            })
            .unwrap();
    }
    put(
        &f,
        "schedule",
        "noc-primary",
        json!({"layers": [{"name": "weekly", "users": ["ann"], "start": "2026-11-23T09:00:00Z",
                           "shift_hours": 168}]}),
    );
    put(
        &f,
        "channel",
        "noc-chat",
        json!({"transport": "slack", "url": "http://127.0.0.1:9/hook"}),
    );
    put(
        &f,
        "team",
        "noc",
        json!({"members": ["ann"], "channels": ["noc-chat"]}),
    );
    put(
        &f,
        "escalation_policy",
        "ops",
        json!({"applies_to": {"domains": ["operations"]}, "repeat": 1, "steps": [
            {"targets": [{"schedule": "noc-primary"}], "escalate_after_minutes": 5},
            {"targets": [{"user": "lead"}, {"team": "noc"}], "escalate_after_minutes": 10}
        ]}),
    );
    let incident = f
        .incidents
        .open(
            "acme",
            "test",
            NewIncident {
                title: "core link down".into(),
                kind: "link_failure".into(),
                description: String::new(),
                impact: None,
                urgency: None,
                severity: Some(Severity::High),
                entities: Default::default(),
            },
        )
        .unwrap();
    let id = incident.id;
    f.incidents.tick().unwrap();
    f.clock.advance(6 * MIN);
    f.incidents.tick().unwrap();
    let timeline = f.incidents.timeline("acme", id).unwrap();
    let escalations: Vec<_> = timeline
        .iter()
        .filter(|e| e.action == "escalated")
        .map(|e| (e.detail["round"].clone(), e.detail["step"].clone()))
        .collect();
    assert_eq!(escalations, [(json!(1), json!(1)), (json!(1), json!(2))]);
    let step2 = timeline.iter().rfind(|e| e.action == "escalated").unwrap();
    assert!(
        step2.detail["problems"][0]
            .as_str()
            .unwrap()
            .contains("\"lead\" has no email"),
        "{}",
        step2.detail
    );
    let queued = f.store.list_notifications("acme", Some(id), 100).unwrap();
    let to: Vec<(&str, &str)> = queued
        .iter()
        .rev()
        .map(|n| (n.message.recipient.as_str(), n.message.transport.as_str()))
        .filter(|(r, _)| r.starts_with("user:") || r.starts_with("team:noc"))
        .collect();
    assert!(
        to.starts_with(&[("user:ann", "email")]) && to.contains(&("team:noc", "slack")),
        "{to:?}"
    );
    // The link in ann's message acknowledges the incident as ann.
    let mail = queued
        .iter()
        .find(|n| n.message.recipient == "user:ann")
        .unwrap();
    let secret = mail.message.body.rsplit("/ack/").next().unwrap().trim();
    let (acked, actor, changed) = f.incidents.acknowledge_by_link(secret).unwrap();
    assert!(changed);
    assert_eq!(acked.status, Status::Acknowledged);
    assert_eq!(actor, "user:ann (notification link)");
    assert!(!f.incidents.acknowledge_by_link(secret).unwrap().2);
    assert!(f.incidents.acknowledge_by_link("wfa_forged").is_err());
    f.clock.advance(60 * MIN);
    f.incidents.tick().unwrap();
    let after = f.incidents.timeline("acme", id).unwrap();
    assert_eq!(
        after.iter().filter(|e| e.action == "escalated").count(),
        2,
        "acknowledged: no more steps"
    );
    assert!(f.incidents.verify("acme", id).unwrap().is_ok());
}

#[test]
fn the_review_is_kept_on_the_timeline_checked_and_in_the_report() {
    let f = floor();
    let i = f
        .incidents
        .open("acme", "ana", new_incident("Phishing wave", "phishing"))
        .unwrap();
    let review = |due: &str| {
        serde_json::from_value::<watchfloor_model::incident::Review>(json!({
            "lessons_learned": "The lure passed the mail filter: its domain was a day old.",
            "controls": [{"control": "Quarantine mail from domains younger than a week",
                          "mitigation": "M1054", "owner": "it-mail", "due": due}]
        }))
        .unwrap()
    };
    let bad = f.incidents.update(
        "acme",
        i.id,
        "ana",
        IncidentPatch {
            version: i.version,
            review: Some(review("next week")),
            ..Default::default()
        },
    );
    assert!(
        matches!(&bad, Err(IncidentError::Invalid(m)) if m.contains("review.controls[0].due")),
        "{bad:?}"
    );
    let done = f
        .incidents
        .update(
            "acme",
            i.id,
            "ana",
            IncidentPatch {
                version: i.version,
                review: Some(review("2026-12-15")),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(done.review.controls[0].owner.as_deref(), Some("it-mail"));
    let timeline = f.incidents.timeline("acme", i.id).unwrap();
    assert!(
        timeline.iter().any(|e| e.action == "review"),
        "on the timeline"
    );
    let report = watchfloor_incident::report::report_markdown(
        &done,
        Regime::Nis2,
        "early_warning",
        &timeline,
    );
    assert!(report.contains("## Post-incident review"), "{report}");
    assert!(
        report.contains("| Quarantine mail from domains younger than a week | M1054 | it-mail | 2026-12-15 | open |"),
        "{report}"
    );
}

#[test]
fn gathered_observables_are_classified_again_on_the_timeline() {
    let f = floor();
    f.store
        .insert_alerts(&[alert("k1", "r1", "high", "web1", "45.137.21.9", 0)])
        .unwrap();
    f.incidents.file_alerts().unwrap();
    let id = open_ids(&f)[0];
    let i = f.incidents.get("acme", id).unwrap();
    let ip = i
        .observables
        .iter()
        .find(|o| o.value == "45.137.21.9")
        .expect("gathered");
    assert!(
        !ip.ioc,
        "gathered observables are not IOCs until someone says so"
    );
    let patch: watchfloor_incident::ObservablePatch =
        serde_json::from_value(json!({"tlp": "green", "ioc": true})).unwrap();
    let i = f
        .incidents
        .classify_observable("acme", id, ip.id, "ana", patch)
        .unwrap();
    let ip = i
        .observables
        .iter()
        .find(|o| o.value == "45.137.21.9")
        .unwrap();
    assert_eq!(
        (
            serde_json::to_value(ip.tlp).unwrap(),
            serde_json::to_value(ip.pap).unwrap(),
            ip.ioc
        ),
        (json!("green"), json!("amber"), true),
        "PAP kept"
    );
    let timeline = f.incidents.timeline("acme", id).unwrap();
    assert!(timeline.iter().any(|e| e.action == "observable_classified"));
    let missing = f
        .incidents
        .classify_observable("acme", id, 999, "ana", Default::default());
    assert!(
        matches!(missing, Err(IncidentError::Invalid(_))),
        "{missing:?}"
    );
}
