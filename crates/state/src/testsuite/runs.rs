//! [`RunStore`](crate::RunStore): logs numbered from 1, appends that name
//! the entry they follow (a stale writer is refused), dedup keys per
//! tenant, tenants kept apart, unfinished runs found after reopening.

use std::path::Path;

use serde_json::json;

use crate::testsuite::T0;
use crate::{NewRun, RunFilter, RunStore, RunUpdate, StateError};

fn new_run(tenant: &str, incident: Option<i64>, key: Option<&str>) -> NewRun {
    NewRun {
        tenant: tenant.into(),
        playbook: "ddos-block".into(),
        incident_id: incident,
        dedup_key: key.map(Into::into),
        status: "running".into(),
        wake_ns: None,
        created_ns: T0,
    }
}

fn update(status: &str, finished: bool, wake: Option<i64>) -> RunUpdate {
    RunUpdate {
        status: status.into(),
        finished,
        wake_ns: wake,
        time_ns: T0 + 5,
    }
}

pub fn runs_are_event_sourced<S: RunStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b);
    {
        let state = open(dir.path());
        let (id, created) = state
            .create_run(
                &new_run("acme", Some(7), Some("ddos:7")),
                &json!({"started": 1}),
            )
            .expect("create");
        assert!(created);
        a = id;
        let (again, created) = state
            .create_run(
                &new_run("acme", Some(7), Some("ddos:7")),
                &json!({"started": 2}),
            )
            .expect("create again");
        assert_eq!((again, created), (a, false), "one run per dedup key");
        let (other, created) = state
            .create_run(&new_run("globex", Some(7), Some("ddos:7")), &json!({}))
            .expect("other tenant");
        assert!(created, "dedup keys are per tenant");
        b = other;
        assert_eq!(state.get_run("acme", a).expect("get").seq, 1);

        let seq = state
            .append_run(
                "acme",
                a,
                1,
                &[json!({"step": "approve"}), json!({"wait": true})],
                &update("waiting", false, Some(T0 + 60)),
            )
            .expect("append");
        assert_eq!(seq, 3);
        match state.append_run(
            "acme",
            a,
            1,
            &[json!({"late": 1})],
            &update("running", false, None),
        ) {
            Err(StateError::Conflict {
                expected: 1,
                current: 3,
            }) => {}
            other => panic!("a stale append must be refused, got {other:?}"),
        }
        assert!(
            matches!(
                state.append_run("globex", a, 3, &[json!({})], &update("x", false, None)),
                Err(StateError::NotFound)
            ),
            "another tenant's run is not found"
        );
        assert!(matches!(
            state.get_run("globex", a),
            Err(StateError::NotFound)
        ));
        assert!(state.run_log("globex", a).expect("log").is_empty());
    }
    let state = open(dir.path());
    let run = state.get_run("acme", a).expect("reopened");
    assert_eq!(
        (run.status.as_str(), run.wake_ns, run.seq),
        ("waiting", Some(T0 + 60), 3)
    );
    assert_eq!(run.incident_id, Some(7));
    let log = state.run_log("acme", a).expect("log");
    let seqs: Vec<i64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(log[0].body, json!({"started": 1}));
    assert_eq!(log[2].body, json!({"wait": true}));

    let unfinished = state
        .list_runs(&RunFilter {
            unfinished: true,
            ..Default::default()
        })
        .expect("list");
    assert_eq!(unfinished.len(), 2, "the runner sees every tenant's");
    state
        .append_run(
            "acme",
            a,
            3,
            &[json!({"done": true})],
            &update("succeeded", true, None),
        )
        .expect("finish");
    let acme = |f: RunFilter| state.list_runs(&f).expect("list");
    let open_runs = acme(RunFilter {
        unfinished: true,
        ..Default::default()
    });
    assert_eq!(open_runs.iter().map(|r| r.id).collect::<Vec<_>>(), [b]);
    let of_incident = acme(RunFilter {
        tenant: Some("acme".into()),
        incident_id: Some(7),
        ..Default::default()
    });
    assert_eq!(of_incident.len(), 1);
    assert!(of_incident[0].finished);
    let by_status = acme(RunFilter {
        tenant: Some("globex".into()),
        status: Some("running".into()),
        ..Default::default()
    });
    assert_eq!(by_status.iter().map(|r| r.id).collect::<Vec<_>>(), [b]);
}
