//! Retro-hunts: indicators that just arrived, looked for in the events of
//! the past days already stored ("this address came in today's feed: was
//! it here last week?"). Hits raise intel alerts marked retro, and count
//! as sightings.
//!
//! A tenant's indicators are looked for in its own events; the shared
//! feeds' in every tenant's, each alert going to the event's tenant.
//! Hunts run one at a time on a thread of their own ([`RetroHunts`]), so
//! a large import does not hold up the API nor take every core from
//! detection; each is listed with its state and figures.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use watchfloor_intel::retro::RetroSet;
use watchfloor_intel::{Indicator, Intel, SHARED};
use watchfloor_model::{now_ns, Alert, Event, SourceRef, Value};
use watchfloor_search::{EventDoc, EventStore, ScanRequest};
use watchfloor_state::StateStore;

use crate::detect::intel_alert;
use crate::{record_sightings, PipelineError};

/// Hunts kept in the list (older ones are forgotten).
const KEPT: usize = 100;

/// What a retro-hunt found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RetroReport {
    /// Indicators looked for.
    pub indicators: usize,
    /// Stored events in the window.
    pub events: u64,
    /// Of them, events parsed (the others could not hold any value).
    pub parsed: u64,
    /// Indicator matches found.
    pub matches: u64,
    /// New alerts stored (a match the live matcher already alerted on is
    /// not stored twice).
    pub alerts: usize,
}

/// Looks for `indicators` (of `scope`) in the stored events of
/// `from_ns..to_ns`; stores the alerts and sightings.
pub fn retro_hunt(
    events: &dyn EventStore,
    state: &dyn StateStore,
    intel: &Intel,
    scope: &str,
    indicators: Vec<Indicator>,
    (from_ns, to_ns): (i64, i64),
) -> Result<RetroReport, PipelineError> {
    let set = RetroSet::new(scope, indicators);
    let mut report = RetroReport {
        indicators: set.len(),
        ..RetroReport::default()
    };
    if set.is_empty() {
        return Ok(report);
    }
    let request = ScanRequest {
        tenant: (scope != SHARED).then(|| scope.to_string()),
        from_ns: Some(from_ns),
        to_ns: Some(to_ns),
    };
    let now = now_ns();
    let found: Mutex<Vec<Alert>> = Mutex::new(Vec::new());
    let stats = events.scan(&request, &|line| set.may_match(line), &|doc| {
        let alerts = alerts_of(&set, intel, &doc, now);
        if !alerts.is_empty() {
            found
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(alerts);
        }
    })?;
    report.events = stats.events;
    report.parsed = stats.visited;
    let alerts = found.into_inner().unwrap_or_else(|p| p.into_inner());
    report.matches = alerts.len() as u64;
    for chunk in alerts.chunks(1000) {
        let stored = state.insert_alerts(chunk)?;
        report.alerts += stored.len();
        record_sightings(intel, state, &stored)?;
    }
    Ok(report)
}

/// The retro alerts of one stored event.
fn alerts_of(set: &RetroSet, intel: &Intel, doc: &EventDoc, now: i64) -> Vec<Alert> {
    let matches = set.matches(&doc.fields, &intel.decay, &intel.warninglists, now);
    if matches.is_empty() {
        return Vec::new();
    }
    let event = event_of_doc(doc);
    matches
        .into_iter()
        .map(|m| intel_alert(m, &doc.tenant, doc.time_ns, doc.id, &event, true))
        .collect()
}

/// A stored event as the detectors see one (its fields, host and time),
/// for the alert's entities.
fn event_of_doc(doc: &EventDoc) -> Event {
    let mut event = Event::new(SourceRef::default());
    for (name, value) in &doc.fields {
        event.push(name.as_str(), Value::from_json_scalar(value));
    }
    event.core.timestamp = Some(doc.time_ns);
    event.core.host = doc.host.as_deref().map(Into::into);
    event
}

/// Where a hunt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HuntState {
    Queued,
    Running,
    Done,
    Failed,
}

/// One retro-hunt, as listed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RetroHunt {
    pub id: u64,
    /// The indicators' scope: a tenant, or `*` for the shared feeds.
    pub scope: String,
    /// What brought the indicators (an import's source).
    pub source: String,
    pub from_ns: i64,
    pub to_ns: i64,
    pub state: HuntState,
    pub queued_ns: i64,
    pub finished_ns: Option<i64>,
    pub report: RetroReport,
    pub error: Option<String>,
}

/// What a hunt reads and writes.
#[derive(Clone)]
pub struct HuntStores {
    pub events: Arc<dyn EventStore>,
    pub state: Arc<dyn StateStore>,
    pub intel: Arc<Intel>,
}

/// The retro-hunts of this process: queued, run one at a time on threads
/// of their own, listed newest first.
#[derive(Default)]
pub struct RetroHunts {
    hunts: Mutex<VecDeque<RetroHunt>>,
    /// Held by the running hunt: the next waits for it.
    running: Mutex<()>,
}

impl RetroHunts {
    /// Queues a hunt of `indicators` over the window; its id.
    pub fn start(
        self: &Arc<Self>,
        stores: HuntStores,
        scope: &str,
        source: &str,
        indicators: Vec<Indicator>,
        window: (i64, i64),
    ) -> u64 {
        let id = self.push(RetroHunt {
            id: 0,
            scope: scope.to_string(),
            source: source.to_string(),
            from_ns: window.0,
            to_ns: window.1,
            state: HuntState::Queued,
            queued_ns: now_ns(),
            finished_ns: None,
            report: RetroReport {
                indicators: indicators.len(),
                ..RetroReport::default()
            },
            error: None,
        });
        let hunts = Arc::clone(self);
        let scope = scope.to_string();
        let spawned = std::thread::Builder::new()
            .name("retro-hunt".into())
            .spawn(move || {
                let _one_at_a_time = hunts.running.lock().unwrap_or_else(|p| p.into_inner());
                hunts.update(id, |h| h.state = HuntState::Running);
                let result = retro_hunt(
                    stores.events.as_ref(),
                    stores.state.as_ref(),
                    &stores.intel,
                    &scope,
                    indicators,
                    window,
                );
                hunts.finish(id, result);
            });
        if let Err(e) = spawned {
            self.finish(id, Err(PipelineError::Thread(e.to_string())));
        }
        id
    }

    fn push(&self, mut hunt: RetroHunt) -> u64 {
        let mut hunts = self.lock();
        hunt.id = hunts.front().map_or(1, |h| h.id + 1);
        let id = hunt.id;
        hunts.push_front(hunt);
        hunts.truncate(KEPT);
        id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<RetroHunt>> {
        self.hunts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut RetroHunt)) {
        if let Some(hunt) = self.lock().iter_mut().find(|h| h.id == id) {
            f(hunt);
        }
    }

    fn finish(&self, id: u64, result: Result<RetroReport, PipelineError>) {
        match &result {
            Ok(r) => tracing::info!(
                hunt = id,
                events = r.events,
                parsed = r.parsed,
                alerts = r.alerts,
                "retro-hunt done"
            ),
            Err(e) => tracing::warn!(hunt = id, "retro-hunt failed: {e}"),
        }
        self.update(id, |h| {
            h.finished_ns = Some(now_ns());
            match result {
                Ok(report) => {
                    h.state = HuntState::Done;
                    h.report = report;
                }
                Err(e) => {
                    h.state = HuntState::Failed;
                    h.error = Some(e.to_string());
                }
            }
        });
    }

    /// The hunts of these scopes, newest first (a tenant sees its own; a
    /// shared feed's hunt reads every tenant's events, so its figures are
    /// the provider's to see).
    pub fn list(&self, scopes: &[&str]) -> Vec<RetroHunt> {
        self.lock()
            .iter()
            .filter(|h| scopes.contains(&h.scope.as_str()))
            .cloned()
            .collect()
    }
}
