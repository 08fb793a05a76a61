//! Storage behind two traits: [`EventStore`] (events, searched) and
//! [`StateStore`] (alerts, tokens, checkpoints). The embedded defaults are
//! [`TantivyEventStore`] (one tantivy index per time bucket, retention by
//! dropping whole buckets) and [`SqliteStateStore`] (SQLite in WAL mode).
//! [`conformance`] holds the test suite every implementation must pass.

pub mod access;
mod access_sqlite;
mod blocks;
pub mod checks;
mod checks_sqlite;
pub mod conformance;
mod events;
mod incidents;
mod incidents_sqlite;
pub mod matcher;
pub mod outbox;
mod outbox_sqlite;
pub mod query;
mod state;
mod strset;
pub mod terms;
pub mod words;

use serde::{Deserialize, Serialize};

pub use access::{AccessStore, AuditFilter, AuditRecord, NewUser, TenantRecord, UserRecord};
pub use checks::{CheckRollup, CheckSample, CheckStore};
pub use events::{TantivyEventStore, TantivyOptions};
pub use incidents::{IncidentFilter, IncidentSort, IncidentStore, IncidentWrite};
pub use outbox::{
    AckLink, Attempt, Delivery, Document, NewNotification, NotificationRecord, OutboxStore,
};
pub use state::SqliteStateStore;

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("event index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Query(#[from] query::QueryError),
    #[error("invalid cursor")]
    BadCursor,
    /// A query the store will not run as asked (it names what to narrow).
    #[error("{0}")]
    TooBroad(String),
    #[error("{0}")]
    Corrupt(String),
    /// An optimistic write named a version that is no longer current.
    #[error("version conflict: the record is at version {current}, the write expected {expected}")]
    Conflict { expected: i64, current: i64 },
    #[error("not found")]
    NotFound,
    /// A name that must be unique is taken.
    #[error("{0} already exists")]
    Duplicate(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// One event as stored: the original fields (flattened) and the typed core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDoc {
    /// The write-ahead log sequence number: unique, and the event's id.
    pub id: u64,
    /// Event time in ns since the epoch (the receive time when the record has none).
    pub time_ns: i64,
    pub received_ns: i64,
    pub tenant: String,
    /// Where it came from, e.g. `syslog-udp`, `http`, `file:/var/log/auth.log`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Set when the message was cut at the size limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A search: query text, time range, tenant, page size and position.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    pub tenant: String,
    /// Event time bounds, ns since the epoch.
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    pub limit: usize,
    /// The `next` of the previous page.
    pub cursor: Option<String>,
}

/// One page of events, newest first; `next` continues the search.
#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    pub events: Vec<EventDoc>,
    pub next: Option<String>,
}

/// Size and shape of an event store, for metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventStoreStats {
    pub buckets: usize,
    pub bytes: u64,
    pub events: u64,
}

/// What retention removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub buckets_dropped: usize,
    pub bytes_freed: u64,
}

/// Events: write in batches, commit durably, search.
///
/// Contract (checked by [`conformance`]): an event whose id is at or below
/// the id given to a completed [`commit`](EventStore::commit) is stored
/// exactly once, however often it is appended again (the pipeline replays
/// its log after a crash); events appended but not committed may be lost.
pub trait EventStore: Send + Sync {
    /// Adds events (not yet durable, not yet visible).
    fn append(&self, events: &[EventDoc]) -> Result<()>;
    /// Makes everything appended durable and searchable; `upto` is the
    /// highest id appended so far.
    fn commit(&self, upto: u64) -> Result<()>;
    /// Events matching a request, newest first.
    fn search(&self, request: &SearchRequest) -> Result<SearchPage>;
    /// Drops whole buckets older than `max_age_ns` before `now_ns`, then the
    /// oldest ones while the store is larger than `max_bytes`.
    fn enforce_retention(
        &self,
        now_ns: i64,
        max_age_ns: Option<i64>,
        max_bytes: Option<u64>,
    ) -> Result<RetentionReport>;
    fn stats(&self) -> Result<EventStoreStats>;
}

/// Severity order of alert levels, for filters (`min_level`).
pub fn level_rank(level: &str) -> u8 {
    match level {
        "informational" => 0,
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "critical" => 4,
        _ => 0,
    }
}

/// An alert raised by a detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Assigned by the store.
    #[serde(default)]
    pub id: i64,
    /// Deterministic: the same detection replayed gives the same key, so
    /// replay after a crash never stores an alert twice.
    pub key: String,
    pub tenant: String,
    /// `security` or `operations`.
    pub domain: String,
    pub rule_id: Option<String>,
    pub rule_title: String,
    /// `detection` or `correlation`.
    pub rule_kind: String,
    pub level: String,
    pub tags: Vec<String>,
    pub time_ns: i64,
    pub created_ns: i64,
    pub host: Option<String>,
    pub user: Option<String>,
    pub ips: Vec<String>,
    /// Ids of the events that triggered it.
    pub event_ids: Vec<u64>,
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub value: Option<f64>,
    /// The dedup key of the alert this one is a consequence of (the NOC's
    /// root cause: a host behind a failed router names the router's alert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The incident the alert was filed into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<i64>,
}

/// Filters for listing alerts; all optional.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub tenant: String,
    pub rule: Option<String>,
    pub min_level: Option<String>,
    pub host: Option<String>,
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    pub limit: usize,
    /// Only alerts with an id below this (the `next` of the previous page).
    pub before_id: Option<i64>,
}

/// An API token as stored: the secret itself never is, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub tenant: String,
    pub created_ns: i64,
    pub revoked: bool,
}

/// Small durable state: checkpoints, alerts, tokens.
pub trait StateStore: Send + Sync {
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Writes several keys in one transaction.
    fn put_meta(&self, entries: &[(&str, &[u8])]) -> Result<()>;
    /// Stores alerts whose key is new; returns those stored (with ids).
    fn insert_alerts(&self, alerts: &[Alert]) -> Result<Vec<Alert>>;
    /// Alerts of a tenant, newest first.
    fn list_alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>>;
    /// Alert counts per level, all tenants (for metrics).
    fn alert_counts(&self) -> Result<Vec<(String, u64)>>;
    fn create_token(
        &self,
        name: &str,
        role: &str,
        tenant: &str,
        hash: &[u8],
    ) -> Result<TokenRecord>;
    /// The live token with this hash.
    fn find_token(&self, hash: &[u8]) -> Result<Option<TokenRecord>>;
    fn list_tokens(&self) -> Result<Vec<TokenRecord>>;
    fn revoke_token(&self, id: i64) -> Result<bool>;
}
