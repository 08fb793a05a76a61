//! The conformance suite: every [`EventStore`] and [`StateStore`]
//! implementation runs these checks (see `tests/conformance.rs`). Each check
//! takes a function that opens the store at a directory, so reopening after
//! a simulated crash is part of the contract.
//!
//! The checks panic with a message on failure; they are meant to be called
//! from `#[test]` functions.

use std::path::Path;

use serde_json::json;

use watchfloor_model::incident::{Incident, Status, TimelineEntry};

use crate::{
    AccessStore, AckLink, Alert, AlertFilter, Attempt, AuditFilter, AuditRecord, CheckSample,
    CheckStore, Delivery, EventDoc, EventStore, IncidentFilter, IncidentSort, IncidentStore,
    IncidentWrite, NewNotification, NewUser, OutboxStore, SearchRequest, StateStore, StoreError,
};

const DAY_NS: i64 = 86_400 * 1_000_000_000;
/// 2026-11-25T00:00:00Z.
const T0: i64 = 1_795_564_800 * 1_000_000_000;

/// A test event: `id`, time offset in seconds from T0, tenant, and fields.
pub fn event(id: u64, secs: i64, tenant: &str, fields: serde_json::Value) -> EventDoc {
    let t = T0 + secs * 1_000_000_000;
    EventDoc {
        id,
        time_ns: t,
        received_ns: t,
        tenant: tenant.into(),
        source: "test".into(),
        host: fields.get("host").and_then(|h| h.as_str()).map(Into::into),
        truncated: false,
        fields: fields.as_object().cloned().unwrap_or_default(),
    }
}

fn request(query: &str, tenant: &str) -> SearchRequest {
    SearchRequest {
        query: query.into(),
        tenant: tenant.into(),
        limit: 1000,
        ..Default::default()
    }
}

/// Ids of the events a query finds for a tenant, in result order.
pub fn ids<S: EventStore + ?Sized>(store: &S, query: &str, tenant: &str) -> Vec<u64> {
    match store.search(&request(query, tenant)) {
        Ok(page) => page.events.iter().map(|e| e.id).collect(),
        Err(e) => panic!("query {query:?}: {e}"),
    }
}

fn sample_events() -> Vec<EventDoc> {
    vec![
        event(
            1,
            10,
            "acme",
            json!({"host": "web1", "program": "sshd", "message": "Failed password for root from 10.0.0.5 port 22", "user": "root", "src_ip": "10.0.0.5", "EventID": 4625}),
        ),
        event(
            2,
            20,
            "acme",
            json!({"host": "web2", "program": "sshd", "message": "Accepted password for alice from 10.0.0.6", "user": "alice", "src_ip": "10.0.0.6", "EventID": 4624}),
        ),
        event(
            3,
            30,
            "acme",
            json!({"host": "db1", "program": "sudo", "message": "alice : TTY=pts/0 ; COMMAND=/bin/bash", "user": "alice", "bytes": "1500"}),
        ),
        event(
            4,
            40,
            "other",
            json!({"host": "web1", "program": "sshd", "message": "Failed password for root from 10.9.9.9", "user": "root"}),
        ),
        event(
            5,
            50,
            "acme",
            json!({"host": "WEB3", "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd.exe /c whoami", "tags": ["a", "b"], "bytes": 20}),
        ),
    ]
}

/// Field, wildcard, free-text, phrase, range, boolean and tenant checks.
pub fn search_semantics<S: EventStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.append(&sample_events()).expect("append");
    store.commit(5).expect("commit");
    let cases: &[(&str, &[u64])] = &[
        ("", &[5, 3, 2, 1]),
        ("*", &[5, 3, 2, 1]),
        ("host:web1", &[1]),
        ("host:WEB1", &[1]),
        ("host:web*", &[5, 2, 1]),
        ("host:web?", &[5, 2, 1]),
        ("program:sshd AND user:root", &[1]),
        ("program:sshd -user:root", &[2]),
        ("program:sshd AND NOT user:root", &[2]),
        ("NOT program:sshd", &[5, 3]),
        ("user:alice OR host:db1", &[3, 2]),
        ("(user:alice OR user:root) program:sudo", &[3]),
        ("failed", &[1]),
        ("\"failed password\"", &[1]),
        ("\"password failed\"", &[]),
        ("10.0.0.5", &[1]),
        ("cmd.exe", &[5]),
        ("whoam*", &[5]),
        ("Image:*\\\\cmd.exe", &[5]),
        ("CommandLine:\"cmd.exe /c whoami\"", &[5]),
        ("EventID:4625", &[1]),
        ("EventID:[4624 TO 4625]", &[2, 1]),
        ("EventID:{4624 TO 4625]", &[1]),
        ("EventID:>=4625", &[1]),
        ("EventID:<4625", &[2]),
        ("bytes:>100", &[3]),
        ("bytes:[* TO 100]", &[5]),
        ("user:[a TO b]", &[3, 2]),
        ("_exists_:bytes", &[5, 3]),
        ("src_ip:*", &[2, 1]),
        ("tags:b", &[5]),
        ("source:test host:db1", &[3]),
        // Words inside values, as Elasticsearch text fields answer them.
        ("message:failed", &[1]),
        ("message:\"failed password\"", &[1]),
        ("message:\"password failed\"", &[]),
        ("message:accept*", &[2]),
        ("message:root", &[1]),
        ("user:root", &[1]),
        ("program:root", &[]),
        ("message:nosuch", &[]),
        ("_exists_:message", &[3, 2, 1]),
        ("nosuchword", &[]),
        // Free text finds whole values of any field and words inside them,
        // but a phrase never spans two fields or two items of an array.
        ("db1", &[3]),
        ("whoami", &[5]),
        ("\"web2 sshd\"", &[]),
        ("tags:\"a b\"", &[]),
        ("user:>=b", &[1]),
        ("user:<b", &[3, 2]),
    ];
    for (query, want) in cases {
        assert_eq!(ids(&store, query, "acme"), *want, "query {query:?}");
    }
    assert_eq!(
        ids(&store, "user:root", "other"),
        vec![4],
        "tenant isolation"
    );
    assert_eq!(
        ids(&store, "", "nobody"),
        Vec::<u64>::new(),
        "unknown tenant"
    );
    match store.search(&request("host:(", "acme")) {
        Err(StoreError::Query(e)) => assert!(e.to_string().contains("column"), "{e}"),
        other => panic!("bad query should fail with a located error: {other:?}"),
    }
    let mut bad = request("", "acme");
    bad.cursor = Some("not a cursor".into());
    assert!(matches!(store.search(&bad), Err(StoreError::BadCursor)));
}

/// Pages of a search cover every match once, newest first, with ties in
/// time broken by id.
pub fn paging_and_time_range<S: EventStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    // 95 events over three days (three buckets), three per time stamp.
    let events: Vec<EventDoc> = (1..=95)
        .map(|i| event(i, (i as i64 / 3) * 8_000, "t", json!({"n": i})))
        .collect();
    store.append(&events).expect("append");
    store.commit(95).expect("commit");
    let mut req = request("", "t");
    req.limit = 10;
    let mut seen = Vec::new();
    loop {
        let page = store.search(&req).expect("search");
        assert!(page.events.len() <= 10);
        seen.extend(page.events.iter().map(|e| (e.time_ns, e.id)));
        match page.next {
            Some(next) => req.cursor = Some(next),
            None => break,
        }
    }
    let mut want: Vec<(i64, u64)> = events.iter().map(|e| (e.time_ns, e.id)).collect();
    want.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, want, "pages cover every event once, newest first");

    let mut ranged = request("", "t");
    ranged.from_ns = Some(T0 + 8_000 * 1_000_000_000);
    ranged.to_ns = Some(T0 + 24_000 * 1_000_000_000);
    let got: Vec<u64> = store
        .search(&ranged)
        .expect("search")
        .events
        .iter()
        .map(|e| e.id)
        .collect();
    // Times 8000 and 16000 s: i/3 in {1, 2}, i in 3..=8.
    assert_eq!(got, vec![8, 7, 6, 5, 4, 3]);
}

/// Replayed appends of committed events are ignored; uncommitted ones
/// are lost at a crash and stored once when replayed.
pub fn replay_is_idempotent<S: EventStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let all: Vec<EventDoc> = (1..=30)
        .map(|i| event(i, i as i64 * 5_000, "t", json!({"n": i})))
        .collect();
    {
        let store = open(dir.path());
        store.append(&all[..20]).expect("append");
        store.commit(20).expect("commit");
        store.append(&all[20..25]).expect("append");
        // dropped without commit: a crash
    }
    {
        let store = open(dir.path());
        // The pipeline replays from its last checkpoint, which may be older.
        store.append(&all[10..30]).expect("append");
        store.commit(30).expect("commit");
        let mut got = ids(&store, "", "t");
        got.sort_unstable();
        assert_eq!(
            got,
            (1..=30).collect::<Vec<u64>>(),
            "every event exactly once"
        );
    }
    let store = open(dir.path());
    store.append(&all).expect("append");
    store.commit(30).expect("commit");
    assert_eq!(ids(&store, "", "t").len(), 30, "a full replay adds nothing");
    assert_eq!(store.stats().expect("stats").events, 30);
}

/// Retention drops whole buckets by age and by size, never the newest.
pub fn retention<S: EventStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let events: Vec<EventDoc> = (0..10u64)
        .map(|d| event(d + 1, d as i64 * 86_400, "t", json!({"day": d})))
        .collect();
    store.append(&events).expect("append");
    store.commit(10).expect("commit");
    assert!(store.stats().expect("stats").buckets >= 10);
    let now = T0 + 10 * DAY_NS;
    let r = store
        .enforce_retention(now, Some(5 * DAY_NS), None)
        .expect("retention");
    assert_eq!(r.buckets_dropped, 5, "days 0..=4 ended 5 or more days ago");
    assert_eq!(ids(&store, "", "t"), vec![10, 9, 8, 7, 6]);
    let r = store
        .enforce_retention(now, None, Some(1))
        .expect("retention");
    assert_eq!(r.buckets_dropped, 4, "size: all but the newest bucket");
    assert!(r.bytes_freed > 0);
    assert_eq!(ids(&store, "", "t"), vec![10]);
    // Still writable after dropping.
    store
        .append(&[event(11, 10 * 86_400 + 5, "t", json!({}))])
        .expect("append");
    store.commit(11).expect("commit");
    assert_eq!(ids(&store, "", "t"), vec![11, 10]);
}

fn alert(key: &str, tenant: &str, level: &str, host: &str, secs: i64) -> Alert {
    Alert {
        id: 0,
        key: key.into(),
        tenant: tenant.into(),
        domain: "security".into(),
        rule_id: Some(format!("rule-{key}")),
        rule_title: format!("Rule {key}"),
        rule_kind: "detection".into(),
        level: level.into(),
        tags: vec!["attack.t1110".into()],
        time_ns: T0 + secs * 1_000_000_000,
        created_ns: T0,
        host: Some(host.into()),
        user: None,
        ips: vec!["10.0.0.5".into()],
        event_ids: vec![1, 2],
        fields: serde_json::Map::new(),
        value: None,
        parent: None,
        incident_id: None,
    }
}

/// Metadata, alert de-duplication and filters, tokens.
pub fn state_semantics<S: StateStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let state = open(dir.path());
        assert_eq!(state.get_meta("x").expect("get"), None);
        state.put_meta(&[("x", b"1"), ("y", b"2")]).expect("put");
        state.put_meta(&[("x", b"3")]).expect("put");
        let stored = state
            .insert_alerts(&[
                alert("a", "acme", "high", "web1", 1),
                alert("b", "acme", "low", "web2", 2),
                alert("c", "other", "critical", "web1", 3),
            ])
            .expect("insert");
        assert_eq!(stored.len(), 3);
        assert!(stored.iter().all(|a| a.id > 0));
    }
    let state = open(dir.path());
    assert_eq!(
        state.get_meta("x").expect("get").as_deref(),
        Some(&b"3"[..]),
        "survives reopen"
    );
    assert_eq!(
        state.get_meta("y").expect("get").as_deref(),
        Some(&b"2"[..])
    );
    let again = state
        .insert_alerts(&[
            alert("a", "acme", "high", "web1", 1),
            alert("d", "acme", "medium", "web1", 4),
        ])
        .expect("insert");
    assert_eq!(again.len(), 1, "same key is stored once");
    assert_eq!(again[0].key, "d");

    let list = |f: AlertFilter| -> Vec<String> {
        state
            .list_alerts(&f)
            .expect("list")
            .into_iter()
            .map(|a| a.key)
            .collect()
    };
    let acme = AlertFilter {
        tenant: "acme".into(),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(list(acme.clone()), ["d", "b", "a"]);
    assert_eq!(
        list(AlertFilter {
            min_level: Some("medium".into()),
            ..acme.clone()
        }),
        ["d", "a"]
    );
    assert_eq!(
        list(AlertFilter {
            host: Some("web2".into()),
            ..acme.clone()
        }),
        ["b"]
    );
    assert_eq!(
        list(AlertFilter {
            rule: Some("rule-a".into()),
            ..acme.clone()
        }),
        ["a"]
    );
    assert_eq!(
        list(AlertFilter {
            limit: 2,
            ..acme.clone()
        }),
        ["d", "b"]
    );
    let d_id = state
        .list_alerts(&AlertFilter {
            limit: 1,
            ..acme.clone()
        })
        .expect("list")[0]
        .id;
    assert_eq!(
        list(AlertFilter {
            before_id: Some(d_id),
            ..acme.clone()
        }),
        ["b", "a"]
    );
    assert_eq!(
        list(AlertFilter {
            from_ns: Some(T0 + 2_000_000_000),
            to_ns: Some(T0 + 4_000_000_000),
            ..acme.clone()
        }),
        ["b"]
    );
    assert_eq!(
        list(AlertFilter {
            tenant: "other".into(),
            limit: 100,
            ..Default::default()
        }),
        ["c"]
    );
    let counts = state.alert_counts().expect("counts");
    assert!(counts.contains(&("high".into(), 1)) && counts.contains(&("critical".into(), 1)));

    let t = state
        .create_token("ops", "admin", "acme", b"hash-1")
        .expect("token");
    assert_eq!(
        state.find_token(b"hash-1").expect("find").map(|r| r.id),
        Some(t.id)
    );
    assert_eq!(state.find_token(b"hash-2").expect("find"), None);
    assert!(
        state
            .create_token("dup", "admin", "acme", b"hash-1")
            .is_err(),
        "hashes are unique"
    );
    assert!(state.revoke_token(t.id).expect("revoke"));
    assert!(!state.revoke_token(t.id).expect("revoke"));
    assert_eq!(
        state.find_token(b"hash-1").expect("find"),
        None,
        "revoked tokens do not authenticate"
    );
    assert_eq!(state.list_tokens().expect("list").len(), 1);
}

fn incident(
    id: i64,
    tenant: &str,
    version: i64,
    status: &str,
    priority: u8,
    updated: i64,
) -> Incident {
    serde_json::from_value(json!({
        "id": id, "tenant": tenant, "version": version, "title": format!("incident {id}"),
        "domain": "security", "type": "intrusion", "severity": "high", "impact": "high",
        "urgency": "medium", "priority": priority, "status": status,
        "created_ns": T0, "updated_ns": T0 + updated,
    }))
    .expect("incident literal")
}

fn entry(incident_id: i64, seq: i64) -> TimelineEntry {
    TimelineEntry {
        incident_id,
        seq,
        time_ns: T0 + seq,
        actor: "test".into(),
        action: "opened".into(),
        detail: json!({"n": seq}),
        prev_hash: format!("p{seq}"),
        hash: format!("h{seq}"),
    }
}

fn write(
    incident: Incident,
    expected_version: i64,
    entries: Vec<TimelineEntry>,
    alert_ids: Vec<i64>,
) -> IncidentWrite {
    IncidentWrite {
        incident,
        expected_version,
        entries,
        alert_ids,
        notifications: Vec::new(),
    }
}

/// Incidents: reserved ids, versioned all-or-nothing writes, tenants kept
/// apart, filters and orders, timelines, and alerts filed exactly once.
pub fn incident_semantics<S: StateStore + IncidentStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let stored = store
        .insert_alerts(&[
            alert("a", "acme", "high", "web1", 1),
            alert("b", "acme", "low", "web2", 2),
        ])
        .expect("insert alerts");
    let unfiled = |s: &S| -> Vec<i64> {
        s.unfiled_alerts(10)
            .expect("unfiled")
            .iter()
            .map(|a| a.id)
            .collect()
    };
    assert_eq!(unfiled(&store), vec![stored[0].id, stored[1].id]);

    let a = store.reserve_incident_id().expect("reserve");
    let b = store.reserve_incident_id().expect("reserve");
    assert_ne!(a, b);
    assert_eq!(
        store.get_incident("acme", a).expect("get"),
        None,
        "a reserved id is not an incident yet"
    );
    store
        .write_incidents(&[
            write(
                incident(a, "acme", 1, "new", 2, 10),
                0,
                vec![entry(a, 1)],
                vec![stored[0].id],
            ),
            write(
                incident(b, "other", 1, "resolved", 4, 20),
                0,
                vec![entry(b, 1)],
                vec![],
            ),
        ])
        .expect("create");
    assert_eq!(
        unfiled(&store),
        vec![stored[1].id],
        "filed in the same transaction"
    );
    let filed = store
        .list_alerts(&AlertFilter {
            tenant: "acme".into(),
            limit: 10,
            ..Default::default()
        })
        .expect("alerts");
    assert_eq!(
        filed
            .iter()
            .find(|x| x.id == stored[0].id)
            .and_then(|x| x.incident_id),
        Some(a)
    );

    // Stale: nothing of the call is applied, not even the valid part.
    let err = store
        .write_incidents(&[
            write(
                incident(a, "acme", 2, "acknowledged", 2, 30),
                1,
                vec![entry(a, 2)],
                vec![stored[1].id],
            ),
            write(incident(b, "other", 2, "closed", 4, 30), 7, vec![], vec![]),
        ])
        .expect_err("stale write");
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 7,
                current: 1
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        store
            .get_incident("acme", a)
            .expect("get")
            .expect("a")
            .version,
        1
    );
    assert_eq!(store.timeline("acme", a).expect("timeline").len(), 1);
    assert_eq!(unfiled(&store), vec![stored[1].id]);

    // Tenants: another tenant neither reads nor writes it.
    assert_eq!(store.get_incident("other", a).expect("get"), None);
    assert!(store.timeline("other", a).expect("timeline").is_empty());
    let err = store
        .write_incidents(&[write(
            incident(a, "other", 2, "new", 2, 30),
            1,
            vec![],
            vec![],
        )])
        .expect_err("cross-tenant write");
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    store
        .write_incidents(&[write(
            incident(a, "acme", 2, "acknowledged", 2, 40),
            1,
            vec![entry(a, 2)],
            vec![],
        )])
        .expect("update");
    let t = store.timeline("acme", a).expect("timeline");
    assert_eq!(t.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(t[1], entry(a, 2), "entries read back as written");

    let c = store.reserve_incident_id().expect("reserve");
    store
        .write_incidents(&[write(
            incident(c, "acme", 1, "in_progress", 1, 5),
            0,
            vec![],
            vec![],
        )])
        .expect("create c");
    let list = |f: IncidentFilter| -> Vec<i64> {
        store
            .list_incidents(&IncidentFilter {
                tenant: "acme".into(),
                limit: 10,
                ..f
            })
            .expect("list")
            .iter()
            .map(|i| i.id)
            .collect()
    };
    assert_eq!(
        list(IncidentFilter::default()),
        vec![a, c],
        "most recently updated first"
    );
    assert_eq!(
        list(IncidentFilter {
            sort: IncidentSort::Priority,
            ..Default::default()
        }),
        vec![c, a]
    );
    assert_eq!(
        list(IncidentFilter {
            updated_since: Some(T0 + 20),
            sort: IncidentSort::UpdatedAsc,
            ..Default::default()
        }),
        vec![a]
    );
    assert_eq!(
        list(IncidentFilter {
            statuses: vec![Status::InProgress],
            ..Default::default()
        }),
        vec![c]
    );
    assert_eq!(
        list(IncidentFilter {
            max_priority: Some(1),
            ..Default::default()
        }),
        vec![c]
    );
    assert_eq!(
        list(IncidentFilter {
            limit: 1,
            offset: 1,
            ..Default::default()
        }),
        vec![c]
    );
    let open_ids: Vec<i64> = store
        .open_incidents()
        .expect("open")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(
        open_ids,
        vec![a, c],
        "resolved incidents and reserved ids are not open"
    );
    drop(store);
    let store = open(dir.path());
    assert_eq!(
        store
            .get_incident("acme", a)
            .expect("get")
            .expect("a")
            .status,
        Status::Acknowledged,
        "survives reopen"
    );
}

fn new_user(name: &str, tenant: &str) -> NewUser {
    NewUser {
        username: name.into(),
        display_name: name.to_uppercase(),
        email: None,
        role: "viewer".into(),
        tenant: tenant.into(),
        tenants: vec![],
        password_hash: format!("$argon2id$fake${name}"),
    }
}

fn audit(tenant: &str, actor: &str, t: i64) -> AuditRecord {
    AuditRecord {
        id: 0,
        time_ns: T0 + t,
        tenant: tenant.into(),
        actor: actor.into(),
        method: "POST".into(),
        path: "/api/v1/x".into(),
        status: 200,
        remote: None,
    }
}

/// Tenants and usernames are unique, sessions expire and die with their
/// user, audit records stay in their tenant.
pub fn access_semantics<S: AccessStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.create_tenant("acme", "Acme").expect("tenant");
    let dup = store
        .create_tenant("acme", "Again")
        .expect_err("duplicate tenant");
    assert!(matches!(dup, StoreError::Duplicate(_)), "{dup:?}");
    assert_eq!(store.list_tenants().expect("tenants").len(), 1);

    let ana = store.create_user(&new_user("ana", "acme")).expect("user");
    let dup = store
        .create_user(&new_user("ana", "other"))
        .expect_err("duplicate user");
    assert!(matches!(dup, StoreError::Duplicate(_)), "{dup:?}");
    store.create_user(&new_user("bo", "other")).expect("user");
    let (found, hash) = store.find_login("ana").expect("login").expect("ana");
    assert_eq!((found.id, hash.as_str()), (ana.id, "$argon2id$fake$ana"));
    assert_eq!(store.list_users(Some("acme")).expect("users").len(), 1);
    assert_eq!(store.list_users(None).expect("users").len(), 2);

    let mut changed = ana.clone();
    changed.role = "admin".into();
    changed.tenants = vec!["client-a".into(), "client-b".into()];
    store.update_user(&changed).expect("update");
    let read = store.get_user(ana.id).expect("get").expect("ana");
    assert_eq!(read, changed);
    assert!(read.can_act_in("client-b") && !read.can_act_in("client-c"));

    store
        .create_session(ana.id, b"live", T0 - 10, T0 + 100)
        .expect("session");
    store
        .create_session(ana.id, b"old", T0 - 10, T0 - 1)
        .expect("session");
    assert_eq!(
        store.find_session(b"live", T0).expect("find").map(|u| u.id),
        Some(ana.id)
    );
    assert_eq!(
        store.find_session(b"live", T0 + 100).expect("find"),
        None,
        "expired"
    );
    assert_eq!(store.find_session(b"old", T0).expect("find"), None);
    changed.disabled = true;
    store.update_user(&changed).expect("disable");
    assert_eq!(
        store.find_session(b"live", T0).expect("find"),
        None,
        "disabled users have no sessions"
    );
    store.delete_sessions_of(ana.id).expect("delete");
    assert!(!store.delete_session(b"live").expect("delete"));

    store
        .append_audit(&audit("acme", "user:ana", 1))
        .expect("audit");
    store
        .append_audit(&audit("other", "user:bo", 2))
        .expect("audit");
    store
        .append_audit(&audit("acme", "token:ci", 3))
        .expect("audit");
    let list = store
        .list_audit(&AuditFilter {
            tenant: "acme".into(),
            limit: 10,
            ..Default::default()
        })
        .expect("audit");
    let actors: Vec<&str> = list.iter().map(|a| a.actor.as_str()).collect();
    assert_eq!(actors, ["token:ci", "user:ana"], "newest first, one tenant");
}

fn message(tenant: &str, incident_id: i64, key: &str, ack: Option<&[u8]>) -> NewNotification {
    NewNotification {
        tenant: tenant.into(),
        incident_id,
        key: key.into(),
        transport: "webhook".into(),
        target: "http://127.0.0.1:9/hook".into(),
        recipient: "user:bob".into(),
        subject: format!("subject {key}"),
        body: format!("body {key}"),
        payload: Some(json!({"text": key})),
        headers: vec![("Authorization".into(), "Bearer x".into())],
        ack_hash: ack.map(<[u8]>::to_vec),
        created_ns: T0,
    }
}

/// Documents (versioned, per tenant) and the notification outbox (queued
/// with the incident write, once per key; attempts; acknowledge links).
pub fn outbox_semantics<S: IncidentStore + OutboxStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let body = json!({"layers": [{"users": ["ann"]}]});
    assert_eq!(
        store
            .put_document("acme", "schedule", "primary", &body, Some(0), T0)
            .expect("create"),
        1
    );
    assert!(matches!(
        store.put_document("acme", "schedule", "primary", &body, Some(0), T0),
        Err(StoreError::Conflict {
            expected: 0,
            current: 1
        })
    ));
    assert_eq!(
        store
            .put_document("acme", "schedule", "primary", &json!({}), None, T0 + 1)
            .expect("replace"),
        2
    );
    store
        .put_document("acme", "schedule", "backup", &body, None, T0)
        .expect("second");
    store
        .put_document("acme", "team", "noc", &body, None, T0)
        .expect("other kind");
    let names = |s: &S, tenant: &str| -> Vec<String> {
        s.list_documents(tenant, "schedule")
            .expect("list")
            .into_iter()
            .map(|d| d.name)
            .collect()
    };
    assert_eq!(names(&store, "acme"), ["backup", "primary"]);
    assert!(names(&store, "other").is_empty(), "tenants are apart");
    store
        .put_document("other", "schedule", "x", &body, None, T0)
        .expect("other tenant");
    let all: Vec<(String, String)> = store
        .documents_of_kind("schedule")
        .expect("all")
        .into_iter()
        .map(|d| (d.tenant, d.name))
        .collect();
    assert_eq!(all.len(), 3, "{all:?}");
    store
        .delete_document("other", "schedule", "x")
        .expect("delete");
    let doc = store
        .get_document("acme", "schedule", "primary")
        .expect("get")
        .expect("exists");
    assert_eq!(
        (doc.version, doc.body, doc.updated_ns),
        (2, json!({}), T0 + 1)
    );
    assert_eq!(
        store
            .get_document("other", "schedule", "primary")
            .expect("get"),
        None
    );
    assert!(store
        .delete_document("acme", "schedule", "backup")
        .expect("delete"));
    assert!(!store
        .delete_document("acme", "schedule", "backup")
        .expect("delete"));

    // Notifications ride on the incident write, once per key.
    let id = store.reserve_incident_id().expect("reserve");
    let mut w = write(incident(id, "acme", 1, "new", 1, 0), 0, vec![], vec![]);
    w.notifications = vec![
        message("acme", id, "k1", Some(b"ack-1")),
        message("acme", id, "k2", None),
    ];
    store.write_incidents(&[w]).expect("write");
    let mut again = write(incident(id, "acme", 2, "new", 1, 1), 1, vec![], vec![]);
    again.notifications = vec![message("acme", id, "k1", None)];
    store.write_incidents(&[again]).expect("write again");
    let due = store.due_notifications(T0, 10).expect("due");
    assert_eq!(
        due.iter()
            .map(|n| n.message.key.as_str())
            .collect::<Vec<_>>(),
        ["k1", "k2"],
        "a key is queued once"
    );
    assert_eq!(
        due[0].message.headers,
        message("acme", id, "k1", None).headers
    );
    assert_eq!(due[0].state, Delivery::Pending);
    store
        .record_attempt(
            due[0].id,
            &Attempt::Retry {
                at_ns: T0 + 100,
                error: "connection refused".into(),
            },
        )
        .expect("retry");
    store
        .record_attempt(due[1].id, &Attempt::Sent { at_ns: T0 + 5 })
        .expect("sent");
    assert!(
        store
            .due_notifications(T0 + 99, 10)
            .expect("due")
            .is_empty(),
        "not before its retry time"
    );
    let retry = store.due_notifications(T0 + 100, 10).expect("due");
    assert_eq!(retry.len(), 1);
    assert_eq!(
        (retry[0].attempts, retry[0].last_error.as_deref()),
        (1, Some("connection refused"))
    );
    store
        .record_attempt(
            retry[0].id,
            &Attempt::GaveUp {
                error: "HTTP 500".into(),
            },
        )
        .expect("gave up");
    let listed = store
        .list_notifications("acme", Some(id), 10)
        .expect("list");
    let states: Vec<Delivery> = listed.iter().map(|n| n.state).collect();
    assert_eq!(states, [Delivery::Sent, Delivery::Failed], "newest first");
    assert_eq!(listed[0].sent_ns, Some(T0 + 5));
    assert!(store
        .list_notifications("other", None, 10)
        .expect("list")
        .is_empty());
    assert!(matches!(
        store.record_attempt(9_999, &Attempt::Sent { at_ns: T0 }),
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.find_ack_link(b"ack-1").expect("ack"),
        Some(AckLink {
            tenant: "acme".into(),
            incident_id: id,
            recipient: "user:bob".into()
        })
    );
    assert_eq!(store.find_ack_link(b"nope").expect("ack"), None);
}

/// Check samples: ranges per check and tenant, hourly downsampling that
/// keeps counts and latency figures, saved states.
pub fn check_semantics<S: CheckStore>(open: &dyn Fn(&Path) -> S) {
    const HOUR: i64 = 3_600_000_000_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let sample =
        |tenant: &str, check: &str, minute: i64, status: u8, latency: Option<f64>| CheckSample {
            tenant: tenant.into(),
            check: check.into(),
            time_ns: T0 + minute * 60_000_000_000,
            status,
            hard: true,
            latency_ms: latency,
            cert_days_left: None,
            maintenance: false,
            output: (status != 0).then(|| "refused".to_string()),
        };
    store
        .append_samples(&[
            sample("acme", "web", 0, 0, Some(10.0)),
            sample("acme", "web", 30, 2, None),
            sample("acme", "web", 59, 0, Some(30.0)),
            sample("acme", "web", 61, 0, Some(20.0)),
            sample("acme", "db", 1, 0, Some(1.0)),
            sample("other", "web", 2, 2, None),
        ])
        .expect("append");
    let web = store
        .samples("acme", "web", T0, T0 + 2 * HOUR, 100)
        .expect("samples");
    assert_eq!(web.len(), 4);
    assert_eq!(web[1].output.as_deref(), Some("refused"));
    assert!(web.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
    assert_eq!(
        store
            .samples("acme", "web", T0, T0 + 2 * HOUR, 2)
            .expect("limit")
            .len(),
        2
    );
    // The first hour ended: it is rolled up; the second stays raw.
    let rolled = store.downsample(T0 + HOUR + 1, 0).expect("downsample");
    assert_eq!(rolled, 5, "three acme/web, one acme/db, one other/web");
    let hours = store
        .rollups("acme", "web", T0, T0 + 2 * HOUR)
        .expect("rollups");
    assert_eq!(hours.len(), 1);
    let h = &hours[0];
    assert_eq!((h.hour_ns, h.samples, h.up, h.worst_status), (T0, 3, 2, 2));
    assert_eq!(
        (h.latency_min_ms, h.latency_avg_ms, h.latency_max_ms),
        (Some(10.0), Some(20.0), Some(30.0))
    );
    assert_eq!(
        store
            .samples("acme", "web", T0, T0 + 2 * HOUR, 100)
            .expect("samples")
            .len(),
        1,
        "only the second hour is raw"
    );
    assert_eq!(store.downsample(T0 + HOUR + 1, 0).expect("again"), 0);
    store.downsample(T0, T0 + HOUR).expect("expire rollups");
    assert!(store
        .rollups("acme", "web", T0, T0 + 2 * HOUR)
        .expect("rollups")
        .is_empty());

    store
        .save_check_state("acme", "web", &json!({"status": "critical"}))
        .expect("save");
    store
        .save_check_state("acme", "web", &json!({"status": "ok"}))
        .expect("replace");
    assert_eq!(
        store.check_states().expect("states"),
        vec![(
            "acme".to_string(),
            "web".to_string(),
            json!({"status": "ok"})
        )]
    );
}
