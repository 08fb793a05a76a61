//! [`CheckStore`](crate::CheckStore): samples, hourly rollups, states.

use std::path::Path;

use serde_json::json;

use super::T0;
use crate::{CheckSample, CheckStore};

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
