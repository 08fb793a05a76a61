//! Threat indicators, per scope (a tenant, or `*` for feeds every tenant
//! shares): the intel room holds them in memory for matching; this keeps
//! them across restarts.

use watchfloor_model::Indicator;

use crate::Result;

/// Stored indicators.
pub trait IntelStore: Send + Sync {
    /// Writes indicators of a scope; each replaces the stored indicator of
    /// the same kind and value.
    fn put_indicators(&self, scope: &str, indicators: &[Indicator]) -> Result<()>;
    /// Calls `f` with every stored indicator and its scope; returns how
    /// many. Rows that no longer read are skipped and counted in the log.
    fn for_each_indicator(&self, f: &mut dyn FnMut(&str, Indicator)) -> Result<u64>;
}
