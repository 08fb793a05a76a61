//! [`CheckStore`] on SQLite.

use rusqlite::params;

use crate::checks::{CheckRollup, CheckSample, CheckStore};
use crate::sqlite::SqliteStateStore;
use crate::{Result, StateError};

const HOUR_NS: i64 = 3_600_000_000_000;

impl CheckStore for SqliteStateStore {
    fn append_samples(&self, samples: &[CheckSample]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO check_samples (tenant, check_name, time_ns, status, hard, latency_ms, cert_days,
                     maintenance, output)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for s in samples {
                stmt.execute(params![
                    s.tenant,
                    s.check,
                    s.time_ns,
                    s.status,
                    s.hard,
                    s.latency_ms,
                    s.cert_days_left,
                    s.maintenance,
                    s.output
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn samples(
        &self,
        tenant: &str,
        check: &str,
        from_ns: i64,
        to_ns: i64,
        limit: usize,
    ) -> Result<Vec<CheckSample>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT time_ns, status, hard, latency_ms, cert_days, maintenance, output FROM check_samples
             WHERE tenant = ?1 AND check_name = ?2 AND time_ns >= ?3 AND time_ns < ?4
             ORDER BY time_ns LIMIT ?5",
        )?;
        let rows = stmt.query_map(params![tenant, check, from_ns, to_ns, limit as i64], |r| {
            Ok(CheckSample {
                tenant: tenant.to_string(),
                check: check.to_string(),
                time_ns: r.get(0)?,
                status: r.get(1)?,
                hard: r.get(2)?,
                latency_ms: r.get(3)?,
                cert_days_left: r.get(4)?,
                maintenance: r.get(5)?,
                output: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn downsample(&self, before_ns: i64, rollups_before_ns: i64) -> Result<u64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // Hours are whole: only samples of hours that ended before the cut.
        let cut = before_ns.div_euclid(HOUR_NS) * HOUR_NS;
        tx.execute(
            "INSERT INTO check_rollups (tenant, check_name, hour_ns, samples, up, lat_min, lat_sum, lat_n, lat_max, worst)
             SELECT tenant, check_name, (time_ns / ?2) * ?2, COUNT(*), SUM(status = 0),
                    MIN(latency_ms), SUM(latency_ms), COUNT(latency_ms), MAX(latency_ms), MAX(status)
             FROM check_samples WHERE time_ns < ?1
             GROUP BY tenant, check_name, (time_ns / ?2)
             ON CONFLICT (tenant, check_name, hour_ns) DO UPDATE SET
                 samples = samples + excluded.samples, up = up + excluded.up,
                 lat_min = MIN(COALESCE(lat_min, excluded.lat_min), COALESCE(excluded.lat_min, lat_min)),
                 lat_sum = COALESCE(lat_sum, 0) + COALESCE(excluded.lat_sum, 0),
                 lat_n = lat_n + excluded.lat_n,
                 lat_max = MAX(COALESCE(lat_max, excluded.lat_max), COALESCE(excluded.lat_max, lat_max)),
                 worst = MAX(worst, excluded.worst)",
            params![cut, HOUR_NS],
        )?;
        let rolled = tx.execute("DELETE FROM check_samples WHERE time_ns < ?1", [cut])?;
        tx.execute(
            "DELETE FROM check_rollups WHERE hour_ns < ?1",
            [rollups_before_ns],
        )?;
        tx.commit()?;
        Ok(rolled as u64)
    }

    fn rollups(
        &self,
        tenant: &str,
        check: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Vec<CheckRollup>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT hour_ns, samples, up, lat_min, lat_sum, lat_n, lat_max, worst FROM check_rollups
             WHERE tenant = ?1 AND check_name = ?2 AND hour_ns >= ?3 AND hour_ns < ?4 ORDER BY hour_ns",
        )?;
        let rows = stmt.query_map(params![tenant, check, from_ns, to_ns], |r| {
            let sum: Option<f64> = r.get(4)?;
            let n: i64 = r.get(5)?;
            Ok(CheckRollup {
                tenant: tenant.to_string(),
                check: check.to_string(),
                hour_ns: r.get(0)?,
                samples: r.get::<_, i64>(1)? as u64,
                up: r.get::<_, i64>(2)? as u64,
                latency_min_ms: r.get(3)?,
                latency_avg_ms: sum.filter(|_| n > 0).map(|s| s / n as f64),
                latency_max_ms: r.get(6)?,
                worst_status: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
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
