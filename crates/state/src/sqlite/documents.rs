//! [`DocumentStore`] on SQLite.

use rusqlite::{params, OptionalExtension};

use crate::documents::{Document, DocumentStore};
use crate::sqlite::SqliteStateStore;
use crate::{Result, StateError};

fn document_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Document, String)> {
    Ok((
        Document {
            tenant: row.get(0)?,
            kind: row.get(1)?,
            name: row.get(2)?,
            version: row.get(3)?,
            updated_ns: row.get(4)?,
            body: serde_json::Value::Null,
        },
        row.get(5)?,
    ))
}

fn with_body((mut doc, body): (Document, String)) -> Result<Document> {
    doc.body = serde_json::from_str(&body).map_err(|e| {
        StateError::Corrupt(format!(
            "{} {:?} of {}: {e}",
            doc.kind, doc.name, doc.tenant
        ))
    })?;
    Ok(doc)
}

const DOCUMENT_COLUMNS: &str = "tenant, kind, name, version, updated_ns, body FROM documents";

impl DocumentStore for SqliteStateStore {
    fn put_document(
        &self,
        tenant: &str,
        kind: &str,
        name: &str,
        body: &serde_json::Value,
        expected_version: Option<i64>,
        now_ns: i64,
    ) -> Result<i64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: i64 = tx
            .query_row(
                "SELECT version FROM documents WHERE tenant = ?1 AND kind = ?2 AND name = ?3",
                params![tenant, kind, name],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if let Some(expected) = expected_version.filter(|&e| e != current) {
            return Err(StateError::Conflict { expected, current });
        }
        let version = current + 1;
        tx.execute(
            "INSERT INTO documents (tenant, kind, name, version, updated_ns, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (tenant, kind, name) DO UPDATE SET
                 version = excluded.version, updated_ns = excluded.updated_ns,
                 body = excluded.body",
            params![tenant, kind, name, version, now_ns, body.to_string()],
        )?;
        tx.commit()?;
        Ok(version)
    }

    fn get_document(&self, tenant: &str, kind: &str, name: &str) -> Result<Option<Document>> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {DOCUMENT_COLUMNS} WHERE tenant = ?1 AND kind = ?2 AND name = ?3"),
                params![tenant, kind, name],
                document_from_row,
            )
            .optional()?;
        row.map(with_body).transpose()
    }

    fn list_documents(&self, tenant: &str, kind: &str) -> Result<Vec<Document>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {DOCUMENT_COLUMNS} WHERE tenant = ?1 AND kind = ?2 ORDER BY name"
        ))?;
        let rows = stmt
            .query_map(params![tenant, kind], document_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(with_body).collect()
    }

    fn documents_of_kind(&self, kind: &str) -> Result<Vec<Document>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {DOCUMENT_COLUMNS} WHERE kind = ?1 ORDER BY tenant, name"
        ))?;
        let rows = stmt
            .query_map([kind], document_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter().map(with_body).collect()
    }

    fn delete_document(&self, tenant: &str, kind: &str, name: &str) -> Result<bool> {
        let n = self.conn().execute(
            "DELETE FROM documents WHERE tenant = ?1 AND kind = ?2 AND name = ?3",
            params![tenant, kind, name],
        )?;
        Ok(n > 0)
    }
}
