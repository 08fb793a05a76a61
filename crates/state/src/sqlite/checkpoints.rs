//! [`CheckpointStore`] on SQLite: the `meta` table.

use rusqlite::{params, OptionalExtension};

use crate::checkpoints::CheckpointStore;
use crate::sqlite::SqliteStateStore;
use crate::Result;

impl CheckpointStore for SqliteStateStore {
    fn get_checkpoint(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn put_checkpoints(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (key, value) in entries {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}
