//! Samples: metric points. Today the result of an availability check, kept
//! as a time series per check (status, latency, certificate days).

use serde::{Deserialize, Serialize};

/// One check result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckSample {
    pub tenant: String,
    pub check: String,
    pub time_ns: i64,
    /// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub status: u8,
    /// Whether the status was confirmed (hard).
    pub hard: bool,
    pub latency_ms: Option<f64>,
    pub cert_days_left: Option<i64>,
    /// Taken inside a maintenance window.
    #[serde(default)]
    pub maintenance: bool,
    /// What the check said, for problem results (availability names the
    /// cause of an outage with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}
