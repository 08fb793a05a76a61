//! Alerts as raised, waiting to be filed and kept after: stored once per
//! key, listed per tenant with filters.

use watchfloor_model::{Alert, AlertKind, Severity};

use crate::Result;

/// Alerts counted over a period (see [`AlertStore::alert_activity`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertActivity {
    pub total: u64,
    /// (bucket number from the start, alerts), buckets with none left out.
    pub buckets: Vec<(i64, u64)>,
    /// (rule title, alerts), most first, ties by title.
    pub top_rules: Vec<(String, u64)>,
}

/// Filters for listing alerts; all optional but the tenant.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub tenant: String,
    /// A rule id or title.
    pub rule: Option<String>,
    /// Alerts at this level or above.
    pub min_level: Option<Severity>,
    /// Alerts of this detector only.
    pub kind: Option<AlertKind>,
    pub host: Option<String>,
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    pub limit: usize,
    /// Only alerts with an id below this (the `next` of the previous page).
    pub before_id: Option<i64>,
}

/// Alerts raised by every detector.
pub trait AlertStore: Send + Sync {
    /// Stores alerts whose key is new; returns those stored (with ids).
    fn insert_alerts(&self, alerts: &[Alert]) -> Result<Vec<Alert>>;
    /// Alerts of a tenant, newest first.
    fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>>;
    /// A tenant's alerts since a time, counted by the store: per bucket of
    /// `bucket_ns` (by alert time, bucket 0 starting at `since_ns`) and the
    /// `top` rules with most alerts.
    fn alert_activity(
        &self,
        tenant: &str,
        since_ns: i64,
        bucket_ns: i64,
        top: usize,
    ) -> Result<AlertActivity>;
    /// Alert counts per level, all tenants (for metrics).
    fn alert_counts(&self) -> Result<Vec<(Severity, u64)>>;
}
