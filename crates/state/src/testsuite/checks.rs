//! [`CheckStore`](crate::CheckStore): problem outputs, states.

use std::path::Path;

use serde_json::json;

use super::T0;
use crate::{CheckSample, CheckStore};

/// Outputs of problem results per check and tenant, in time order, expired
/// by time; saved states.
pub fn check_semantics<S: CheckStore>(open: &dyn Fn(&Path) -> S) {
    const MINUTE: i64 = 60_000_000_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let result = |tenant: &str, check: &str, minute: i64, status: u8| CheckSample {
        tenant: tenant.into(),
        check: check.into(),
        time_ns: T0 + minute * MINUTE,
        status,
        hard: true,
        latency_ms: None,
        cert_days_left: None,
        maintenance: false,
        output: (status != 0).then(|| format!("refused at {minute}")),
    };
    store
        .append_outputs(&[
            result("acme", "web", 0, 0),
            result("acme", "web", 30, 2),
            result("acme", "web", 59, 2),
            result("acme", "db", 1, 2),
            result("other", "web", 2, 2),
        ])
        .expect("append");
    let web = store
        .outputs("acme", "web", T0, T0 + 60 * MINUTE)
        .expect("outputs");
    assert_eq!(
        web,
        vec![
            (T0 + 30 * MINUTE, "refused at 30".to_string()),
            (T0 + 59 * MINUTE, "refused at 59".to_string())
        ],
        "only problem results, this tenant's and check's, oldest first"
    );
    assert_eq!(
        store
            .outputs("acme", "web", T0, T0 + 59 * MINUTE)
            .expect("half-open")
            .len(),
        1
    );
    assert_eq!(store.expire_outputs(T0 + 31 * MINUTE).expect("expire"), 3);
    assert_eq!(
        store
            .outputs("acme", "web", T0, T0 + 60 * MINUTE)
            .expect("outputs")
            .len(),
        1
    );

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
