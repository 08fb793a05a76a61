//! [`Incidents`]: every operation on incidents, each one a read, a change
//! checked against the rules, timeline entries, and one versioned write.
//! The operations live by concern: [`filing`] (alerts into incidents),
//! [`edits`] (what people change), [`merge`] (merge and split) and
//! [`outreach`] (SLA timers, escalation, notices, acknowledge links).

mod edits;
mod filing;
mod merge;
mod outreach;
mod playbooks;

use outreach::apply_raci;

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use watchfloor_model::incident::{
    Domain, Entities, Grade, Incident, Pap, Phase, SlaState, Status, TaskStatus, TimelineEntry, Tlp,
};
use watchfloor_model::Severity;
use watchfloor_state::{
    AccessStore, DocumentStore, IncidentFilter, IncidentStore, IncidentWrite, NewNotification,
    OutboxStore, StateError,
};

use crate::catalog::{Catalog, IncidentType};
use crate::grouping::GroupingOptions;
use crate::priority::PriorityMatrix;
use crate::sla::SlaPolicy;
use crate::timeline::{self, ChainBreak, Draft, TimelineEvent};
use crate::{clocks, Clock, IncidentError, Result};

/// Everything an operator can tune about incidents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentConfig {
    pub catalog: Catalog,
    pub priority: PriorityMatrix,
    pub sla: SlaPolicy,
    pub grouping: GroupingOptions,
    pub notify: NotifyOptions,
}

/// How notifications address people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyOptions {
    /// The base URL of acknowledge links in messages: the address users
    /// reach this server at.
    pub public_url: String,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// What [`Incidents`] needs from storage: incidents, the outbox with the
/// tenant documents, and users (for their email addresses).
pub trait Backend: IncidentStore + DocumentStore + OutboxStore + AccessStore {}

impl<T: IncidentStore + DocumentStore + OutboxStore + AccessStore> Backend for T {}

impl IncidentConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut out = self.catalog.problems();
        out.extend(self.priority.problems());
        out.extend(self.sla.problems());
        out
    }
}

/// A manually opened incident.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncident {
    pub title: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: String,
    pub impact: Option<Grade>,
    pub urgency: Option<Grade>,
    pub severity: Option<Severity>,
    #[serde(default)]
    pub entities: Entities,
}

/// A change to an incident. `version` is the version the change is based
/// on; everything else is optional (an empty string clears assignee/team).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentPatch {
    pub version: i64,
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<Status>,
    pub phase: Option<Phase>,
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub impact: Option<Grade>,
    pub urgency: Option<Grade>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub assets: Option<BTreeSet<String>>,
    pub services: Option<BTreeSet<String>>,
    pub attack: Option<BTreeSet<String>>,
    /// The post-incident review, whole (it replaces the one held).
    pub review: Option<watchfloor_model::incident::Review>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub title: String,
    pub team: String,
    pub assignee: Option<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    pub status: Option<TaskStatus>,
    pub assignee: Option<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewObservable {
    pub kind: String,
    pub value: String,
    pub tlp: Option<Tlp>,
    pub pap: Option<Pap>,
    #[serde(default)]
    pub ioc: bool,
}

/// A change to an observable's classification.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservablePatch {
    pub tlp: Option<Tlp>,
    pub pap: Option<Pap>,
    /// Whether it is an indicator of compromise (to share, to block).
    pub ioc: Option<bool>,
}

const OBSERVABLE_KINDS: [&str; 11] = [
    "ip", "domain", "url", "hash", "email", "host", "user", "file", "registry", "process", "other",
];

/// An incident being changed: what it was read as and what to write.
struct Work {
    incident: Incident,
    expected_version: i64,
    drafts: Vec<Draft>,
    alert_ids: Vec<i64>,
    notifications: Vec<NewNotification>,
    changed: bool,
}

impl Work {
    fn existing(incident: Incident) -> Work {
        Work {
            expected_version: incident.version,
            incident,
            drafts: Vec::new(),
            alert_ids: Vec::new(),
            notifications: Vec::new(),
            changed: false,
        }
    }

    fn into_write(mut self, now: i64) -> IncidentWrite {
        self.incident.version = self.expected_version + 1;
        self.incident.updated_ns = now;
        let entries = timeline::chain(&mut self.incident, self.drafts);
        IncidentWrite {
            incident: self.incident,
            expected_version: self.expected_version,
            entries,
            alert_ids: self.alert_ids,
            notifications: self.notifications,
        }
    }
}

pub struct Incidents {
    store: Arc<dyn Backend>,
    config: Arc<IncidentConfig>,
    clock: Arc<dyn Clock>,
}

const SYSTEM: &str = "system";

fn stale(id: i64, e: StateError) -> IncidentError {
    match e {
        StateError::Conflict { expected, current } => IncidentError::Stale {
            id,
            expected,
            current,
        },
        StateError::NotFound => IncidentError::NotFound(id),
        other => IncidentError::Store(other),
    }
}

impl Incidents {
    pub fn new(
        store: Arc<dyn Backend>,
        config: Arc<IncidentConfig>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Incidents {
            store,
            config,
            clock,
        }
    }

    pub fn config(&self) -> &IncidentConfig {
        &self.config
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ns()
    }

    fn kind(&self, key: &str) -> Result<&IncidentType> {
        self.config.catalog.get(key).ok_or_else(|| {
            let known: Vec<&str> = self
                .config
                .catalog
                .types
                .iter()
                .map(|t| t.key.as_str())
                .collect();
            IncidentError::Invalid(format!(
                "unknown incident type {key:?}; known: {}",
                known.join(", ")
            ))
        })
    }

    /// A new incident of `kind` with its RACI tasks, notices and SLA set,
    /// and the timeline entries that say so.
    #[allow(clippy::too_many_arguments)]
    fn fresh(
        &self,
        id: i64,
        tenant: &str,
        kind: &IncidentType,
        domain: Domain,
        title: String,
        severity: Severity,
        (impact, urgency): (Grade, Grade),
        now: i64,
        actor: &str,
    ) -> Work {
        let mut incident = Incident {
            id,
            tenant: tenant.into(),
            version: 0,
            title,
            description: String::new(),
            domain,
            kind: kind.key.clone(),
            severity,
            impact,
            urgency,
            priority: self.config.priority.priority(impact, urgency),
            status: Status::New,
            phase: domain.has_phases().then_some(Phase::Detection),
            assignee: None,
            team: None,
            created_ns: now,
            updated_ns: now,
            acknowledged_ns: None,
            resolved_ns: None,
            closed_ns: None,
            merged_into: None,
            entities: Entities::default(),
            alerts: Vec::new(),
            observables: Vec::new(),
            tasks: Vec::new(),
            comments: Vec::new(),
            notices: Vec::new(),
            assets: BTreeSet::new(),
            services: BTreeSet::new(),
            attack: BTreeSet::new(),
            review: Default::default(),
            sla: SlaState::default(),
            compliance: Default::default(),
            escalation: None,
            timeline_seq: 0,
            timeline_hash: String::new(),
        };
        self.config.sla.apply(&mut incident);
        let mut drafts = vec![Draft::new(
            now,
            actor,
            TimelineEvent::Opened {
                kind: &kind.key,
                domain,
                priority: incident.priority,
                severity,
                sla: &incident.sla,
            },
        )];
        apply_raci(&mut incident, kind, now, &mut drafts);
        incident.team = incident.tasks.first().map(|t| t.team.clone());
        Work {
            incident,
            expected_version: 0,
            drafts,
            alert_ids: Vec::new(),
            notifications: Vec::new(),
            changed: true,
        }
    }

    // ---- alerts to incidents ----------------------------------------

    // ---- reading ---------------------------------------------------

    pub fn get(&self, tenant: &str, id: i64) -> Result<Incident> {
        let mut incident = self
            .store
            .get_incident(tenant, id)?
            .ok_or(IncidentError::NotFound(id))?;
        clocks::recompute(&mut incident.compliance, self.now());
        Ok(incident)
    }

    pub fn list(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        let now = self.now();
        let mut list = self.store.list_incidents(filter)?;
        for i in &mut list {
            clocks::recompute(&mut i.compliance, now);
        }
        Ok(list)
    }

    /// The open incidents counted for a wallboard, with the nearest SLA
    /// deadlines (the store counts; no incident is loaded whole).
    pub fn open_summary(
        &self,
        tenant: &str,
        deadlines: usize,
    ) -> Result<watchfloor_state::OpenSummary> {
        Ok(self.store.open_summary(tenant, deadlines)?)
    }

    pub fn timeline(&self, tenant: &str, id: i64) -> Result<Vec<TimelineEntry>> {
        self.get(tenant, id)?;
        Ok(self.store.timeline(tenant, id)?)
    }

    /// Checks the timeline's hash chain: the number of entries, or where
    /// it breaks.
    pub fn verify(&self, tenant: &str, id: i64) -> Result<std::result::Result<usize, ChainBreak>> {
        let incident = self.get(tenant, id)?;
        let entries = self.store.timeline(tenant, id)?;
        Ok(timeline::verify(&incident, &entries).map(|()| entries.len()))
    }

    // ---- changes ---------------------------------------------------

    /// Reads, changes and writes one incident. With `expected` the change
    /// is refused if the incident moved on; without, it is retried on a
    /// fresh read (for changes that do not depend on what others did, like
    /// adding a comment).
    fn change(
        &self,
        tenant: &str,
        id: i64,
        expected: Option<i64>,
        mut f: impl FnMut(&mut Incident, &mut Vec<Draft>, i64) -> Result<()>,
    ) -> Result<Incident> {
        self.change_work(tenant, id, expected, |w, now| {
            f(&mut w.incident, &mut w.drafts, now)
        })
    }

    /// [`change`](Self::change) with the whole write at hand (to queue
    /// notifications with the change).
    fn change_work(
        &self,
        tenant: &str,
        id: i64,
        expected: Option<i64>,
        mut f: impl FnMut(&mut Work, i64) -> Result<()>,
    ) -> Result<Incident> {
        for attempt in 0..64u64 {
            if attempt > 0 {
                backoff(attempt);
            }
            let incident = self
                .store
                .get_incident(tenant, id)?
                .ok_or(IncidentError::NotFound(id))?;
            if let Some(v) = expected {
                if v != incident.version {
                    return Err(IncidentError::Stale {
                        id,
                        expected: v,
                        current: incident.version,
                    });
                }
            }
            let now = self.now();
            let mut w = Work::existing(incident);
            f(&mut w, now)?;
            let write = w.into_write(now);
            match self.store.write_incidents(std::slice::from_ref(&write)) {
                Ok(()) => {
                    let mut out = write.incident;
                    clocks::recompute(&mut out.compliance, now);
                    return Ok(out);
                }
                Err(StateError::Conflict { .. }) if expected.is_none() => continue,
                Err(e) => return Err(stale(id, e)),
            }
        }
        Err(IncidentError::Refused(format!(
            "incident {id} is changing too fast; try again"
        )))
    }
}

/// Waits a little before retrying a write that lost a race, longer each
/// time and jittered so the racers spread out.
fn backoff(attempt: u64) {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) % 1000);
    std::thread::sleep(std::time::Duration::from_micros(
        attempt.min(20) * 500 + jitter,
    ));
}
