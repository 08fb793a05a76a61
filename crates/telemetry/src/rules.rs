//! Metric alerting and recording rules in Prometheus's rule file format
//! (`groups: [{name, interval, rules: [{alert|record, expr, for, labels,
//! annotations}]}]`), evaluated on a schedule against a tenant's store.
//!
//! An alerting rule's series go pending when its expression returns them and
//! fire once they have been returned for `for`; a firing series becomes an
//! operations [`Alert`] for the incident queue (its key is stable for one
//! firing, so a restart does not raise it twice). Recording rules write
//! their result back into the store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use watchfloor_model::{Alert, AlertKind, Domain, Severity};
use watchfloor_tsdb::promql::{Engine, QueryValue};
use watchfloor_tsdb::{Labels, MetricStore, SeriesSamples};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    pub name: String,
    /// A Prometheus duration; the server's evaluation interval when absent.
    pub interval: Option<String>,
    #[serde(default)]
    pub limit: Option<u64>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub alert: Option<String>,
    pub record: Option<String>,
    pub expr: String,
    #[serde(rename = "for")]
    pub for_: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The rules Watchfloor ships: interface utilisation and errors (IF-MIB
/// names, as SNMP polling and snmp_exporter write them), targets down,
/// jobs gone quiet.
pub const SHIPPED: &str = include_str!("../rules/watchfloor.yml");

/// A rule file read and checked: every problem, each with the rule it is in.
pub fn parse(text: &str, file: &str) -> Result<RuleFile, Vec<String>> {
    let parsed: RuleFile = serde_yaml::from_str(text).map_err(|e| vec![format!("{file}: {e}")])?;
    let mut problems = Vec::new();
    for (gi, g) in parsed.groups.iter().enumerate() {
        let gname = format!("{file}: group {:?}", g.name);
        if g.name.trim().is_empty() {
            problems.push(format!("{file}: group {}: no name", gi + 1));
        }
        if parsed.groups[..gi].iter().any(|o| o.name == g.name) {
            problems.push(format!("{gname}: the name is used twice"));
        }
        if let Some(i) = &g.interval {
            if watchfloor_tsdb::promql::parse_duration_ms(i).is_none_or(|ms| ms <= 0) {
                problems.push(format!("{gname}: interval {i:?} is not a duration"));
            }
        }
        for (ri, r) in g.rules.iter().enumerate() {
            let rname = format!(
                "{gname} rule {} ({})",
                ri + 1,
                r.alert.as_deref().or(r.record.as_deref()).unwrap_or("?")
            );
            problems.extend(
                rule_problems(r)
                    .into_iter()
                    .map(|p| format!("{rname}: {p}")),
            );
        }
    }
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(problems)
    }
}

fn rule_problems(r: &Rule) -> Vec<String> {
    let mut out = Vec::new();
    match (&r.alert, &r.record) {
        (Some(_), Some(_)) => out.push("has both `alert` and `record`".into()),
        (None, None) => out.push("needs `alert` or `record`".into()),
        (None, Some(name)) if !watchfloor_tsdb::valid_label_name(name, true) => {
            out.push(format!("`record` {name:?} is not a valid metric name"))
        }
        (None, Some(_)) if r.for_.is_some() || !r.annotations.is_empty() => {
            out.push("a recording rule has no `for` or `annotations`".into())
        }
        _ => {}
    }
    if let Err(e) = Engine::parse(&r.expr) {
        out.push(format!("expr: {e}"));
    }
    if let Some(f) = &r.for_ {
        if watchfloor_tsdb::promql::parse_duration_ms(f).is_none() {
            out.push(format!("`for` {f:?} is not a duration"));
        }
    }
    for name in r.labels.keys() {
        if !watchfloor_tsdb::valid_label_name(name, false) {
            out.push(format!("label name {name:?} is not valid"));
        }
    }
    out
}

/// Where an alerting rule's series stand.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ActiveAlert {
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    /// "pending" or "firing".
    pub state: String,
    /// Milliseconds: when the series first matched.
    pub active_at: i64,
    pub value: f64,
}

/// A group with the state of its alerting rules.
pub struct GroupState {
    pub group: RuleGroup,
    pub interval_ms: i64,
    /// Per alerting rule (by index), its active series by labels.
    active: HashMap<usize, BTreeMap<Labels, ActiveAlert>>,
    pub last_error: BTreeMap<usize, String>,
    pub last_eval_ms: i64,
}

/// What one evaluation of a group produced.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Series that started firing: alerts for the incident queue.
    pub fired: Vec<Alert>,
    /// Recording rules' samples, to append.
    pub recorded: Vec<SeriesSamples>,
    /// Labels of alerts that stopped firing.
    pub resolved: Vec<(String, Labels)>,
}

impl GroupState {
    pub fn new(group: RuleGroup, default_interval_ms: i64) -> Self {
        let interval_ms = group
            .interval
            .as_deref()
            .and_then(watchfloor_tsdb::promql::parse_duration_ms)
            .filter(|&ms| ms > 0)
            .unwrap_or(default_interval_ms);
        GroupState {
            group,
            interval_ms,
            active: HashMap::new(),
            last_error: BTreeMap::new(),
            last_eval_ms: 0,
        }
    }

    /// Evaluates every rule at `at` (milliseconds) for `tenant`.
    pub fn evaluate(
        &mut self,
        engine: &Engine,
        store: &dyn MetricStore,
        tenant: &str,
        at: i64,
    ) -> Evaluation {
        let mut out = Evaluation::default();
        self.last_eval_ms = at;
        for (i, rule) in self.group.rules.clone().iter().enumerate() {
            let result = match engine.instant(store, &rule.expr, at) {
                Ok(QueryValue::Vector(v)) => {
                    v.into_iter().map(|s| (s.metric, s.v)).collect::<Vec<_>>()
                }
                Ok(QueryValue::Scalar { v, .. }) => vec![(Labels::new(), v)],
                Ok(other) => {
                    self.last_error.insert(
                        i,
                        format!("expression gives a {}, not a vector", other.type_name()),
                    );
                    continue;
                }
                Err(e) => {
                    self.last_error.insert(i, e.to_string());
                    continue;
                }
            };
            self.last_error.remove(&i);
            match (&rule.alert, &rule.record) {
                (_, Some(name)) => out.recorded.extend(record(name, rule, result, at)),
                (Some(name), None) => self.alerting(i, name, rule, result, tenant, at, &mut out),
                _ => {}
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn alerting(
        &mut self,
        i: usize,
        name: &str,
        rule: &Rule,
        result: Vec<(Labels, f64)>,
        tenant: &str,
        at: i64,
        out: &mut Evaluation,
    ) {
        let hold = rule
            .for_
            .as_deref()
            .and_then(watchfloor_tsdb::promql::parse_duration_ms)
            .unwrap_or(0);
        let active = self.active.entry(i).or_default();
        let mut seen = Vec::with_capacity(result.len());
        for (mut labels, value) in result {
            labels.remove(watchfloor_tsdb::METRIC_NAME);
            for (k, v) in &rule.labels {
                labels.set(k, &expand(v, &labels, value));
            }
            labels.set("alertname", name);
            let annotations: BTreeMap<String, String> = rule
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), expand(v, &labels, value)))
                .collect();
            let entry = active.entry(labels.clone()).or_insert_with(|| ActiveAlert {
                labels: labels.clone(),
                annotations: BTreeMap::new(),
                state: "pending".into(),
                active_at: at,
                value,
            });
            entry.value = value;
            entry.annotations = annotations;
            if entry.state == "pending" && at - entry.active_at >= hold {
                entry.state = "firing".into();
                out.fired
                    .push(to_alert(&self.group.name, name, rule, entry, tenant, at));
            }
            seen.push(labels);
        }
        let gone: Vec<Labels> = active
            .keys()
            .filter(|l| !seen.contains(l))
            .cloned()
            .collect();
        for l in gone {
            if let Some(a) = active.remove(&l) {
                if a.state == "firing" {
                    out.resolved.push((name.to_string(), l));
                }
            }
        }
    }

    /// The active alerts of the group (for the API and the console).
    pub fn alerts(&self) -> Vec<ActiveAlert> {
        self.active
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }

    pub fn alerts_of(&self, rule: usize) -> Vec<ActiveAlert> {
        self.active
            .get(&rule)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

fn record(name: &str, rule: &Rule, result: Vec<(Labels, f64)>, at: i64) -> Vec<SeriesSamples> {
    result
        .into_iter()
        .map(|(mut labels, v)| {
            labels.set(watchfloor_tsdb::METRIC_NAME, name);
            for (k, val) in &rule.labels {
                labels.set(k, val);
            }
            SeriesSamples {
                labels,
                samples: vec![(at, v)],
            }
        })
        .collect()
}

/// The severity a rule's `severity` label names (Alertmanager's words
/// included: page, critical, warning, info).
fn severity(labels: &Labels) -> Severity {
    match labels.value("severity").to_ascii_lowercase().as_str() {
        "critical" | "page" | "emergency" => Severity::Critical,
        "high" | "error" | "major" => Severity::High,
        "low" | "minor" => Severity::Low,
        "info" | "informational" | "none" => Severity::Informational,
        _ => Severity::Medium,
    }
}

fn to_alert(group: &str, name: &str, rule: &Rule, a: &ActiveAlert, tenant: &str, at: i64) -> Alert {
    let mut fields = serde_json::Map::new();
    for l in a.labels.iter() {
        fields.insert(format!("labels.{}", l.name), serde_json::json!(l.value));
    }
    for (k, v) in &a.annotations {
        fields.insert(format!("annotations.{k}"), serde_json::json!(v));
    }
    fields.insert("expr".into(), serde_json::json!(rule.expr));
    fields.insert("group".into(), serde_json::json!(group));
    let host = [a.labels.value("host"), a.labels.value("instance")]
        .into_iter()
        .find(|h| !h.is_empty())
        .map(|h| {
            h.rsplit_once(':')
                .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
                .map_or(h, |(host, _)| host)
                .to_string()
        });
    let summary = a
        .annotations
        .get("summary")
        .cloned()
        .unwrap_or_else(|| format!("{name} {}", a.labels.without_metric_name()));
    Alert {
        id: 0,
        key: format!(
            "metric:{tenant}:{group}/{name}:{:016x}:{}",
            a.labels.signature(),
            a.active_at
        ),
        tenant: tenant.to_string(),
        domain: Domain::Operations,
        rule_id: Some(format!("metric:{group}/{name}")),
        rule_title: summary,
        kind: AlertKind::Metric,
        level: severity(&a.labels),
        tags: vec![format!("metric.{name}")],
        time_ns: at * 1_000_000,
        created_ns: at * 1_000_000,
        host,
        user: None,
        users: Vec::new(),
        ips: Vec::new(),
        indicators: Default::default(),
        event_ids: Vec::new(),
        fields,
        value: Some(a.value),
        parent: None,
        incident_id: None,
    }
}

/// Prometheus's annotation templates, the common part: `{{ $labels.x }}`,
/// `{{ $value }}`, and `humanize`, `humanizePercentage`, `humanize1024`
/// applied to the value.
pub fn expand(template: &str, labels: &Labels, value: f64) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = rest[open + 2..open + close]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        out.push_str(&template_value(inner, labels, value));
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

fn template_value(expr: &str, labels: &Labels, value: f64) -> String {
    let words: Vec<&str> = expr
        .split(|c: char| c.is_whitespace() || c == '|')
        .filter(|w| !w.is_empty())
        .collect();
    let func = words.iter().find(|w| w.starts_with("humanize")).copied();
    let subject = words
        .iter()
        .find(|w| w.starts_with('$'))
        .copied()
        .unwrap_or("");
    if let Some(label) = subject.strip_prefix("$labels.") {
        return labels.value(label).to_string();
    }
    if subject == "$value" {
        return match func {
            Some("humanizePercentage") => {
                format!("{}%", trim_number(&format!("{:.4}", value * 100.0)))
            }
            Some("humanize1024") => humanize(value, 1024.0, &["", "Ki", "Mi", "Gi", "Ti", "Pi"]),
            Some(_) => humanize(value, 1000.0, &["", "k", "M", "G", "T", "P"]),
            None => watchfloor_tsdb::promql::format_value(value),
        };
    }
    format!("{{{{{expr}}}}}")
}

fn humanize(mut v: f64, base: f64, prefixes: &[&str]) -> String {
    if v == 0.0 || !v.is_finite() {
        return watchfloor_tsdb::promql::format_value(v);
    }
    let mut i = 0;
    while v.abs() >= base && i + 1 < prefixes.len() {
        v /= base;
        i += 1;
    }
    format!("{}{}", trim_number(&format!("{v:.4}")), prefixes[i])
}

/// `1.2500` -> `1.25`, `2.0000` -> `2`.
fn trim_number(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// Every group of the shipped rules (unless turned off) and of the files,
/// ready to evaluate; problems of every file at once.
pub fn load(files: &[std::path::PathBuf], shipped: bool) -> Result<Vec<RuleGroup>, Vec<String>> {
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    if shipped {
        match parse(SHIPPED, "shipped rules/watchfloor.yml") {
            Ok(f) => groups.extend(f.groups),
            Err(p) => problems.extend(p),
        }
    }
    for f in files {
        let name = f.display().to_string();
        match std::fs::read_to_string(f) {
            Ok(text) => match parse(&text, &name) {
                Ok(parsed) => groups.extend(parsed.groups),
                Err(p) => problems.extend(p),
            },
            Err(e) => problems.push(format!("{name}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(problems)
    }
}

/// Shared handle to every tenant's group states.
pub type RuleStates = Arc<std::sync::Mutex<BTreeMap<String, Vec<GroupState>>>>;

#[cfg(test)]
mod tests {
    use super::*;
    use watchfloor_tsdb::{DiskStore, StoreOptions};

    const RULES: &str = r#"
groups:
  - name: node
    interval: 30s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: TargetDown
        expr: up == 0
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.instance }} of {{ $labels.job }} is down"
          description: "up is {{ $value }}; memory {{ 2048 | humanize1024 }}"
"#;

    #[test]
    fn every_problem_is_named_with_its_rule() {
        let bad = "groups:\n  - name: g\n    rules:\n      - alert: A\n        record: b\n        expr: up\n      - record: \"bad-name\"\n        expr: sum(\n      - alert: C\n        expr: up\n        for: soon\n";
        let problems = parse(bad, "x.yml").unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("rule 1 (A): has both"));
        assert!(problems
            .iter()
            .any(|p| p.contains("rule 2 (bad-name): expr: parse error")));
        assert!(problems
            .iter()
            .any(|p| p.contains("rule 3 (C): `for` \"soon\"")));
        assert!(
            parse(SHIPPED, "shipped").is_ok(),
            "{:?}",
            parse(SHIPPED, "shipped")
        );
    }

    #[test]
    fn pending_then_firing_once_then_resolved() {
        let dir = tempfile::tempdir().expect("dir");
        let store = DiskStore::open(dir.path(), StoreOptions::default()).expect("store");
        let series = |v: f64, t: i64| SeriesSamples {
            labels: Labels::from_pairs([
                ("__name__", "up"),
                ("job", "node"),
                ("instance", "db1:9100"),
            ]),
            samples: vec![(t, v)],
        };
        let group = parse(RULES, "t").expect("rules").groups.remove(0);
        let mut state = GroupState::new(group, 60_000);
        assert_eq!(state.interval_ms, 30_000);
        let engine = Engine::default();
        let mut fired = Vec::new();
        let mut recorded = 0;
        for (i, v) in [1.0, 0.0, 0.0, 0.0, 0.0, 1.0].iter().enumerate() {
            let t = i as i64 * 30_000;
            store.append(&[series(*v, t)]).expect("append");
            let e = state.evaluate(&engine, &store, "acme", t);
            recorded += e.recorded.len();
            fired.extend(e.fired);
            if i == 5 {
                assert_eq!(e.resolved.len(), 1);
            }
            if i == 2 {
                assert_eq!(state.alerts()[0].state, "pending", "30 s of 60");
            }
        }
        assert_eq!(recorded, 6);
        assert_eq!(fired.len(), 1, "fires once");
        let a = &fired[0];
        assert_eq!(a.rule_title, "db1:9100 of node is down");
        assert_eq!(a.level, Severity::Critical);
        assert_eq!(a.host.as_deref(), Some("db1"));
        assert_eq!(a.kind, AlertKind::Metric);
        assert_eq!(
            a.fields["annotations.description"],
            "up is 0; memory {{2048 | humanize1024}}"
        );
        assert_eq!(a.time_ns, 90_000 * 1_000_000, "fired at the third zero");
    }

    #[test]
    fn templates() {
        let l = Labels::from_pairs([("instance", "a")]);
        assert_eq!(
            expand(
                "{{$labels.instance}} {{ $value | humanize }} {{ humanize $value }}",
                &l,
                1234567.0
            ),
            "a 1.2346M 1.2346M"
        );
        assert_eq!(expand("{{ $value | humanize1024 }}", &l, 2048.0), "2Ki");
        assert_eq!(
            expand("{{ $value | humanizePercentage }}", &l, 0.256),
            "25.6%"
        );
    }
}
