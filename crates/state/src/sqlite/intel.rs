//! [`IntelStore`] on SQLite: the `indicators` table, one row per scope,
//! kind and value.

use rusqlite::params;
use watchfloor_model::{Indicator, IndicatorKind, Tlp};

use crate::intel::IntelStore;
use crate::sqlite::SqliteStateStore;
use crate::Result;

/// Rows written per transaction: a feed of millions does not hold the
/// connection (which alerts and incidents share) for its whole import.
const ROWS_PER_TRANSACTION: usize = 10_000;

impl IntelStore for SqliteStateStore {
    fn put_indicators(&self, scope: &str, indicators: &[Indicator]) -> Result<()> {
        for chunk in indicators.chunks(ROWS_PER_TRANSACTION) {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            {
                let mut put = tx.prepare_cached(
                    "INSERT OR REPLACE INTO indicators (scope, kind, value, source, confidence,
                        tlp, labels, first_seen_ns, last_seen_ns, valid_until_ns, sightings)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?;
                for i in chunk {
                    put.execute(params![
                        scope,
                        i.kind.as_str(),
                        i.value,
                        i.source,
                        i.confidence,
                        i.tlp.as_str(),
                        serde_json::to_string(&i.labels).unwrap_or_else(|_| "[]".into()),
                        i.first_seen_ns,
                        i.last_seen_ns,
                        i.valid_until_ns,
                        i.sightings.min(i64::MAX as u64) as i64,
                    ])?;
                }
            }
            tx.commit()?;
        }
        Ok(())
    }

    fn for_each_indicator(&self, f: &mut dyn FnMut(&str, Indicator)) -> Result<u64> {
        let conn = self.conn();
        let mut rows = conn.prepare(
            "SELECT scope, kind, value, source, confidence, tlp, labels, first_seen_ns,
                    last_seen_ns, valid_until_ns, sightings
             FROM indicators ORDER BY scope",
        )?;
        let mut rows = rows.query([])?;
        let (mut read, mut unreadable) = (0u64, 0u64);
        while let Some(row) = rows.next()? {
            let scope: String = row.get(0)?;
            let kind: String = row.get(1)?;
            let tlp: String = row.get(5)?;
            let labels: String = row.get(6)?;
            let (Ok(kind), Ok(tlp)) = (kind.parse::<IndicatorKind>(), tlp.parse::<Tlp>()) else {
                unreadable += 1;
                continue;
            };
            let indicator = Indicator {
                kind,
                value: row.get(2)?,
                source: row.get(3)?,
                confidence: row.get::<_, i64>(4)?.clamp(0, 100) as u8,
                tlp,
                labels: serde_json::from_str(&labels).unwrap_or_default(),
                first_seen_ns: row.get(7)?,
                last_seen_ns: row.get(8)?,
                valid_until_ns: row.get(9)?,
                sightings: row.get::<_, i64>(10)?.max(0) as u64,
            };
            f(&scope, indicator);
            read += 1;
        }
        if unreadable > 0 {
            tracing::warn!(unreadable, "indicators with an unknown kind or TLP skipped");
        }
        Ok(read)
    }
}
