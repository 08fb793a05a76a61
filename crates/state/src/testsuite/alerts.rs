//! [`AlertStore`](crate::AlertStore): one alert per key, whatever replays;
//! filters by rule, level, host, time and page; tenants apart.

use std::path::Path;

use watchfloor_model::Severity;

use super::{alert, T0};
use crate::{AlertFilter, AlertStore};

/// Alert de-duplication by key across reopening, filters and counts.
/// Per-bucket counts and top rules over a period, one tenant's only.
pub fn alert_activity<S: AlertStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut b = alert("b1", "acme", Severity::High, "web1", 70);
    b.rule_title = "Rule a".into();
    store
        .insert_alerts(&[
            alert("a", "acme", Severity::High, "web1", 5),
            alert("early", "acme", Severity::High, "web1", -100),
            b,
            alert("c", "acme", Severity::Low, "web2", 130),
            alert("x", "other", Severity::High, "web1", 10),
        ])
        .expect("insert");
    let a = store
        .alert_activity("acme", super::T0, 60_000_000_000, 1)
        .expect("activity");
    assert_eq!(a.total, 3, "since T0, this tenant");
    assert_eq!(a.buckets, vec![(0, 1), (1, 1), (2, 1)]);
    assert_eq!(a.top_rules, vec![("Rule a".to_string(), 2)]);
}

pub fn alerts_are_stored_once_and_filtered<S: AlertStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let state = open(dir.path());
        let stored = state
            .insert_alerts(&[
                alert("a", "acme", Severity::High, "web1", 1),
                alert("b", "acme", Severity::Low, "web2", 2),
                alert("c", "other", Severity::Critical, "web1", 3),
            ])
            .expect("insert");
        assert_eq!(stored.len(), 3);
        assert!(stored.iter().all(|a| a.id > 0));
    }
    let state = open(dir.path());
    let again = state
        .insert_alerts(&[
            alert("a", "acme", Severity::High, "web1", 1),
            alert("d", "acme", Severity::Medium, "web1", 4),
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
            min_level: Some(Severity::Medium),
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
    assert!(counts.contains(&(Severity::High, 1)) && counts.contains(&(Severity::Critical, 1)));
}
