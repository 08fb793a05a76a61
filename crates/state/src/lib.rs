//! Durable state apart from events, behind one trait per concern:
//! [`AlertStore`] (alerts), [`CheckpointStore`] (pipeline checkpoints),
//! [`AccessStore`] (tenants, users, sessions, API tokens, audit),
//! [`DocumentStore`] (tenant configuration documents), [`OutboxStore`]
//! (notifications to send), [`IncidentStore`] (incidents and timelines) and
//! [`CheckStore`] (check samples and states), [`IntelStore`] (threat
//! indicators) and [`RunStore`] (playbook runs, event-sourced). The embedded backend is
//! [`SqliteStateStore`] (SQLite in WAL mode, `sqlite/`); with the
//! `testsuite` feature, [`testsuite`] holds the suite every backend runs.

pub mod access;
pub mod alerts;
pub mod checkpoints;
pub mod checks;
pub mod documents;
pub mod incidents;
pub mod intel;
pub mod outbox;
pub mod runs;
mod sqlite;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use access::{
    AccessStore, AuditFilter, AuditRecord, NewUser, TenantRecord, TokenRecord, UserRecord,
};
pub use alerts::{AlertActivity, AlertFilter, AlertStore};
pub use checkpoints::CheckpointStore;
pub use checks::{CheckSample, CheckStore};
pub use documents::{Document, DocumentStore};
pub use incidents::{
    IncidentFilter, IncidentSort, IncidentStore, IncidentWrite, OpenSummary, SlaDeadline,
};
pub use intel::IntelStore;
pub use outbox::{AckLink, Attempt, Delivery, NewNotification, NotificationRecord, OutboxStore};
pub use runs::{NewRun, RunEntry, RunFilter, RunRecord, RunStore, RunUpdate};
pub use sqlite::SqliteStateStore;

/// Why a state store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
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

pub type Result<T> = std::result::Result<T, StateError>;

/// Every state trait at once: what the server hands to the parts it wires
/// (each part may take just the trait it needs).
pub trait StateStore:
    AlertStore
    + CheckpointStore
    + AccessStore
    + DocumentStore
    + OutboxStore
    + IncidentStore
    + CheckStore
    + IntelStore
    + RunStore
{
}

impl<T> StateStore for T where
    T: AlertStore
        + CheckpointStore
        + AccessStore
        + DocumentStore
        + OutboxStore
        + IncidentStore
        + CheckStore
        + IntelStore
        + RunStore
{
}
