//! A run's steps as people read them: one row per step taken, in order,
//! with where it stands, its attempts, its output or error and its times,
//! from the log (the console's run page and the API's view).

use serde::Serialize;
use serde_json::Value;
use watchfloor_state::RunEntry;

use crate::run::RunEvent;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRow {
    pub step: String,
    /// `running`, `waiting`, `waiting_approval`, `succeeded`, `failed`,
    /// `skipped`, `approved`, `denied`.
    pub status: String,
    pub attempts: u32,
    /// The rendered inputs (actions), one per loop element.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Run while undoing (a compensating step).
    pub compensating: bool,
    pub started_ns: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_ns: Option<i64>,
}

/// The rows of a run's log (entries that do not read are left out).
pub fn steps(log: &[RunEntry]) -> Vec<StepRow> {
    let mut rows: Vec<StepRow> = Vec::new();
    let mut compensating = false;
    for entry in log {
        let Ok(event) = serde_json::from_value::<RunEvent>(entry.body.clone()) else {
            continue;
        };
        let at = entry.time_ns;
        let open = |rows: &mut Vec<StepRow>, step: &str, status: &str| {
            rows.push(StepRow {
                step: step.to_string(),
                status: status.to_string(),
                attempts: 0,
                inputs: Vec::new(),
                output: None,
                error: None,
                compensating,
                started_ns: at,
                ended_ns: None,
            });
        };
        let last = |rows: &[StepRow], step: &str| -> Option<usize> {
            rows.iter().rposition(|r| r.step == step)
        };
        match &event {
            RunEvent::StepEntered { step, inputs } => {
                open(&mut rows, step, "running");
                if let Some(r) = rows.last_mut() {
                    r.inputs = inputs.clone();
                }
            }
            RunEvent::ApprovalRequested { step, .. } => open(&mut rows, step, "waiting_approval"),
            RunEvent::WaitStarted { step, .. } => open(&mut rows, step, "waiting"),
            RunEvent::StepSkipped { step, reason } => {
                open(&mut rows, step, "skipped");
                if let Some(r) = rows.last_mut() {
                    r.error = Some(reason.clone());
                    r.ended_ns = Some(at);
                }
            }
            RunEvent::ActionStarted { step, attempt, .. } => {
                if let Some(i) = last(&rows, step) {
                    rows[i].attempts = rows[i].attempts.max(*attempt);
                }
            }
            RunEvent::ActionFailed { step, error, .. } => {
                if let Some(i) = last(&rows, step) {
                    rows[i].error = Some(error.clone());
                }
            }
            RunEvent::StepSucceeded { step, output } => {
                match last(&rows, step) {
                    Some(i) if rows[i].ended_ns.is_none() => {}
                    _ => open(&mut rows, step, "succeeded"),
                }
                if let Some(i) = last(&rows, step) {
                    let r = &mut rows[i];
                    r.status = "succeeded".into();
                    r.output = Some(output.clone());
                    r.error = None;
                    r.ended_ns = Some(at);
                }
            }
            RunEvent::StepFailed { step, error } => {
                match last(&rows, step) {
                    Some(i) if rows[i].ended_ns.is_none() => {}
                    _ => open(&mut rows, step, "failed"),
                }
                if let Some(i) = last(&rows, step) {
                    let r = &mut rows[i];
                    r.status = "failed".into();
                    r.error = Some(error.clone());
                    r.ended_ns = Some(at);
                }
            }
            RunEvent::ApprovalDecided {
                step,
                decision,
                reason,
            } => {
                if let Some(i) = last(&rows, step) {
                    let r = &mut rows[i];
                    r.status = match decision {
                        crate::run::Decision::Approve => "approved".into(),
                        crate::run::Decision::Deny => "denied".into(),
                    };
                    r.output = Some(Value::String(reason.clone()));
                    r.ended_ns = Some(at);
                }
            }
            RunEvent::CompensationStarted { .. } => compensating = true,
            _ => {}
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(seq: i64, body: Value) -> RunEntry {
        RunEntry {
            seq,
            time_ns: seq * 1_000,
            body,
        }
    }

    #[test]
    fn rows_follow_the_log() {
        let log = [
            entry(
                1,
                json!({"type": "approval_requested", "step": "approve", "request": {
                "message": "m", "approvers": 1, "roles": [], "teams": [], "self_approval": false,
                "requested_by": "w", "deadline_ns": 9, "on_deadline": "deny", "plans": {}, "shows": []}}),
            ),
            entry(
                2,
                json!({"type": "approval_decided", "step": "approve", "decision": "approve", "reason": "approved by alice"}),
            ),
            entry(
                3,
                json!({"type": "step_entered", "step": "block", "inputs": [{"set": "s"}]}),
            ),
            entry(
                4,
                json!({"type": "action_started", "step": "block", "index": 0, "attempt": 1, "key": "k"}),
            ),
            entry(
                5,
                json!({"type": "action_failed", "step": "block", "index": 0, "attempt": 1, "error": "refused", "retry_at_ns": 6}),
            ),
            entry(
                6,
                json!({"type": "action_started", "step": "block", "index": 0, "attempt": 2, "key": "k"}),
            ),
            entry(
                7,
                json!({"type": "action_succeeded", "step": "block", "index": 0, "output": {"added": ["1.2.3.4"]}}),
            ),
            entry(
                8,
                json!({"type": "step_succeeded", "step": "block", "output": {"added": ["1.2.3.4"]}}),
            ),
            entry(
                9,
                json!({"type": "wait_started", "step": "hold", "until_ns": 99}),
            ),
            entry(
                10,
                json!({"type": "compensation_started", "reason": "cancelled", "outcome": "cancelled", "steps": ["unblock"]}),
            ),
            entry(
                11,
                json!({"type": "step_entered", "step": "unblock", "inputs": [{}]}),
            ),
            entry(
                12,
                json!({"type": "step_failed", "step": "unblock", "error": "gone"}),
            ),
            entry(13, json!({"type": "finished", "outcome": "cancelled"})),
        ];
        let rows = steps(&log);
        let view: Vec<(&str, &str, u32, bool)> = rows
            .iter()
            .map(|r| {
                (
                    r.step.as_str(),
                    r.status.as_str(),
                    r.attempts,
                    r.compensating,
                )
            })
            .collect();
        assert_eq!(
            view,
            [
                ("approve", "approved", 0, false),
                ("block", "succeeded", 2, false),
                ("hold", "waiting", 0, false),
                ("unblock", "failed", 0, true),
            ]
        );
        assert_eq!(rows[1].error, None, "a retried success shows no error");
        assert_eq!(rows[1].ended_ns, Some(8_000));
        assert_eq!(rows[3].error.as_deref(), Some("gone"));
    }
}
