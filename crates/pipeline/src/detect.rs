//! Streaming detection: the rule set (swappable at run time), and the
//! per-thread detector that turns matches and fired correlations into
//! alerts with deterministic keys (a replay gives the same keys, so the
//! state store keeps each alert once).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use watchfloor_intel::live::{Match, MatchTally, Reader};
use watchfloor_model::{Alert, AlertKind, Domain, Indicators, Severity};
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
    intel_matches: Vec<Match>,
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
            intel_matches: Vec::new(),
        }
    }

    /// Matches one event against the indicators and appends an alert per
    /// indicator it holds. Decay is judged at `received_ns`, so a replay
    /// after a crash decides as the first pass did.
    pub fn match_intel(
        &mut self,
        intel: &Reader<'_>,
        lsn: u64,
        event: &Event,
        received_ns: i64,
        out: &mut Vec<Alert>,
    ) -> MatchTally {
        self.intel_matches.clear();
        let tenant = event.core.tenant.as_deref().unwrap_or("default");
        let tally = intel.match_event(tenant, event, received_ns, &mut self.intel_matches);
        let time = event.core.timestamp.unwrap_or(received_ns);
        for m in self.intel_matches.drain(..) {
            out.push(intel_alert(m, tenant, time, lsn, event, false));
        }
        tally
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
            let mut hit = Hit::from_event(Source::Rule(r), time, event, fields);
            hit.subject = user_of(event);
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
                let mut raised = alert(finding, key, tenant, m.timestamp, lsn, event);
                raised.users = m.subjects;
                out.push(raised);
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

/// Fields that name a domain, a URL, a file hash or a process executable.
const DOMAIN_FIELDS: &[&str] = &[
    "url.domain",
    "dns.question.name",
    "destination.domain",
    "QueryName",
];
const URL_FIELDS: &[&str] = &["url.full", "url.original"];
const HASH_FIELDS: &[&str] = &[
    "file.hash.sha256",
    "file.hash.sha1",
    "file.hash.md5",
    "process.hash.sha256",
    "Hashes",
];
const PROCESS_FIELDS: &[&str] = &["process.executable", "Image", "NewProcessName"];

/// The distinct values of `fields` in the event, in field order.
fn values_of(event: &Event, fields: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in fields.iter().filter_map(|f| event.get(f).and_then(text)) {
        if !v.is_empty() && v != "-" && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// File hashes, hex: Sysmon writes `SHA1=...,MD5=...,SHA256=...` in one
/// field, ECS one hash a field.
fn hashes_of(event: &Event) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values_of(event, HASH_FIELDS) {
        for part in value.split(',') {
            let hex = part.rsplit('=').next().unwrap_or(part).trim();
            let plausible =
                matches!(hex.len(), 32 | 40 | 64) && hex.bytes().all(|b| b.is_ascii_hexdigit());
            if plausible && !out.iter().any(|h| h.eq_ignore_ascii_case(hex)) {
                out.push(hex.to_ascii_lowercase());
            }
        }
    }
    out
}

fn indicators_of(event: &Event) -> Indicators {
    Indicators {
        domains: values_of(event, DOMAIN_FIELDS),
        urls: values_of(event, URL_FIELDS),
        hashes: hashes_of(event),
        processes: values_of(event, PROCESS_FIELDS),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The user an event concerns (Windows' placeholder `-` is none).
fn user_of(event: &Event) -> Option<String> {
    USER_FIELDS.iter().find_map(|f| {
        event
            .get(f)
            .and_then(text)
            .filter(|u| !u.is_empty() && u != "-")
    })
}

fn alert(finding: Finding, key: String, tenant: &str, time: i64, lsn: u64, event: &Event) -> Alert {
    let mut alert = alert_of_event(key, tenant, time, lsn, event);
    if let Some(host) = finding.host {
        alert.host = Some(host);
    }
    alert.rule_id = finding.rule.id;
    alert.rule_title = finding.rule.title;
    alert.kind = finding.rule.kind;
    alert.level = finding.rule.level;
    alert.tags = finding.rule.tags;
    alert.fields = finding.fields;
    alert.value = finding.value;
    alert
}

/// An alert about `event` with its entities (host, user, addresses,
/// domains, URLs, hashes, processes); the detector fills in the rest.
fn alert_of_event(key: String, tenant: &str, time: i64, lsn: u64, event: &Event) -> Alert {
    let mut ips: Vec<String> = IP_FIELDS
        .iter()
        .filter_map(|f| event.get(f).and_then(text))
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .collect();
    ips.dedup();
    Alert {
        id: 0,
        key,
        tenant: tenant.into(),
        domain: Domain::Security,
        rule_id: None,
        rule_title: String::new(),
        kind: AlertKind::Detection,
        level: Severity::default(),
        tags: Vec::new(),
        time_ns: time,
        created_ns: watchfloor_model::now_ns(),
        host: event.core.host.as_deref().map(Into::into),
        user: user_of(event),
        users: Vec::new(),
        ips,
        indicators: indicators_of(event),
        event_ids: vec![lsn],
        fields: serde_json::Map::new(),
        value: None,
        parent: None,
        incident_id: None,
    }
}

/// The alert of one indicator match: titled by the indicator (with its
/// labels, so a `phishing` label files it as a phishing incident), its
/// context in `intel.*` fields, keyed by indicator and event so a replay
/// stores it once, and a retro-hunt's match of an event the live matcher
/// already alerted on is not stored again. `retro`: found by a retro-hunt
/// (`intel.retro`, tag `retro`, said in the title).
pub(crate) fn intel_alert(
    m: Match,
    tenant: &str,
    time: i64,
    lsn: u64,
    event: &Event,
    retro: bool,
) -> Alert {
    let mut alert = alert_of_event(format!("{}:{lsn}", m.rule_id()), tenant, time, lsn, event);
    alert.rule_id = Some(m.rule_id());
    alert.rule_title = m.title(retro);
    alert.kind = AlertKind::Intel;
    alert.level = m.level();
    alert.tags = m.tags();
    if retro {
        alert.tags.push("retro".into());
    }
    alert.fields = m.fields(retro);
    alert
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchfloor_model::SourceRef;

    fn event(fields: &[(&str, &str)]) -> Event {
        let mut e = Event::new(SourceRef::default());
        for (k, v) in fields {
            e.push(*k, Value::Str((*v).into()));
        }
        e
    }

    #[test]
    fn alerts_carry_domains_urls_hashes_and_processes_of_their_event() {
        let e = event(&[
            ("Image", "C:\\Users\\bob\\dropper.exe"),
            (
                "Hashes",
                "SHA1=A94A8FE5CCB19BA61C4C0873D391E987982FBBD3,MD5=-,SHA256=2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE",
            ),
            ("QueryName", "evil.example"),
            ("dns.question.name", "evil.example"),
            ("url.full", "http://evil.example/payload"),
        ]);
        let found = indicators_of(&e);
        assert_eq!(found.processes, ["C:\\Users\\bob\\dropper.exe"]);
        assert_eq!(
            found.hashes,
            [
                "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
                "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            ],
            "hex, lower case, the MD5 placeholder left out"
        );
        assert_eq!(found.domains, ["evil.example"], "one domain, once");
        assert_eq!(found.urls, ["http://evil.example/payload"]);
        assert!(indicators_of(&event(&[("message", "nothing")])).is_empty());
    }
}
