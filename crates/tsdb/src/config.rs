//! `[metrics]`: how the metric store keeps data and how queries run.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::promql::Engine;
use crate::StoreOptions;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Days samples are kept (0: forever).
    #[schemars(range(max = 36_600))]
    pub retention_days: u64,
    /// Blocks older than this many days are thinned to one sample per
    /// `downsample_step_secs` (0: never).
    #[schemars(range(max = 36_600))]
    pub downsample_after_days: u64,
    #[schemars(range(min = 1, max = 86_400))]
    pub downsample_step_secs: u64,
    /// Watchfloor records its own `/metrics` in the store every this many
    /// seconds, as `job="watchfloor"` (0: off).
    #[schemars(range(max = 86_400))]
    pub self_scrape_secs: u64,
    /// How far back an instant selector looks for a sample (Prometheus's
    /// `--query.lookback-delta`).
    #[schemars(range(min = 1, max = 86_400))]
    pub lookback_secs: u64,
    /// Most samples one query may hold (Prometheus's `--query.max-samples`).
    #[schemars(range(min = 1000, max = 1_000_000_000))]
    pub max_query_samples: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            retention_days: 15,
            downsample_after_days: 7,
            downsample_step_secs: 300,
            self_scrape_secs: 15,
            lookback_secs: 300,
            max_query_samples: 50_000_000,
        }
    }
}

impl MetricsConfig {
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            retention_ms: (self.retention_days > 0).then(|| self.retention_days as i64 * DAY_MS),
            downsample_after_ms: (self.downsample_after_days > 0)
                .then(|| self.downsample_after_days as i64 * DAY_MS),
            downsample_step_ms: self.downsample_step_secs.max(1) as i64 * 1000,
            ..StoreOptions::default()
        }
    }

    pub fn engine(&self) -> Engine {
        Engine {
            lookback_ms: self.lookback_secs.max(1) as i64 * 1000,
            max_samples: self.max_query_samples as usize,
            ..Engine::default()
        }
    }
}
