//! [`OutboxStore`](crate::OutboxStore): notifications queued with the
//! incident write that caused them, delivered at least once.

use std::path::Path;

use super::{incident, message, write, T0};
use crate::{AckLink, Attempt, Delivery, IncidentStore, OutboxStore, StateError};

/// Queued with the incident write, once per key; attempts and retries;
/// acknowledge links.
pub fn notifications_ride_on_incident_writes<S: IncidentStore + OutboxStore>(
    open: &dyn Fn(&Path) -> S,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
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
        Err(StateError::NotFound)
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
