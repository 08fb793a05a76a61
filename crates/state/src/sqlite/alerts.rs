//! [`AlertStore`] on SQLite: the columns filters use, the alert itself as JSON.

use rusqlite::params;
use watchfloor_model::{Alert, Severity};

use crate::alerts::{AlertActivity, AlertFilter, AlertStore};
use crate::sqlite::SqliteStateStore;
use crate::{Result, StateError};

/// Alert columns that filters use are columns; the rest is the JSON body.
pub(crate) fn alert_from_row(id: i64, body: &str, incident_id: Option<i64>) -> Result<Alert> {
    let mut alert: Alert =
        serde_json::from_str(body).map_err(|e| StateError::Corrupt(format!("alert {id}: {e}")))?;
    alert.id = id;
    alert.incident_id = incident_id;
    Ok(alert)
}

impl AlertStore for SqliteStateStore {
    fn insert_alerts(&self, alerts: &[Alert]) -> Result<Vec<Alert>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut stored = Vec::new();
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO alerts
                 (key, tenant, domain, rule_id, rule_title, rule_kind, level, level_rank,
                  time_ns, created_ns, host, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for a in alerts {
                let body = serde_json::to_string(a)
                    .map_err(|e| StateError::Corrupt(format!("alert {}: {e}", a.key)))?;
                let n = stmt.execute(params![
                    a.key,
                    a.tenant,
                    a.domain.as_str(),
                    a.rule_id,
                    a.rule_title,
                    a.kind.as_str(),
                    a.level.as_str(),
                    a.level.rank(),
                    a.time_ns,
                    a.created_ns,
                    a.host,
                    body
                ])?;
                if n == 1 {
                    let mut a = a.clone();
                    a.id = tx.last_insert_rowid();
                    stored.push(a);
                }
            }
        }
        tx.commit()?;
        Ok(stored)
    }

    fn alert_activity(
        &self,
        tenant: &str,
        since_ns: i64,
        bucket_ns: i64,
        top: usize,
    ) -> Result<AlertActivity> {
        let conn = self.conn();
        let mut activity = AlertActivity::default();
        let mut stmt = conn.prepare_cached(
            "SELECT (time_ns - ?2) / ?3, count(*) FROM alerts
             WHERE tenant = ?1 AND time_ns >= ?2 GROUP BY 1 ORDER BY 1",
        )?;
        let rows = stmt.query_map(params![tenant, since_ns, bucket_ns.max(1)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        for row in rows {
            let bucket = row?;
            activity.total += bucket.1;
            activity.buckets.push(bucket);
        }
        let mut stmt = conn.prepare_cached(
            "SELECT rule_title, count(*) FROM alerts WHERE tenant = ?1 AND time_ns >= ?2
             GROUP BY rule_title ORDER BY 2 DESC, 1 LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![tenant, since_ns, top as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        for row in rows {
            activity.top_rules.push(row?);
        }
        Ok(activity)
    }

    fn list_alerts(&self, f: &AlertFilter) -> Result<Vec<Alert>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, body, incident_id FROM alerts
             WHERE tenant = ?1
               AND (?2 IS NULL OR rule_id = ?2 OR rule_title = ?2)
               AND level_rank >= ?3
               AND (?4 IS NULL OR host = ?4)
               AND (?5 IS NULL OR time_ns >= ?5)
               AND (?6 IS NULL OR time_ns < ?6)
               AND (?7 IS NULL OR id < ?7)
               AND (?9 IS NULL OR rule_kind = ?9)
             ORDER BY id DESC LIMIT ?8",
        )?;
        let rows = stmt.query_map(
            params![
                f.tenant,
                f.rule,
                f.min_level.map_or(0, Severity::rank),
                f.host,
                f.from_ns,
                f.to_ns,
                f.before_id,
                f.limit.clamp(1, 10_000) as i64,
                f.kind.map(|k| k.as_str()),
            ],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body, incident) = row?;
            out.push(alert_from_row(id, &body, incident)?);
        }
        Ok(out)
    }

    fn alert_counts(&self) -> Result<Vec<(Severity, u64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT level_rank, COUNT(*) FROM alerts GROUP BY level_rank ORDER BY level_rank",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
        let mut counts = Vec::new();
        for row in rows {
            let (rank, n) = row?;
            let level = Severity::ALL
                .get(rank as usize)
                .ok_or_else(|| StateError::Corrupt(format!("alerts: level rank {rank}")))?;
            counts.push((*level, n as u64));
        }
        Ok(counts)
    }
}
