//! Alerts: what every detector emits (Sigma rules and correlations, NOC
//! checks, and later metric rules, indicator matches and anomalies), in one
//! type that the incident queue files whatever raised it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::incident::Domain;
use crate::incident::Entities;

/// How serious an alert is, in Sigma's five levels, ordered from
/// `Informational` to `Critical`. One enum for rule levels, the API's
/// `level` filter, incident severity and check results; written as the
/// lower-case word everywhere it is stored or shown.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    #[serde(alias = "info")]
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The level written in any case, and `info` for `informational`.
    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| text.eq_ignore_ascii_case(s.as_str()))
            .or_else(|| {
                text.eq_ignore_ascii_case("info")
                    .then_some(Severity::Informational)
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// 0 (informational) to 4 (critical): the stored sort key.
    pub fn rank(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`Severity::from_str`]: names the word and the choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSeverity(pub String);

impl fmt::Display for UnknownSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown level {:?}: expected informational, low, medium, high or critical",
            self.0
        )
    }
}

impl std::error::Error for UnknownSeverity {}

impl FromStr for Severity {
    type Err = UnknownSeverity;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::parse(s).ok_or_else(|| UnknownSeverity(s.to_string()))
    }
}

/// Which detector raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A Sigma detection rule matched one event.
    Detection,
    /// A Sigma correlation rule fired over several events.
    Correlation,
    /// An availability check changed to a hard problem (or started flapping).
    Check,
    /// A metric alert rule fired.
    Metric,
    /// An event matched a threat-intelligence indicator.
    Intel,
    /// An anomaly detector flagged a sample or an event rate.
    Anomaly,
    /// A device reported a network event by SNMP trap (a link went down).
    Trap,
    /// Several signals together: the DDoS signature (traffic overload plus
    /// flows concentrated on one victim).
    Signature,
    /// A person reported it (a phishing message sent to the SOC).
    Report,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Detection => "detection",
            AlertKind::Correlation => "correlation",
            AlertKind::Check => "check",
            AlertKind::Metric => "metric",
            AlertKind::Intel => "intel",
            AlertKind::Anomaly => "anomaly",
            AlertKind::Trap => "trap",
            AlertKind::Signature => "signature",
            AlertKind::Report => "report",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alert raised by a detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Alert {
    /// Assigned by the store.
    #[serde(default)]
    pub id: i64,
    /// Deterministic: the same detection replayed gives the same key, so
    /// replay after a crash never stores an alert twice.
    pub key: String,
    pub tenant: String,
    /// The crew it is for (`security` or `operations`).
    pub domain: Domain,
    pub rule_id: Option<String>,
    pub rule_title: String,
    /// The detector that raised it (stored and shown as `rule_kind`).
    #[serde(rename = "rule_kind")]
    pub kind: AlertKind,
    pub level: Severity,
    pub tags: Vec<String>,
    pub time_ns: i64,
    pub created_ns: i64,
    pub host: Option<String>,
    pub user: Option<String>,
    /// Every user the alert concerns, when more than its event's (a
    /// correlation: each account its window's events targeted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    pub ips: Vec<String>,
    /// Further entities of the triggering event: domains, URLs, file
    /// hashes and process executables.
    #[serde(default, skip_serializing_if = "Indicators::is_empty")]
    pub indicators: Indicators,
    /// Ids of the events that triggered it.
    pub event_ids: Vec<u64>,
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub value: Option<f64>,
    /// The dedup key of the alert this one is a consequence of (the NOC's
    /// root cause: a host behind a failed router names the router's alert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The incident the alert was filed into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<i64>,
}

/// The entities of an alert beyond host, user and addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Indicators {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hashes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<String>,
}

impl Indicators {
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
            && self.urls.is_empty()
            && self.hashes.is_empty()
            && self.processes.is_empty()
    }
}

impl Alert {
    /// The hosts, users, addresses, services, domains, URLs, hashes and
    /// processes the alert concerns.
    pub fn entities(&self) -> Entities {
        let mut e = Entities::default();
        if let Some(h) = self.host.as_deref().filter(|h| !h.is_empty()) {
            e.hosts.insert(h.to_ascii_lowercase());
        }
        if let Some(u) = self.user.as_deref().filter(|u| !u.is_empty()) {
            e.users.insert(u.to_string());
        }
        e.users
            .extend(self.users.iter().filter(|u| !u.is_empty()).cloned());
        e.ips.extend(self.ips.iter().cloned());
        e.domains.extend(
            self.indicators
                .domains
                .iter()
                .map(|d| d.to_ascii_lowercase()),
        );
        e.urls.extend(self.indicators.urls.iter().cloned());
        e.hashes.extend(
            self.indicators
                .hashes
                .iter()
                .map(|h| h.to_ascii_lowercase()),
        );
        e.processes
            .extend(self.indicators.processes.iter().cloned());
        if let Some(s) = self.fields.get("service").and_then(|v| v.as_str()) {
            e.services.insert(s.to_string());
        }
        e
    }

    /// Same rule, same entities: the same alert. Incidents count repeats
    /// under this key, and a consequence names its cause's key in
    /// [`parent`](Alert::parent).
    pub fn dedup_key(&self) -> String {
        let rule = self.rule_id.as_deref().unwrap_or(&self.rule_title);
        let e = self.entities();
        let join = |s: &std::collections::BTreeSet<String>| {
            s.iter().map(String::as_str).collect::<Vec<_>>().join(",")
        };
        format!(
            "{rule}|h={}|u={}|ip={}|s={}",
            join(&e.hosts),
            join(&e.users),
            join(&e.ips),
            join(&e.services)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_reads_every_spelling_and_orders() {
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert_eq!(Severity::parse("info"), Some(Severity::Informational));
        assert!("severe"
            .parse::<Severity>()
            .unwrap_err()
            .to_string()
            .contains("severe"));
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Informational);
        let ranks: Vec<u8> = Severity::ALL.iter().map(|s| s.rank()).collect();
        assert_eq!(ranks, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn stored_form_is_the_words_of_before() {
        let text = r#"{"key":"k","tenant":"t","domain":"operations","rule_id":null,
            "rule_title":"r","rule_kind":"check","level":"info","tags":[],"time_ns":1,
            "created_ns":2,"host":null,"user":null,"ips":[],"event_ids":[],"fields":{},"value":null}"#;
        let alert: Alert = serde_json::from_str(text).unwrap();
        assert_eq!(alert.kind, AlertKind::Check);
        assert_eq!(alert.level, Severity::Informational);
        assert_eq!(alert.domain, Domain::Operations);
        let back = serde_json::to_value(&alert).unwrap();
        assert_eq!(back["level"], "informational");
        assert_eq!(back["rule_kind"], "check");
        assert_eq!(back["domain"], "operations");
    }
}
