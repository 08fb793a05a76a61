//! [`IncidentStore`](crate::IncidentStore): reserved ids, versioned
//! all-or-nothing writes, tenants apart, filters, orders, timelines, and
//! alerts filed exactly once.

use std::path::Path;

use watchfloor_model::incident::Status;
use watchfloor_model::Severity;

use super::{alert, entry, incident, write, T0};
use crate::{AlertFilter, AlertStore, IncidentFilter, IncidentSort, IncidentStore, StateError};

/// The wallboard's counts agree with the incidents: open ones only, per
/// priority and domain, breaches, and the nearest deadlines (the
/// acknowledge target until acknowledged, then the resolve target).
pub fn open_summary<S: IncidentStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut writes = Vec::new();
    let specs = [
        ("acme", "new", 1, Some(500), None, false),
        ("acme", "acknowledged", 1, Some(100), Some(900), true),
        ("acme", "new", 3, Some(300), Some(800), false),
        ("acme", "resolved", 2, Some(50), None, false),
        ("other", "new", 1, Some(10), None, false),
    ];
    for (tenant, status, priority, ack_due, resolve_due, breached) in specs {
        let id = store.reserve_incident_id().expect("reserve");
        let mut i = incident(id, tenant, 1, status, priority, 1);
        i.sla.ack_due_ns = ack_due.map(|d| T0 + d);
        i.sla.resolve_due_ns = resolve_due.map(|d| T0 + d);
        if status == "acknowledged" {
            i.acknowledged_ns = Some(T0);
        }
        if breached {
            i.sla.ack_breached_ns = Some(T0 + 100);
        }
        writes.push(write(i, 0, vec![entry(id, 1)], vec![]));
    }
    store.write_incidents(&writes).expect("write");
    let s = store.open_summary("acme", 10).expect("summary");
    let mut counts = s.counts.clone();
    counts.sort_by_key(|c| c.0);
    let security = watchfloor_model::incident::Domain::Security;
    assert_eq!(
        counts,
        vec![(1, security, 2), (3, security, 1)],
        "open only, this tenant"
    );
    assert_eq!(s.breached, 1);
    let due: Vec<(&str, i64)> = s
        .deadlines
        .iter()
        .map(|d| (d.what, d.due_ns - T0))
        .collect();
    assert_eq!(
        due,
        vec![("acknowledge", 300), ("acknowledge", 500), ("resolve", 900)],
        "the acknowledged one counts to its resolve target"
    );
    assert_eq!(
        store
            .open_summary("acme", 1)
            .expect("summary")
            .deadlines
            .len(),
        1
    );
}

pub fn incident_semantics<S: AlertStore + IncidentStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let stored = store
        .insert_alerts(&[
            alert("a", "acme", Severity::High, "web1", 1),
            alert("b", "acme", Severity::Low, "web2", 2),
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
            StateError::Conflict {
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
    assert!(matches!(err, StateError::NotFound), "{err:?}");

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
    let after: Vec<i64> = store
        .incidents_after(a, 10)
        .expect("after")
        .iter()
        .map(|i| i.id)
        .collect();
    assert!(!after.contains(&a) && after.contains(&c), "{after:?}");
    assert!(after.windows(2).all(|w| w[0] < w[1]), "oldest first");
    assert_eq!(
        store.incidents_after(0, 1).expect("first").len(),
        1,
        "limit"
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
