//! From check reports to what the NOC is told: the samples to store, the
//! states to save, the state changes to log, and the alerts to raise, with
//! maintenance windows (recorded, never alerted), flapping (one alert, then
//! quiet) and the topology's root cause (a node whose parents have checks
//! is held until those parents answer again, then raised as UNREACHABLE
//! behind a down parent, or as a root cause of its own).
//!
//! [`CheckAlerting`] is a pure state machine: reports and the time come in,
//! [`Step`]s and alerts come out. It does no I/O and reads no clock; the
//! server feeds it and stores what it returns.

use std::collections::HashMap;

use serde_json::json;
use watchfloor_model::{format_rfc3339, Alert, AlertKind, CheckSample, Domain, Severity};

use crate::flap::FlapChange;
use crate::maintenance::MaintenanceWindow;
use crate::topology::{NodeState, Own, Topology};
use crate::{CheckState, Report, Status};

/// How long a problem waits for its parents' fresh results at most.
pub const SETTLE_NS: i64 = 30_000_000_000;

/// What the machine reads but does not own: every tenant's topology and
/// maintenance windows, as last loaded.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub topologies: &'a HashMap<String, Topology>,
    pub windows: &'a HashMap<String, Vec<MaintenanceWindow>>,
}

/// What one report asks of the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// To store, always.
    pub sample: CheckSample,
    /// The check's state, when it changed (to save).
    pub changed_state: Option<CheckState>,
    /// State changes and flapping as JSON events, for the event log.
    pub events: Vec<serde_json::Value>,
    /// Alerts decided now.
    pub alerts: Vec<Alert>,
    /// Checks of the same tenant to run at once (the parents of a node
    /// whose problem is held).
    pub run_now: Vec<String>,
}

/// A check as the machine knows it: the node it watches and its state.
#[derive(Debug, Clone, Default)]
struct Tracked {
    node: Option<String>,
    state: Option<CheckState>,
}

/// A problem held back until the node's parents have been checked again,
/// so that a host behind a failed router is not paged as its own outage.
#[derive(Debug, Clone)]
struct Held {
    report: Report,
    tenant: String,
    name: String,
    node: String,
    held_ns: i64,
}

/// The check-to-alert state machine of every tenant.
#[derive(Debug, Default)]
pub struct CheckAlerting {
    /// By (tenant, check name).
    checks: HashMap<(String, String), Tracked>,
    held: Vec<Held>,
    /// (tenant, node) of a down root cause, to its alert's dedup key.
    roots: HashMap<(String, String), String>,
}

impl CheckAlerting {
    pub fn new() -> Self {
        CheckAlerting::default()
    }

    /// Makes a check known (at start, with its saved state; or when added).
    pub fn track(
        &mut self,
        tenant: &str,
        name: &str,
        node: Option<String>,
        state: Option<CheckState>,
    ) {
        let key = (tenant.to_string(), name.to_string());
        let tracked = self.checks.entry(key).or_default();
        tracked.node = node;
        if state.is_some() {
            tracked.state = state;
        }
    }

    /// Forgets a deleted check.
    pub fn forget(&mut self, tenant: &str, name: &str) {
        self.checks.remove(&(tenant.to_string(), name.to_string()));
        self.held
            .retain(|h| !(h.tenant == tenant && h.name == name));
    }

    /// Per node of a tenant: down when one of its checks is hard CRITICAL
    /// or UNKNOWN, up when its checks have results and none is; nodes
    /// without results are left out.
    pub fn own_states(&self, tenant: &str) -> HashMap<String, Own> {
        let mut out: HashMap<String, Own> = HashMap::new();
        for ((t, _), c) in &self.checks {
            let (Some(node), Some(state)) = (&c.node, &c.state) else {
                continue;
            };
            if t != tenant || state.last_check_ns == 0 {
                continue;
            }
            let down = matches!(state.hard_status, Status::Critical | Status::Unknown);
            let entry = out.entry(node.clone()).or_insert(Own::Up);
            if down {
                *entry = Own::Down;
            }
        }
        out
    }

    /// Takes one result of check `name` of `tenant`.
    pub fn report(
        &mut self,
        r: Report,
        tenant: &str,
        name: &str,
        now_ns: i64,
        ctx: Context<'_>,
    ) -> Step {
        let node = r.monitor.host.clone();
        let quiet = ctx.windows.get(tenant).is_some_and(|ws| {
            ws.iter()
                .any(|w| w.covers(name, node.as_deref()) && w.active_at(r.at_ns))
        });
        let mut step = Step {
            sample: sample(&r, tenant, name, quiet),
            changed_state: self.remember(&r, tenant, name),
            events: state_events(&r, name, quiet),
            alerts: Vec::new(),
            run_now: Vec::new(),
        };
        if quiet {
            return step;
        }
        if let Some(FlapChange::Started { percent }) = r.flap {
            step.alerts
                .push(flapping_alert(&r, tenant, name, percent, now_ns));
            return step;
        }
        let Some(change) = r.change.clone().filter(|_| !r.state.flap.flapping) else {
            return step;
        };
        if change.to == Status::Ok {
            if let Some(n) = node {
                self.roots.remove(&(tenant.to_string(), n));
            }
            return step;
        }
        let parents = node
            .as_deref()
            .map(|n| self.parent_checks(tenant, n, ctx))
            .unwrap_or_default();
        match node.filter(|_| !parents.is_empty()) {
            Some(node) => {
                step.run_now = parents;
                self.held.push(Held {
                    report: r,
                    tenant: tenant.to_string(),
                    name: name.to_string(),
                    node,
                    held_ns: now_ns,
                });
            }
            None => step
                .alerts
                .extend(self.raise_root(&r, tenant, name, now_ns)),
        }
        step
    }

    /// Decides the held problems whose parents have answered since they
    /// were held (or that waited [`SETTLE_NS`], or all of them with `all`,
    /// at shutdown): UNREACHABLE behind a down parent, attached to the
    /// parent's alert, or a root cause of its own.
    pub fn settle(&mut self, now_ns: i64, all: bool, ctx: Context<'_>) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for h in std::mem::take(&mut self.held) {
            let ready = all
                || now_ns - h.held_ns >= SETTLE_NS
                || self.parents_fresh(&h.tenant, &h.node, h.held_ns, ctx);
            if !ready {
                self.held.push(h);
                continue;
            }
            let evaluated = ctx
                .topologies
                .get(&h.tenant)
                .and_then(|t| t.evaluate(&self.own_states(&h.tenant)).remove(&h.node));
            match evaluated {
                Some(e) if e.state == NodeState::Unreachable => {
                    let roots: Vec<String> = e.root_causes.into_iter().collect();
                    let parent = roots
                        .iter()
                        .find_map(|r| self.roots.get(&(h.tenant.clone(), r.clone())).cloned());
                    alerts.extend(problem_alert(
                        &h.report,
                        &h.tenant,
                        &h.name,
                        Some((&roots, parent)),
                        now_ns,
                    ));
                }
                _ => alerts.extend(self.raise_root(&h.report, &h.tenant, &h.name, now_ns)),
            }
        }
        alerts
    }

    /// Problems still waiting for their parents.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Records the check's new state; returns it when it changed.
    fn remember(&mut self, r: &Report, tenant: &str, name: &str) -> Option<CheckState> {
        let tracked = self
            .checks
            .entry((tenant.to_string(), name.to_string()))
            .or_default();
        tracked.node.clone_from(&r.monitor.host);
        let changed = tracked.state.as_ref().is_none_or(|s| {
            (s.status, s.hard, s.attempt, s.hard_status, s.flap.flapping)
                != (
                    r.state.status,
                    r.state.hard,
                    r.state.attempt,
                    r.state.hard_status,
                    r.state.flap.flapping,
                )
        });
        tracked.state = Some(r.state.clone());
        changed.then(|| r.state.clone())
    }

    fn raise_root(&mut self, r: &Report, tenant: &str, name: &str, now_ns: i64) -> Option<Alert> {
        let a = problem_alert(r, tenant, name, None, now_ns)?;
        if let Some(node) = &r.monitor.host {
            self.roots
                .insert((tenant.to_string(), node.clone()), a.dedup_key());
        }
        Some(a)
    }

    /// The checks of the parents of `node` in the tenant's topology.
    fn parent_checks(&self, tenant: &str, node: &str, ctx: Context<'_>) -> Vec<String> {
        let Some(parents) = ctx
            .topologies
            .get(tenant)
            .and_then(|t| t.nodes.iter().find(|n| n.name == node))
            .map(|n| &n.parents)
        else {
            return Vec::new();
        };
        let mut names: Vec<String> = self
            .checks
            .iter()
            .filter(|((t, _), c)| {
                t == tenant && c.node.as_ref().is_some_and(|h| parents.contains(h))
            })
            .map(|((_, n), _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// Whether every parent check has a hard result since `since_ns`.
    fn parents_fresh(&self, tenant: &str, node: &str, since_ns: i64, ctx: Context<'_>) -> bool {
        self.parent_checks(tenant, node, ctx).iter().all(|p| {
            self.checks
                .get(&(tenant.to_string(), p.clone()))
                .and_then(|c| c.state.as_ref())
                .is_some_and(|s| s.last_check_ns >= since_ns && s.hard)
        })
    }
}

fn sample(r: &Report, tenant: &str, name: &str, maintenance: bool) -> CheckSample {
    CheckSample {
        maintenance,
        output: (r.outcome.status != Status::Ok).then(|| r.outcome.summary.clone()),
        tenant: tenant.to_string(),
        check: name.to_string(),
        time_ns: r.at_ns,
        status: r.outcome.status.exit_code(),
        hard: r.state.hard,
        latency_ms: r.outcome.latency_ms,
        cert_days_left: r.outcome.cert_days_left,
    }
}

/// A hard state change (and the start or end of flapping) as JSON events
/// of module `monitor`, searchable next to the logs.
fn state_events(r: &Report, name: &str, maintenance: bool) -> Vec<serde_json::Value> {
    let m = &r.monitor;
    let mut events = Vec::new();
    if let Some(c) = &r.change {
        events.push(json!({
            "@timestamp": format_rfc3339(c.at_ns),
            "event": {"module": "monitor", "kind": "state_change"},
            "check": name, "check_type": m.check.service(), "target": m.check.describe(),
            "node": m.host, "service": m.service, "state": c.to.as_str(),
            "previous": c.from.as_str(), "output": c.output, "maintenance": maintenance,
            "message": format!("{} {name} {} (was {}): {}", m.check.service(), c.to.as_str(), c.from.as_str(), c.output),
        }));
    }
    if let Some(f) = r.flap {
        let (what, percent) = match f {
            FlapChange::Started { percent } => ("flapping_started", percent),
            FlapChange::Stopped { percent } => ("flapping_stopped", percent),
        };
        events.push(json!({
            "@timestamp": format_rfc3339(r.at_ns),
            "event": {"module": "monitor", "kind": what},
            "check": name, "node": m.host, "state_change_percent": percent,
            "message": format!("{} {name}: {what} ({percent:.0}% state change)", m.check.service()),
        }));
    }
    events
}

/// The alert level of a hard problem status.
pub fn severity(s: Status) -> Severity {
    match s {
        Status::Critical => Severity::Critical,
        Status::Warning => Severity::Medium,
        Status::Unknown => Severity::High,
        Status::Ok => Severity::Informational,
    }
}

fn flapping_alert(r: &Report, tenant: &str, name: &str, percent: f64, now_ns: i64) -> Alert {
    let mut a = base_alert(r, tenant, name, r.at_ns, now_ns);
    a.key = format!("check:{tenant}:{name}:flapping:{}", r.at_ns);
    a.rule_title = format!(
        "{} {name} FLAPPING: {percent:.0}% state change over the last results",
        r.monitor.check.service()
    );
    a.level = Severity::High;
    a.fields.insert("status".into(), json!("FLAPPING"));
    a.fields
        .insert("state_change_percent".into(), json!(percent));
    a
}

/// The alert for a hard change to a problem: the root cause of an
/// outage, or (with `behind`) a node cut off by it, attached to the root's
/// alert through `parent` so that it joins the root's incident.
fn problem_alert(
    r: &Report,
    tenant: &str,
    name: &str,
    behind: Option<(&[String], Option<String>)>,
    now_ns: i64,
) -> Option<Alert> {
    let change = r.change.as_ref().filter(|c| c.to != Status::Ok)?;
    let mut a = base_alert(r, tenant, name, change.at_ns, now_ns);
    a.fields.insert("status".into(), json!(change.to.as_str()));
    a.fields
        .insert("previous".into(), json!(change.from.as_str()));
    a.fields.insert("output".into(), json!(change.output));
    let service = r.monitor.check.service();
    match behind {
        None => {
            a.rule_title = format!("{service} {name} {}: {}", change.to.as_str(), change.output);
            a.level = severity(change.to);
        }
        Some((roots, parent)) => {
            a.rule_title = format!("{service} {name} UNREACHABLE behind {}", roots.join(", "));
            a.level = Severity::Low;
            a.fields.insert("state".into(), json!("UNREACHABLE"));
            a.fields.insert("root_cause".into(), json!(roots));
            a.parent = parent;
        }
    }
    Some(a)
}

fn base_alert(r: &Report, tenant: &str, name: &str, at_ns: i64, now_ns: i64) -> Alert {
    let m = &r.monitor;
    let mut fields = serde_json::Map::new();
    fields.insert("check".into(), json!(name));
    fields.insert("check_type".into(), json!(m.check.service()));
    fields.insert("target".into(), json!(m.check.describe()));
    if let Some(s) = &m.service {
        fields.insert("service".into(), json!(s));
    }
    Alert {
        id: 0,
        key: format!("check:{tenant}:{name}:{at_ns}"),
        tenant: tenant.to_string(),
        domain: Domain::Operations,
        rule_id: Some(format!("check:{name}")),
        rule_title: String::new(),
        kind: AlertKind::Check,
        level: Severity::Medium,
        tags: Vec::new(),
        time_ns: at_ns,
        created_ns: now_ns,
        host: m.host.clone(),
        user: None,
        ips: Vec::new(),
        users: Vec::new(),
        indicators: Default::default(),
        event_ids: Vec::new(),
        fields,
        value: r.outcome.latency_ms,
        parent: None,
        incident_id: None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use watchfloor_model::{Clock, ManualClock};

    use super::*;
    use crate::topology::Node;
    use crate::{parse_target, Monitor, Outcome};

    const SEC: i64 = 1_000_000_000;

    /// Checks on a hand-moved clock, each keeping its state as the
    /// scheduler would, feeding one [`CheckAlerting`].
    struct Floor {
        clock: ManualClock,
        machine: CheckAlerting,
        states: HashMap<String, (Arc<Monitor>, CheckState)>,
        topologies: HashMap<String, Topology>,
        windows: HashMap<String, Vec<MaintenanceWindow>>,
    }

    impl Floor {
        fn new() -> Floor {
            Floor {
                clock: ManualClock::new(1_800_000_000 * SEC),
                machine: CheckAlerting::new(),
                states: HashMap::new(),
                topologies: HashMap::new(),
                windows: HashMap::new(),
            }
        }

        /// A check of node `node` that confirms a problem at its second result.
        fn check(&mut self, name: &str, node: &str) {
            let monitor = Monitor {
                name: format!("acme/{name}"),
                tenant: "acme".into(),
                check: parse_target("tcp://127.0.0.1:9").expect("target"),
                interval: Duration::from_secs(60),
                retry_interval: Duration::from_secs(10),
                timeout: Duration::from_secs(5),
                retries: 1,
                paused: false,
                host: Some(node.into()),
                service: None,
            };
            let state = CheckState::new(self.clock.now_ns());
            self.machine.track("acme", name, Some(node.into()), None);
            self.states.insert(name.into(), (Arc::new(monitor), state));
        }

        /// `router` is the parent of `host`.
        fn topology(&mut self) {
            let node = |name: &str, parents: &[&str]| Node {
                name: name.into(),
                kind: Default::default(),
                parents: parents.iter().map(|p| p.to_string()).collect(),
                components: vec![],
                require: Default::default(),
            };
            self.topologies.insert(
                "acme".into(),
                Topology {
                    nodes: vec![node("router", &[]), node("host", &["router"])],
                },
            );
        }

        /// One result of check `name`, a second later than the last.
        fn result(&mut self, name: &str, status: Status) -> Step {
            let now = self.clock.advance(SEC);
            let (monitor, state) = self.states.get_mut(name).expect("known check");
            let change = state.record(status, &format!("{name} is {status:?}"), 1, now);
            let report = Report {
                monitor: monitor.clone(),
                at_ns: now,
                outcome: Outcome::new(status, format!("{name} is {status:?}")),
                state: state.clone(),
                change,
                flap: None,
                drift: Duration::ZERO,
            };
            let ctx = Context {
                topologies: &self.topologies,
                windows: &self.windows,
            };
            self.machine.report(report, "acme", name, now, ctx)
        }

        fn settle(&mut self) -> Vec<Alert> {
            let now = self.clock.now_ns();
            let ctx = Context {
                topologies: &self.topologies,
                windows: &self.windows,
            };
            self.machine.settle(now, false, ctx)
        }
    }

    #[test]
    fn a_hard_problem_raises_one_alert_and_soft_ones_none() {
        let mut f = Floor::new();
        f.check("web", "web1");
        let soft = f.result("web", Status::Critical);
        assert!(soft.alerts.is_empty(), "soft: retried first");
        assert_eq!(soft.sample.status, 2);
        assert!(!soft.sample.hard);
        assert!(soft.changed_state.is_some());
        let hard = f.result("web", Status::Critical);
        assert_eq!(hard.alerts.len(), 1);
        let a = &hard.alerts[0];
        assert_eq!(
            (a.kind, a.domain, a.level),
            (AlertKind::Check, Domain::Operations, Severity::Critical)
        );
        assert_eq!(a.host.as_deref(), Some("web1"));
        assert_eq!(hard.events.len(), 1, "the state change is logged");
        let again = f.result("web", Status::Critical);
        assert!(again.alerts.is_empty() && again.events.is_empty());
        let recovered = f.result("web", Status::Ok);
        assert!(recovered.alerts.is_empty());
        assert_eq!(recovered.events[0]["state"], "OK");
        assert_eq!(f.machine.own_states("acme").get("web1"), Some(&Own::Up));
    }

    #[test]
    fn a_host_behind_a_down_router_is_unreachable_and_joins_the_routers_alert() {
        let mut f = Floor::new();
        f.topology();
        f.check("router-ping", "router");
        f.check("host-http", "host");
        f.result("router-ping", Status::Critical);
        let router = f.result("router-ping", Status::Critical);
        assert_eq!(
            router.alerts.len(),
            1,
            "the router has no parent: paged at once"
        );
        let root_key = router.alerts[0].dedup_key();
        f.result("host-http", Status::Critical);
        let host = f.result("host-http", Status::Critical);
        assert!(host.alerts.is_empty(), "held for its parent");
        assert_eq!(host.run_now, ["router-ping"]);
        assert_eq!(f.machine.held(), 1);
        assert!(f.settle().is_empty(), "the parent has not answered again");
        assert!(f.result("router-ping", Status::Critical).alerts.is_empty());
        let settled = f.settle();
        assert_eq!(settled.len(), 1);
        let a = &settled[0];
        assert!(
            a.rule_title.contains("UNREACHABLE behind router"),
            "{}",
            a.rule_title
        );
        assert_eq!(a.level, Severity::Low);
        assert_eq!(a.parent.as_deref(), Some(root_key.as_str()));
        assert_eq!(f.machine.held(), 0);
    }

    #[test]
    fn a_held_problem_whose_parent_stays_silent_is_raised_after_the_settle_time() {
        let mut f = Floor::new();
        f.topology();
        f.check("router-ping", "router");
        f.check("host-http", "host");
        f.result("router-ping", Status::Ok);
        f.result("host-http", Status::Critical);
        assert!(f.result("host-http", Status::Critical).alerts.is_empty());
        f.clock.advance(SETTLE_NS - 2 * SEC);
        assert!(f.settle().is_empty(), "still waiting");
        f.clock.advance(2 * SEC);
        let settled = f.settle();
        assert_eq!(settled.len(), 1, "its own outage, the router being up");
        assert_eq!(settled[0].level, Severity::Critical);
        assert_eq!(settled[0].parent, None);
    }

    #[test]
    fn maintenance_records_the_results_and_raises_nothing() {
        let mut f = Floor::new();
        f.check("web", "web1");
        let window: MaintenanceWindow = serde_json::from_value(json!({
            "checks": ["web1"], "start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"
        }))
        .expect("window");
        f.windows.insert("acme".into(), vec![window]);
        f.result("web", Status::Critical);
        let hard = f.result("web", Status::Critical);
        assert!(hard.alerts.is_empty());
        assert!(hard.sample.maintenance);
        assert_eq!(hard.events[0]["maintenance"], true);
    }

    #[test]
    fn a_forgotten_check_no_longer_counts() {
        let mut f = Floor::new();
        f.check("web", "web1");
        f.result("web", Status::Critical);
        f.result("web", Status::Critical);
        assert_eq!(f.machine.own_states("acme").get("web1"), Some(&Own::Down));
        f.machine.forget("acme", "web");
        assert!(f.machine.own_states("acme").is_empty());
    }
}
