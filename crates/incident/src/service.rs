//! [`Incidents`]: every operation on incidents, each one a read, a change
//! checked against the rules, timeline entries, and one versioned write.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use watchfloor_model::incident::{
    Comment, Domain, Entities, EscalationState, Grade, Incident, IncidentAlert, Notice, Observable,
    Pap, Phase, Raci, Regime, SlaState, Status, Task, TaskStatus, TimelineEntry, Tlp,
};
use watchfloor_model::{Alert, Severity};
use watchfloor_state::{
    AccessStore, DocumentStore, IncidentFilter, IncidentStore, IncidentWrite, NewNotification,
    OutboxStore, StateError,
};

use crate::catalog::{Catalog, IncidentType};
use crate::grouping::{self, GroupingOptions, Placement};
use crate::notify::{self, Batch, Composer, Directory};
use crate::priority::{grades_for_level, PriorityMatrix};
use crate::sla::SlaPolicy;
use crate::timeline::{self, ChainBreak, DeadlineDue, Draft, TimelineEvent};
use crate::{clocks, lifecycle, Clock, IncidentError, Result};

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

    /// Files every alert not yet in an incident; returns how many. Each
    /// batch is one transaction, so an alert is filed exactly once; a batch
    /// that meets a concurrent change is read again and redone.
    pub fn file_alerts(&self) -> Result<usize> {
        let mut filed = 0;
        loop {
            let alerts = self.store.unfiled_alerts(500)?;
            if alerts.is_empty() {
                return Ok(filed);
            }
            let mut attempts = 0;
            loop {
                match self.file_batch(&alerts) {
                    Ok(()) => break,
                    Err(IncidentError::Stale { .. }) if attempts < 5 => attempts += 1,
                    Err(e) => return Err(e),
                }
            }
            filed += alerts.len();
        }
    }

    fn file_batch(&self, alerts: &[Alert]) -> Result<()> {
        let now = self.now();
        let mut work: Vec<Work> = self
            .store
            .open_incidents()?
            .into_iter()
            .filter(|i| alerts.iter().any(|a| a.tenant == i.tenant))
            .map(Work::existing)
            .collect();
        for alert in alerts {
            let key = alert.dedup_key();
            let incidents: Vec<&Incident> = work.iter().map(|w| &w.incident).collect();
            match grouping::place(alert, &key, &incidents, &self.config.grouping) {
                Placement::Duplicate { incident, entry } => {
                    let w = &mut work[incident];
                    let e = &mut w.incident.alerts[entry];
                    e.count += 1;
                    e.last_ns = e.last_ns.max(alert.time_ns);
                    w.alert_ids.push(alert.id);
                    w.changed = true;
                }
                Placement::Attach { incident } => {
                    attach(&mut work[incident], alert, key, now, &self.config.priority);
                }
                Placement::Open => {
                    let mut w = self.open_from_alert(alert, now)?;
                    attach(&mut w, alert, key, now, &self.config.priority);
                    work.push(w);
                }
            }
        }
        let writes: Vec<IncidentWrite> = work
            .into_iter()
            .filter(|w| w.changed)
            .map(|w| w.into_write(now))
            .collect();
        let first = writes.first().map_or(0, |w| w.incident.id);
        self.store
            .write_incidents(&writes)
            .map_err(|e| stale(first, e))
    }

    fn open_from_alert(&self, alert: &Alert, now: i64) -> Result<Work> {
        let kind = self
            .config
            .catalog
            .classify(alert.domain, &alert.rule_title, &alert.tags);
        let domain = match (kind.domain, alert.domain) {
            (Domain::Both, _) => Domain::Both,
            (_, Domain::Operations) => Domain::Operations,
            _ => Domain::Security,
        };
        let title = match &alert.host {
            Some(h) => format!("{} on {h}", alert.rule_title),
            None => alert.rule_title.clone(),
        };
        let id = self.store.reserve_incident_id()?;
        Ok(self.fresh(
            id,
            &alert.tenant,
            kind,
            domain,
            title,
            alert.level,
            grades_for_level(alert.level),
            now,
            SYSTEM,
        ))
    }

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
            f(&mut w.incident, &mut w.drafts, now)?;
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

    pub fn open(&self, tenant: &str, actor: &str, new: NewIncident) -> Result<Incident> {
        let kind = self.kind(&new.kind)?;
        if new.title.trim().is_empty() {
            return Err(IncidentError::Invalid("title: must not be empty".into()));
        }
        let severity = new.severity.unwrap_or(Severity::Medium);
        let (di, du) = grades_for_level(severity);
        let grades = (new.impact.unwrap_or(di), new.urgency.unwrap_or(du));
        let domain = if kind.domain == Domain::Both {
            Domain::Both
        } else {
            kind.domain
        };
        let now = self.now();
        let id = self.store.reserve_incident_id()?;
        let mut w = self.fresh(
            id, tenant, kind, domain, new.title, severity, grades, now, actor,
        );
        w.incident.description = new.description;
        w.incident.entities = new.entities;
        let write = w.into_write(now);
        self.store.write_incidents(std::slice::from_ref(&write))?;
        Ok(write.incident)
    }

    pub fn update(
        &self,
        tenant: &str,
        id: i64,
        actor: &str,
        patch: IncidentPatch,
    ) -> Result<Incident> {
        if let Some(k) = &patch.kind {
            self.kind(k)?;
        }
        let matrix = &self.config.priority;
        let sla = &self.config.sla;
        self.change(tenant, id, Some(patch.version), |i, drafts, now| {
            apply_patch(i, &patch, matrix, sla, now, actor, drafts)
        })
    }

    pub fn comment(&self, tenant: &str, id: i64, actor: &str, text: &str) -> Result<Incident> {
        if text.trim().is_empty() {
            return Err(IncidentError::Invalid("text: must not be empty".into()));
        }
        self.change(tenant, id, None, |i, drafts, now| {
            let cid = i.comments.iter().map(|c| c.id).max().unwrap_or(0) + 1;
            i.comments.push(Comment {
                id: cid,
                author: actor.into(),
                text: text.into(),
                created_ns: now,
            });
            drafts.push(Draft::new(
                now,
                actor,
                TimelineEvent::Comment { id: cid, text },
            ));
            Ok(())
        })
    }

    pub fn add_task(&self, tenant: &str, id: i64, actor: &str, t: NewTask) -> Result<Incident> {
        if t.title.trim().is_empty() || t.team.trim().is_empty() {
            return Err(IncidentError::Invalid(
                "title and team: must not be empty".into(),
            ));
        }
        self.change(tenant, id, None, |i, drafts, now| {
            refuse_if_closed(i)?;
            let tid = i.tasks.iter().map(|t| t.id).max().unwrap_or(0) + 1;
            i.tasks.push(Task {
                id: tid,
                title: t.title.clone(),
                activity: None,
                team: t.team.clone(),
                assignee: t.assignee.clone(),
                status: TaskStatus::Open,
                created_ns: now,
                done_ns: None,
            });
            drafts.push(Draft::new(
                now,
                actor,
                TimelineEvent::TaskCreated {
                    id: tid,
                    title: &t.title,
                    team: &t.team,
                    activity: None,
                    raci: None,
                },
            ));
            Ok(())
        })
    }

    pub fn update_task(
        &self,
        tenant: &str,
        id: i64,
        task: u32,
        actor: &str,
        p: TaskPatch,
    ) -> Result<Incident> {
        self.change(tenant, id, None, |i, drafts, now| {
            refuse_if_closed(i)?;
            let t = i.tasks.iter_mut().find(|t| t.id == task).ok_or_else(|| {
                IncidentError::Invalid(format!("incident {id} has no task {task}"))
            })?;
            if let Some(a) = &p.assignee {
                t.assignee = (!a.is_empty()).then(|| a.clone());
            }
            if let Some(s) = p.status {
                if t.status != TaskStatus::Open && s != TaskStatus::Open {
                    return Err(IncidentError::Refused(format!(
                        "task {task} is already finished"
                    )));
                }
                t.status = s;
                t.done_ns = (s != TaskStatus::Open).then_some(now);
            }
            drafts.push(Draft::new(
                now,
                actor,
                TimelineEvent::TaskUpdated {
                    id: task,
                    status: t.status,
                    assignee: t.assignee.as_deref(),
                },
            ));
            Ok(())
        })
    }

    pub fn add_observable(
        &self,
        tenant: &str,
        id: i64,
        actor: &str,
        o: NewObservable,
    ) -> Result<Incident> {
        if !OBSERVABLE_KINDS.contains(&o.kind.as_str()) {
            return Err(IncidentError::Invalid(format!(
                "kind: one of {}",
                OBSERVABLE_KINDS.join(", ")
            )));
        }
        if o.value.trim().is_empty() {
            return Err(IncidentError::Invalid("value: must not be empty".into()));
        }
        self.change(tenant, id, None, |i, drafts, now| {
            if i.observables
                .iter()
                .any(|x| x.kind == o.kind && x.value == o.value)
            {
                return Err(IncidentError::Refused(format!(
                    "observable {}:{} is already recorded",
                    o.kind, o.value
                )));
            }
            let oid = i.observables.iter().map(|x| x.id).max().unwrap_or(0) + 1;
            let tlp = o.tlp.unwrap_or(Tlp::Amber);
            let pap = o.pap.unwrap_or(Pap::Amber);
            i.observables.push(Observable {
                id: oid,
                kind: o.kind.clone(),
                value: o.value.clone(),
                tlp,
                pap,
                ioc: o.ioc,
                added_ns: now,
            });
            drafts.push(Draft::new(
                now,
                actor,
                TimelineEvent::ObservableAdded {
                    id: oid,
                    kind: &o.kind,
                    value: &o.value,
                    tlp,
                    pap,
                    ioc: o.ioc,
                },
            ));
            Ok(())
        })
    }

    /// Sets the regulatory flags and the times the clocks count from.
    pub fn flag(
        &self,
        tenant: &str,
        id: i64,
        actor: &str,
        regimes: &[Regime],
        aware_ns: Option<i64>,
        classified_ns: Option<i64>,
    ) -> Result<Incident> {
        self.change(tenant, id, None, |i, drafts, now| {
            let c = &mut i.compliance;
            c.regimes.extend(regimes.iter().copied());
            if let Some(t) = aware_ns {
                c.aware_ns = Some(t);
            }
            if let Some(t) = classified_ns {
                c.classified_ns = Some(t);
            }
            if c.aware_ns.is_none() {
                c.aware_ns = Some(i.created_ns);
            }
            clocks::recompute(c, now);
            let deadlines: Vec<DeadlineDue> = c
                .deadlines
                .iter()
                .map(|d| DeadlineDue {
                    regime: d.regime,
                    report: &d.report,
                    due_ns: d.due_ns,
                })
                .collect();
            drafts.push(Draft::new(
                now,
                actor,
                TimelineEvent::ComplianceFlagged {
                    regimes: &c.regimes,
                    aware_ns: c.aware_ns,
                    classified_ns: c.classified_ns,
                    deadlines,
                },
            ));
            Ok(())
        })
    }

    pub fn submit_report(
        &self,
        tenant: &str,
        id: i64,
        actor: &str,
        regime: Regime,
        report: &str,
        late_reason: Option<&str>,
    ) -> Result<Incident> {
        self.change(tenant, id, None, |i, drafts, now| {
            clocks::submit(&mut i.compliance, regime, report, now, actor, late_reason)
                .map_err(IncidentError::Refused)?;
            drafts.push(Draft::new(
                now,
                actor,
                TimelineEvent::ReportSubmitted {
                    regime,
                    report,
                    late_reason,
                },
            ));
            Ok(())
        })
    }

    /// Moves `from`'s alerts, entities, observables and open tasks into
    /// `into` and closes `from`; both timelines record the reason.
    pub fn merge(
        &self,
        tenant: &str,
        from: i64,
        into: i64,
        actor: &str,
        reason: &str,
    ) -> Result<Incident> {
        let source = self.get(tenant, from)?;
        let target = self.get(tenant, into)?;
        if from == into {
            return Err(IncidentError::Invalid(
                "an incident cannot be merged into itself".into(),
            ));
        }
        require_reason(reason)?;
        let now = self.now();
        for (i, what) in [(&source, "merged"), (&target, "merged into")] {
            if !i.status.is_open() || i.merged_into.is_some() {
                return Err(IncidentError::Refused(format!(
                    "incident {} is {} and cannot be {what}",
                    i.id,
                    i.status.as_str()
                )));
            }
        }
        let mut s = Work::existing(source);
        let mut t = Work::existing(target);
        absorb(&mut t.incident, &s.incident, &self.config.priority);
        t.drafts.push(Draft::new(
            now,
            actor,
            TimelineEvent::MergedFrom {
                incident: from,
                reason,
            },
        ));
        s.incident.merged_into = Some(into);
        s.incident.status = Status::Closed;
        s.incident.closed_ns = Some(now);
        s.drafts.push(Draft::new(
            now,
            actor,
            TimelineEvent::MergedInto {
                incident: into,
                reason,
            },
        ));
        let writes = [t.into_write(now), s.into_write(now)];
        self.store
            .write_incidents(&writes)
            .map_err(|e| stale(into, e))?;
        let [target, _] = writes;
        Ok(target.incident)
    }

    /// Moves the named alert entries out into a new incident of the same
    /// type; both timelines record the reason.
    pub fn split(
        &self,
        tenant: &str,
        id: i64,
        alert_ids: &[i64],
        actor: &str,
        reason: &str,
    ) -> Result<Incident> {
        let original = self.get(tenant, id)?;
        require_reason(reason)?;
        let now = self.now();
        refuse_if_closed(&original)?;
        let (moving, staying): (Vec<_>, Vec<_>) = original
            .alerts
            .iter()
            .cloned()
            .partition(|a| alert_ids.contains(&a.alert_id));
        if moving.len() != alert_ids.len() {
            return Err(IncidentError::Invalid(format!(
                "incident {id} has alerts {:?}; not all of {alert_ids:?} are among them",
                original
                    .alerts
                    .iter()
                    .map(|a| a.alert_id)
                    .collect::<Vec<_>>()
            )));
        }
        if staying.is_empty() {
            return Err(IncidentError::Refused(
                "a split must leave at least one alert behind".into(),
            ));
        }
        let kind = self.kind(&original.kind)?;
        let new_id = self.store.reserve_incident_id()?;
        let severity = moving.iter().map(|a| a.level).max().unwrap_or_default();
        let mut n = self.fresh(
            new_id,
            tenant,
            kind,
            original.domain,
            format!("{} (split from #{id})", original.title),
            severity,
            (original.impact, original.urgency),
            now,
            actor,
        );
        n.drafts.push(Draft::new(
            now,
            actor,
            TimelineEvent::SplitFrom {
                incident: id,
                alerts: alert_ids,
                reason,
            },
        ));
        n.incident.entities = entities_of(&moving);
        n.incident.alerts = moving;
        let mut o = Work::existing(original);
        o.incident.alerts = staying;
        o.incident.entities = entities_of(&o.incident.alerts);
        o.drafts.push(Draft::new(
            now,
            actor,
            TimelineEvent::SplitInto {
                incident: new_id,
                alerts: alert_ids,
                reason,
            },
        ));
        let writes = [n.into_write(now), o.into_write(now)];
        self.store
            .write_incidents(&writes)
            .map_err(|e| stale(id, e))?;
        let [new, _] = writes;
        Ok(new.incident)
    }

    /// Runs the timers: records the SLA warnings and breaches that fell
    /// due, fires due escalation steps and sends RACI notices (queuing
    /// their messages with the incident write). Returns what happened as
    /// (incident id, event) in time order.
    pub fn tick(&self) -> Result<Vec<(i64, &'static str)>> {
        let now = self.now();
        let mut recorded = Vec::new();
        let mut directories: HashMap<String, Directory> = HashMap::new();
        for incident in self.store.open_incidents()? {
            let mut w = Work::existing(incident);
            let mut events = Vec::new();
            for (ev, at) in self.config.sla.due_events(&mut w.incident, now) {
                w.drafts.push(Draft::new(
                    at,
                    SYSTEM,
                    TimelineEvent::sla(ev, w.incident.priority, at),
                ));
                events.push((at, ev.as_str()));
            }
            if needs_outreach(&w.incident) {
                let tenant = w.incident.tenant.clone();
                if !directories.contains_key(&tenant) {
                    let d = Directory::load(self.store.as_ref(), &tenant)?;
                    directories.insert(tenant.clone(), d);
                }
                let dir = &directories[&tenant];
                events.extend(self.escalate(&mut w, dir, now));
                self.send_notices(&mut w, dir, now);
            }
            if w.drafts.is_empty() {
                continue;
            }
            let id = w.incident.id;
            match self.store.write_incidents(&[w.into_write(now)]) {
                // Someone changed it meanwhile: the next tick sees it again.
                Err(StateError::Conflict { .. }) => continue,
                other => other?,
            }
            recorded.extend(events.into_iter().map(|(at, ev)| (at, id, ev)));
        }
        recorded.sort();
        Ok(recorded.into_iter().map(|(_, id, ev)| (id, ev)).collect())
    }

    fn composer<'a>(
        &'a self,
        incident: &'a Incident,
        directory: &'a Directory,
        email_of: &'a dyn Fn(&str) -> Option<String>,
        now: i64,
    ) -> Composer<'a> {
        Composer {
            incident,
            directory,
            public_url: &self.config.notify.public_url,
            email_of,
            now_ns: now,
            acknowledge_links: true,
        }
    }

    /// The email address of `username`, if the user may act in `tenant`
    /// and is enabled.
    fn email_of(&self, tenant: &str, username: &str) -> Option<String> {
        let (user, _) = self.store.find_login(username).ok()??;
        (!user.disabled && user.can_act_in(tenant))
            .then_some(user.email)
            .flatten()
    }

    /// Fires the due steps of the incident's escalation policy while it
    /// is not acknowledged; picks the policy on the first look.
    fn escalate(&self, w: &mut Work, dir: &Directory, now: i64) -> Vec<(i64, &'static str)> {
        if w.incident.status != Status::New {
            return Vec::new();
        }
        let mut state = match w.incident.escalation.clone() {
            Some(s) => s,
            None => {
                // No policy yet: one created later still takes the incident
                // while it waits for someone.
                let Some((name, _)) = dir.policy_for(&w.incident) else {
                    return Vec::new();
                };
                w.drafts.push(Draft::new(
                    now,
                    SYSTEM,
                    TimelineEvent::EscalationStarted { policy: name },
                ));
                EscalationState {
                    policy: Some(name.clone()),
                    started_ns: now,
                    fired: 0,
                    exhausted_ns: None,
                }
            }
        };
        let Some(name) = state
            .policy
            .clone()
            .filter(|_| state.exhausted_ns.is_none())
        else {
            return Vec::new();
        };
        let mut fired = Vec::new();
        match dir.policy(&name) {
            None => {
                state.exhausted_ns = Some(now);
                w.drafts.push(Draft::new(
                    now,
                    SYSTEM,
                    TimelineEvent::EscalationStopped {
                        policy: &name,
                        reason: "the policy no longer exists",
                    },
                ));
            }
            Some(policy) => {
                let tenant = w.incident.tenant.clone();
                let email_of = |u: &str| self.email_of(&tenant, u);
                for f in policy.due(&state, now) {
                    let targets = policy.targets(&f);
                    let reason = format!(
                        "Escalation {name}, step {} of {}, round {} of {}: incident #{} is not acknowledged.",
                        f.step,
                        policy.steps.len(),
                        f.round,
                        policy.repeat + 1,
                        w.incident.id
                    );
                    let mut batch = Batch::default();
                    let composer = self.composer(&w.incident, dir, &email_of, now);
                    for t in targets {
                        let key = format!("escalation:{}:{}:{t}", w.incident.id, f.index);
                        composer.for_target(t, f.at_ns, &key, &reason, &mut batch);
                    }
                    w.drafts.push(Draft::new(
                        f.at_ns,
                        SYSTEM,
                        TimelineEvent::Escalated {
                            policy: &name,
                            round: f.round,
                            step: f.step,
                            targets: targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
                            notified: &batch.recipients,
                            problems: &batch.problems,
                        },
                    ));
                    w.notifications.extend(batch.messages);
                    state.fired = f.index + 1;
                    fired.push((f.at_ns, "escalated"));
                }
                if policy.exhausted(&state) {
                    state.exhausted_ns = Some(now);
                    w.drafts.push(Draft::new(
                        now,
                        SYSTEM,
                        TimelineEvent::EscalationExhausted {
                            policy: &name,
                            steps_fired: state.fired,
                        },
                    ));
                }
            }
        }
        w.incident.escalation = Some(state);
        fired
    }

    /// Tells the Consulted and Informed teams of the RACI matrix, once.
    fn send_notices(&self, w: &mut Work, dir: &Directory, now: i64) {
        let tenant = w.incident.tenant.clone();
        let email_of = |u: &str| self.email_of(&tenant, u);
        for n in 0..w.incident.notices.len() {
            if w.incident.notices[n].notified {
                continue;
            }
            let notice = w.incident.notices[n].clone();
            let reason = notice_reason(&w.incident, &notice);
            let mut batch = Batch::default();
            let mut composer = self.composer(&w.incident, dir, &email_of, now);
            composer.acknowledge_links = false;
            let key = format!(
                "notice:{}:{}:{}",
                w.incident.id, notice.team, notice.activity
            );
            composer.for_team(&notice.team, &key, &reason, &mut batch);
            w.drafts.push(Draft::new(
                now,
                SYSTEM,
                TimelineEvent::NoticeSent {
                    team: &notice.team,
                    raci: notice.raci,
                    activity: &notice.activity,
                    notified: &batch.recipients,
                    problems: &batch.problems,
                },
            ));
            w.notifications.extend(batch.messages);
            w.incident.notices[n].notified = true;
        }
    }

    /// Acknowledges the incident an acknowledge link (from a notification)
    /// stands for, as the link's recipient. Returns the incident and
    /// whether this call acknowledged it (false: it already was).
    pub fn acknowledge_by_link(&self, secret: &str) -> Result<(Incident, String, bool)> {
        let link = self
            .store
            .find_ack_link(&notify::ack_hash(secret))?
            .ok_or_else(|| IncidentError::Invalid("unknown acknowledge link".into()))?;
        let actor = format!("{} (notification link)", link.recipient);
        let current = self.get(&link.tenant, link.incident_id)?;
        if current.status != Status::New {
            return Ok((current, actor, false));
        }
        let mut acknowledged = false;
        let incident = self.change(&link.tenant, link.incident_id, None, |i, drafts, now| {
            acknowledged = i.status == Status::New;
            if acknowledged {
                drafts.push(Draft::new(
                    now,
                    &actor,
                    TimelineEvent::Status {
                        from: Status::New,
                        to: Status::Acknowledged,
                        via: Some("notification link"),
                    },
                ));
                set_status(i, Status::Acknowledged, now);
            }
            Ok(())
        })?;
        Ok((incident, actor, acknowledged))
    }
}

/// What a RACI notice tells the team.
fn notice_reason(i: &Incident, notice: &Notice) -> String {
    let (team, activity) = (&notice.team, &notice.activity);
    match notice.raci {
        Raci::R | Raci::A => {
            let task = i
                .tasks
                .iter()
                .find(|t| t.team == *team && t.activity.as_deref() == Some(activity))
                .map_or("", |t| t.title.as_str());
            format!(
                "Team {team} is responsible for \"{activity}\" on incident #{} ({}): {task}",
                i.id, i.kind
            )
        }
        Raci::C | Raci::I => {
            let role = if notice.raci == Raci::C {
                "consulted"
            } else {
                "informed"
            };
            format!(
                "Team {team} is {role} on \"{activity}\" for incident #{} ({}).",
                i.id, i.kind
            )
        }
    }
}

/// Whether the incident may have escalation steps or notices to send.
fn needs_outreach(i: &Incident) -> bool {
    let escalating = i.status == Status::New
        && i.escalation
            .as_ref()
            .is_none_or(|e| e.policy.is_some() && e.exhausted_ns.is_none());
    escalating || i.notices.iter().any(|n| !n.notified)
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

fn require_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty() {
        return Err(IncidentError::Invalid("reason: must not be empty".into()));
    }
    Ok(())
}

fn refuse_if_closed(i: &Incident) -> Result<()> {
    if i.status == Status::Closed {
        return Err(IncidentError::Refused(format!(
            "incident {} is closed",
            i.id
        )));
    }
    Ok(())
}

fn entities_of(alerts: &[IncidentAlert]) -> Entities {
    let mut e = Entities::default();
    for a in alerts {
        e.extend(&a.entities);
    }
    e
}

/// Tasks for the Responsible teams, notices for the Consulted and
/// Informed ones, as the type's RACI matrix says. Responsible teams get a
/// notice of their task too, so their channels hear of it.
fn apply_raci(incident: &mut Incident, kind: &IncidentType, now: i64, drafts: &mut Vec<Draft>) {
    for row in &kind.raci {
        for team in &row.responsible {
            let id = incident.tasks.len() as u32 + 1;
            incident.tasks.push(Task {
                id,
                title: row.task.clone(),
                activity: Some(row.activity.clone()),
                team: team.clone(),
                assignee: None,
                status: TaskStatus::Open,
                created_ns: now,
                done_ns: None,
            });
            drafts.push(Draft::new(
                now,
                SYSTEM,
                TimelineEvent::TaskCreated {
                    id,
                    title: &row.task,
                    team,
                    activity: Some(&row.activity),
                    raci: Some(Raci::R),
                },
            ));
            incident.notices.push(Notice {
                team: team.clone(),
                raci: Raci::R,
                activity: row.activity.clone(),
                time_ns: now,
                notified: false,
            });
        }
        for (team, raci) in row
            .letters()
            .filter(|(_, l)| matches!(l, Raci::C | Raci::I))
        {
            incident.notices.push(Notice {
                team: team.into(),
                raci,
                activity: row.activity.clone(),
                time_ns: now,
                notified: false,
            });
            drafts.push(Draft::new(
                now,
                SYSTEM,
                TimelineEvent::Notified {
                    team,
                    raci,
                    activity: &row.activity,
                },
            ));
        }
    }
}

/// Adds a new distinct alert to an incident.
fn attach(w: &mut Work, alert: &Alert, key: String, now: i64, matrix: &PriorityMatrix) {
    let entities = alert.entities();
    let i = &mut w.incident;
    i.entities.extend(&entities);
    i.attack.extend(
        alert
            .tags
            .iter()
            .filter(|t| t.starts_with("attack."))
            .cloned(),
    );
    if alert.domain == Domain::Operations && i.domain == Domain::Security
        || alert.domain == Domain::Security && i.domain == Domain::Operations
    {
        i.domain = Domain::Both;
        i.phase.get_or_insert(Phase::Detection);
    }
    let rule = alert
        .rule_id
        .clone()
        .unwrap_or_else(|| alert.rule_title.clone());
    i.alerts.push(IncidentAlert {
        alert_id: alert.id,
        dedup_key: key,
        rule: alert.rule_title.clone(),
        level: alert.level,
        count: 1,
        entities,
        first_ns: alert.time_ns,
        last_ns: alert.time_ns,
        parent: alert.parent.clone(),
    });
    w.drafts.push(Draft::new(
        now,
        SYSTEM,
        TimelineEvent::AlertAdded {
            alert: alert.id,
            rule: &rule,
            title: &alert.rule_title,
            level: alert.level,
            parent: alert.parent.as_deref(),
        },
    ));
    raise_severity(i, alert.level, matrix, now, &mut w.drafts);
    w.alert_ids.push(alert.id);
    w.changed = true;
}

/// A more severe alert raises the incident's severity, and its priority if
/// the grades of that level are higher than the incident's.
fn raise_severity(
    i: &mut Incident,
    level: Severity,
    matrix: &PriorityMatrix,
    now: i64,
    drafts: &mut Vec<Draft>,
) {
    if level <= i.severity {
        return;
    }
    i.severity = level;
    let (impact, urgency) = grades_for_level(level);
    i.impact = i.impact.min(impact);
    i.urgency = i.urgency.min(urgency);
    let p = matrix.priority(i.impact, i.urgency);
    if p < i.priority {
        drafts.push(Draft::new(
            now,
            SYSTEM,
            TimelineEvent::Priority {
                impact: None,
                urgency: None,
                from: i.priority,
                to: p,
                because: Some(format!("a {level} alert joined")),
            },
        ));
        i.priority = p;
    }
}

/// Takes another incident's alerts, entities, observables and open tasks.
fn absorb(into: &mut Incident, from: &Incident, matrix: &PriorityMatrix) {
    into.alerts.extend(from.alerts.iter().cloned());
    into.entities.extend(&from.entities);
    into.attack.extend(from.attack.iter().cloned());
    into.assets.extend(from.assets.iter().cloned());
    into.services.extend(from.services.iter().cloned());
    for o in &from.observables {
        if !into
            .observables
            .iter()
            .any(|x| x.kind == o.kind && x.value == o.value)
        {
            let mut o = o.clone();
            o.id = into.observables.iter().map(|x| x.id).max().unwrap_or(0) + 1;
            into.observables.push(o);
        }
    }
    for t in from.tasks.iter().filter(|t| t.status == TaskStatus::Open) {
        let mut t = t.clone();
        t.id = into.tasks.iter().map(|x| x.id).max().unwrap_or(0) + 1;
        t.title = format!("{} (from #{})", t.title, from.id);
        into.tasks.push(t);
    }
    into.severity = into.severity.max(from.severity);
    into.impact = into.impact.min(from.impact);
    into.urgency = into.urgency.min(from.urgency);
    into.priority = matrix.priority(into.impact, into.urgency);
}

fn apply_patch(
    i: &mut Incident,
    p: &IncidentPatch,
    matrix: &PriorityMatrix,
    sla: &SlaPolicy,
    now: i64,
    actor: &str,
    drafts: &mut Vec<Draft>,
) -> Result<()> {
    refuse_if_closed(i)?;
    let mut record = |event: TimelineEvent<'_>| drafts.push(Draft::new(now, actor, event));
    if let Some(to) = p.status {
        lifecycle::check_status(i, to).map_err(IncidentError::Refused)?;
        record(TimelineEvent::Status {
            from: i.status,
            to,
            via: None,
        });
        set_status(i, to, now);
    }
    if let Some(to) = p.phase {
        lifecycle::check_phase(i, to).map_err(IncidentError::Refused)?;
        record(TimelineEvent::Phase {
            from: i.phase,
            to,
            csf: to.csf_function(),
        });
        i.phase = Some(to);
    }
    if let Some(a) = &p.assignee {
        let to = (!a.is_empty()).then(|| a.clone());
        record(TimelineEvent::Assigned {
            from: i.assignee.as_deref(),
            to: to.as_deref(),
        });
        // Taking an incident is acknowledging it.
        if to.is_some() && i.status == Status::New {
            set_status(i, Status::Acknowledged, now);
            record(TimelineEvent::Status {
                from: Status::New,
                to: Status::Acknowledged,
                via: None,
            });
        }
        i.assignee = to;
    }
    if let Some(t) = &p.team {
        let to = (!t.is_empty()).then(|| t.clone());
        record(TimelineEvent::Team {
            from: i.team.as_deref(),
            to: to.as_deref(),
        });
        i.team = to;
    }
    if p.impact.is_some() || p.urgency.is_some() {
        let impact = p.impact.unwrap_or(i.impact);
        let urgency = p.urgency.unwrap_or(i.urgency);
        let priority = matrix.priority(impact, urgency);
        record(TimelineEvent::Priority {
            impact: Some(impact),
            urgency: Some(urgency),
            from: i.priority,
            to: priority,
            because: None,
        });
        (i.impact, i.urgency, i.priority) = (impact, urgency, priority);
        sla.apply(i);
    }
    if let Some(t) = &p.title {
        if t.trim().is_empty() {
            return Err(IncidentError::Invalid("title: must not be empty".into()));
        }
        record(TimelineEvent::Title {
            from: &i.title,
            to: t,
        });
        i.title.clone_from(t);
    }
    if let Some(d) = &p.description {
        record(TimelineEvent::Description { to: d });
        i.description.clone_from(d);
    }
    if let Some(k) = &p.kind {
        record(TimelineEvent::Type {
            from: &i.kind,
            to: k,
        });
        i.kind.clone_from(k);
    }
    if let Some(to) = &p.assets {
        record(TimelineEvent::Assets {
            from: &i.assets,
            to,
        });
        i.assets.clone_from(to);
    }
    if let Some(to) = &p.services {
        record(TimelineEvent::Services {
            from: &i.services,
            to,
        });
        i.services.clone_from(to);
    }
    if let Some(to) = &p.attack {
        record(TimelineEvent::Attack {
            from: &i.attack,
            to,
        });
        i.attack.clone_from(to);
    }
    Ok(())
}

fn set_status(i: &mut Incident, to: Status, now: i64) {
    match to {
        Status::Acknowledged | Status::InProgress => {
            i.acknowledged_ns.get_or_insert(now);
        }
        Status::Resolved => {
            i.acknowledged_ns.get_or_insert(now);
            i.resolved_ns = Some(now);
        }
        Status::Closed => i.closed_ns = Some(now),
        Status::New | Status::OnHold => {}
    }
    if i.status == Status::Resolved && to == Status::InProgress {
        i.resolved_ns = None;
    }
    i.status = to;
}
