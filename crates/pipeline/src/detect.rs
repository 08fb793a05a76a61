//! Streaming detection: the rule set (swappable at run time), and the
//! per-thread detector that turns matches and fired correlations into
//! alerts with deterministic keys (a replay gives the same keys, so the
//! state store keeps each alert once).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use watchfloor_model::{Alert, Domain};
use watchfloor_model::{Event, Value};
use watchfloor_sigma::{
    CorrelationEngine, Finding, Hit, Limits, LoadReport, RuleSet, RuleSetBuilder, RuleSetOptions,
    Scratch, Snapshot, Source,
};

/// The rules written by the team that ship inside the binary.
pub const STARTER_RULES: &[(&str, &str)] = &[
    ("linux_ssh.yml", include_str!("../rules/linux_ssh.yml")),
    (
        "linux_privilege.yml",
        include_str!("../rules/linux_privilege.yml"),
    ),
    (
        "windows_logon.yml",
        include_str!("../rules/windows_logon.yml"),
    ),
    (
        "windows_admin_and_logs.yml",
        include_str!("../rules/windows_admin_and_logs.yml"),
    ),
];

/// Where rules come from.
#[derive(Debug, Clone, Default)]
pub struct RuleSources {
    /// Rule files or directories (SigmaHQ clones, the site's own rules).
    pub paths: Vec<PathBuf>,
    /// Include [`STARTER_RULES`].
    pub starter: bool,
    pub options: RuleSetOptions,
}

/// A rule directory that cannot be read: the reload is refused and the
/// current set stays.
#[derive(Debug, thiserror::Error)]
#[error("rules {path}: {source}")]
pub struct RulesError {
    pub path: String,
    pub source: std::io::Error,
}

impl RuleSources {
    /// Builds the rule set. Bad rules are rejected one by one (listed in
    /// the report); only an unreadable path fails the whole load.
    pub fn build(&self) -> Result<RuleSet, RulesError> {
        let mut b = RuleSetBuilder::new(self.options.clone());
        if self.starter {
            for (name, text) in STARTER_RULES {
                b.add_yaml(text, &format!("builtin:{name}"));
            }
        }
        for path in &self.paths {
            b.add_path(path).map_err(|source| RulesError {
                path: path.display().to_string(),
                source,
            })?;
        }
        Ok(b.build())
    }
}

/// The live rule set, swapped whole on reload.
pub struct Rules {
    sources: RuleSources,
    current: Mutex<Arc<RuleSet>>,
    generation: AtomicU64,
}

impl Rules {
    pub fn load(sources: RuleSources) -> Result<Rules, RulesError> {
        let set = sources.build()?;
        log_report(set.report());
        Ok(Rules {
            sources,
            current: Mutex::new(Arc::new(set)),
            generation: AtomicU64::new(1),
        })
    }

    /// Builds a new set from the same sources and swaps it in.
    pub fn reload(&self) -> Result<LoadReport, RulesError> {
        let set = self.sources.build()?;
        let report = set.report().clone();
        log_report(&report);
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(report)
    }

    /// The current set and its generation (which changes on each reload).
    pub fn current(&self) -> (u64, Arc<RuleSet>) {
        let set = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        (self.generation.load(Ordering::Acquire), set)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

fn log_report(r: &LoadReport) {
    tracing::info!(
        rules = r.rules_loaded,
        correlations = r.correlations_loaded,
        rejected = r.rejected.len(),
        "rule set loaded"
    );
    for rej in &r.rejected {
        tracing::warn!("rule rejected: {rej}");
    }
}

/// Correlation state of every tenant, as persisted at checkpoints.
pub type TenantSnapshots = HashMap<String, Snapshot>;

/// Runs one rule set over events, for one thread.
pub struct Detector<'a> {
    rules: &'a RuleSet,
    limits: Limits,
    scratch: Scratch,
    matched: Vec<usize>,
    /// One correlation engine per tenant: groups never mix tenants.
    engines: HashMap<String, CorrelationEngine<'a>>,
}

/// Field names that name a user, in order of preference.
const USER_FIELDS: &[&str] = &[
    "TargetUserName",
    "User",
    "SubjectUserName",
    "user.name",
    "user",
    "username",
    "UserName",
];
/// Field names that hold IP addresses.
const IP_FIELDS: &[&str] = &[
    "IpAddress",
    "SourceIp",
    "DestinationIp",
    "src_ip",
    "dest_ip",
    "source.ip",
    "destination.ip",
    "client.ip",
    "ClientIP",
];

impl<'a> Detector<'a> {
    pub fn new(rules: &'a RuleSet, limits: Limits, saved: &TenantSnapshots) -> Detector<'a> {
        let mut engines = HashMap::new();
        for (tenant, snapshot) in saved {
            let mut engine = CorrelationEngine::new(rules.correlations(), limits);
            engine.restore(snapshot);
            engines.insert(tenant.clone(), engine);
        }
        Detector {
            rules,
            limits,
            scratch: Scratch::default(),
            matched: Vec::new(),
            engines,
        }
    }

    /// Evaluates one event (log sequence number `lsn`) and appends the
    /// alerts it raises.
    pub fn detect(&mut self, lsn: u64, event: &Event, received_ns: i64, out: &mut Vec<Alert>) {
        self.matched.clear();
        self.rules
            .evaluate(event, &mut self.scratch, &mut self.matched);
        if self.matched.is_empty() {
            return;
        }
        let tenant = event.core.tenant.as_deref().unwrap_or("default");
        let time = event.core.timestamp.unwrap_or(received_ns);
        for i in 0..self.matched.len() {
            let r = self.matched[i];
            let rule = &self.rules.rules()[r];
            if rule.emit {
                let finding = Finding::from_match(self.rules, r, event);
                let key = format!(
                    "{}:{lsn}",
                    rule.meta.id.as_deref().unwrap_or(&rule.meta.title)
                );
                out.push(alert(finding, key, tenant, time, lsn, event));
            }
            let Some(fields) = self.rules.correlation_fields(r) else {
                continue;
            };
            let hit = Hit::from_event(Source::Rule(r), time, event, fields);
            let rules = self.rules;
            // The tenant's name is copied once, when its engine is made.
            if !self.engines.contains_key(tenant) {
                let engine = CorrelationEngine::new(rules.correlations(), self.limits);
                self.engines.insert(tenant.to_string(), engine);
            }
            let Some(engine) = self.engines.get_mut(tenant) else {
                continue;
            };
            for m in engine.process(&hit) {
                let c = &rules.correlations()[m.correlation];
                if !c.emit {
                    continue;
                }
                let finding = Finding::from_correlation(rules, &m);
                let key = format!("{}:{lsn}", c.meta.id.as_deref().unwrap_or(&c.meta.title));
                out.push(alert(finding, key, tenant, m.timestamp, lsn, event));
            }
        }
    }

    /// Correlation state of every tenant.
    pub fn snapshot(&self) -> TenantSnapshots {
        self.engines
            .iter()
            .map(|(t, e)| (t.clone(), e.snapshot()))
            .filter(|(_, s)| !s.correlations.is_empty())
            .collect()
    }

    /// (groups held, groups evicted) over all tenants.
    pub fn correlation_state(&self) -> (usize, u64) {
        self.engines.values().fold((0, 0), |(g, e), engine| {
            (
                g + engine.groups(),
                e + engine.stats.evicted_groups + engine.stats.evicted_entries,
            )
        })
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn alert(finding: Finding, key: String, tenant: &str, time: i64, lsn: u64, event: &Event) -> Alert {
    let user = USER_FIELDS.iter().find_map(|f| event.get(f).and_then(text));
    let mut ips: Vec<String> = IP_FIELDS
        .iter()
        .filter_map(|f| event.get(f).and_then(text))
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .collect();
    ips.dedup();
    let host = finding
        .host
        .clone()
        .or_else(|| event.core.host.as_deref().map(Into::into));
    Alert {
        id: 0,
        key,
        tenant: tenant.into(),
        domain: Domain::Security,
        rule_id: finding.rule.id,
        rule_title: finding.rule.title,
        kind: finding.rule.kind,
        level: finding.rule.level,
        tags: finding.rule.tags,
        time_ns: time,
        created_ns: watchfloor_model::now_ns(),
        host,
        user,
        ips,
        event_ids: vec![lsn],
        fields: finding.fields,
        value: finding.value,
        parent: None,
        incident_id: None,
    }
}
