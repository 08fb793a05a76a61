//! The runner: starts runs, drives each from its log, takes answers and
//! cancels. Every change is an append at the sequence number the writer
//! read, so an approval answered while the runner is writing is never lost
//! (the loser re-reads and goes on, st2#4135), and a run survives any crash:
//! on start the runner picks up every unfinished run where its log left it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use watchfloor_model::Clock;
use watchfloor_state::{NewRun, RunEntry, RunFilter, RunRecord, RunStore, RunUpdate, StateError};

use crate::actions::{Actions, Call};
use crate::playbook::{Library, Playbook};
use crate::run::{nanos, Answer, Answerer, Decision, Next, RunEvent, RunState};

/// Why a runner call failed.
#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    #[error("no playbook {0:?}")]
    NoPlaybook(String),
    #[error("playbook {0:?} cannot be started by hand")]
    NotManual(String),
    #[error("{0}")]
    Refused(String),
    #[error("no run {0}")]
    NoRun(i64),
    #[error("run {id}: its log does not read: {why}")]
    Corrupt { id: i64, why: String },
    #[error(transparent)]
    State(#[from] StateError),
}

pub type Result<T> = std::result::Result<T, RespondError>;

/// What the run's timeline on the incident hears about (the server writes
/// these to the incident's hash-chained timeline).
pub trait Recorder: Send + Sync {
    /// `state` is the run with `event` (and the entries logged with it)
    /// applied.
    fn record(&self, run: &RunRecord, state: &RunState, event: &RunEvent);
}

/// A run to start.
#[derive(Debug, Clone)]
pub struct StartRun {
    pub tenant: String,
    pub playbook: String,
    pub incident_id: Option<i64>,
    /// `incident_type:ddos`, `manual`, ...
    pub trigger: String,
    pub started_by: String,
    /// `incident`, `alert`, `alerts` as the expressions see them.
    pub context: Value,
    /// Inputs of a manual run (over the playbook's `params` defaults).
    pub params: serde_json::Map<String, Value>,
    pub dedup_key: Option<String>,
}

/// A run as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    #[serde(flatten)]
    pub record: RunRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The open approval, if the run waits for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Value>,
    pub log: Vec<RunEntry>,
}

pub struct Responder {
    store: Arc<dyn RunStore>,
    library: RwLock<Arc<Library>>,
    actions: Actions,
    recorder: Arc<dyn Recorder>,
    clock: Arc<dyn Clock>,
    /// Runs being driven now (one driver per run).
    driving: Mutex<HashSet<i64>>,
    /// Start times of each tenant's runs in the last minute (the rate limit).
    recent_starts: Mutex<std::collections::HashMap<String, std::collections::VecDeque<i64>>>,
    wake: tokio::sync::Notify,
}

impl Responder {
    pub fn new(
        store: Arc<dyn RunStore>,
        library: Library,
        actions: Actions,
        recorder: Arc<dyn Recorder>,
        clock: Arc<dyn Clock>,
    ) -> Responder {
        Responder {
            store,
            library: RwLock::new(Arc::new(library)),
            actions,
            recorder,
            clock,
            driving: Mutex::new(HashSet::new()),
            recent_starts: Mutex::new(Default::default()),
            wake: tokio::sync::Notify::new(),
        }
    }

    pub fn library(&self) -> Arc<Library> {
        self.library
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_library(&self, library: Library) {
        *self.library.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(library);
    }

    pub fn enabled(&self) -> bool {
        self.actions.config().enabled
    }

    /// The playbooks an incident of `kind` opened on alerts with these
    /// rules and tags starts.
    pub fn triggered(
        &self,
        tenant: &str,
        kind: &str,
        rules: &[&str],
        tags: &[&str],
    ) -> Vec<String> {
        self.library()
            .visible(tenant)
            .into_iter()
            .filter(|(p, _)| p.triggered_by(kind, rules, tags))
            .map(|(p, _)| p.id.clone())
            .collect()
    }

    /// Changes the library in place (a tenant's playbook sent or removed).
    pub fn edit_library<T>(&self, f: impl FnOnce(&mut Library) -> T) -> T {
        let mut guard = self.library.write().unwrap_or_else(|p| p.into_inner());
        let mut library = (**guard).clone();
        let out = f(&mut library);
        *guard = Arc::new(library);
        out
    }

    /// Starts a run (once per dedup key); returns its id and whether it is new.
    pub fn start(&self, start: StartRun) -> Result<(i64, bool)> {
        let library = self.library();
        let playbook = library
            .get(&start.tenant, &start.playbook)
            .ok_or_else(|| RespondError::NoPlaybook(start.playbook.clone()))?;
        if start.trigger == "manual" && !playbook.trigger.manual {
            return Err(RespondError::NotManual(start.playbook));
        }
        let now = self.clock.now_ns();
        self.admit(&start.tenant, now)?;
        let started = started_event(playbook, &self.with_site_params(start.clone()), now);
        let first = serde_json::to_value(&started).map_err(|e| RespondError::Corrupt {
            id: 0,
            why: e.to_string(),
        })?;
        let run = NewRun {
            tenant: start.tenant.clone(),
            playbook: playbook.id.clone(),
            incident_id: start.incident_id,
            dedup_key: start.dedup_key.clone(),
            status: "running".into(),
            wake_ns: None,
            created_ns: now,
        };
        let (id, created) = self.store.create_run(&run, &first)?;
        if created {
            let state = RunState::fold(std::iter::once(&started));
            if let (Ok(record), Some(state)) = (self.store.get_run(&start.tenant, id), state) {
                self.recorder.record(&record, &state, &started);
            }
            self.wake.notify_one();
        }
        Ok((id, created))
    }

    /// Refuses a start past `max_runs_per_minute` for the tenant (a storm
    /// of incidents must not become a storm of actions).
    fn admit(&self, tenant: &str, now: i64) -> Result<()> {
        let limit = self.actions.config().max_runs_per_minute as usize;
        let mut recent = self.recent_starts.lock().unwrap_or_else(|p| p.into_inner());
        let starts = recent.entry(tenant.to_string()).or_default();
        while starts.front().is_some_and(|&t| t <= now - 60_000_000_000) {
            starts.pop_front();
        }
        if starts.len() >= limit {
            return Err(RespondError::Refused(format!(
                "tenant {tenant} started {limit} runs in the last minute ([respond] max_runs_per_minute)"
            )));
        }
        starts.push_back(now);
        Ok(())
    }

    fn load(&self, tenant: &str, id: i64) -> Result<(RunRecord, RunState)> {
        let record = self.store.get_run(tenant, id).map_err(|e| match e {
            StateError::NotFound => RespondError::NoRun(id),
            e => e.into(),
        })?;
        let log = self.store.run_log(tenant, id)?;
        let events = decode(id, &log)?;
        let state = RunState::fold(&events).ok_or_else(|| RespondError::Corrupt {
            id,
            why: "it does not begin with `started`".into(),
        })?;
        Ok((record, state))
    }

    /// A run with its log and open approval.
    pub fn view(&self, tenant: &str, id: i64) -> Result<RunView> {
        let (record, state) = self.load(tenant, id)?;
        let log = self.store.run_log(tenant, id)?;
        let approval = match &state.position {
            crate::run::Position::Approving(a) => Some(json!({
                "step": a.step, "request": a.request, "answers": a.answers,
                "escalated": a.escalated,
            })),
            _ => None,
        };
        Ok(RunView {
            record,
            error: state.error.clone(),
            approval,
            log,
        })
    }

    pub fn list(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        Ok(self.store.list_runs(filter)?)
    }

    /// Records an approver's answer, if they may give it now.
    pub fn answer(
        &self,
        tenant: &str,
        id: i64,
        who: &Answerer,
        decision: Decision,
        comment: &str,
        via: &str,
    ) -> Result<RunRecord> {
        self.append_checked(tenant, id, |state| {
            let approval = state.may_answer(who).map_err(RespondError::Refused)?;
            Ok(vec![RunEvent::ApprovalAnswered {
                step: approval.step.clone(),
                answer: Answer {
                    by: who.user.clone(),
                    role: who.role.clone(),
                    decision,
                    comment: comment.to_string(),
                    via: via.to_string(),
                },
            }])
        })
    }

    /// Whether `who` may answer the run's open approval now, and why not.
    pub fn may_answer(
        &self,
        tenant: &str,
        id: i64,
        who: &Answerer,
    ) -> std::result::Result<(), String> {
        let (_, state) = self.load(tenant, id).map_err(|e| e.to_string())?;
        state.may_answer(who).map(|_| ())
    }

    /// Stops a run; with `compensate`, what it did is undone first.
    pub fn cancel(&self, tenant: &str, id: i64, by: &str, compensate: bool) -> Result<RunRecord> {
        self.append_checked(tenant, id, |state| {
            if state.is_done() {
                return Err(RespondError::Refused("the run has finished".into()));
            }
            Ok(vec![RunEvent::CancelRequested {
                by: by.to_string(),
                compensate,
            }])
        })
    }

    /// Appends what `decide` says against the latest log, re-reading when
    /// another writer got there first.
    fn append_checked(
        &self,
        tenant: &str,
        id: i64,
        decide: impl Fn(&RunState) -> Result<Vec<RunEvent>>,
    ) -> Result<RunRecord> {
        for _ in 0..20 {
            let (record, mut state) = self.load(tenant, id)?;
            let events = decide(&state)?;
            match self.append(&record, &mut state, &events) {
                Ok(record) => {
                    self.wake.notify_one();
                    return Ok(record);
                }
                Err(RespondError::State(StateError::Conflict { .. })) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(RespondError::Refused(
            "the run is changing too fast; try again".into(),
        ))
    }

    /// Appends events at the record's sequence number and applies them.
    fn append(
        &self,
        record: &RunRecord,
        state: &mut RunState,
        events: &[RunEvent],
    ) -> Result<RunRecord> {
        let bodies: Vec<Value> = events
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
            .collect();
        for event in events {
            state.apply(event);
        }
        let now = self.clock.now_ns();
        let update = RunUpdate {
            status: state.status().to_string(),
            finished: state.is_done(),
            wake_ns: state.wake_ns(record.id, now),
            time_ns: now,
        };
        let seq = self
            .store
            .append_run(&record.tenant, record.id, record.seq, &bodies, &update)?;
        let record = RunRecord {
            seq,
            status: update.status,
            finished: update.finished,
            wake_ns: update.wake_ns,
            updated_ns: now,
            ..record.clone()
        };
        for event in events {
            self.recorder.record(&record, state, event);
        }
        Ok(record)
    }

    /// Drives every run that can go on now, each in its own task; returns
    /// how many were started.
    pub fn drive_due(self: &Arc<Self>) -> Result<usize> {
        let now = self.clock.now_ns();
        let runs = self.store.list_runs(&RunFilter {
            unfinished: true,
            limit: 10_000,
            ..Default::default()
        })?;
        let mut started = 0;
        for run in runs
            .into_iter()
            .filter(|r| r.wake_ns.is_none_or(|w| w <= now))
        {
            if !self.claim(run.id) {
                continue;
            }
            started += 1;
            let me = Arc::clone(self);
            tokio::spawn(async move {
                if let Err(e) = me.drive(&run.tenant, run.id).await {
                    tracing::warn!(run = run.id, "playbook run: {e}");
                }
                me.release(run.id);
                me.wake.notify_one();
            });
        }
        Ok(started)
    }

    fn claim(&self, id: i64) -> bool {
        self.driving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id)
    }

    fn release(&self, id: i64) {
        self.driving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// The runner's loop: drives due runs whenever told or every `tick`.
    pub async fn run_forever(self: Arc<Self>, tick: Duration) {
        loop {
            if let Err(e) = self.drive_due() {
                tracing::warn!("playbook runs: {e}");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(tick) => {}
            }
        }
    }

    /// Drives one run until it sleeps or ends.
    pub async fn drive(&self, tenant: &str, id: i64) -> Result<()> {
        let (mut record, mut state) = self.load(tenant, id)?;
        loop {
            let now = self.clock.now_ns();
            let result = match state.next(id, now) {
                Next::Done(_) => return Ok(()),
                Next::Sleep(_) if record.wake_ns.is_none() => {
                    // Written before the sleep was known (an old header).
                    self.append(&record, &mut state, &[]).map(|_| ())
                }
                Next::Sleep(_) => return Ok(()),
                Next::Record(events) => self
                    .append(&record, &mut state, &events)
                    .map(|r| record = r),
                Next::Act {
                    step,
                    index,
                    attempt,
                    resumed,
                } => {
                    self.act(&mut record, &mut state, &step, index, attempt, resumed)
                        .await
                }
            };
            match result {
                Ok(()) => {}
                Err(RespondError::State(StateError::Conflict { .. })) => {
                    (record, state) = self.load(tenant, id)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn act(
        &self,
        record: &mut RunRecord,
        state: &mut RunState,
        step: &str,
        index: usize,
        attempt: u32,
        resumed: bool,
    ) -> Result<()> {
        let key = format!("wf-{}-{}-{step}-{index}", record.tenant, record.id);
        if !resumed {
            let started = RunEvent::ActionStarted {
                step: step.to_string(),
                index,
                attempt,
                key: key.clone(),
            };
            *record = self.append(record, state, &[started])?;
        }
        let spec = state.playbook.step(step).cloned();
        let input = match &state.position {
            crate::run::Position::Acting(p) => p.inputs.get(index).cloned(),
            _ => None,
        };
        let (Some(spec), Some(input)) = (spec, input) else {
            return Err(RespondError::Corrupt {
                id: record.id,
                why: format!("no input {index} for step {step}"),
            });
        };
        let call = Call {
            tenant: &record.tenant,
            incident_id: record.incident_id,
            run_id: record.id,
            key: &key,
        };
        let name = spec.action.as_deref().unwrap_or_default();
        let outcome = match tokio::time::timeout(
            spec.timeout,
            self.actions.call(name, &input, &call),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(format!(
                "timed out after {}",
                humantime::format_duration(spec.timeout)
            )),
        };
        let event = match outcome {
            Ok(output) => RunEvent::ActionSucceeded {
                step: step.to_string(),
                index,
                output,
            },
            Err(error) => RunEvent::ActionFailed {
                step: step.to_string(),
                index,
                attempt,
                retry_at_ns: (attempt < spec.retry.attempts).then(|| {
                    self.clock
                        .now_ns()
                        .saturating_add(nanos(spec.retry.pause_after(attempt)))
                }),
                error,
            },
        };
        // The action happened: its result must be logged even if someone
        // appended meanwhile (an answer, a cancel), so re-read and append.
        for _ in 0..20 {
            match self.append(record, state, std::slice::from_ref(&event)) {
                Ok(r) => {
                    *record = r;
                    return Ok(());
                }
                Err(RespondError::State(StateError::Conflict { .. })) => {
                    (*record, *state) = self.load(&record.tenant.clone(), record.id)?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(RespondError::Refused(
            "could not log an action's result".into(),
        ))
    }

    /// The run's params: the site's (`[[respond.params]]`) under the ones
    /// given to this run.
    fn with_site_params(&self, mut start: StartRun) -> StartRun {
        let mut params = self.actions.config().params_for(&start.playbook);
        params.extend(std::mem::take(&mut start.params));
        start.params = params;
        start
    }

    /// Renders what a run would do, touching nothing.
    pub fn dry_run(&self, playbook: &str, start: &StartRun) -> Result<Vec<crate::dry::DryStep>> {
        let library = self.library();
        let playbook = library
            .get(&start.tenant, playbook)
            .ok_or_else(|| RespondError::NoPlaybook(playbook.into()))?;
        let start = self.with_site_params(start.clone());
        let started = started_event(playbook, &start, self.clock.now_ns());
        Ok(crate::dry::dry_run(&started))
    }
}

fn started_event(playbook: &Playbook, start: &StartRun, now: i64) -> RunEvent {
    let mut params: serde_json::Map<String, Value> = playbook.params.clone().into_iter().collect();
    params.extend(start.params.clone());
    let mut context = match &start.context {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    context.insert("params".into(), Value::Object(params));
    RunEvent::Started {
        playbook: playbook.clone(),
        trigger: start.trigger.clone(),
        started_by: start.started_by.clone(),
        context: Value::Object(context),
        deadline_ns: now.saturating_add(nanos(playbook.timeout)),
    }
}

fn decode(id: i64, log: &[RunEntry]) -> Result<Vec<RunEvent>> {
    log.iter()
        .map(|entry| {
            serde_json::from_value(entry.body.clone()).map_err(|e| RespondError::Corrupt {
                id,
                why: format!("entry {}: {e}", entry.seq),
            })
        })
        .collect()
}
