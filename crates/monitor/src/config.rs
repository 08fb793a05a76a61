//! `[monitor]`: the check scheduler and the retention of its results.

use schemars::JsonSchema;
use serde::Deserialize;

/// The check scheduler and the retention of its results.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Checks running at the same time, at most.
    #[schemars(range(min = 1, max = 100_000))]
    pub max_concurrent: u64,
    /// Raw results are kept this long, then rolled up into hours.
    #[schemars(range(min = 1, max = 3660))]
    pub raw_retention_days: u64,
    /// Hourly rollups are kept this long.
    #[schemars(range(min = 1, max = 36_600))]
    pub rollup_retention_days: u64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            max_concurrent: 1000,
            raw_retention_days: 7,
            rollup_retention_days: 400,
        }
    }
}
