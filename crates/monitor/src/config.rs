//! `[monitor]`: the check scheduler. Results are series in the metric
//! store, kept as long as `[metrics] retention_days` says.

use schemars::JsonSchema;
use serde::Deserialize;

/// The check scheduler.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Checks running at the same time, at most.
    #[schemars(range(min = 1, max = 100_000))]
    pub max_concurrent: u64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            max_concurrent: 1000,
        }
    }
}
