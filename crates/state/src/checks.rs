//! Check results as samples (a time series per check) and the state each
//! check was left in, with retention and downsampling: raw samples older
//! than a cut-off are rolled up into hourly buckets (count, up, latency
//! min/avg/max, worst status), then dropped.

use serde::{Deserialize, Serialize};

use crate::Result;

pub use watchfloor_model::CheckSample;

/// An hour of a check's samples, kept after the raw ones are dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRollup {
    pub tenant: String,
    pub check: String,
    pub hour_ns: i64,
    pub samples: u64,
    /// Samples with status OK.
    pub up: u64,
    pub latency_min_ms: Option<f64>,
    pub latency_avg_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub worst_status: u8,
}

/// Samples, rollups and saved check states.
pub trait CheckStore: Send + Sync {
    fn append_samples(&self, samples: &[CheckSample]) -> Result<()>;
    /// A check's samples in `[from, to)`, oldest first.
    fn samples(
        &self,
        tenant: &str,
        check: &str,
        from_ns: i64,
        to_ns: i64,
        limit: usize,
    ) -> Result<Vec<CheckSample>>;
    /// Rolls raw samples older than `before_ns` into hourly rollups and
    /// drops them; drops rollups older than `rollups_before_ns`. Returns
    /// the raw samples rolled up.
    fn downsample(&self, before_ns: i64, rollups_before_ns: i64) -> Result<u64>;
    fn rollups(
        &self,
        tenant: &str,
        check: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<CheckRollup>>;
    /// Saves the state of a check (JSON, the monitor's to read back).
    fn save_check_state(&self, tenant: &str, check: &str, state: &serde_json::Value) -> Result<()>;
    /// Every saved state: (tenant, check, state).
    fn check_states(&self) -> Result<Vec<(String, String, serde_json::Value)>>;
}
