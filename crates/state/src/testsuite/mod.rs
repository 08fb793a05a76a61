//! The conformance suite of the state traits, one file per trait: every
//! backend (SQLite today, PostgreSQL next) runs all of it, most simply with
//! [`state_store_test_suite!`](crate::state_store_test_suite). Each check
//! takes a function that opens the store at a directory, so reopening after
//! a simulated crash is part of the contract. The checks panic with a
//! message on failure; they are meant to be called from `#[test]` functions.

pub mod access;
pub mod alerts;
pub mod checkpoints;
pub mod checks;
pub mod documents;
pub mod incidents;
pub mod intel;
pub mod outbox;
pub mod runs;

use serde_json::json;
use watchfloor_model::incident::{Incident, TimelineEntry};
use watchfloor_model::{Alert, AlertKind, Domain, Severity};

use crate::{IncidentWrite, NewNotification};

/// 2026-11-25T00:00:00Z.
pub(crate) const T0: i64 = 1_795_564_800 * 1_000_000_000;

pub(crate) fn alert(key: &str, tenant: &str, level: Severity, host: &str, secs: i64) -> Alert {
    Alert {
        id: 0,
        key: key.into(),
        tenant: tenant.into(),
        domain: Domain::Security,
        rule_id: Some(format!("rule-{key}")),
        rule_title: format!("Rule {key}"),
        kind: AlertKind::Detection,
        level,
        tags: vec!["attack.t1110".into()],
        time_ns: T0 + secs * 1_000_000_000,
        created_ns: T0,
        host: Some(host.into()),
        user: None,
        ips: vec!["10.0.0.5".into()],
        users: Vec::new(),
        indicators: Default::default(),
        event_ids: vec![1, 2],
        fields: serde_json::Map::new(),
        value: None,
        parent: None,
        incident_id: None,
    }
}

pub(crate) fn incident(
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

pub(crate) fn entry(incident_id: i64, seq: i64) -> TimelineEntry {
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

pub(crate) fn write(
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
pub(crate) fn message(
    tenant: &str,
    incident_id: i64,
    key: &str,
    ack: Option<&[u8]>,
) -> NewNotification {
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

/// Every check of the suite as `#[test]` functions, for a backend opened by
/// `$open: fn(&Path) -> impl StateStore`.
#[macro_export]
macro_rules! state_store_test_suite {
    ($open:expr) => {
        #[test]
        fn intel_indicators() {
            $crate::testsuite::intel::indicators_survive_reopen_per_scope(&$open);
        }

        #[test]
        fn checkpoints() {
            $crate::testsuite::checkpoints::checkpoints_survive_reopen(&$open);
        }

        #[test]
        fn alerts() {
            $crate::testsuite::alerts::alerts_are_stored_once_and_filtered(&$open);
        }

        #[test]
        fn tokens() {
            $crate::testsuite::access::tokens(&$open);
        }

        #[test]
        fn access() {
            $crate::testsuite::access::tenants_users_sessions_audit(&$open);
        }

        #[test]
        fn documents() {
            $crate::testsuite::documents::documents_are_versioned_per_tenant(&$open);
        }

        #[test]
        fn alert_activity() {
            $crate::testsuite::alerts::alert_activity(&$open);
        }

        #[test]
        fn incident_open_summary() {
            $crate::testsuite::incidents::open_summary(&$open);
        }

        #[test]
        fn incidents() {
            $crate::testsuite::incidents::incident_semantics(&$open);
        }

        #[test]
        fn outbox() {
            $crate::testsuite::outbox::notifications_ride_on_incident_writes(&$open);
        }

        #[test]
        fn runs() {
            $crate::testsuite::runs::runs_are_event_sourced(&$open);
        }

        #[test]
        fn checks() {
            $crate::testsuite::checks::check_semantics(&$open);
        }
    };
}
