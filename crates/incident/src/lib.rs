//! Alerts to incidents, and everything that happens to an incident after:
//! grouping and deduplication ([`grouping`]), the type catalog with its
//! RACI matrices ([`catalog`]), priority ([`priority`]), status and phase
//! rules ([`lifecycle`]), SLA timers ([`sla`]), regulatory clocks
//! ([`clocks`]) and the hash-chained timeline ([`timeline`]).
//! [`Incidents`] ties them to an [`IncidentStore`](watchfloor_state::IncidentStore).

pub mod catalog;
pub mod clocks;
pub mod config;
pub mod defense;
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

pub use catalog::Catalog;
pub use config::IncidentsConfig;
pub use grouping::GroupingOptions;
pub use priority::PriorityMatrix;
pub use service::{
    IncidentConfig, IncidentPatch, Incidents, NewIncident, NewObservable, NewTask, ObservablePatch,
    TaskPatch,
};
pub use sla::SlaPolicy;
/// Time as the incident logic sees it (the wall clock, or a hand-moved one
/// in tests of SLA and escalation timers): the model's one clock.
pub use watchfloor_model::{Clock, ManualClock, SystemClock};
use watchfloor_state::StateError;

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
    Store(#[from] StateError),
}

pub type Result<T> = std::result::Result<T, IncidentError>;
