//! What people do to an incident: open it, change its fields and status,
//! comment, work tasks, record observables, flag and report for the
//! regulatory clocks.

use watchfloor_model::incident::{
    Comment, Domain, Incident, Observable, Pap, Regime, Status, Task, TaskStatus, Tlp,
};
use watchfloor_model::Severity;

use crate::priority::{grades_for_level, PriorityMatrix};
use crate::sla::SlaPolicy;
use crate::timeline::{DeadlineDue, Draft, TimelineEvent};
use crate::{clocks, lifecycle, IncidentError, Result};

use super::{
    IncidentPatch, Incidents, NewIncident, NewObservable, NewTask, ObservablePatch, TaskPatch,
    OBSERVABLE_KINDS,
};

impl Incidents {
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
                key: None,
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
                key: None,
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

    /// Classifies an observable again (its TLP, PAP, and whether it is an
    /// indicator of compromise): the ones gathered from alerts come as
    /// TLP:AMBER, PAP:AMBER, not IOCs.
    pub fn classify_observable(
        &self,
        tenant: &str,
        id: i64,
        observable: u32,
        actor: &str,
        p: ObservablePatch,
    ) -> Result<Incident> {
        self.change(tenant, id, None, |i, drafts, now| {
            let o = i
                .observables
                .iter_mut()
                .find(|o| o.id == observable)
                .ok_or_else(|| {
                    IncidentError::Invalid(format!("incident {id} has no observable {observable}"))
                })?;
            o.tlp = p.tlp.unwrap_or(o.tlp);
            o.pap = p.pap.unwrap_or(o.pap);
            o.ioc = p.ioc.unwrap_or(o.ioc);
            drafts.push(Draft::new(
                now,
                actor,
                TimelineEvent::ObservableClassified {
                    id: observable,
                    tlp: o.tlp,
                    pap: o.pap,
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
    if let Some(to) = &p.review {
        check_review(to)?;
        if *to != i.review {
            record(TimelineEvent::Review {
                lessons_learned: &to.lessons_learned,
                controls: &to.controls,
            });
            i.review.clone_from(to);
        }
    }
    Ok(())
}

/// A review's controls name what to do, and their due dates are dates.
fn check_review(review: &watchfloor_model::incident::Review) -> Result<()> {
    for (n, c) in review.controls.iter().enumerate() {
        if c.control.trim().is_empty() {
            return Err(IncidentError::Invalid(format!(
                "review.controls[{n}]: the control is empty"
            )));
        }
        if let Some(due) = &c.due {
            chrono::NaiveDate::parse_from_str(due, "%Y-%m-%d").map_err(|_| {
                IncidentError::Invalid(format!(
                    "review.controls[{n}].due: {due:?} is not a date (YYYY-MM-DD)"
                ))
            })?;
        }
    }
    Ok(())
}

pub(super) fn set_status(i: &mut Incident, to: Status, now: i64) {
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

pub(super) fn refuse_if_closed(i: &Incident) -> Result<()> {
    if i.status == Status::Closed {
        return Err(IncidentError::Refused(format!(
            "incident {} is closed",
            i.id
        )));
    }
    Ok(())
}
