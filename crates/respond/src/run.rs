//! A run as its log: [`RunEvent`]s folded into a [`RunState`], and the
//! pure decision of what comes next ([`RunState::next`]). Only actions touch
//! the world; everything else the run does is a log entry computed from the
//! state and the time, so a restart re-reads the log and carries on where
//! the run stood: mid-step, waiting for approval, sleeping before a retry.
//!
//! An action is logged as started before it is called and as done after;
//! one started but not done when the server died is called again with the
//! same idempotency key, which each connector honours (an nftables element
//! added twice is one element, a task of a key is created once, webhooks
//! carry an `Idempotency-Key` header).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::actions;
use crate::expr;
use crate::playbook::{OnDeadline, Playbook, StepKind, END};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    Denied,
    TimedOut,
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Denied => "denied",
            Outcome::TimedOut => "timed_out",
            Outcome::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Deny,
}

/// One person's answer to an approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub by: String,
    pub role: String,
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// Where it came from: `console`, `api`, `link`.
    pub via: String,
}

/// What an approver is shown and who may answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub message: String,
    pub approvers: u32,
    pub roles: Vec<String>,
    pub teams: Vec<String>,
    pub self_approval: bool,
    pub requested_by: String,
    pub deadline_ns: i64,
    pub on_deadline: OnDeadline,
    /// The guarded steps' inputs, rendered now, per element of their loop:
    /// they run exactly as approved.
    pub plans: BTreeMap<String, Vec<Value>>,
    /// Those actions in words, one line each.
    pub shows: Vec<String>,
}

/// One entry of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    Started {
        playbook: Playbook,
        /// `incident_type:ddos`, `rule:...`, `manual`.
        trigger: String,
        started_by: String,
        /// `incident`, `alerts`, `alert`, `params`.
        context: Value,
        deadline_ns: i64,
    },
    StepEntered {
        step: String,
        /// The rendered inputs, one per loop element (one without a loop).
        inputs: Vec<Value>,
    },
    StepSkipped {
        step: String,
        reason: String,
    },
    ActionStarted {
        step: String,
        index: usize,
        attempt: u32,
        key: String,
    },
    ActionSucceeded {
        step: String,
        index: usize,
        output: Value,
    },
    ActionFailed {
        step: String,
        index: usize,
        attempt: u32,
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_at_ns: Option<i64>,
    },
    StepSucceeded {
        step: String,
        output: Value,
    },
    StepFailed {
        step: String,
        error: String,
    },
    ApprovalRequested {
        step: String,
        request: ApprovalRequest,
    },
    ApprovalAnswered {
        step: String,
        answer: Answer,
    },
    ApprovalEscalated {
        step: String,
        deadline_ns: i64,
    },
    ApprovalDecided {
        step: String,
        decision: Decision,
        reason: String,
    },
    WaitStarted {
        step: String,
        until_ns: i64,
    },
    CancelRequested {
        by: String,
        compensate: bool,
    },
    /// Undoing: the compensating steps to run, in order.
    CompensationStarted {
        reason: String,
        outcome: Outcome,
        steps: Vec<String>,
    },
    Finished {
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// Where a run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Position {
    /// The step to enter next.
    Enter(String),
    /// Inside an action step.
    Acting(Progress),
    Approving(ApprovalState),
    Waiting {
        step: String,
        until_ns: i64,
    },
    /// Undoing: the next compensating step of the queue is next.
    Undoing,
    /// A step failed with no error path: undoing, then failing, is next.
    Failing,
    /// Decided (a denial with nowhere to go): the `Finished` entry is next.
    Finish(Outcome),
    Done(Outcome),
}

/// An action step under way: its rendered inputs and each element's fate.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub step: String,
    pub inputs: Vec<Value>,
    pub outputs: Vec<Option<Value>>,
    /// Attempts started per element.
    pub attempts: Vec<u32>,
    /// Started and not (yet) answered: called again on resume, same key.
    pub in_flight: Vec<bool>,
    pub retry_at_ns: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalState {
    pub step: String,
    pub request: ApprovalRequest,
    pub answers: Vec<Answer>,
    pub escalated: bool,
}

/// Undoing after a failure, a timeout or a cancel.
#[derive(Debug, Clone, PartialEq)]
pub struct Compensation {
    pub outcome: Outcome,
    pub reason: String,
    pub queue: Vec<String>,
    /// How many of the queue are done.
    pub done: usize,
}

/// A run folded from its log.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    pub playbook: Playbook,
    pub trigger: String,
    pub started_by: String,
    pub context: Value,
    pub deadline_ns: i64,
    pub position: Position,
    /// Each finished step's output (`{"error": ...}` after a failure, null
    /// when skipped).
    pub outputs: serde_json::Map<String, Value>,
    /// Action steps in the order they succeeded (what compensation undoes).
    pub succeeded: Vec<String>,
    /// Approved plans, by guarded step.
    pub plans: BTreeMap<String, Vec<Value>>,
    pub compensation: Option<Compensation>,
    pub cancel: Option<(String, bool)>,
    pub error: Option<String>,
    /// Strict for real runs; lenient in dry runs (outputs are stand-ins).
    pub mode: expr::Mode,
}

/// What the runner does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Append these entries (nothing outside changes).
    Record(Vec<RunEvent>),
    /// Call an action: element `index` of the step in progress.
    Act {
        step: String,
        index: usize,
        attempt: u32,
        /// Started before a restart: call again without logging a start.
        resumed: bool,
    },
    /// Nothing to do before this time, or before an answer arrives.
    Sleep(i64),
    Done(Outcome),
}

impl RunState {
    /// Folds a log; `None` when it does not start with `Started`.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a RunEvent>) -> Option<RunState> {
        let mut events = events.into_iter();
        let Some(RunEvent::Started {
            playbook,
            trigger,
            started_by,
            context,
            deadline_ns,
        }) = events.next()
        else {
            return None;
        };
        let mut state = RunState {
            position: Position::Enter(playbook.first().to_string()),
            playbook: playbook.clone(),
            trigger: trigger.clone(),
            started_by: started_by.clone(),
            context: context.clone(),
            deadline_ns: *deadline_ns,
            outputs: serde_json::Map::new(),
            succeeded: Vec::new(),
            plans: BTreeMap::new(),
            compensation: None,
            cancel: None,
            error: None,
            mode: expr::Mode::Strict,
        };
        for event in events {
            state.apply(event);
        }
        Some(state)
    }

    pub fn is_done(&self) -> bool {
        matches!(self.position, Position::Done(_))
    }

    /// Applies one entry.
    pub fn apply(&mut self, event: &RunEvent) {
        match event {
            RunEvent::Started { .. } => {}
            RunEvent::StepEntered { step, inputs } => {
                let n = inputs.len();
                self.position = Position::Acting(Progress {
                    step: step.clone(),
                    inputs: inputs.clone(),
                    outputs: vec![None; n],
                    attempts: vec![0; n],
                    in_flight: vec![false; n],
                    retry_at_ns: None,
                    last_error: None,
                });
            }
            RunEvent::StepSkipped { step, .. } => {
                self.outputs.insert(step.clone(), Value::Null);
                self.move_on(step);
            }
            RunEvent::ActionStarted { index, attempt, .. } => {
                if let Position::Acting(p) = &mut self.position {
                    if let Some(a) = p.attempts.get_mut(*index) {
                        *a = *attempt;
                        p.in_flight[*index] = true;
                        p.retry_at_ns = None;
                    }
                }
            }
            RunEvent::ActionSucceeded { index, output, .. } => {
                if let Position::Acting(p) = &mut self.position {
                    if let Some(slot) = p.outputs.get_mut(*index) {
                        *slot = Some(output.clone());
                        p.in_flight[*index] = false;
                    }
                }
            }
            RunEvent::ActionFailed {
                index,
                error,
                retry_at_ns,
                ..
            } => {
                if let Position::Acting(p) = &mut self.position {
                    if let Some(f) = p.in_flight.get_mut(*index) {
                        *f = false;
                    }
                    p.retry_at_ns = *retry_at_ns;
                    p.last_error = Some(error.clone());
                }
            }
            RunEvent::StepSucceeded { step, output } => {
                self.outputs.insert(step.clone(), output.clone());
                let is_action = self.playbook.step(step).is_some_and(|s| s.action.is_some());
                if is_action && self.compensation.is_none() {
                    self.succeeded.push(step.clone());
                }
                self.move_on(step);
            }
            RunEvent::StepFailed { step, error } => {
                self.outputs.insert(step.clone(), json!({ "error": error }));
                self.error = Some(format!("step {step}: {error}"));
                let on_error = self.playbook.step(step).and_then(|s| s.on_error.clone());
                match (&mut self.compensation, on_error) {
                    (Some(c), _) => {
                        c.done += 1;
                        self.position = Position::Undoing;
                    }
                    (None, Some(target)) => self.position = Position::Enter(target),
                    (None, None) => self.position = Position::Failing,
                }
            }
            RunEvent::ApprovalRequested { step, request } => {
                self.position = Position::Approving(ApprovalState {
                    step: step.clone(),
                    request: request.clone(),
                    answers: Vec::new(),
                    escalated: false,
                });
            }
            RunEvent::ApprovalAnswered { answer, .. } => {
                if let Position::Approving(a) = &mut self.position {
                    a.answers.push(answer.clone());
                }
            }
            RunEvent::ApprovalEscalated { deadline_ns, .. } => {
                if let Position::Approving(a) = &mut self.position {
                    a.escalated = true;
                    a.request.deadline_ns = *deadline_ns;
                }
            }
            RunEvent::ApprovalDecided { step, decision, .. } => self.decided(step, *decision),
            RunEvent::WaitStarted { step, until_ns } => {
                self.position = Position::Waiting {
                    step: step.clone(),
                    until_ns: *until_ns,
                }
            }
            RunEvent::CancelRequested { by, compensate } => {
                self.cancel = Some((by.clone(), *compensate));
            }
            RunEvent::CompensationStarted {
                reason,
                outcome,
                steps,
            } => {
                self.compensation = Some(Compensation {
                    outcome: *outcome,
                    reason: reason.clone(),
                    queue: steps.clone(),
                    done: 0,
                });
                self.position = Position::Undoing;
            }
            RunEvent::Finished { outcome, error } => {
                if error.is_some() {
                    self.error = error.clone();
                }
                self.position = Position::Done(*outcome);
            }
        }
    }

    fn decided(&mut self, step: &str, decision: Decision) {
        let Position::Approving(a) = &self.position else {
            return;
        };
        let by: Vec<&str> = a.answers.iter().map(|x| x.by.as_str()).collect();
        self.outputs
            .insert(step.to_string(), json!({ "decision": decision, "by": by }));
        let spec = self.playbook.step(step);
        match decision {
            Decision::Approve => {
                self.plans.extend(a.request.plans.clone());
                let target = spec
                    .and_then(|s| s.approved.clone())
                    .unwrap_or_else(|| self.playbook.after(step));
                self.position = Position::Enter(target);
            }
            Decision::Deny => match spec.and_then(|s| s.denied.clone()) {
                Some(target) => self.position = Position::Enter(target),
                None => self.position = Position::Finish(Outcome::Denied),
            },
        }
    }

    /// After a step ends well: the next step, or the next compensation.
    fn move_on(&mut self, step: &str) {
        if let Some(c) = &mut self.compensation {
            c.done += 1;
            self.position = Position::Undoing;
        } else {
            self.position = Position::Enter(self.playbook.after(step));
        }
    }

    /// The context expressions see.
    pub fn scope(&self, run_id: i64) -> Value {
        let mut scope = match &self.context {
            Value::Object(map) => map.clone(),
            _ => serde_json::Map::new(),
        };
        scope.insert("steps".into(), Value::Object(self.outputs.clone()));
        scope.insert(
            "run".into(),
            json!({"id": run_id, "playbook": self.playbook.id, "trigger": self.trigger,
                   "started_by": self.started_by}),
        );
        for key in ["incident", "alert", "alerts", "params"] {
            scope.entry(key).or_insert(Value::Null);
        }
        Value::Object(scope)
    }

    /// What to do at `now`. Pure: the same state and time give the same answer.
    pub fn next(&self, run_id: i64, now_ns: i64) -> Next {
        if let Position::Done(outcome) = self.position {
            return Next::Done(outcome);
        }
        if self.compensation.is_none() {
            if let Some((by, compensate)) = &self.cancel {
                return self.stop(
                    Outcome::Cancelled,
                    format!("cancelled by {by}"),
                    *compensate,
                );
            }
            if now_ns >= self.deadline_ns {
                return self.stop(
                    Outcome::TimedOut,
                    format!("the run's timeout of {} passed", fmt(self.playbook.timeout)),
                    true,
                );
            }
        }
        match &self.position {
            Position::Undoing => self.next_compensation(run_id),
            Position::Failing => {
                let error = self.error.clone().unwrap_or_default();
                self.stop(Outcome::Failed, error, true)
            }
            Position::Enter(step) if step == END => Next::Record(vec![RunEvent::Finished {
                outcome: Outcome::Succeeded,
                error: None,
            }]),
            Position::Enter(step) => Next::Record(self.enter(step, run_id, now_ns)),
            Position::Acting(p) => self.next_in_step(p, now_ns),
            Position::Approving(a) => self.next_in_approval(a, now_ns),
            Position::Waiting { step, until_ns } => {
                if now_ns >= *until_ns {
                    Next::Record(vec![RunEvent::StepSucceeded {
                        step: step.clone(),
                        output: Value::Null,
                    }])
                } else {
                    Next::Sleep((*until_ns).min(self.deadline_ns))
                }
            }
            Position::Finish(outcome) => Next::Record(vec![RunEvent::Finished {
                outcome: *outcome,
                error: None,
            }]),
            Position::Done(outcome) => Next::Done(*outcome),
        }
    }

    /// Ends the run: with compensation first when asked and anything to undo.
    fn stop(&self, outcome: Outcome, reason: String, compensate: bool) -> Next {
        let steps = if compensate {
            self.compensations()
        } else {
            Vec::new()
        };
        if steps.is_empty() {
            return Next::Record(vec![RunEvent::Finished {
                outcome,
                error: (outcome != Outcome::Succeeded).then_some(reason),
            }]);
        }
        Next::Record(vec![RunEvent::CompensationStarted {
            reason,
            outcome,
            steps,
        }])
    }

    /// The compensating steps of what succeeded, last first, leaving out
    /// those whose undoing already ran in the normal flow.
    pub fn compensations(&self) -> Vec<String> {
        let mut queue = Vec::new();
        for (i, done) in self.succeeded.iter().enumerate().rev() {
            let Some(undo) = self.playbook.step(done).and_then(|s| s.compensate.clone()) else {
                continue;
            };
            if self.succeeded[i + 1..].contains(&undo) || queue.contains(&undo) {
                continue;
            }
            queue.push(undo);
        }
        queue
    }

    fn next_compensation(&self, run_id: i64) -> Next {
        let Some(c) = &self.compensation else {
            return Next::Done(Outcome::Failed);
        };
        match c.queue.get(c.done) {
            Some(step) => Next::Record(self.enter(step, run_id, i64::MIN)),
            None => Next::Record(vec![RunEvent::Finished {
                outcome: c.outcome,
                error: Some(self.error.clone().unwrap_or_else(|| c.reason.clone())),
            }]),
        }
    }

    /// Entering a step: its condition, loop and inputs; an approval's
    /// request; a wait's end.
    fn enter(&self, id: &str, run_id: i64, now_ns: i64) -> Vec<RunEvent> {
        let Some(step) = self.playbook.step(id) else {
            return vec![RunEvent::StepFailed {
                step: id.into(),
                error: format!("no step {id:?} in the playbook"),
            }];
        };
        let scope = self.scope(run_id);
        if let Some(condition) = &step.condition {
            match expr::truth(condition, &scope, self.mode) {
                Ok(true) => {}
                Ok(false) => {
                    return vec![RunEvent::StepSkipped {
                        step: id.into(),
                        reason: format!("`if` is false: {condition}"),
                    }]
                }
                Err(e) => return vec![failed(id, format!("if: {e}"))],
            }
        }
        match step.kind() {
            Some(StepKind::Action(_)) => {
                let inputs = match self.plans.get(id) {
                    Some(approved) => Ok(approved.clone()),
                    None => render_inputs(step, &scope, self.mode),
                };
                match inputs {
                    Ok(inputs) if inputs.is_empty() => vec![RunEvent::StepSucceeded {
                        step: id.into(),
                        output: Value::Array(Vec::new()),
                    }],
                    Ok(inputs) => vec![RunEvent::StepEntered {
                        step: id.into(),
                        inputs,
                    }],
                    Err(e) => vec![failed(id, e)],
                }
            }
            Some(StepKind::Approval(a)) => match self.request(a, &scope, now_ns) {
                Ok(request) => {
                    let mut events = vec![RunEvent::ApprovalRequested {
                        step: id.into(),
                        request,
                    }];
                    match a
                        .auto_approve
                        .as_deref()
                        .map(|e| (e, expr::truth(e, &scope, self.mode)))
                    {
                        Some((e, Ok(true))) => events.push(RunEvent::ApprovalDecided {
                            step: id.into(),
                            decision: Decision::Approve,
                            reason: format!("auto-approved: {e}"),
                        }),
                        Some((_, Err(error))) => {
                            return vec![failed(id, format!("auto_approve: {error}"))]
                        }
                        _ => {}
                    }
                    events
                }
                Err(e) => vec![failed(id, e)],
            },
            Some(StepKind::Wait(text)) => {
                let wait = expr::render_text(text, &scope, self.mode)
                    .and_then(|t| crate::playbook::parse_duration(&t));
                match wait {
                    Ok(d) => vec![RunEvent::WaitStarted {
                        step: id.into(),
                        until_ns: now_ns.saturating_add(nanos(d)),
                    }],
                    // A dry run cannot know it: it waits "0s".
                    Err(_) if self.mode == expr::Mode::Lenient => vec![RunEvent::WaitStarted {
                        step: id.into(),
                        until_ns: now_ns,
                    }],
                    Err(e) => vec![failed(id, format!("wait: {e}"))],
                }
            }
            None => vec![failed(id, "not an action, approval or wait".into())],
        }
    }

    fn request(
        &self,
        a: &crate::playbook::Approval,
        scope: &Value,
        now_ns: i64,
    ) -> Result<ApprovalRequest, String> {
        let message =
            expr::render_text(&a.message, scope, self.mode).map_err(|e| format!("message: {e}"))?;
        let mut plans = BTreeMap::new();
        let mut shows = Vec::new();
        for guarded in &a.shows {
            let Some(step) = self.playbook.step(guarded) else {
                continue;
            };
            let inputs =
                render_inputs(step, scope, self.mode).map_err(|e| format!("{guarded}: {e}"))?;
            let action = step.action.as_deref().unwrap_or_default();
            shows.extend(inputs.iter().map(|i| actions::describe(action, i)));
            plans.insert(guarded.clone(), inputs);
        }
        Ok(ApprovalRequest {
            message,
            approvers: a.approvers,
            roles: a.roles.clone(),
            teams: a.teams.clone(),
            self_approval: a.self_approval,
            requested_by: self.started_by.clone(),
            deadline_ns: now_ns.saturating_add(nanos(a.deadline)),
            on_deadline: a.on_deadline,
            plans,
            shows,
        })
    }

    fn next_in_step(&self, p: &Progress, now_ns: i64) -> Next {
        let Some(step) = self.playbook.step(&p.step) else {
            return Next::Record(vec![failed(&p.step, "gone from the playbook".into())]);
        };
        let Some(index) = p.outputs.iter().position(Option::is_none) else {
            let outputs: Vec<Value> = p.outputs.iter().flatten().cloned().collect();
            let output = if step.for_each.is_some() {
                Value::Array(outputs)
            } else {
                outputs.into_iter().next().unwrap_or(Value::Null)
            };
            return Next::Record(vec![RunEvent::StepSucceeded {
                step: p.step.clone(),
                output,
            }]);
        };
        if p.in_flight[index] {
            return Next::Act {
                step: p.step.clone(),
                index,
                attempt: p.attempts[index],
                resumed: true,
            };
        }
        if p.attempts[index] >= step.retry.attempts {
            let error = p.last_error.clone().unwrap_or_else(|| "failed".into());
            return Next::Record(vec![failed(&p.step, error)]);
        }
        if let Some(at) = p.retry_at_ns.filter(|&at| at > now_ns) {
            return Next::Sleep(at.min(self.deadline_ns));
        }
        Next::Act {
            step: p.step.clone(),
            index,
            attempt: p.attempts[index] + 1,
            resumed: false,
        }
    }

    fn next_in_approval(&self, a: &ApprovalState, now_ns: i64) -> Next {
        let decide = |decision, reason: String| {
            Next::Record(vec![RunEvent::ApprovalDecided {
                step: a.step.clone(),
                decision,
                reason,
            }])
        };
        if let Some(no) = a.answers.iter().find(|x| x.decision == Decision::Deny) {
            return decide(Decision::Deny, format!("denied by {}", no.by));
        }
        let yes: Vec<&str> = a
            .answers
            .iter()
            .filter(|x| x.decision == Decision::Approve)
            .map(|x| x.by.as_str())
            .collect();
        if yes.len() as u32 >= a.request.approvers {
            return decide(Decision::Approve, format!("approved by {}", yes.join(", ")));
        }
        if now_ns < a.request.deadline_ns {
            return Next::Sleep(a.request.deadline_ns.min(self.deadline_ns));
        }
        match a.request.on_deadline {
            OnDeadline::Approve => decide(Decision::Approve, "deadline passed: approved".into()),
            OnDeadline::Escalate if !a.escalated => {
                let window = a.request.deadline_ns.saturating_sub(self.requested_at(a));
                Next::Record(vec![RunEvent::ApprovalEscalated {
                    step: a.step.clone(),
                    deadline_ns: now_ns.saturating_add(window.max(0)),
                }])
            }
            _ => decide(Decision::Deny, "deadline passed: denied".into()),
        }
    }

    /// When the approval was asked (its deadline minus the configured wait).
    fn requested_at(&self, a: &ApprovalState) -> i64 {
        let wait = self
            .playbook
            .step(&a.step)
            .and_then(|s| s.approval.as_ref())
            .map(|x| nanos(x.deadline))
            .unwrap_or(0);
        a.request.deadline_ns - wait
    }

    /// Whether `who` may answer the approval now, and why not.
    pub fn may_answer(&self, who: &Answerer) -> Result<&ApprovalState, String> {
        let Position::Approving(a) = &self.position else {
            return Err("the run is not waiting for an approval".into());
        };
        let r = &a.request;
        if !r.roles.is_empty() && !r.roles.contains(&who.role) {
            return Err(format!(
                "the role {} may not answer; it takes one of {}",
                who.role,
                r.roles.join(", ")
            ));
        }
        let defined = r.teams.iter().any(|t| who.defined_teams.contains(t));
        if defined && !r.teams.iter().any(|t| who.teams.contains(t)) {
            return Err(format!("only members of {} may answer", r.teams.join(", ")));
        }
        if !r.self_approval && who.user == r.requested_by {
            return Err(format!(
                "{} started the run and may not approve it",
                who.user
            ));
        }
        if a.answers.iter().any(|x| x.by == who.user) {
            return Err(format!("{} has answered already", who.user));
        }
        Ok(a)
    }

    /// The header's status word.
    pub fn status(&self) -> &'static str {
        match &self.position {
            Position::Done(o) => o.as_str(),
            _ if self.compensation.is_some() => "compensating",
            Position::Approving(_) => "waiting_approval",
            Position::Waiting { .. } => "waiting",
            _ => "running",
        }
    }

    /// When the runner must look again without being told (deadlines,
    /// retries, waits); `None` when it can go on now or is done.
    pub fn wake_ns(&self, run_id: i64, now_ns: i64) -> Option<i64> {
        match self.next(run_id, now_ns) {
            Next::Sleep(at) => Some(at),
            _ => None,
        }
    }
}

/// Who answers an approval.
#[derive(Debug, Clone)]
pub struct Answerer {
    pub user: String,
    pub role: String,
    /// The teams the answerer is a member of.
    pub teams: Vec<String>,
    /// The teams the tenant defines: an approval's `teams` restrict who
    /// answers once the tenant defines one of them (a fresh install with
    /// no team documents is not locked out of its shipped playbooks).
    pub defined_teams: Vec<String>,
}

fn failed(step: &str, error: String) -> RunEvent {
    RunEvent::StepFailed {
        step: step.into(),
        error,
    }
}

/// A step's inputs rendered once per loop element (once without a loop).
pub fn render_inputs(
    step: &crate::playbook::Step,
    scope: &Value,
    mode: expr::Mode,
) -> Result<Vec<Value>, String> {
    let inputs = Value::Object(step.inputs.clone().into_iter().collect());
    let Some(each) = &step.for_each else {
        return expr::render(&inputs, scope, mode).map(|v| vec![v]);
    };
    let items = expr::list(each, scope, mode).map_err(|e| format!("for_each: {e}"))?;
    let mut scope = scope.clone();
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        if let Value::Object(map) = &mut scope {
            map.insert("item".into(), item);
            map.insert("index".into(), json!(index));
        }
        out.push(expr::render(&inputs, &scope, mode).map_err(|e| format!("element {index}: {e}"))?);
    }
    Ok(out)
}

pub(crate) fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn fmt(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}
