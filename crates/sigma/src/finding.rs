//! Findings: what a matched rule or a fired correlation reports, in the
//! shape every output (JSONL, CSV, table, later the alert store) uses.

use serde::Serialize;
use watchfloor_model::{format_rfc3339, AlertKind, Event};

use crate::correlation::CorrelationMatch;
use crate::engine::{Rule, RuleSet};
use crate::rule::Severity;

/// The rule part of a finding.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleRef {
    pub id: Option<String>,
    pub title: String,
    pub level: Severity,
    pub tags: Vec<String>,
    /// [`AlertKind::Detection`] or [`AlertKind::Correlation`].
    pub kind: AlertKind,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceInfo {
    pub path: String,
    pub record: u64,
}

/// One detection.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub rule: RuleRef,
    pub timestamp: Option<String>,
    #[serde(skip)]
    pub timestamp_ns: Option<i64>,
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
    /// For rule matches: the event's values of the fields the rule reads.
    /// For correlations: the group-by values.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// For correlations: the aggregate that met the condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

fn rule_ref(rule: &Rule) -> RuleRef {
    RuleRef {
        id: rule.meta.id.clone(),
        title: rule.meta.title.clone(),
        level: rule.level(),
        tags: rule.meta.tags.clone(),
        kind: AlertKind::Detection,
    }
}

impl Finding {
    /// A finding for `rule` matching `event`.
    pub fn from_match(rules: &RuleSet, rule: usize, event: &Event) -> Finding {
        let r = &rules.rules()[rule];
        let fields = r
            .fields
            .iter()
            .filter_map(|f| event.get(f).map(|v| (f.clone(), v.to_json())))
            .collect();
        Finding::of_event(rule_ref(r), event, fields)
    }

    /// A finding of `rule` about one event (its time, host, channel, id and
    /// place in its file), with `fields` to show.
    pub fn of_event(
        rule: RuleRef,
        event: &Event,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Finding {
        let core = &event.core;
        Finding {
            rule,
            timestamp: core.timestamp.map(format_rfc3339),
            timestamp_ns: core.timestamp,
            host: core.host.as_deref().map(Into::into),
            channel: core.channel.as_deref().map(Into::into),
            event_id: core.event_id,
            source: Some(SourceInfo {
                path: core.source.path.to_string(),
                record: core.source.record,
            }),
            fields,
            value: None,
        }
    }

    /// A finding for a fired correlation.
    pub fn from_correlation(rules: &RuleSet, m: &CorrelationMatch) -> Finding {
        let c = &rules.correlations()[m.correlation];
        let host = m
            .group
            .iter()
            .find(|(k, _)| {
                ["Computer", "ComputerName", "host", "Hostname", "hostname"].contains(&k.as_str())
            })
            .map(|(_, v)| v.clone());
        Finding {
            rule: RuleRef {
                id: c.meta.id.clone(),
                title: c.meta.title.clone(),
                level: c.meta.level.unwrap_or(Severity::Medium),
                tags: c.meta.tags.clone(),
                kind: AlertKind::Correlation,
            },
            timestamp: Some(format_rfc3339(m.timestamp)),
            timestamp_ns: Some(m.timestamp),
            host,
            channel: None,
            event_id: None,
            source: None,
            fields: m
                .group
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
            value: Some(m.value),
        }
    }
}
