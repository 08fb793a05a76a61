//! The notification outbox. Notifications are queued in the same transaction as the incident change
//! that caused them (see [`IncidentWrite`](crate::IncidentWrite)), under a
//! unique key, so each is queued exactly once; a sender then delivers them
//! at least once.

use serde::{Deserialize, Serialize};

use crate::Result;

/// A message to send, as queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewNotification {
    pub tenant: String,
    pub incident_id: i64,
    /// Unique per message (incident, cause, recipient): queuing the same
    /// key twice keeps the first.
    pub key: String,
    /// `webhook`, `slack` (also Mattermost) or `email`.
    pub transport: String,
    /// The URL to post to, or the email address.
    pub target: String,
    /// Who it is for: `user:bob`, `team:noc`, `channel:soc-slack`.
    pub recipient: String,
    pub subject: String,
    pub body: String,
    /// The JSON to post (webhooks and Slack); `None` for email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    /// Extra HTTP headers for webhooks (`Authorization`, ...).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// SHA-256 of the secret in the message's acknowledge link.
    #[serde(skip)]
    pub ack_hash: Option<Vec<u8>>,
    pub created_ns: i64,
}

/// Where a queued notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    Pending,
    Sent,
    /// Gave up after the last attempt.
    Failed,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Pending => "pending",
            Delivery::Sent => "sent",
            Delivery::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Delivery> {
        Some(match s {
            "pending" => Delivery::Pending,
            "sent" => Delivery::Sent,
            "failed" => Delivery::Failed,
            _ => return None,
        })
    }
}

/// A queued notification and how its delivery went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRecord {
    pub id: i64,
    #[serde(flatten)]
    pub message: NewNotification,
    pub state: Delivery,
    pub attempts: u32,
    /// Real (wall-clock) time of the next attempt while pending.
    pub next_attempt_ns: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_ns: Option<i64>,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Sent {
        at_ns: i64,
    },
    /// Failed; try again at `at_ns`.
    Retry {
        at_ns: i64,
        error: String,
    },
    /// Failed for good.
    GaveUp {
        error: String,
    },
}

/// What an acknowledge link stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckLink {
    pub tenant: String,
    pub incident_id: i64,
    pub recipient: String,
}

/// Configuration documents and the notification outbox.
pub trait OutboxStore: Send + Sync {
    /// Pending notifications whose next attempt is due, oldest first.
    fn due_notifications(&self, now_ns: i64, limit: usize) -> Result<Vec<NotificationRecord>>;
    fn record_attempt(&self, id: i64, attempt: &Attempt) -> Result<()>;
    /// A tenant's notifications, newest first, optionally of one incident.
    fn list_notifications(
        &self,
        tenant: &str,
        incident_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<NotificationRecord>>;
    /// What the acknowledge link with this secret's hash stands for.
    fn find_ack_link(&self, ack_hash: &[u8]) -> Result<Option<AckLink>>;
}
