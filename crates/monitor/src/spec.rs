//! A check as written in `[[checks]]` of the configuration or sent to
//! `POST /api/v1/checks`: the check's own fields (with `type`) plus its
//! name, schedule and patience.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Check, Monitor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MonitorSpec {
    pub name: String,
    /// The tenant the check belongs to (the server's by default; the
    /// caller's through the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default = "sixty")]
    pub interval_secs: u64,
    #[serde(default = "fifteen")]
    pub retry_interval_secs: u64,
    #[serde(default = "ten_thousand")]
    pub timeout_ms: u64,
    /// Problem results in a row after the first before it is hard.
    #[serde(default = "two")]
    pub retries: u32,
    #[serde(default)]
    pub paused: bool,
    /// The topology node (host, link) this check watches; the check's
    /// own host by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(flatten)]
    pub check: Check,
}

fn sixty() -> u64 {
    60
}
fn fifteen() -> u64 {
    15
}
fn ten_thousand() -> u64 {
    10_000
}
fn two() -> u32 {
    2
}

impl MonitorSpec {
    /// Every problem, the check's own included.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 128
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if !name_ok {
            out.push(format!(
                "name: {:?}: 1 to 128 letters, digits, '-', '_', '.' or ':'",
                self.name
            ));
        }
        if !(1..=86_400).contains(&self.interval_secs) {
            out.push("interval_secs: 1 to 86400".into());
        }
        if !(1..=86_400).contains(&self.retry_interval_secs) {
            out.push("retry_interval_secs: 1 to 86400".into());
        }
        if !(1..=300_000).contains(&self.timeout_ms) {
            out.push("timeout_ms: 1 to 300000".into());
        }
        if self.retries > 20 {
            out.push("retries: 0 to 20".into());
        }
        out.extend(self.check.problems());
        out
    }

    pub fn to_monitor(&self, default_tenant: &str) -> Monitor {
        Monitor {
            name: self.name.clone(),
            tenant: self
                .tenant
                .clone()
                .unwrap_or_else(|| default_tenant.to_string()),
            check: self.check.clone(),
            interval: Duration::from_secs(self.interval_secs),
            retry_interval: Duration::from_secs(self.retry_interval_secs),
            timeout: Duration::from_millis(self.timeout_ms),
            retries: self.retries,
            paused: self.paused,
            host: self
                .node
                .clone()
                .or_else(|| self.check.host().map(str::to_string)),
            service: self.service.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_with_defaults_and_refuse_unknown_keys() {
        let s: MonitorSpec = serde_json::from_value(serde_json::json!({
            "name": "web", "type": "tcp", "host": "10.0.0.1", "port": 443
        }))
        .expect("spec");
        assert_eq!((s.interval_secs, s.retries, s.timeout_ms), (60, 2, 10_000));
        assert!(s.problems().is_empty());
        let m = s.to_monitor("acme");
        assert_eq!(
            (m.tenant.as_str(), m.host.as_deref()),
            ("acme", Some("10.0.0.1"))
        );
        let bad = serde_json::from_value::<MonitorSpec>(serde_json::json!({
            "name": "web", "type": "tcp", "host": "h", "port": 1, "colour": "red"
        }));
        assert!(bad.unwrap_err().to_string().contains("colour"));
        let wrong: MonitorSpec = serde_json::from_value(serde_json::json!({
            "name": "a b", "type": "tcp", "host": "h", "port": 0, "interval_secs": 0
        }))
        .expect("parses");
        assert_eq!(wrong.problems().len(), 3, "{:?}", wrong.problems());
    }
}
