//! Alerts to incidents, and everything that happens to an incident after:
//! grouping and deduplication ([`grouping`]), the type catalog with its
//! RACI matrices ([`catalog`]), priority ([`priority`]), status and phase
//! rules ([`lifecycle`]), SLA timers ([`sla`]), regulatory clocks
//! ([`clocks`]) and the hash-chained timeline ([`timeline`]).
//! [`Incidents`] ties them to an [`IncidentStore`](watchfloor_store::IncidentStore).

pub mod catalog;
pub mod clocks;
pub mod escalation;
pub mod grouping;
pub mod lifecycle;
pub mod notify;
pub mod oncall;
pub mod priority;
pub mod report;
mod service;
pub mod sla;
mod time_serde;
pub mod timeline;

use std::sync::atomic::{AtomicI64, Ordering};

pub use catalog::Catalog;
pub use grouping::GroupingOptions;
pub use priority::PriorityMatrix;
pub use service::{
    IncidentConfig, IncidentPatch, Incidents, NewIncident, NewObservable, NewTask, TaskPatch,
};
pub use sla::SlaPolicy;
use watchfloor_store::StoreError;

/// Time, as the incident logic sees it: the wall clock in production, a
/// hand-moved clock in tests of SLA and escalation timers.
pub trait Clock: Send + Sync {
    fn now_ns(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64)
    }
}

/// A clock that only moves when told to.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_ns: i64) -> Self {
        ManualClock(AtomicI64::new(start_ns))
    }

    pub fn set(&self, ns: i64) {
        self.0.store(ns, Ordering::SeqCst);
    }

    pub fn advance(&self, ns: i64) -> i64 {
        self.0.fetch_add(ns, Ordering::SeqCst) + ns
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Why an incident operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("incident {0} not found")]
    NotFound(i64),
    /// The write named an old version: someone changed the incident first.
    #[error("incident {id} changed: it is at version {current}, the write was based on version {expected}")]
    Stale {
        id: i64,
        expected: i64,
        current: i64,
    },
    /// Not allowed in the incident's current state (HTTP 409).
    #[error("{0}")]
    Refused(String),
    /// The request itself is wrong (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, IncidentError>;
