//! `[telemetry]`: what Watchfloor collects metrics from.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Prometheus scrape jobs (`[[telemetry.scrape]]`).
    pub scrape: Vec<ScrapeConfig>,
    /// Metric alerting and recording rules in Prometheus's rule file
    /// format, evaluated for every tenant.
    #[schemars(extend("format" = "path-list"))]
    pub rule_files: Vec<PathBuf>,
    /// Evaluate the shipped rules (interface utilisation and errors,
    /// interfaces down, targets down, jobs gone quiet).
    pub shipped_rules: bool,
    /// How often rule groups without their own `interval` are evaluated.
    #[schemars(range(min = 1, max = 86_400))]
    pub evaluation_interval_secs: u64,
    /// SNMP polling jobs (`[[telemetry.snmp]]`).
    pub snmp: Vec<crate::snmp::SnmpConfig>,
    /// The SNMP trap and inform receiver.
    pub traps: crate::snmp::TrapConfig,
    /// The NetFlow/IPFIX collector and the DDoS signature.
    pub flows: crate::flows::FlowsConfig,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            scrape: Vec::new(),
            rule_files: Vec::new(),
            shipped_rules: true,
            evaluation_interval_secs: 30,
            snmp: Vec::new(),
            traps: crate::snmp::TrapConfig::default(),
            flows: crate::flows::FlowsConfig::default(),
        }
    }
}

/// One scrape job: targets polled for the text exposition or OpenMetrics.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[schemars(extend("x-required" = ["job", "targets"]))]
pub struct ScrapeConfig {
    /// The `job` label of every series scraped.
    pub job: String,
    /// `host:port` of each target (the `instance` label).
    pub targets: Vec<String>,
    #[schemars(extend("enum" = ["http", "https"]))]
    pub scheme: String,
    pub metrics_path: String,
    #[schemars(range(min = 1, max = 86_400))]
    pub interval_secs: u64,
    #[schemars(range(min = 1, max = 3_600))]
    pub timeout_secs: u64,
    /// Keep the target's own `job` and `instance` labels on conflict
    /// (otherwise they become `exported_job`, `exported_instance`).
    pub honor_labels: bool,
    /// Sent as `Authorization: Bearer` (the file's content, trimmed).
    #[schemars(extend("format" = "file"))]
    pub bearer_token_file: Option<PathBuf>,
    /// Labels added to every series of the job.
    pub labels: BTreeMap<String, String>,
    /// The tenant the samples belong to (default: the server's).
    pub tenant: Option<String>,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            job: String::new(),
            targets: Vec::new(),
            scheme: "http".into(),
            metrics_path: "/metrics".into(),
            interval_secs: 15,
            timeout_secs: 10,
            honor_labels: false,
            bearer_token_file: None,
            labels: BTreeMap::new(),
            tenant: None,
        }
    }
}

impl TelemetryConfig {
    /// Problems no single key shows.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(problems) = crate::rules::load(&self.rule_files, self.shipped_rules) {
            out.extend(problems);
        }
        for job in &self.snmp {
            out.extend(job.problems());
        }
        let ddos = &self.flows.ddos;
        if ddos.enabled && !ddos.overload_expr.trim().is_empty() {
            if let Err(e) = watchfloor_tsdb::promql::Engine::parse(&ddos.overload_expr) {
                out.push(format!("telemetry.flows.ddos.overload_expr: {e}"));
            }
        }
        match self.traps.engine_id("check") {
            Ok(engine) => {
                for user in &self.traps.users {
                    if let Err(e) = user.security().and_then(|_| user.inform_user(&engine)) {
                        out.push(format!("telemetry.traps: {e}"));
                    }
                }
            }
            Err(e) => out.push(e),
        }
        for (i, job) in self.scrape.iter().enumerate() {
            let name = format!("telemetry.scrape {:?}", job.job);
            if job.job.trim().is_empty() {
                out.push(format!(
                    "telemetry.scrape entry {}: `job` must not be empty",
                    i + 1
                ));
            }
            if self.scrape[..i].iter().any(|j| j.job == job.job) {
                out.push(format!("{name}: the job name is used twice"));
            }
            if job.timeout_secs > job.interval_secs {
                out.push(format!(
                    "{name}: timeout_secs must not exceed interval_secs"
                ));
            }
            for t in &job.targets {
                if url::Url::parse(&format!("{}://{t}", job.scheme))
                    .map_or(true, |u| u.host_str().is_none() || u.path() != "/")
                {
                    out.push(format!("{name}: target {t:?} is not host:port"));
                }
            }
            for l in job.labels.keys() {
                if !watchfloor_tsdb::valid_label_name(l, false) {
                    out.push(format!("{name}: label name {l:?} is not valid"));
                }
            }
        }
        out
    }
}
