//! Playbook runs, event-sourced: a run is a header (tenant, playbook,
//! incident, where it stands, when to look at it next) and an append-only
//! log of what happened, numbered from 1. The respond room folds the log
//! back into the run's state after a restart; this store only keeps it.
//!
//! Appends name the sequence number they expect to follow, so two writers
//! (the runner finishing a step, an approver answering from the API) never
//! interleave silently: the second gets [`StateError::Conflict`] and
//! re-reads.
//!
//! [`StateError::Conflict`]: crate::StateError::Conflict

use serde::{Deserialize, Serialize};

use crate::Result;

/// A run as it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    pub tenant: String,
    pub playbook: String,
    pub incident_id: Option<i64>,
    /// Unique per tenant when set: a trigger that fires twice (a restart
    /// while filing, two alerts of one incident) starts one run.
    pub dedup_key: Option<String>,
    pub status: String,
    pub wake_ns: Option<i64>,
    pub created_ns: i64,
}

/// A stored run's header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: i64,
    pub tenant: String,
    pub playbook: String,
    pub incident_id: Option<i64>,
    pub dedup_key: Option<String>,
    /// The respond room's word for where the run stands (`running`,
    /// `waiting`, `succeeded`, ...); `finished` runs are never resumed.
    pub status: String,
    pub finished: bool,
    /// When the runner should look at the run again (a retry, a deadline,
    /// the end of a wait); `None` while it can go on now or is finished.
    pub wake_ns: Option<i64>,
    /// The number of the last entry of its log.
    pub seq: i64,
    pub created_ns: i64,
    pub updated_ns: i64,
}

/// One entry of a run's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    pub seq: i64,
    pub time_ns: i64,
    pub body: serde_json::Value,
}

/// The header's new standing, written with the entries that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunUpdate {
    pub status: String,
    pub finished: bool,
    pub wake_ns: Option<i64>,
    pub time_ns: i64,
}

/// Which runs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// `None`: every tenant (the runner's own view).
    pub tenant: Option<String>,
    pub incident_id: Option<i64>,
    pub status: Option<String>,
    pub unfinished: bool,
    pub limit: usize,
}

/// Stored playbook runs.
pub trait RunStore: Send + Sync {
    /// Creates a run with its first log entry (numbered 1). With a dedup
    /// key already taken in the tenant, creates nothing and returns the
    /// existing run's id and `false`.
    fn create_run(&self, run: &NewRun, first: &serde_json::Value) -> Result<(i64, bool)>;
    /// Appends entries after `expected_seq` and sets the header, all or
    /// nothing; `Conflict` when the log has moved on, `NotFound` for an
    /// unknown run or one of another tenant.
    fn append_run(
        &self,
        tenant: &str,
        id: i64,
        expected_seq: i64,
        entries: &[serde_json::Value],
        update: &RunUpdate,
    ) -> Result<i64>;
    fn get_run(&self, tenant: &str, id: i64) -> Result<RunRecord>;
    /// The run's log in order.
    fn run_log(&self, tenant: &str, id: i64) -> Result<Vec<RunEntry>>;
    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>>;
}
