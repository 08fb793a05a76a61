//! Events, stored and searched: the [`EventStore`] trait, its embedded
//! backend [`TantivyEventStore`] (one tantivy index per time bucket whose
//! documents are blocks of events, retention by dropping whole buckets) and
//! the search language ([`query`], Lucene's syntax as Kibana speaks it).
//! With the `testsuite` feature, [`testsuite`] holds the checks every
//! backend must pass.

pub mod aggregate;
mod blocks;
pub mod config;
mod events;
mod incoming;
pub mod matcher;
mod partial;
mod prefilter;
pub mod query;
mod strset;
mod table;
pub mod terms;
#[cfg(feature = "testsuite")]
pub mod testsuite;
pub mod words;

use serde::{Deserialize, Serialize};

pub use aggregate::{AggregateRequest, Aggregation};
pub use blocks::block_term_count;
pub use config::StoreConfig;
pub use events::{TantivyEventStore, TantivyOptions};
pub use incoming::NewEvent;

/// Why an event store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("event index: {0}")]
    Index(#[from] tantivy::TantivyError),
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
}

pub type Result<T> = std::result::Result<T, SearchError>;

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

/// Which events a [`EventStore::scan`] visits.
#[derive(Debug, Clone, Default)]
pub struct ScanRequest {
    /// Only this tenant's events (`None`: every tenant's).
    pub tenant: Option<String>,
    /// Event time bounds, ns since the epoch.
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
}

/// What a scan read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    /// Events in the request's window.
    pub events: u64,
    /// Of them, those the line filter let through (parsed and visited).
    pub visited: u64,
}

/// The line filter of a scan: sees an event's stored JSON text, answers
/// whether the event is worth parsing.
pub type LineFilter<'a> = &'a (dyn Fn(&str) -> bool + Sync);

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
/// Contract (checked by the `testsuite` feature's suite): an event whose id is at or below
/// the id given to a completed [`commit`](EventStore::commit) is stored
/// exactly once, however often it is appended again (the pipeline replays
/// its log after a crash); events appended but not committed may be lost.
pub trait EventStore: Send + Sync {
    /// Adds events (not yet durable, not yet visible).
    fn append(&self, events: &[EventDoc]) -> Result<()>;
    /// [`Self::append`] for events as the pipeline decoded them; stored
    /// as their [`NewEvent::to_doc`] documents would be.
    fn append_new(&self, events: &[NewEvent<'_>]) -> Result<()> {
        let docs: Vec<EventDoc> = events.iter().map(NewEvent::to_doc).collect();
        self.append(&docs)
    }
    /// Makes everything appended durable and searchable; `upto` is the
    /// highest id appended so far.
    fn commit(&self, upto: u64) -> Result<()>;
    /// Events matching a request, newest first.
    fn search(&self, request: &SearchRequest) -> Result<SearchPage>;
    /// Counts the events matching a request: by time bucket, by the values
    /// of a field, distinct values; stops at `max_events`.
    fn aggregate(&self, request: &AggregateRequest) -> Result<Aggregation>;
    /// Visits every stored event of a request, in no order and from
    /// several threads: `line` sees each event's stored text first and
    /// turns away those that cannot interest `visit` unparsed (retro-hunts
    /// read every event of a window this way).
    fn scan(
        &self,
        request: &ScanRequest,
        line: LineFilter<'_>,
        visit: &(dyn Fn(EventDoc) + Sync),
    ) -> Result<ScanStats>;
    /// One event of a tenant by id, looked for among events whose time is
    /// in `from_ns..to_ns` (an alert knows roughly when its events were).
    fn event_by_id(
        &self,
        tenant: &str,
        id: u64,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Option<EventDoc>>;
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
