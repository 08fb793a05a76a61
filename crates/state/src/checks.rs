//! What the state store keeps of availability checks: the state each
//! check was left in, and the output text of problem results. The results
//! themselves (status, hard, maintenance, latency, certificate days) are
//! series in the metric store (`watchfloor_telemetry::checks`); a float
//! cannot hold the text that names an outage's cause.

use crate::Result;

pub use watchfloor_model::CheckSample;

/// Output texts of problem results, and saved check states.
pub trait CheckStore: Send + Sync {
    /// Keeps the output of every result that has one (problem results).
    fn append_outputs(&self, results: &[CheckSample]) -> Result<()>;
    /// A check's outputs in `[from, to)` as (time in ns, text), oldest first.
    fn outputs(
        &self,
        tenant: &str,
        check: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<(i64, String)>>;
    /// Drops outputs older than `before_ns` (the metric store's retention);
    /// returns how many.
    fn expire_outputs(&self, before_ns: i64) -> Result<u64>;
    /// Saves the state of a check (JSON, the monitor's to read back).
    fn save_check_state(&self, tenant: &str, check: &str, state: &serde_json::Value) -> Result<()>;
    /// Every saved state: (tenant, check, state).
    fn check_states(&self) -> Result<Vec<(String, String, serde_json::Value)>>;
}
