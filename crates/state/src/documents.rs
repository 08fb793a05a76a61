//! Tenant configuration documents: on-call schedules, escalation policies,
//! teams, notification channels, checks, topologies, maintenance windows.
//!
//! Documents are JSON kept whole under (tenant, kind, name) with a version
//! for optimistic updates; the crates that read them give them their
//! meaning.

use serde::{Deserialize, Serialize};

use crate::Result;

/// A tenant's named configuration document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub tenant: String,
    /// `schedule`, `escalation_policy`, `team`, `channel`, ...
    pub kind: String,
    pub name: String,
    /// 1 for a new document, raised by every change.
    pub version: i64,
    pub updated_ns: i64,
    pub body: serde_json::Value,
}

/// Named, versioned JSON documents per tenant.
pub trait DocumentStore: Send + Sync {
    /// Creates or replaces a document. With `expected_version`, the stored
    /// version must be that (0: must not exist) or the call fails with
    /// [`StateError::Conflict`](crate::StateError). Returns the new version.
    fn put_document(
        &self,
        tenant: &str,
        kind: &str,
        name: &str,
        body: &serde_json::Value,
        expected_version: Option<i64>,
        now_ns: i64,
    ) -> Result<i64>;
    fn get_document(&self, tenant: &str, kind: &str, name: &str) -> Result<Option<Document>>;
    /// A tenant's documents of one kind, by name.
    fn list_documents(&self, tenant: &str, kind: &str) -> Result<Vec<Document>>;
    /// Every tenant's documents of one kind (for workers that serve all
    /// tenants, like the check scheduler).
    fn documents_of_kind(&self, kind: &str) -> Result<Vec<Document>>;
    /// Whether there was one to delete.
    fn delete_document(&self, tenant: &str, kind: &str, name: &str) -> Result<bool>;
}
