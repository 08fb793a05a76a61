//! [`IncidentStore`] on SQLite: indexed columns for filters, the incident
//! itself as JSON, the timeline in its own table.

use rusqlite::{params, OptionalExtension, Transaction};
use watchfloor_model::incident::{Domain, Incident, TimelineEntry};

use crate::incidents::{
    IncidentFilter, IncidentSort, IncidentStore, IncidentWrite, OpenSummary, SlaDeadline,
};
use crate::sqlite::{alert_from_row, SqliteStateStore};
use watchfloor_model::Alert;

use crate::{Result, StateError};

fn to_json<T: serde::Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StateError::Corrupt(format!("{what}: {e}")))
}

fn incident_from_body(id: i64, body: &str) -> Result<Incident> {
    serde_json::from_str(body).map_err(|e| StateError::Corrupt(format!("incident {id}: {e}")))
}

fn write_row(tx: &Transaction<'_>, i: &Incident) -> Result<usize> {
    let body = to_json(&format!("incident {}", i.id), i)?;
    let next = i.next_sla_target();
    let (sla_kind, sla_due) = (next.map(|n| n.0), next.map(|n| n.1));
    let breached = i.sla.ack_breached_ns.is_some() || i.sla.resolve_breached_ns.is_some();
    Ok(tx.execute(
        "UPDATE incidents SET tenant = ?2, version = ?3, status = ?4, open = ?5, priority = ?6,
             domain = ?7, kind = ?8, assignee = ?9, team = ?10, created_ns = ?11,
             updated_ns = ?12, body = ?13, title = ?14, sla_kind = ?15, sla_due_ns = ?16,
             sla_breached = ?17
         WHERE id = ?1",
        params![
            i.id,
            i.tenant,
            i.version,
            i.status.as_str(),
            i.status.is_open(),
            i.priority,
            i.domain.as_str(),
            i.kind,
            i.assignee,
            i.team,
            i.created_ns,
            i.updated_ns,
            body,
            i.title,
            sla_kind,
            sla_due,
            breached
        ],
    )?)
}

fn append_entries(tx: &Transaction<'_>, entries: &[TimelineEntry]) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO timeline (incident_id, seq, time_ns, actor, action, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in entries {
        stmt.execute(params![
            e.incident_id,
            e.seq,
            e.time_ns,
            e.actor,
            e.action,
            e.detail.to_string(),
            e.prev_hash,
            e.hash
        ])?;
    }
    Ok(())
}

fn file_alerts(tx: &Transaction<'_>, incident: i64, alert_ids: &[i64]) -> Result<()> {
    let mut stmt = tx.prepare_cached("UPDATE alerts SET incident_id = ?1 WHERE id = ?2")?;
    for id in alert_ids {
        stmt.execute(params![incident, id])?;
    }
    Ok(())
}

fn order_by(sort: IncidentSort) -> &'static str {
    match sort {
        IncidentSort::UpdatedDesc => "updated_ns DESC, id DESC",
        IncidentSort::UpdatedAsc => "updated_ns ASC, id ASC",
        IncidentSort::CreatedDesc => "created_ns DESC, id DESC",
        IncidentSort::CreatedAsc => "created_ns ASC, id ASC",
        IncidentSort::Priority => "priority ASC, updated_ns DESC, id DESC",
    }
}

/// The list query with only the filters given, so that SQLite sees each
/// condition as written and picks an index for it (`open = 1` with the
/// priority order reads the open incidents only, not the whole history).
fn list_query(f: &IncidentFilter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut conditions = vec!["tenant = ?".to_string()];
    let mut values = vec![Value::Text(f.tenant.clone())];
    let mut add = |condition: &str, value: Value| {
        conditions.push(condition.to_string());
        values.push(value);
    };
    if !f.statuses.is_empty() {
        let list: Vec<&str> = f.statuses.iter().map(|s| s.as_str()).collect();
        add(
            "instr(',' || ? || ',', ',' || status || ',') > 0",
            Value::Text(list.join(",")),
        );
    }
    if let Some(d) = f.domain {
        add("domain = ?", Value::Text(d.as_str().into()));
    }
    if let Some(k) = &f.kind {
        add("kind = ?", Value::Text(k.clone()));
    }
    if let Some(p) = f.max_priority {
        add("priority <= ?", Value::Integer(p.into()));
    }
    if let Some(a) = &f.assignee {
        add("assignee = ?", Value::Text(a.clone()));
    }
    if let Some(t) = &f.team {
        add("team = ?", Value::Text(t.clone()));
    }
    if let Some(since) = f.updated_since {
        add("updated_ns >= ?", Value::Integer(since));
    }
    if f.open_only {
        conditions.push("open = 1".into());
    }
    values.push(Value::Integer(f.limit.clamp(1, 10_000) as i64));
    values.push(Value::Integer(f.offset as i64));
    let sql = format!(
        "SELECT id, body FROM incidents WHERE {} ORDER BY {} LIMIT ? OFFSET ?",
        conditions.join(" AND "),
        order_by(f.sort)
    );
    (sql, values)
}

impl IncidentStore for SqliteStateStore {
    fn reserve_incident_id(&self) -> Result<i64> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO incidents (tenant, version, status, open, priority, domain, kind,
                 created_ns, updated_ns, body)
             VALUES ('', 0, '', 0, 5, '', '', 0, 0, '{}')",
            [],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn write_incidents(&self, writes: &[IncidentWrite]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for w in writes {
            let i = &w.incident;
            let stored: Option<(String, i64)> = tx
                .query_row(
                    "SELECT tenant, version FROM incidents WHERE id = ?1",
                    [i.id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (tenant, current) = stored.ok_or(StateError::NotFound)?;
            // A reserved id has no tenant yet; any other must not change hands.
            if tenant != i.tenant && !(tenant.is_empty() && current == 0) {
                return Err(StateError::NotFound);
            }
            if current != w.expected_version {
                return Err(StateError::Conflict {
                    expected: w.expected_version,
                    current,
                });
            }
            write_row(&tx, i)?;
            append_entries(&tx, &w.entries)?;
            file_alerts(&tx, i.id, &w.alert_ids)?;
            super::outbox::enqueue(&tx, &w.notifications)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn get_incident(&self, tenant: &str, id: i64) -> Result<Option<Incident>> {
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM incidents WHERE id = ?1 AND tenant = ?2",
                params![id, tenant],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| incident_from_body(id, &b)).transpose()
    }

    fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<Incident>> {
        let (sql, values) = list_query(f);
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(values.iter()), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row?;
            out.push(incident_from_body(id, &body)?);
        }
        Ok(out)
    }

    fn open_summary(&self, tenant: &str, deadlines: usize) -> Result<OpenSummary> {
        let conn = self.conn();
        let mut summary = OpenSummary::default();
        let mut stmt = conn.prepare_cached(
            // Named: without statistics the planner may prefer the full
            // (tenant, priority) index and read every incident ever filed.
            "SELECT priority, domain, count(*) FROM incidents INDEXED BY incidents_open_board
             WHERE tenant = ?1 AND open = 1 GROUP BY priority, domain",
        )?;
        let rows = stmt.query_map(params![tenant], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (priority, domain, n) = row?;
            let domain: Domain = serde_json::from_value(serde_json::Value::String(domain.clone()))
                .map_err(|_| StateError::Corrupt(format!("incident domain {domain:?}")))?;
            summary.counts.push((priority as u8, domain, n as u64));
        }
        summary.breached = conn
            .prepare_cached(
                "SELECT count(*) FROM incidents INDEXED BY incidents_open_board
                 WHERE tenant = ?1 AND open = 1 AND sla_breached = 1",
            )?
            .query_row(params![tenant], |r| r.get::<_, i64>(0))? as u64;
        let mut stmt = conn.prepare_cached(
            "SELECT id, title, priority, sla_kind, sla_due_ns FROM incidents
             WHERE tenant = ?1 AND open = 1 AND sla_due_ns IS NOT NULL
             ORDER BY sla_due_ns, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![tenant, deadlines as i64], |r| {
            Ok(SlaDeadline {
                id: r.get(0)?,
                title: r.get(1)?,
                priority: r.get::<_, i64>(2)? as u8,
                what: if r.get::<_, Option<String>>(3)?.as_deref() == Some("acknowledge") {
                    "acknowledge"
                } else {
                    "resolve"
                },
                due_ns: r.get(4)?,
            })
        })?;
        for row in rows {
            summary.deadlines.push(row?);
        }
        Ok(summary)
    }

    fn open_incidents(&self) -> Result<Vec<Incident>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT id, body FROM incidents WHERE open = 1 ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row?;
            out.push(incident_from_body(id, &body)?);
        }
        Ok(out)
    }

    fn incidents_after(&self, after: i64, limit: usize) -> Result<Vec<Incident>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT id, body FROM incidents WHERE id > ?1 ORDER BY id LIMIT ?2")?;
        let rows = stmt.query_map(params![after, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row?;
            out.push(incident_from_body(id, &body)?);
        }
        Ok(out)
    }

    fn timeline(&self, tenant: &str, id: i64) -> Result<Vec<TimelineEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT t.seq, t.time_ns, t.actor, t.action, t.detail, t.prev_hash, t.hash
             FROM timeline t JOIN incidents i ON i.id = t.incident_id
             WHERE t.incident_id = ?1 AND i.tenant = ?2 ORDER BY t.seq",
        )?;
        let rows = stmt.query_map(params![id, tenant], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, time_ns, actor, action, detail, prev_hash, hash) = row?;
            // A detail that no longer parses is kept as text: verification
            // then reports the entry as changed instead of failing to load.
            let detail = serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail));
            out.push(TimelineEntry {
                incident_id: id,
                seq,
                time_ns,
                actor,
                action,
                detail,
                prev_hash,
                hash,
            });
        }
        Ok(out)
    }

    fn unfiled_alerts(&self, limit: usize) -> Result<Vec<Alert>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, body FROM alerts WHERE incident_id IS NULL ORDER BY id LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit.clamp(1, 100_000) as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row?;
            out.push(alert_from_row(id, &body, None)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data directory from before the wallboard's columns gets them
    /// filled from the stored incidents, with the same summary.
    #[test]
    fn the_sla_columns_are_filled_for_incidents_stored_before_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStateStore::open(&dir.path().join("state.db")).expect("open");
        let id = store.reserve_incident_id().expect("reserve");
        let incident: Incident = serde_json::from_value(serde_json::json!({
            "id": id, "tenant": "acme", "version": 1, "title": "Link down",
            "domain": "operations", "type": "outage", "severity": "high", "impact": "high",
            "urgency": "high", "priority": 1, "status": "new", "created_ns": 1, "updated_ns": 1,
            "sla": {"ack_due_ns": 500, "resolve_due_ns": 900, "ack_breached_ns": 600},
        }))
        .expect("incident");
        let write = IncidentWrite {
            incident,
            expected_version: 0,
            entries: Vec::new(),
            alert_ids: Vec::new(),
            notifications: Vec::new(),
        };
        store.write_incidents(&[write]).expect("write");
        let before = store.open_summary("acme", 5).expect("summary");
        assert_eq!((before.breached, before.deadlines[0].due_ns), (1, 500));
        {
            let conn = store.conn();
            conn.execute_batch(
                "DROP INDEX incidents_open_sla;
                 DROP INDEX incidents_open_board;
                 ALTER TABLE incidents DROP COLUMN title;
                 ALTER TABLE incidents DROP COLUMN sla_kind;
                 ALTER TABLE incidents DROP COLUMN sla_due_ns;
                 ALTER TABLE incidents DROP COLUMN sla_breached;",
            )
            .expect("the old layout");
            crate::sqlite::migrate(&conn).expect("migrate");
        }
        assert_eq!(store.open_summary("acme", 5).expect("summary"), before);
        assert_eq!(before.deadlines[0].title, "Link down");
    }
}
