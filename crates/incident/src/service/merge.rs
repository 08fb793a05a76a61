//! Merging two incidents into one, and splitting alerts off into a new one.

use watchfloor_model::incident::{Incident, Status, TaskStatus};

use crate::priority::PriorityMatrix;
use crate::timeline::{Draft, TimelineEvent};
use crate::{IncidentError, Result};

use super::edits::refuse_if_closed;
use super::filing::entities_of;
use super::{stale, Incidents, Work};

impl Incidents {
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

fn require_reason(reason: &str) -> Result<()> {
    if reason.trim().is_empty() {
        return Err(IncidentError::Invalid("reason: must not be empty".into()));
    }
    Ok(())
}
