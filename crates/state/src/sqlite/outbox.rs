//! [`OutboxStore`] on SQLite.

use rusqlite::{params, OptionalExtension, Transaction};

use crate::outbox::{AckLink, Attempt, Delivery, NewNotification, NotificationRecord, OutboxStore};
use crate::sqlite::SqliteStateStore;
use crate::{Result, StateError};

/// Queues notifications inside an incident write's transaction.
pub(crate) fn enqueue(tx: &Transaction<'_>, messages: &[NewNotification]) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO notifications
             (key, tenant, incident_id, state, next_attempt_ns, ack_hash, body)
         VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?5)",
    )?;
    for m in messages {
        let body = serde_json::to_string(m)
            .map_err(|e| StateError::Corrupt(format!("notification {}: {e}", m.key)))?;
        stmt.execute(params![m.key, m.tenant, m.incident_id, m.ack_hash, body])?;
    }
    Ok(())
}

const NOTIFICATION_COLUMNS: &str =
    "id, state, attempts, next_attempt_ns, last_error, sent_ns, body FROM notifications";

fn notification_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, RawNotification)> {
    Ok((
        row.get(0)?,
        RawNotification {
            state: row.get(1)?,
            attempts: row.get(2)?,
            next_attempt_ns: row.get(3)?,
            last_error: row.get(4)?,
            sent_ns: row.get(5)?,
            body: row.get(6)?,
        },
    ))
}

struct RawNotification {
    state: String,
    attempts: u32,
    next_attempt_ns: i64,
    last_error: Option<String>,
    sent_ns: Option<i64>,
    body: String,
}

impl RawNotification {
    fn decode(self, id: i64) -> Result<NotificationRecord> {
        let corrupt = |what: String| StateError::Corrupt(format!("notification {id}: {what}"));
        let message: NewNotification =
            serde_json::from_str(&self.body).map_err(|e| corrupt(e.to_string()))?;
        let state = Delivery::parse(&self.state)
            .ok_or_else(|| corrupt(format!("state {:?}", self.state)))?;
        Ok(NotificationRecord {
            id,
            message,
            state,
            attempts: self.attempts,
            next_attempt_ns: self.next_attempt_ns,
            last_error: self.last_error,
            sent_ns: self.sent_ns,
        })
    }
}

fn decode_all(rows: Vec<(i64, RawNotification)>) -> Result<Vec<NotificationRecord>> {
    rows.into_iter().map(|(id, raw)| raw.decode(id)).collect()
}

impl OutboxStore for SqliteStateStore {
    fn due_notifications(&self, now_ns: i64, limit: usize) -> Result<Vec<NotificationRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {NOTIFICATION_COLUMNS}
             WHERE state = 'pending' AND next_attempt_ns <= ?1 ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![now_ns, limit as i64], notification_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        decode_all(rows)
    }

    fn record_attempt(&self, id: i64, attempt: &Attempt) -> Result<()> {
        let conn = self.conn();
        let n = match attempt {
            Attempt::Sent { at_ns } => conn.execute(
                "UPDATE notifications SET state = 'sent', attempts = attempts + 1, sent_ns = ?2,
                     last_error = NULL WHERE id = ?1",
                params![id, at_ns],
            )?,
            Attempt::Retry { at_ns, error } => conn.execute(
                "UPDATE notifications SET attempts = attempts + 1, next_attempt_ns = ?2,
                     last_error = ?3 WHERE id = ?1",
                params![id, at_ns, error],
            )?,
            Attempt::GaveUp { error } => conn.execute(
                "UPDATE notifications SET state = 'failed', attempts = attempts + 1,
                     last_error = ?2 WHERE id = ?1",
                params![id, error],
            )?,
        };
        if n == 0 {
            return Err(StateError::NotFound);
        }
        Ok(())
    }

    fn list_notifications(
        &self,
        tenant: &str,
        incident_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<NotificationRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {NOTIFICATION_COLUMNS}
             WHERE tenant = ?1 AND (?2 IS NULL OR incident_id = ?2) ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows = stmt
            .query_map(
                params![tenant, incident_id, limit as i64],
                notification_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        decode_all(rows)
    }

    fn find_ack_link(&self, ack_hash: &[u8]) -> Result<Option<AckLink>> {
        let row: Option<(String, i64, String)> = self
            .conn()
            .query_row(
                "SELECT tenant, incident_id, body FROM notifications WHERE ack_hash = ?1",
                [ack_hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((tenant, incident_id, body)) = row else {
            return Ok(None);
        };
        let message: NewNotification = serde_json::from_str(&body)
            .map_err(|e| StateError::Corrupt(format!("notification for {incident_id}: {e}")))?;
        Ok(Some(AckLink {
            tenant,
            incident_id,
            recipient: message.recipient,
        }))
    }
}
