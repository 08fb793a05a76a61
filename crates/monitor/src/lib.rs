//! NOC checks: ICMP echo, TCP connect, HTTP(S), TLS certificates and DNS,
//! each run once with a deadline and answered as a monitoring plugin would
//! (OK, WARNING, CRITICAL, UNKNOWN, a one-line summary and performance
//! data). Nothing here panics on what a peer sends or a user writes: every
//! failure is an [`Outcome`] that says what and where.

pub mod alerting;
pub mod availability;
mod check;
pub mod config;
pub mod flap;
pub mod maintenance;
mod probe;
pub mod scheduler;
mod spec;
pub mod state;
mod target;
pub mod topology;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use check::{Check, DnsCheck, HttpCheck, IcmpCheck, TcpCheck, TlsCheck};
pub use config::MonitorConfig;
pub use scheduler::{Control, Monitor, Report};
pub use spec::MonitorSpec;
pub use state::{CheckState, StateChange};
pub use target::parse_target;

/// A check's verdict, with the exit codes of the Nagios plugin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// One performance figure, as `label=value[unit];warn;crit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Perf {
    pub label: String,
    pub value: f64,
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<f64>,
}

/// What one run of a check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    /// One line for a person: what was checked and what was seen.
    pub summary: String,
    /// Time to the answer, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Days until the certificate expires (TLS checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_days_left: Option<i64>,
    #[serde(default)]
    pub perf: Vec<Perf>,
}

impl Outcome {
    pub fn new(status: Status, summary: impl Into<String>) -> Outcome {
        // One line, as plugin output must be (regex errors span several).
        let summary: String = summary.into();
        let summary = summary.split_whitespace().collect::<Vec<_>>().join(" ");
        Outcome {
            status,
            summary,
            latency_ms: None,
            cert_days_left: None,
            perf: Vec::new(),
        }
    }

    /// Records the latency and grades it against warning and critical
    /// thresholds (milliseconds); a slow answer never improves a status.
    fn with_latency(
        mut self,
        elapsed: Duration,
        warn_ms: Option<u64>,
        crit_ms: Option<u64>,
    ) -> Outcome {
        let ms = elapsed.as_secs_f64() * 1000.0;
        self.latency_ms = Some(ms);
        self.perf.push(Perf {
            label: "time".into(),
            value: elapsed.as_secs_f64(),
            unit: "s".into(),
            warn: warn_ms.map(|w| w as f64 / 1000.0),
            crit: crit_ms.map(|c| c as f64 / 1000.0),
        });
        if self.status == Status::Ok {
            if crit_ms.is_some_and(|c| ms >= c as f64) {
                self.status = Status::Critical;
                self.summary
                    .push_str(&format!(" (slower than {} ms)", crit_ms.unwrap_or(0)));
            } else if warn_ms.is_some_and(|w| ms >= w as f64) {
                self.status = Status::Warning;
                self.summary
                    .push_str(&format!(" (slower than {} ms)", warn_ms.unwrap_or(0)));
            }
        }
        self
    }

    /// The plugin output line: `TCP OK - summary | time=0.000312s;;`.
    pub fn plugin_line(&self, service: &str) -> String {
        let mut line = format!("{service} {} - {}", self.status.as_str(), self.summary);
        if !self.perf.is_empty() {
            line.push_str(" |");
            for p in &self.perf {
                let fmt = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
                line.push_str(&format!(
                    " {}={}{};{};{}",
                    p.label,
                    p.value,
                    p.unit,
                    fmt(p.warn),
                    fmt(p.crit)
                ));
            }
        }
        line
    }
}

/// Runs a check once; the whole run, name resolution and handshakes
/// included, ends by `timeout` (a CRITICAL "timed out" then).
pub async fn run(check: &Check, timeout: Duration) -> Outcome {
    let problems = check.problems();
    if !problems.is_empty() {
        return Outcome::new(
            Status::Unknown,
            format!("invalid check: {}", problems.join("; ")),
        );
    }
    match tokio::time::timeout(timeout, probe::run(check)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::new(
            Status::Critical,
            format!(
                "{} timed out after {} ms",
                check.describe(),
                timeout.as_millis()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_grades_and_plugin_lines() {
        let ok = Outcome::new(Status::Ok, "port open").with_latency(
            Duration::from_millis(30),
            Some(20),
            Some(100),
        );
        assert_eq!(ok.status, Status::Warning);
        assert_eq!(
            ok.plugin_line("TCP"),
            "TCP WARNING - port open (slower than 20 ms) | time=0.03s;0.02;0.1"
        );
        let down = Outcome::new(Status::Critical, "refused").with_latency(
            Duration::from_millis(1),
            Some(20),
            None,
        );
        assert_eq!(down.status, Status::Critical, "never improved");
        assert_eq!(Status::Unknown.exit_code(), 3);
    }
}
