//! Filing alerts: a new alert joins the open incident that has its rule and
//! entities (a repeat), shares an entity within the group window, or is a
//! consequence of one of its alerts; otherwise it opens an incident.

use watchfloor_model::incident::{
    Domain, Entities, Incident, IncidentAlert, Observable, Pap, Phase, Tlp,
};
use watchfloor_model::{Alert, Severity};
use watchfloor_state::IncidentWrite;

use crate::grouping::{self, KeyIndex, Placement};
use crate::priority::{grades_for_level, PriorityMatrix};
use crate::timeline::{Draft, TimelineEvent};
use crate::{IncidentError, Result};

use super::{stale, Incidents, Work, SYSTEM};

impl Incidents {
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
        let mut keys = {
            let incidents: Vec<&Incident> = work.iter().map(|w| &w.incident).collect();
            KeyIndex::new(&incidents)
        };
        for alert in alerts {
            let key = alert.dedup_key();
            let incidents: Vec<&Incident> = work.iter().map(|w| &w.incident).collect();
            match grouping::place(alert, &key, &incidents, &keys, &self.config.grouping) {
                Placement::Duplicate { incident, entry } => {
                    let w = &mut work[incident];
                    let e = &mut w.incident.alerts[entry];
                    e.count += 1;
                    e.last_ns = e.last_ns.max(alert.time_ns);
                    w.alert_ids.push(alert.id);
                    w.changed = true;
                }
                Placement::Attach { incident } => {
                    keys.add(&key, incident, work[incident].incident.alerts.len());
                    attach(&mut work[incident], alert, key, now, &self.config.priority);
                }
                Placement::Open => {
                    let mut w = self.open_from_alert(alert, now)?;
                    keys.add(&key, work.len(), w.incident.alerts.len());
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
}

/// Adds a new distinct alert to an incident.
fn attach(w: &mut Work, alert: &Alert, key: String, now: i64, matrix: &PriorityMatrix) {
    let entities = alert.entities();
    let i = &mut w.incident;
    i.entities.extend(&entities);
    gather_observables(i, &entities, now);
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

/// Observables gathered from alerts, at most this many per incident (an
/// incident of a scan must not grow without bound).
pub const MAX_GATHERED_OBSERVABLES: usize = 500;

/// Records the alert's entities as observables the incident does not hold
/// yet: TLP and PAP amber (the platform's default, for an analyst to
/// relax), not marked as indicators of compromise until someone decides.
fn gather_observables(i: &mut Incident, entities: &Entities, now: i64) {
    for (kind, value) in entities.observables() {
        if i.observables.len() >= MAX_GATHERED_OBSERVABLES {
            return;
        }
        if i.observables
            .iter()
            .any(|o| o.kind == kind && o.value == value)
        {
            continue;
        }
        let id = i.observables.iter().map(|o| o.id).max().unwrap_or(0) + 1;
        i.observables.push(Observable {
            id,
            kind: kind.to_string(),
            value: value.to_string(),
            tlp: Tlp::Amber,
            pap: Pap::Amber,
            ioc: false,
            added_ns: now,
        });
    }
}

pub(super) fn entities_of(alerts: &[IncidentAlert]) -> Entities {
    let mut e = Entities::default();
    for a in alerts {
        e.extend(&a.entities);
    }
    e
}
