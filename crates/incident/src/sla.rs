//! SLA targets per priority: time to acknowledge and to resolve, with a
//! warning before each. Targets count from the incident's creation.

use serde::{Deserialize, Serialize};
use watchfloor_model::incident::Incident;

const MINUTE: u64 = 60;

/// Targets for one priority, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaTarget {
    pub priority: u8,
    pub acknowledge_s: u64,
    pub resolve_s: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaPolicy {
    pub targets: Vec<SlaTarget>,
    /// The warning is recorded when this share of the time is used up.
    pub warn_ratio: f64,
}

impl Default for SlaPolicy {
    /// P1 15 min / 4 h, P2 30 min / 8 h, P3 2 h / 24 h, P4 8 h / 3 days,
    /// P5 1 day / 7 days.
    fn default() -> Self {
        let t = |priority, ack_min: u64, resolve_min: u64| SlaTarget {
            priority,
            acknowledge_s: ack_min * MINUTE,
            resolve_s: resolve_min * MINUTE,
        };
        SlaPolicy {
            targets: vec![
                t(1, 15, 4 * 60),
                t(2, 30, 8 * 60),
                t(3, 2 * 60, 24 * 60),
                t(4, 8 * 60, 72 * 60),
                t(5, 24 * 60, 7 * 24 * 60),
            ],
            warn_ratio: 0.8,
        }
    }
}

/// What the SLA clock records on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaEvent {
    AcknowledgeWarning,
    AcknowledgeBreach,
    ResolveWarning,
    ResolveBreach,
}

impl SlaEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaEvent::AcknowledgeWarning => "sla_acknowledge_warning",
            SlaEvent::AcknowledgeBreach => "sla_acknowledge_breach",
            SlaEvent::ResolveWarning => "sla_resolve_warning",
            SlaEvent::ResolveBreach => "sla_resolve_breach",
        }
    }
}

impl SlaPolicy {
    pub fn target(&self, priority: u8) -> Option<&SlaTarget> {
        self.targets.iter().find(|t| t.priority == priority)
    }

    /// Sets the due times from creation and priority (again after a
    /// priority change; what was already recorded stays recorded).
    pub fn apply(&self, incident: &mut Incident) {
        let Some(t) = self.target(incident.priority) else {
            incident.sla.ack_due_ns = None;
            incident.sla.resolve_due_ns = None;
            return;
        };
        let from = incident.created_ns;
        incident.sla.ack_due_ns = Some(from.saturating_add(secs(t.acknowledge_s)));
        incident.sla.resolve_due_ns = Some(from.saturating_add(secs(t.resolve_s)));
    }

    fn warn_at(&self, created: i64, due: i64) -> i64 {
        created + ((due - created) as f64 * self.warn_ratio) as i64
    }

    /// The warnings and breaches reached by `now` and not yet recorded, in
    /// the order they happened, each with its time; marks them recorded.
    pub fn due_events(&self, incident: &mut Incident, now_ns: i64) -> Vec<(SlaEvent, i64)> {
        let created = incident.created_ns;
        let acked = incident.acknowledged_ns.is_some() || !incident.status.is_open();
        let resolved = incident.resolved_ns.is_some() || !incident.status.is_open();
        let sla = &mut incident.sla;
        let mut out = Vec::new();
        let mut check = |due: Option<i64>, done: bool, slot: &mut Option<i64>, ev, warn: bool| {
            let Some(due) = due else { return };
            let at = if warn {
                self.warn_at(created, due)
            } else {
                due
            };
            if !done && slot.is_none() && now_ns >= at {
                *slot = Some(at);
                out.push((ev, at));
            }
        };
        check(
            sla.ack_due_ns,
            acked,
            &mut sla.ack_warned_ns,
            SlaEvent::AcknowledgeWarning,
            true,
        );
        check(
            sla.ack_due_ns,
            acked,
            &mut sla.ack_breached_ns,
            SlaEvent::AcknowledgeBreach,
            false,
        );
        check(
            sla.resolve_due_ns,
            resolved,
            &mut sla.resolve_warned_ns,
            SlaEvent::ResolveWarning,
            true,
        );
        check(
            sla.resolve_due_ns,
            resolved,
            &mut sla.resolve_breached_ns,
            SlaEvent::ResolveBreach,
            false,
        );
        out.sort_by_key(|&(_, at)| at);
        out
    }

    /// The earliest time a not-yet-recorded warning or breach falls due.
    pub fn next_due(&self, incident: &Incident) -> Option<i64> {
        let mut probe = incident.clone();
        let far = i64::MAX;
        self.due_events(&mut probe, far).first().map(|&(_, at)| at)
    }

    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in 1..=5u8 {
            match self.target(p) {
                None => out.push(format!("sla: no target for priority {p}")),
                Some(t) if t.acknowledge_s > t.resolve_s => out.push(format!(
                    "sla: priority {p} must be acknowledged before it is resolved \
                     (acknowledge {} s > resolve {} s)",
                    t.acknowledge_s, t.resolve_s
                )),
                Some(_) => {}
            }
        }
        if !(0.0..1.0).contains(&self.warn_ratio) {
            out.push(format!(
                "sla: warn_ratio {} must be in [0, 1)",
                self.warn_ratio
            ));
        }
        out
    }
}

fn secs(s: u64) -> i64 {
    (s as i64).saturating_mul(1_000_000_000)
}
