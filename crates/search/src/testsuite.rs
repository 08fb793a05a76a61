//! The conformance suite: every [`EventStore`] implementation runs these
//! checks (see `tests/conformance.rs`, and [`event_store_test_suite!`]
//! for a backend's whole suite at once). Each check
//! takes a function that opens the store at a directory, so reopening after
//! a simulated crash is part of the contract.
//!
//! The checks panic with a message on failure; they are meant to be called
//! from `#[test]` functions.

use std::path::Path;

use serde_json::json;

use crate::{AggregateRequest, EventDoc, EventStore, ScanRequest, SearchError, SearchRequest};

const DAY_NS: i64 = 86_400 * 1_000_000_000;
/// 2026-11-25T00:00:00Z.
pub const T0: i64 = 1_795_564_800 * 1_000_000_000;

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
            json!({"host": "web1", "program": "sshd", "message": "Failed password for root from 10.0.0.5 port 22", "user": "root", "src_ip": "10.0.0.5", "src_port": 22, "EventID": 4625}),
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
        // Values the message says too (as parsed fields are) are found
        // under their field by every kind of search.
        ("src_ip:10.0.0.5", &[1]),
        ("src_ip:10.0.0.?", &[2, 1]),
        ("src_ip:[10.0.0.5 TO 10.0.0.5]", &[1]),
        ("src_port:22", &[1]),
        ("src_port:[20 TO 30]", &[1]),
        ("src_port:>22", &[]),
        ("user:ROOT", &[1]),
        ("src_ip:10.0.0.9", &[]),
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
        Err(SearchError::Query(e)) => assert!(e.to_string().contains("column"), "{e}"),
        other => panic!("bad query should fail with a located error: {other:?}"),
    }
    let mut bad = request("", "acme");
    bad.cursor = Some("not a cursor".into());
    assert!(matches!(store.search(&bad), Err(SearchError::BadCursor)));
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

/// Histogram, top values and distinct counts agree with the search: same
/// query semantics, same tenant scoping, same time range.
pub fn aggregations<S: EventStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    store.append(&sample_events()).expect("append");
    store.commit(5).expect("commit");
    let s = 1_000_000_000;
    let base = AggregateRequest {
        tenant: "acme".into(),
        from_ns: Some(T0),
        to_ns: Some(T0 + 60 * s),
        interval_ns: Some(20 * s),
        top_field: Some("user".into()),
        top_size: 10,
        distinct_field: Some("HOST".into()),
        max_events: 1_000,
        ..Default::default()
    };
    let a = store.aggregate(&base).expect("aggregate");
    assert_eq!((a.matched, a.complete), (4, true));
    let histogram: Vec<u64> = a.histogram.iter().map(|b| b.count).collect();
    assert_eq!(
        histogram,
        vec![1, 2, 1],
        "0-20 s: 10; 20-40 s: 20, 30; 40-60 s: 50"
    );
    let top = a.top.expect("top");
    let users: Vec<(&str, u64)> = top
        .values
        .iter()
        .map(|v| (v.value.as_str(), v.count))
        .collect();
    assert_eq!(
        users,
        vec![("alice", 2), ("root", 1)],
        "tenant 'other' not counted"
    );
    assert_eq!(top.missing, 1);
    assert_eq!(
        a.distinct.expect("distinct").count,
        4,
        "field names match without case"
    );

    // Only times: whole blocks count from their span where they fit in
    // one bucket and in the range, the others event by event.
    for (interval, from, expected) in [
        (20 * s, T0, vec![1, 2, 1]),
        (10 * s, T0 + 15 * s, vec![0, 1, 1, 0, 1]),
        (60 * s, T0, vec![4]),
    ] {
        let times = AggregateRequest {
            from_ns: Some(from),
            interval_ns: Some(interval),
            top_field: None,
            distinct_field: None,
            ..base.clone()
        };
        let a = store.aggregate(&times).expect("aggregate");
        let counts: Vec<u64> = a.histogram.iter().map(|b| b.count).collect();
        let bounds = (interval / s, (from - T0) / s);
        assert_eq!(counts, expected, "every {}s from +{}s", bounds.0, bounds.1);
    }

    let q = AggregateRequest {
        query: "program:sshd".into(),
        to_ns: Some(T0 + 25 * s),
        interval_ns: None,
        ..base.clone()
    };
    let a = store.aggregate(&q).expect("aggregate");
    assert_eq!(a.matched, 2);
    assert!(a.histogram.is_empty());

    let found = store
        .event_by_id("acme", 3, T0, T0 + 60 * s)
        .expect("by id")
        .expect("event 3");
    assert_eq!(found.fields["program"], "sudo");
    assert!(
        store
            .event_by_id("other", 3, T0, T0 + 60 * s)
            .expect("by id")
            .is_none(),
        "another tenant's"
    );
    assert!(
        store
            .event_by_id("acme", 3, T0 + 40 * s, T0 + 60 * s)
            .expect("by id")
            .is_none(),
        "outside the range"
    );

    // Many blocks (counted on several threads where the backend does so)
    // give the same counts as few.
    let bulk: Vec<EventDoc> = (0..300u64)
        .map(|i| {
            event(
                1000 + i,
                100 + i as i64,
                "bulk",
                json!({"k": format!("v{}", i % 3), "program": "sshd"}),
            )
        })
        .collect();
    store.append(&bulk).expect("append");
    store.commit(1299).expect("commit");
    let many = store
        .aggregate(&AggregateRequest {
            query: "program:sshd".into(),
            tenant: "bulk".into(),
            top_field: Some("k".into()),
            top_size: 5,
            interval_ns: Some(100 * s),
            distinct_field: Some("k".into()),
            max_events: 1_000,
            ..Default::default()
        })
        .expect("aggregate");
    let top: Vec<(&str, u64)> = many
        .top
        .as_ref()
        .expect("top")
        .values
        .iter()
        .map(|v| (v.value.as_str(), v.count))
        .collect();
    assert_eq!(
        (many.matched, top),
        (300, vec![("v0", 100), ("v1", 100), ("v2", 100)])
    );
    let bars: Vec<u64> = many.histogram.iter().map(|b| b.count).collect();
    assert_eq!(bars, vec![100, 100, 100], "100-200 s, 200-300 s, 300-400 s");
    assert_eq!(many.distinct.expect("distinct").count, 3);

    let capped = AggregateRequest {
        max_events: 2,
        ..base.clone()
    };
    let a = store.aggregate(&capped).expect("aggregate");
    assert_eq!((a.matched, a.complete), (2, false));
    let err = store
        .aggregate(&AggregateRequest {
            query: "(".into(),
            ..base
        })
        .expect_err("bad query");
    assert!(matches!(err, SearchError::Query(_)), "{err}");
}

/// A scan visits every event of its tenant and window exactly once
/// (every tenant's without one), and parses only what the line filter
/// lets through.
pub fn scans<S: EventStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut events = sample_events();
    // a second day, so the window spans buckets
    events.push(event(6, 86_400 + 5, "acme", json!({"message": "next day"})));
    store.append(&events).expect("append");
    store.commit(6).expect("commit");
    let scan = |tenant: Option<&str>, from: Option<i64>, to: Option<i64>, word: &str| {
        let seen = std::sync::Mutex::new(Vec::new());
        let req = ScanRequest {
            tenant: tenant.map(String::from),
            from_ns: from.map(|s| T0 + s * 1_000_000_000),
            to_ns: to.map(|s| T0 + s * 1_000_000_000),
        };
        let stats = store
            .scan(&req, &|line| line.contains(word), &|ev| {
                seen.lock().unwrap().push(ev.id)
            })
            .expect("scan");
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        (seen, stats.events, stats.visited)
    };
    assert_eq!(
        scan(Some("acme"), None, None, ""),
        (vec![1, 2, 3, 5, 6], 5, 5)
    );
    assert_eq!(scan(None, None, None, ""), (vec![1, 2, 3, 4, 5, 6], 6, 6));
    assert_eq!(scan(Some("other"), None, None, ""), (vec![4], 1, 1));
    assert_eq!(
        scan(Some("acme"), Some(20), Some(50), ""),
        (vec![2, 3], 2, 2)
    );
    assert_eq!(scan(Some("acme"), Some(86_400), None, ""), (vec![6], 1, 1));
    assert_eq!(scan(None, None, None, "Failed"), (vec![1, 4], 6, 2));
    assert_eq!(scan(Some("nobody"), None, None, "").0, Vec::<u64>::new());
}

/// Every check of this suite as `#[test]` functions, for a backend opened by
/// `$open: fn(&Path) -> impl EventStore`.
#[macro_export]
macro_rules! event_store_test_suite {
    ($open:expr) => {
        #[test]
        fn search_semantics() {
            $crate::testsuite::search_semantics(&$open);
        }

        #[test]
        fn paging_and_time_range() {
            $crate::testsuite::paging_and_time_range(&$open);
        }

        #[test]
        fn replay_is_idempotent() {
            $crate::testsuite::replay_is_idempotent(&$open);
        }

        #[test]
        fn aggregations() {
            $crate::testsuite::aggregations(&$open);
        }

        #[test]
        fn scans() {
            $crate::testsuite::scans(&$open);
        }

        #[test]
        fn retention() {
            $crate::testsuite::retention(&$open);
        }
    };
}
