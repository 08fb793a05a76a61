//! Dry runs: a run walked in memory with every action answered by a stand-in
//! output and every approval granted, so each step's rendered action shows
//! what a real run would do. Nothing is stored and no connector is called.

use serde::Serialize;
use serde_json::{json, Value};

use crate::actions;
use crate::run::{Decision, Next, Position, RunEvent, RunState};

/// One step as a real run would take it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryStep {
    pub step: String,
    /// `action`, `approval`, `wait`, `skipped`, `failed`, `finished`.
    pub kind: String,
    /// What it would do, one line per action (or the approval's message).
    pub would: Vec<String>,
    /// The rendered inputs (actions), per loop element.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Value>,
}

/// The time a dry run pretends it is (far from every deadline).
pub(crate) const NOW: i64 = i64::MIN / 2;

/// Steps walked at most (a playbook's graph may loop on purpose).
const MAX_STEPS: usize = 1_000;

pub fn dry_run(started: &RunEvent) -> Vec<DryStep> {
    let Some(mut state) = RunState::fold(std::iter::once(started)) else {
        return Vec::new();
    };
    state.mode = crate::expr::Mode::Lenient;
    let mut steps = Vec::new();
    for _ in 0..MAX_STEPS {
        let events = match state.next(0, NOW) {
            Next::Done(_) => break,
            Next::Record(events) => events,
            Next::Act { step, index, .. } => vec![RunEvent::ActionSucceeded {
                step,
                index,
                output: json!({"dry_run": true}),
            }],
            Next::Sleep(_) => match &state.position {
                Position::Approving(a) => vec![RunEvent::ApprovalDecided {
                    step: a.step.clone(),
                    decision: Decision::Approve,
                    reason: "dry run".into(),
                }],
                Position::Waiting { step, .. } => vec![RunEvent::StepSucceeded {
                    step: step.clone(),
                    output: Value::Null,
                }],
                _ => vec![RunEvent::Finished {
                    outcome: crate::run::Outcome::Failed,
                    error: Some("a retry would wait".into()),
                }],
            },
        };
        for event in &events {
            if let Some(shown) = describe(&state, event) {
                steps.push(shown);
            }
            state.apply(event);
        }
    }
    steps
}

fn describe(state: &RunState, event: &RunEvent) -> Option<DryStep> {
    let dry = |step: &str, kind: &str, would: Vec<String>, inputs: Vec<Value>| DryStep {
        step: step.into(),
        kind: kind.into(),
        would,
        inputs,
    };
    Some(match event {
        RunEvent::StepEntered { step, inputs } => {
            let action = state
                .playbook
                .step(step)
                .and_then(|s| s.action.clone())
                .unwrap_or_default();
            let would = inputs
                .iter()
                .map(|i| actions::describe(&action, i))
                .collect();
            dry(step, "action", would, inputs.clone())
        }
        RunEvent::StepSucceeded { step, .. }
            if state
                .playbook
                .step(step)
                .is_some_and(|s| s.action.is_some())
                && !matches!(&state.position, Position::Acting(p) if &p.step == step) =>
        {
            // An action with an empty loop: nothing to do.
            dry(
                step,
                "action",
                vec!["nothing (its list is empty)".into()],
                Vec::new(),
            )
        }
        RunEvent::ApprovalRequested { step, request } => {
            let mut would = vec![format!(
                "wait for {} approval(s){}: {}",
                request.approvers,
                if request.teams.is_empty() {
                    String::new()
                } else {
                    format!(" from {}", request.teams.join(", "))
                },
                request.message
            )];
            would.extend(request.shows.iter().map(|s| format!("shows: {s}")));
            dry(step, "approval", would, Vec::new())
        }
        RunEvent::WaitStarted { step, until_ns } => {
            let waited = std::time::Duration::from_nanos(
                until_ns.saturating_sub(crate::dry::NOW).max(0) as u64,
            );
            let text = humantime::format_duration(waited).to_string();
            dry(step, "wait", vec![format!("wait {text}")], Vec::new())
        }
        RunEvent::StepSkipped { step, reason } => {
            dry(step, "skipped", vec![reason.clone()], Vec::new())
        }
        RunEvent::StepFailed { step, error } => {
            dry(step, "failed", vec![error.clone()], Vec::new())
        }
        RunEvent::Finished { outcome, error } => dry(
            "end",
            "finished",
            vec![format!(
                "{}{}",
                outcome.as_str(),
                error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
            )],
            Vec::new(),
        ),
        _ => return None,
    })
}
