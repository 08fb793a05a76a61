//! [`CheckStore`] on SQLite.

use rusqlite::params;

use crate::checks::{CheckSample, CheckStore};
use crate::sqlite::SqliteStateStore;
use crate::{Result, StateError};

impl CheckStore for SqliteStateStore {
    fn append_outputs(&self, results: &[CheckSample]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO check_outputs (tenant, check_name, time_ns, output) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for r in results {
                if let Some(output) = &r.output {
                    stmt.execute(params![r.tenant, r.check, r.time_ns, output])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn outputs(
        &self,
        tenant: &str,
        check: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<(i64, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT time_ns, output FROM check_outputs
             WHERE tenant = ?1 AND check_name = ?2 AND time_ns >= ?3 AND time_ns < ?4
             ORDER BY time_ns",
        )?;
        let rows = stmt.query_map(params![tenant, check, from_ns, to_ns], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn expire_outputs(&self, before_ns: i64) -> Result<u64> {
        let dropped = self
            .conn()
            .execute("DELETE FROM check_outputs WHERE time_ns < ?1", [before_ns])?;
        Ok(dropped as u64)
    }

    fn save_check_state(&self, tenant: &str, check: &str, state: &serde_json::Value) -> Result<()> {
        self.conn().execute(
            "INSERT INTO check_states (tenant, check_name, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant, check_name) DO UPDATE SET body = excluded.body",
            params![tenant, check, state.to_string()],
        )?;
        Ok(())
    }

    fn check_states(&self) -> Result<Vec<(String, String, serde_json::Value)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT tenant, check_name, body FROM check_states")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(t, c, body)| {
                serde_json::from_str(&body)
                    .map(|v| (t, c.clone(), v))
                    .map_err(|e| StateError::Corrupt(format!("state of check {c}: {e}")))
            })
            .collect()
    }
}
