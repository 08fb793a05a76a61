//! [`DocumentStore`](crate::DocumentStore): named JSON documents per
//! tenant with optimistic versions.

use std::path::Path;

use serde_json::json;

use super::T0;
use crate::{DocumentStore, StateError};

/// Versions checked on write, tenants apart, listing by kind.
pub fn documents_are_versioned_per_tenant<S: DocumentStore>(open: &dyn Fn(&Path) -> S) {
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
        Err(StateError::Conflict {
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
}
