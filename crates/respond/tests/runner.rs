//! The runner over the real SQLite store, with real processes as the
//! actions (`command.run` of a shell script that appends to a file, so each
//! call is counted) and a manual clock for deadlines, waits and retries.
//! The incident room's side (tasks, comments, notices) is a recording host.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use watchfloor_model::clock::ManualClock;
use watchfloor_model::Clock;
use watchfloor_respond::actions::{Actions, Call, Host};
use watchfloor_respond::config::CommandConfig;
use watchfloor_respond::run::{Answerer, Decision, RunEvent};
use watchfloor_respond::runner::{Recorder, RespondError};
use watchfloor_respond::{Library, RespondConfig, Responder, StartRun};
use watchfloor_state::{RunRecord, RunStore, SqliteStateStore};

const T0: i64 = 1_795_564_800 * 1_000_000_000;
const SEC: i64 = 1_000_000_000;

/// Tasks, comments and notices, once per key (as the incident room does).
#[derive(Default)]
struct Desk {
    calls: Mutex<Vec<(String, String, String)>>,
}

impl Desk {
    fn put(&self, call: &Call<'_>, kind: &str, text: String) -> Result<Value, String> {
        let mut calls = self.calls.lock().unwrap();
        if !calls.iter().any(|(k, _, _)| k == call.key) {
            calls.push((call.key.to_string(), kind.to_string(), text));
        }
        Ok(json!({"kind": kind}))
    }

    fn texts(&self, kind: &str) -> Vec<String> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.1 == kind)
            .map(|c| c.2.clone())
            .collect()
    }
}

impl Host for Desk {
    fn add_task(
        &self,
        call: &Call<'_>,
        title: &str,
        team: &str,
        _: Option<&str>,
    ) -> Result<Value, String> {
        self.put(call, "task", format!("{team}: {title}"))
    }
    fn comment(&self, call: &Call<'_>, text: &str) -> Result<Value, String> {
        self.put(call, "comment", text.to_string())
    }
    fn notify(
        &self,
        call: &Call<'_>,
        to: &[String],
        subject: &str,
        _: &str,
    ) -> Result<Value, String> {
        self.put(call, "notice", format!("{}: {subject}", to.join(",")))
    }
}

#[derive(Default)]
struct Timeline(Mutex<Vec<String>>);

impl Recorder for Timeline {
    fn record(&self, _: &RunRecord, _: &watchfloor_respond::run::RunState, event: &RunEvent) {
        let kind = serde_json::to_value(event).unwrap()["type"]
            .as_str()
            .unwrap()
            .to_string();
        self.0.lock().unwrap().push(kind);
    }
}

struct Bench {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    desk: Arc<Desk>,
    timeline: Arc<Timeline>,
    responder: Arc<Responder>,
}

const PLAYBOOK: &str = r#"
id: block-test
title: test block
trigger: {incident_types: [ddos]}
timeout: 2h
params: {hold: 10m}
steps:
  - id: approve
    approval:
      approvers: {{APPROVERS}}
      roles: [soc_analyst, admin]
      teams: [soc]
      deadline: 15m
      on_deadline: {{ON_DEADLINE}}
      message: "Block {{ alert.fields.attackers | length }} sources?"
      shows: [block]
    denied: tell-denied
  - id: block
    action: command.run
    with: {command: {{BLOCK}}, args: "{{ alert.fields.attackers }}"}
    retry: {attempts: 2, backoff: 5s}
    compensate: unblock
    on_error: tell-failed
  - id: per-user
    action: incident.task
    for_each: alert.users
    with: {team: it, title: "Reset the password of {{ item }}"}
  - id: hold
    wait: 10m
  - id: unblock
    action: command.run
    with: {command: log, args: ["unblock"]}
    next: end
  - id: tell-denied
    action: incident.comment
    with: {text: "denied by {{ steps.approve.by | join(',') }}"}
    next: end
  - id: tell-failed
    action: incident.comment
    with: {text: "failed: {{ steps.block.error }}"}
    next: end
"#;

fn playbook(approvers: u32, on_deadline: &str, block: &str) -> String {
    PLAYBOOK
        .replace("{{APPROVERS}}", &approvers.to_string())
        .replace("{{ON_DEADLINE}}", on_deadline)
        .replace("{{BLOCK}}", block)
}

fn log_file(dir: &Path) -> PathBuf {
    dir.join("actions.log")
}

fn bench_with(playbook_text: &str, dir: tempfile::TempDir) -> Bench {
    bench_configured(playbook_text, dir, |_| {})
}

fn bench_configured(
    playbook_text: &str,
    dir: tempfile::TempDir,
    change: impl FnOnce(&mut RespondConfig),
) -> Bench {
    let log = log_file(dir.path());
    let mut config = RespondConfig {
        commands: vec![
            CommandConfig {
                name: "log".into(),
                argv: vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    format!(
                        "echo \"$WATCHFLOOR_IDEMPOTENCY_KEY $*\" >> {}",
                        log.display()
                    ),
                    "sh".into(),
                ],
                allow_args: true,
            },
            CommandConfig {
                name: "broken".into(),
                argv: vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "echo refused >&2; exit 3".into(),
                ],
                allow_args: true,
            },
        ],
        ..RespondConfig::default()
    };
    change(&mut config);
    let mut library = Library::default();
    assert!(
        library.add("test".into(), playbook_text),
        "{:?}",
        library.rejected
    );
    let store = Arc::new(SqliteStateStore::open(&dir.path().join("state.db")).unwrap());
    let clock = Arc::new(ManualClock::new(T0));
    let desk = Arc::new(Desk::default());
    let timeline = Arc::new(Timeline::default());
    let responder = Arc::new(Responder::new(
        store as Arc<dyn RunStore>,
        library,
        Actions::new(config, desk.clone()),
        timeline.clone(),
        clock.clone(),
    ));
    Bench {
        dir,
        clock,
        desk,
        timeline,
        responder,
    }
}

fn bench(approvers: u32, on_deadline: &str, block: &str) -> Bench {
    bench_with(
        &playbook(approvers, on_deadline, block),
        tempfile::tempdir().unwrap(),
    )
}

fn start(b: &Bench) -> i64 {
    let (id, created) = b
        .responder
        .start(StartRun {
            tenant: "acme".into(),
            playbook: "block-test".into(),
            incident_id: Some(7),
            trigger: "incident_type:ddos".into(),
            started_by: "watchfloor".into(),
            context: json!({
                "incident": {"id": 7, "type": "ddos"},
                "alert": {"host": "10.0.0.80", "users": ["bob", "carol"],
                          "fields": {"attackers": ["198.51.100.7", "203.0.113.9"]}},
            }),
            params: Default::default(),
            dedup_key: Some("incident:7:block-test".into()),
        })
        .unwrap();
    assert!(created);
    id
}

fn analyst(user: &str) -> Answerer {
    Answerer {
        user: user.into(),
        role: "soc_analyst".into(),
        teams: vec!["soc".into()],
        defined_teams: vec!["soc".into(), "noc".into()],
    }
}

/// `user` (a SOC analyst) approves the run's open approval.
fn approve(b: &Bench, id: i64, user: &str) {
    b.responder
        .answer("acme", id, &analyst(user), Decision::Approve, "", "api")
        .unwrap();
}

async fn drive(b: &Bench, id: i64) -> RunRecord {
    b.responder.drive("acme", id).await.unwrap();
    b.responder.view("acme", id).unwrap().record
}

fn actions_log(b: &Bench) -> Vec<String> {
    std::fs::read_to_string(log_file(b.dir.path()))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn approved_runs_act_once_wait_durably_and_finish() {
    let b = bench(1, "deny", "log");
    let id = start(&b);
    let run = drive(&b, id).await;
    assert_eq!(run.status, "waiting_approval");
    assert_eq!(
        run.wake_ns,
        Some(T0 + 15 * 60 * SEC),
        "the deadline wakes it"
    );
    let view = b.responder.view("acme", id).unwrap();
    let request = &view.approval.as_ref().unwrap()["request"];
    assert_eq!(request["message"], "Block 2 sources?");
    assert_eq!(
        request["shows"],
        json!(["run log 198.51.100.7, 203.0.113.9"]),
        "the approver sees the rendered action"
    );

    // Who may not answer.
    let viewer = Answerer {
        role: "viewer".into(),
        ..analyst("vic")
    };
    let noc = Answerer {
        teams: vec!["noc".into()],
        ..analyst("nina")
    };
    let me = analyst("watchfloor");
    for (who, why) in [
        (&viewer, "role viewer"),
        (&noc, "members of soc"),
        (&me, "started the run"),
    ] {
        match b
            .responder
            .answer("acme", id, who, Decision::Approve, "", "api")
        {
            Err(RespondError::Refused(text)) => assert!(text.contains(why), "{text}"),
            other => panic!("{} must be refused, got {other:?}", who.user),
        }
    }
    assert!(
        actions_log(&b).is_empty(),
        "nothing happens before approval"
    );

    b.responder
        .answer(
            "acme",
            id,
            &analyst("alice"),
            Decision::Approve,
            "go",
            "console",
        )
        .unwrap();
    let run = drive(&b, id).await;
    assert_eq!(run.status, "waiting");
    assert_eq!(
        actions_log(&b),
        [format!("wf-acme-{id}-block-0 198.51.100.7 203.0.113.9")]
    );
    assert_eq!(
        b.desk.texts("task"),
        [
            "it: Reset the password of bob",
            "it: Reset the password of carol"
        ],
        "one task per element of the loop"
    );
    // Driving again before the wait ends does nothing.
    assert_eq!(drive(&b, id).await.status, "waiting");
    b.clock.advance(10 * 60 * SEC);
    let run = drive(&b, id).await;
    assert_eq!((run.status.as_str(), run.finished), ("succeeded", true));
    assert_eq!(actions_log(&b).len(), 2);
    assert!(actions_log(&b)[1].ends_with("unblock"));
    let timeline = b.timeline.0.lock().unwrap().clone();
    for kind in [
        "started",
        "approval_requested",
        "approval_answered",
        "approval_decided",
        "finished",
    ] {
        assert!(
            timeline.iter().any(|k| k == kind),
            "{kind} not on the timeline: {timeline:?}"
        );
    }
}

#[tokio::test]
async fn four_eyes_need_two_different_people() {
    let b = bench(2, "deny", "log");
    let id = start(&b);
    drive(&b, id).await;
    approve(&b, id, "alice");
    assert_eq!(drive(&b, id).await.status, "waiting_approval");
    let again = b
        .responder
        .answer("acme", id, &analyst("alice"), Decision::Approve, "", "api");
    assert!(matches!(again, Err(RespondError::Refused(t)) if t.contains("answered already")));
    approve(&b, id, "bob");
    assert_eq!(drive(&b, id).await.status, "waiting");
    assert_eq!(actions_log(&b).len(), 1);
}

#[tokio::test]
async fn a_denial_takes_the_denied_branch() {
    let b = bench(1, "deny", "log");
    let id = start(&b);
    drive(&b, id).await;
    b.responder
        .answer(
            "acme",
            id,
            &analyst("alice"),
            Decision::Deny,
            "false positive",
            "api",
        )
        .unwrap();
    let run = drive(&b, id).await;
    assert_eq!(run.status, "succeeded", "the denied branch ends normally");
    assert!(actions_log(&b).is_empty());
    assert_eq!(b.desk.texts("comment"), ["denied by alice"]);
}

#[tokio::test]
async fn a_passing_deadline_escalates_then_denies() {
    let b = bench(1, "escalate", "log");
    let id = start(&b);
    drive(&b, id).await;
    b.clock.advance(15 * 60 * SEC);
    let run = drive(&b, id).await;
    assert_eq!(run.status, "waiting_approval", "escalated, still waiting");
    assert_eq!(run.wake_ns, Some(T0 + 30 * 60 * SEC), "one more deadline");
    b.clock.advance(15 * 60 * SEC);
    drive(&b, id).await;
    assert_eq!(b.desk.texts("comment"), ["denied by "]);
    assert!(actions_log(&b).is_empty());
    let log = b.responder.view("acme", id).unwrap().log;
    let kinds: Vec<&str> = log
        .iter()
        .map(|e| e.body["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"approval_escalated"), "{kinds:?}");
}

#[tokio::test]
async fn failures_retry_with_backoff_then_take_the_error_path() {
    let b = bench(1, "approve", "broken");
    let id = start(&b);
    drive(&b, id).await;
    b.clock.advance(15 * 60 * SEC); // the deadline approves
    let run = drive(&b, id).await;
    assert_eq!(run.status, "running", "sleeping before the retry");
    assert!(run.wake_ns.is_some_and(|w| w > b.clock.now_ns()));
    b.clock.advance(5 * SEC);
    let run = drive(&b, id).await;
    assert_eq!(run.status, "succeeded", "the error path ends the run");
    let comments = b.desk.texts("comment");
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0].starts_with("failed: broken exited with"),
        "{comments:?}"
    );
    assert!(comments[0].contains("refused"), "{comments:?}");
    let log = b.responder.view("acme", id).unwrap().log;
    let failures = log
        .iter()
        .filter(|e| e.body["type"] == "action_failed")
        .count();
    assert_eq!(failures, 2, "two attempts");
}

#[tokio::test]
async fn cancelling_with_compensation_undoes_the_block() {
    let b = bench(1, "deny", "log");
    let id = start(&b);
    drive(&b, id).await;
    approve(&b, id, "alice");
    assert_eq!(drive(&b, id).await.status, "waiting");
    b.responder.cancel("acme", id, "alice", true).unwrap();
    let run = drive(&b, id).await;
    assert_eq!((run.status.as_str(), run.finished), ("cancelled", true));
    let log = actions_log(&b);
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[1].ends_with("unblock"), "{log:?}");
    assert!(matches!(
        b.responder.cancel("acme", id, "alice", true),
        Err(RespondError::Refused(_))
    ));
}

#[tokio::test]
async fn the_run_timeout_stops_and_compensates() {
    let b = bench(1, "deny", "log");
    let id = start(&b);
    drive(&b, id).await;
    approve(&b, id, "alice");
    drive(&b, id).await;
    b.clock.advance(3 * 3600 * SEC);
    let run = drive(&b, id).await;
    assert_eq!(run.status, "timed_out");
    assert!(actions_log(&b)[1].ends_with("unblock"));
}

#[tokio::test]
async fn a_restarted_runner_resumes_where_the_log_left_off() {
    let first = bench(1, "deny", "log");
    let id = start(&first);
    drive(&first, id).await;
    approve(&first, id, "alice");
    assert_eq!(drive(&first, id).await.status, "waiting");
    assert_eq!(actions_log(&first).len(), 1);
    let now = first.clock.now_ns();

    // A second runner on the same database, as after kill -9 and a restart.
    let second = bench_with(&playbook(1, "deny", "log"), first.dir);
    second.clock.set(now + 10 * 60 * SEC);
    let run = drive(&second, id).await;
    assert_eq!(run.status, "succeeded");
    let log = actions_log(&second);
    assert_eq!(log.len(), 2, "the block is not repeated: {log:?}");
    assert!(log[1].ends_with("unblock"));
}

#[tokio::test]
async fn an_action_started_but_unanswered_is_called_again_with_its_key() {
    let b = bench(1, "approve", "log");
    let id = start(&b);
    drive(&b, id).await;
    approve(&b, id, "alice");
    // Log the decision and the step's entry, then "crash" right after the
    // action's start is logged: append it by hand.
    let store = SqliteStateStore::open(&b.dir.path().join("state.db")).unwrap();
    let view = b.responder.view("acme", id).unwrap();
    let decided = json!({"type": "approval_decided", "step": "approve", "decision": "approve", "reason": "test"});
    let entered = json!({"type": "step_entered", "step": "block",
                         "inputs": [{"command": "log", "args": ["198.51.100.7", "203.0.113.9"]}]});
    let started = json!({"type": "action_started", "step": "block", "index": 0, "attempt": 1,
                         "key": format!("wf-acme-{id}-block-0")});
    store
        .append_run(
            "acme",
            id,
            view.record.seq,
            &[decided, entered, started],
            &watchfloor_state::RunUpdate {
                status: "running".into(),
                finished: false,
                wake_ns: None,
                time_ns: T0,
            },
        )
        .unwrap();
    let run = drive(&b, id).await;
    assert_eq!(run.status, "waiting");
    let log = actions_log(&b);
    assert_eq!(
        log,
        [format!("wf-acme-{id}-block-0 198.51.100.7 203.0.113.9")]
    );
    let entries = b.responder.view("acme", id).unwrap().log;
    let starts = entries
        .iter()
        .filter(|e| e.body["type"] == "action_started" && e.body["step"] == "block")
        .count();
    assert_eq!(starts, 1, "resumed without a second start");
}

#[tokio::test]
async fn a_dry_run_renders_every_step_and_touches_nothing() {
    let b = bench(1, "deny", "log");
    let start = StartRun {
        tenant: "acme".into(),
        playbook: "block-test".into(),
        incident_id: Some(7),
        trigger: "manual".into(),
        started_by: "alice".into(),
        context: json!({"alert": {"users": ["bob"], "fields": {"attackers": ["198.51.100.7"]}}}),
        params: Default::default(),
        dedup_key: None,
    };
    let steps = b.responder.dry_run("block-test", &start).unwrap();
    let lines: Vec<String> = steps
        .iter()
        .map(|s| format!("{} {}: {}", s.kind, s.step, s.would.join(" | ")))
        .collect();
    assert_eq!(
        lines,
        [
            "approval approve: wait for 1 approval(s) from soc: Block 1 sources? | shows: run log 198.51.100.7",
            "action block: run log 198.51.100.7",
            "action per-user: task for it: Reset the password of bob",
            "wait hold: wait 10m",
            "action unblock: run log unblock",
            "finished end: succeeded",
        ]
    );
    assert!(actions_log(&b).is_empty());
    assert!(b.desk.texts("task").is_empty());
    assert!(
        b.responder.list(&Default::default()).unwrap().is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn an_auto_approve_policy_from_the_site_config_needs_nobody() {
    let text = playbook(1, "deny", "log").replace(
        "      shows: [block]\n",
        "      shows: [block]\n      auto_approve: params.auto\n",
    );
    let b = bench_configured(&text, tempfile::tempdir().unwrap(), |c| {
        c.params.push(watchfloor_respond::config::PlaybookParams {
            playbook: "block-test".into(),
            values: [("auto".to_string(), "true".to_string())].into(),
        });
    });
    let id = start(&b);
    let run = drive(&b, id).await;
    assert_eq!(run.status, "waiting", "blocked without waiting for anyone");
    assert_eq!(actions_log(&b).len(), 1);
    let log = b.responder.view("acme", id).unwrap().log;
    let decided = log
        .iter()
        .find(|e| e.body["type"] == "approval_decided")
        .unwrap();
    assert_eq!(decided.body["reason"], "auto-approved: params.auto");

    // Without the site's value the playbook's default (absent: undefined)
    // is an error the run reports, not a silent approval.
    let b = bench_with(&text, tempfile::tempdir().unwrap());
    let id = start(&b);
    let run = drive(&b, id).await;
    assert_eq!(run.status, "failed");
    assert!(actions_log(&b).is_empty());
}

#[tokio::test]
async fn teams_bind_only_once_the_tenant_defines_them() {
    let b = bench(1, "deny", "log");
    let id = start(&b);
    drive(&b, id).await;
    let outsider = Answerer {
        user: "olga".into(),
        role: "soc_analyst".into(),
        teams: Vec::new(),
        defined_teams: Vec::new(),
    };
    b.responder
        .answer("acme", id, &outsider, Decision::Approve, "", "api")
        .expect("no soc team defined: the role suffices");
}

#[tokio::test]
async fn a_deadline_that_passed_while_down_applies_when_the_runner_starts() {
    let first = bench(1, "deny", "log");
    let id = start(&first);
    drive(&first, id).await;
    let now = first.clock.now_ns();
    // Down for 20 minutes; the 15-minute deadline passed meanwhile.
    let second = bench_with(&playbook(1, "deny", "log"), first.dir);
    second.clock.set(now + 20 * 60 * SEC);
    assert_eq!(
        second.responder.drive_due().unwrap(),
        1,
        "the due run is picked up"
    );
    for _ in 0..200 {
        if second.responder.view("acme", id).unwrap().record.finished {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let run = second.responder.view("acme", id).unwrap().record;
    assert_eq!(
        run.status, "succeeded",
        "denied by the deadline, then the denied branch"
    );
    assert_eq!(second.desk.texts("comment"), ["denied by "]);
    assert!(actions_log(&second).is_empty());
}

#[tokio::test]
async fn runs_past_the_rate_limit_are_refused_per_tenant() {
    let b = bench_configured(
        &playbook(1, "deny", "log"),
        tempfile::tempdir().unwrap(),
        |c| {
            c.max_runs_per_minute = 2;
        },
    );
    let start = |tenant: &str| {
        b.responder.start(StartRun {
            tenant: tenant.into(),
            playbook: "block-test".into(),
            incident_id: None,
            trigger: "manual".into(),
            started_by: "alice".into(),
            context: json!({}),
            params: Default::default(),
            dedup_key: None,
        })
    };
    start("acme").unwrap();
    start("acme").unwrap();
    match start("acme") {
        Err(RespondError::Refused(why)) => assert!(why.contains("max_runs_per_minute"), "{why}"),
        other => panic!("the third run in a minute must be refused: {other:?}"),
    }
    start("globex").expect("another tenant has its own budget");
    b.clock.advance(61 * SEC);
    start("acme").expect("a minute later");
}
