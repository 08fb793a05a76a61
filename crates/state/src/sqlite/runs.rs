//! [`RunStore`] on SQLite: `runs` (headers) and `run_log` (entries).

use rusqlite::{params, OptionalExtension};

use crate::runs::{NewRun, RunEntry, RunFilter, RunRecord, RunStore, RunUpdate};
use crate::sqlite::SqliteStateStore;
use crate::{Result, StateError};

const RUN_COLUMNS: &str = "id, tenant, playbook, incident_id, dedup_key, status, finished, \
                           wake_ns, seq, created_ns, updated_ns FROM runs";

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: r.get(0)?,
        tenant: r.get(1)?,
        playbook: r.get(2)?,
        incident_id: r.get(3)?,
        dedup_key: r.get(4)?,
        status: r.get(5)?,
        finished: r.get(6)?,
        wake_ns: r.get(7)?,
        seq: r.get(8)?,
        created_ns: r.get(9)?,
        updated_ns: r.get(10)?,
    })
}

impl RunStore for SqliteStateStore {
    fn create_run(&self, run: &NewRun, first: &serde_json::Value) -> Result<(i64, bool)> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if let Some(key) = &run.dedup_key {
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM runs WHERE tenant = ?1 AND dedup_key = ?2",
                    params![run.tenant, key],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = existing {
                return Ok((id, false));
            }
        }
        tx.execute(
            "INSERT INTO runs (tenant, playbook, incident_id, dedup_key, status, finished,
                               wake_ns, seq, created_ns, updated_ns)
             VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, 1, ?7, ?7)",
            params![
                run.tenant,
                run.playbook,
                run.incident_id,
                run.dedup_key,
                run.status,
                run.wake_ns,
                run.created_ns
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO run_log (run_id, seq, time_ns, body) VALUES (?1, 1, ?2, ?3)",
            params![id, run.created_ns, first.to_string()],
        )?;
        tx.commit()?;
        Ok((id, true))
    }

    fn append_run(
        &self,
        tenant: &str,
        id: i64,
        expected_seq: i64,
        entries: &[serde_json::Value],
        update: &RunUpdate,
    ) -> Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: i64 = tx
            .query_row(
                "SELECT seq FROM runs WHERE id = ?1 AND tenant = ?2",
                params![id, tenant],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(StateError::NotFound)?;
        if current != expected_seq {
            return Err(StateError::Conflict {
                expected: expected_seq,
                current,
            });
        }
        let mut seq = current;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO run_log (run_id, seq, time_ns, body) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for entry in entries {
                seq += 1;
                put.execute(params![id, seq, update.time_ns, entry.to_string()])?;
            }
        }
        tx.execute(
            "UPDATE runs SET status = ?2, finished = ?3, wake_ns = ?4, seq = ?5, updated_ns = ?6
             WHERE id = ?1",
            params![
                id,
                update.status,
                update.finished,
                update.wake_ns,
                seq,
                update.time_ns
            ],
        )?;
        tx.commit()?;
        Ok(seq)
    }

    fn get_run(&self, tenant: &str, id: i64) -> Result<RunRecord> {
        self.conn()
            .query_row(
                &format!("SELECT {RUN_COLUMNS} WHERE id = ?1 AND tenant = ?2"),
                params![id, tenant],
                run_from_row,
            )
            .optional()?
            .ok_or(StateError::NotFound)
    }

    fn run_log(&self, tenant: &str, id: i64) -> Result<Vec<RunEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT l.seq, l.time_ns, l.body FROM run_log l JOIN runs r ON r.id = l.run_id
             WHERE l.run_id = ?1 AND r.tenant = ?2 ORDER BY l.seq",
        )?;
        let rows = stmt.query_map(params![id, tenant], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, time_ns, body) = row?;
            let body = serde_json::from_str(&body)
                .map_err(|e| StateError::Corrupt(format!("run {id} log entry {seq}: {e}")))?;
            out.push(RunEntry { seq, time_ns, body });
        }
        Ok(out)
    }

    fn list_runs(&self, f: &RunFilter) -> Result<Vec<RunRecord>> {
        let mut sql = format!("SELECT {RUN_COLUMNS} WHERE 1 = 1");
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(tenant) = &f.tenant {
            values.push(tenant.clone().into());
            sql.push_str(&format!(" AND tenant = ?{}", values.len()));
        }
        if let Some(incident) = f.incident_id {
            values.push(incident.into());
            sql.push_str(&format!(" AND incident_id = ?{}", values.len()));
        }
        if let Some(status) = &f.status {
            values.push(status.clone().into());
            sql.push_str(&format!(" AND status = ?{}", values.len()));
        }
        if f.unfinished {
            sql.push_str(" AND finished = 0");
        }
        let limit = if f.limit == 0 { 100 } else { f.limit };
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(values.iter()), run_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}
