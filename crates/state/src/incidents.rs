//! Incident storage: the trait and its filter. Incidents are written with
//! optimistic versioning and their timeline entries in the same
//! transaction; alerts are marked as filed in that transaction too, so
//! filing an alert happens exactly once.

use watchfloor_model::incident::{Domain, Incident, Status, TimelineEntry};
use watchfloor_model::Alert;

use crate::{NewNotification, Result};

/// List order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IncidentSort {
    /// Most recently changed first (the default).
    #[default]
    UpdatedDesc,
    /// Oldest change first: incremental sync with `updated_since`.
    UpdatedAsc,
    CreatedDesc,
    CreatedAsc,
    /// Priority 1 first, then most recently changed.
    Priority,
}

impl IncidentSort {
    pub fn parse(s: &str) -> Option<IncidentSort> {
        Some(match s {
            "-updated" => IncidentSort::UpdatedDesc,
            "updated" => IncidentSort::UpdatedAsc,
            "-created" => IncidentSort::CreatedDesc,
            "created" => IncidentSort::CreatedAsc,
            "priority" => IncidentSort::Priority,
            _ => return None,
        })
    }
}

/// Filters for listing incidents; `tenant` is required, the rest optional.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub tenant: String,
    pub statuses: Vec<Status>,
    /// Only incidents not resolved or closed.
    pub open_only: bool,
    pub domain: Option<Domain>,
    pub kind: Option<String>,
    pub max_priority: Option<u8>,
    pub assignee: Option<String>,
    pub team: Option<String>,
    /// Changed at or after this time (ns).
    pub updated_since: Option<i64>,
    pub sort: IncidentSort,
    pub limit: usize,
    pub offset: usize,
}

/// One incident write: the incident as it is to be stored (its `version`
/// already the new one), the version it was read at (0 for a new incident
/// on a reserved id), the timeline entries to append and the alerts filed
/// into it, and the notifications the change sends.
#[derive(Debug, Clone)]
pub struct IncidentWrite {
    pub incident: Incident,
    pub expected_version: i64,
    pub entries: Vec<TimelineEntry>,
    pub alert_ids: Vec<i64>,
    /// Queued in the same transaction; a key already queued is skipped.
    pub notifications: Vec<NewNotification>,
}

/// A tenant's open incidents, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenSummary {
    /// Open incidents per (priority, domain).
    pub counts: Vec<(u8, Domain, u64)>,
    /// Open incidents past an SLA target.
    pub breached: u64,
    /// The nearest SLA deadlines, soonest first.
    pub deadlines: Vec<SlaDeadline>,
}

/// The next SLA target of one open incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaDeadline {
    pub id: i64,
    pub title: String,
    pub priority: u8,
    /// `acknowledge` (not acknowledged yet) or `resolve`.
    pub what: &'static str,
    pub due_ns: i64,
}

/// Incidents, their timelines and the alerts waiting to be filed.
pub trait IncidentStore: Send + Sync {
    /// A fresh incident id (a placeholder nobody sees until written with
    /// `expected_version` 0). Ids are needed before the first write because
    /// timeline hashes cover them.
    fn reserve_incident_id(&self) -> Result<i64>;
    /// Applies all writes in one transaction, or none: any incident whose
    /// stored version is not the expected one fails the whole call with
    /// [`StateError::Conflict`](crate::StateError).
    fn write_incidents(&self, writes: &[IncidentWrite]) -> Result<()>;
    /// The incident with this id, if it belongs to `tenant`.
    fn get_incident(&self, tenant: &str, id: i64) -> Result<Option<Incident>>;
    fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>>;
    /// Open incidents of every tenant (timers and grouping work on them).
    fn open_incidents(&self) -> Result<Vec<Incident>>;
    /// Incidents of every tenant with an id above `after`, oldest first,
    /// at most `limit` (what triggers look at as incidents open).
    fn incidents_after(&self, after: i64, limit: usize) -> Result<Vec<Incident>>;
    /// The timeline of an incident of `tenant`, in order.
    fn timeline(&self, tenant: &str, id: i64) -> Result<Vec<TimelineEntry>>;
    /// A tenant's open incidents counted for a wallboard (by priority and
    /// domain, SLA breaches) and the `deadlines` nearest SLA deadlines,
    /// without loading every open incident.
    fn open_summary(&self, tenant: &str, deadlines: usize) -> Result<OpenSummary>;
    /// Alerts not yet filed into an incident, oldest first.
    fn unfiled_alerts(&self, limit: usize) -> Result<Vec<Alert>>;
}
