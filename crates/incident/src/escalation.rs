//! Escalation policies: who is told about an unacknowledged incident, and
//! when. Step 1 fires when the incident opens; each step waits its
//! `escalate_after_minutes` before the next; after the last step the policy
//! starts over, `repeat` more times. Acknowledging the incident stops it.

use serde::{Deserialize, Serialize};
use watchfloor_model::incident::{Domain, EscalationState, Incident};

const MINUTE_NS: i64 = 60_000_000_000;

/// A named policy (stored as a tenant document of kind `escalation_policy`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicy {
    #[serde(default)]
    pub description: String,
    /// Which incidents the policy takes; the first policy (by name) that
    /// matches an incident when it opens is its policy.
    #[serde(default)]
    pub applies_to: Selector,
    pub steps: Vec<Step>,
    /// How many more times to run through the steps.
    #[serde(default)]
    pub repeat: u32,
}

/// Matches incidents by domain, type and priority; empty matches all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<Domain>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Priority 1 (critical) up to this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_priority: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub targets: Vec<Target>,
    /// How long to wait for an acknowledgement before the next step.
    pub escalate_after_minutes: u32,
}

/// Who a step notifies: `{"user": "bob"}`, `{"team": "noc"}` (the team's
/// channels) or `{"schedule": "noc-primary"}` (whoever is on call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    User(String),
    Team(String),
    Schedule(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::User(n) => write!(f, "user:{n}"),
            Target::Team(n) => write!(f, "team:{n}"),
            Target::Schedule(n) => write!(f, "schedule:{n}"),
        }
    }
}

/// One step firing: its place in the run and when it was due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Firing {
    /// 0, 1, 2, ... over all rounds.
    pub index: u32,
    /// 1 for the first run through the steps.
    pub round: u32,
    /// 1-based step number.
    pub step: u32,
    pub at_ns: i64,
}

impl Selector {
    pub fn matches(&self, incident: &Incident) -> bool {
        let domain_ok = self.domains.is_empty()
            || self
                .domains
                .iter()
                .any(|d| *d == incident.domain || *d == Domain::Both);
        let type_ok = self.types.is_empty() || self.types.contains(&incident.kind);
        let priority_ok = self.max_priority.is_none_or(|p| incident.priority <= p);
        domain_ok && type_ok && priority_ok
    }
}

impl EscalationPolicy {
    fn total_firings(&self) -> u32 {
        (self.steps.len() as u32).saturating_mul(self.repeat.saturating_add(1))
    }

    fn cycle_ns(&self) -> i64 {
        self.steps
            .iter()
            .map(|s| i64::from(s.escalate_after_minutes) * MINUTE_NS)
            .sum()
    }

    /// When firing `index` is due, for a run started at `started_ns`.
    pub fn firing(&self, started_ns: i64, index: u32) -> Option<Firing> {
        if index >= self.total_firings() {
            return None;
        }
        let n = self.steps.len() as u32;
        let (round, step) = (index / n, index % n);
        let offset: i64 = self.steps[..step as usize]
            .iter()
            .map(|s| i64::from(s.escalate_after_minutes) * MINUTE_NS)
            .sum();
        Some(Firing {
            index,
            round: round + 1,
            step: step + 1,
            at_ns: started_ns + i64::from(round) * self.cycle_ns() + offset,
        })
    }

    /// The firings due by `now` that have not fired yet, in order.
    pub fn due(&self, state: &EscalationState, now: i64) -> Vec<Firing> {
        (state.fired..)
            .map_while(|i| self.firing(state.started_ns, i))
            .take_while(|f| f.at_ns <= now)
            .collect()
    }

    /// Whether every firing is done.
    pub fn exhausted(&self, state: &EscalationState) -> bool {
        state.fired >= self.total_firings()
    }

    pub fn targets(&self, f: &Firing) -> &[Target] {
        &self.steps[(f.step - 1) as usize].targets
    }

    /// Every problem, each naming where it is.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.steps.is_empty() {
            out.push("steps: at least one step".into());
        }
        for (i, s) in self.steps.iter().enumerate() {
            if s.targets.is_empty() {
                out.push(format!("steps[{i}].targets: at least one target"));
            }
            if s.escalate_after_minutes == 0 {
                out.push(format!("steps[{i}].escalate_after_minutes: at least 1"));
            }
        }
        if self.repeat > 100 {
            out.push("repeat: at most 100".into());
        }
        if self
            .applies_to
            .max_priority
            .is_some_and(|p| !(1..=5).contains(&p))
        {
            out.push("applies_to.max_priority: 1 to 5".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> EscalationPolicy {
        serde_json::from_value(serde_json::json!({
            "steps": [
                {"targets": [{"schedule": "noc-primary"}], "escalate_after_minutes": 5},
                {"targets": [{"user": "lead"}, {"team": "noc"}], "escalate_after_minutes": 10}
            ],
            "repeat": 1
        }))
        .expect("policy")
    }

    #[test]
    fn steps_fire_in_order_and_repeat() {
        let p = policy();
        let state = EscalationState {
            policy: Some("p".into()),
            started_ns: 0,
            fired: 0,
            exhausted_ns: None,
        };
        let at = |m: i64| m * MINUTE_NS;
        let due: Vec<(u32, u32, i64)> = p
            .due(&state, at(60))
            .iter()
            .map(|f| (f.round, f.step, f.at_ns))
            .collect();
        assert_eq!(
            due,
            [(1, 1, 0), (1, 2, at(5)), (2, 1, at(15)), (2, 2, at(20))]
        );
        assert_eq!(p.due(&state, at(4)).len(), 1);
        let later = EscalationState {
            fired: 2,
            ..state.clone()
        };
        assert_eq!(p.due(&later, at(14)), vec![]);
        assert_eq!(p.due(&later, at(15))[0].index, 2);
        assert!(p.exhausted(&EscalationState { fired: 4, ..later }));
        assert_eq!(
            p.targets(&p.due(&state, 0)[0]),
            [Target::Schedule("noc-primary".into())]
        );
    }

    #[test]
    fn problems_and_target_syntax() {
        let bad: EscalationPolicy = serde_json::from_value(serde_json::json!({
            "steps": [{"targets": [], "escalate_after_minutes": 0}],
            "applies_to": {"max_priority": 9}
        }))
        .expect("parses");
        assert_eq!(bad.problems().len(), 3, "{:?}", bad.problems());
        let unknown = serde_json::from_value::<EscalationPolicy>(serde_json::json!({
            "steps": [{"targets": [{"pager": "x"}], "escalate_after_minutes": 1}]
        }));
        assert!(unknown.is_err());
    }
}
