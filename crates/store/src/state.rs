//! The embedded state store: SQLite in WAL mode.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use crate::{level_rank, Alert, AlertFilter, Result, StateStore, StoreError, TokenRecord};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    domain TEXT NOT NULL,
    rule_id TEXT,
    rule_title TEXT NOT NULL,
    rule_kind TEXT NOT NULL,
    level TEXT NOT NULL,
    level_rank INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    host TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_tenant_id ON alerts (tenant, id);
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    open INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    domain TEXT NOT NULL,
    kind TEXT NOT NULL,
    assignee TEXT,
    team TEXT,
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_tenant_updated ON incidents (tenant, updated_ns);
CREATE INDEX IF NOT EXISTS incidents_open ON incidents (open) WHERE open = 1;
CREATE TABLE IF NOT EXISTS timeline (
    incident_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (incident_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tenants (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT,
    role TEXT NOT NULL,
    tenant TEXT NOT NULL,
    tenants TEXT NOT NULL DEFAULT '',
    disabled INTEGER NOT NULL DEFAULT 0,
    created_ns INTEGER NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until_ns INTEGER,
    password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    hash BLOB PRIMARY KEY,
    user_id INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    expires_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ns INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    actor TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    remote TEXT
);
CREATE INDEX IF NOT EXISTS audit_tenant_id ON audit (tenant, id);
CREATE TABLE IF NOT EXISTS documents (
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    incident_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ns INTEGER NOT NULL,
    last_error TEXT,
    sent_ns INTEGER,
    ack_hash BLOB,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_attempt_ns)
    WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notifications_incident ON notifications (tenant, incident_id, id);
CREATE INDEX IF NOT EXISTS notifications_ack ON notifications (ack_hash) WHERE ack_hash IS NOT NULL;
CREATE TABLE IF NOT EXISTS check_samples (
    tenant TEXT NOT NULL,
    check_name TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    status INTEGER NOT NULL,
    hard INTEGER NOT NULL,
    latency_ms REAL,
    cert_days INTEGER,
    maintenance INTEGER NOT NULL DEFAULT 0,
    output TEXT
);
CREATE INDEX IF NOT EXISTS check_samples_by_check ON check_samples (tenant, check_name, time_ns);
CREATE INDEX IF NOT EXISTS check_samples_by_time ON check_samples (time_ns);
CREATE TABLE IF NOT EXISTS check_rollups (
    tenant TEXT NOT NULL,
    check_name TEXT NOT NULL,
    hour_ns INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    up INTEGER NOT NULL,
    lat_min REAL,
    lat_sum REAL,
    lat_n INTEGER NOT NULL,
    lat_max REAL,
    worst INTEGER NOT NULL,
    PRIMARY KEY (tenant, check_name, hour_ns)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS check_states (
    tenant TEXT NOT NULL,
    check_name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, check_name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    role TEXT NOT NULL,
    tenant TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
";

/// The embedded [`StateStore`].
pub struct SqliteStateStore {
    conn: Mutex<Connection>,
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl SqliteStateStore {
    /// Opens (or creates) the database file.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        Ok(SqliteStateStore {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Columns added after the first release of a table.
fn migrate(conn: &Connection) -> Result<()> {
    let has_incident_id: bool = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('alerts') WHERE name = 'incident_id'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has_incident_id {
        conn.execute_batch(
            "ALTER TABLE alerts ADD COLUMN incident_id INTEGER;
             CREATE INDEX IF NOT EXISTS alerts_unfiled ON alerts (id) WHERE incident_id IS NULL;",
        )?;
    }
    Ok(())
}

/// Alert columns that filters use are columns; the rest is the JSON body.
pub(crate) fn alert_from_row(id: i64, body: &str, incident_id: Option<i64>) -> Result<Alert> {
    let mut alert: Alert =
        serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("alert {id}: {e}")))?;
    alert.id = id;
    alert.incident_id = incident_id;
    Ok(alert)
}

fn token_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        role: row.get(2)?,
        tenant: row.get(3)?,
        created_ns: row.get(4)?,
        revoked: row.get::<_, i64>(5)? != 0,
    })
}

impl StateStore for SqliteStateStore {
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn put_meta(&self, entries: &[(&str, &[u8])]) -> Result<()> {
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
                    .map_err(|e| StoreError::Corrupt(format!("alert {}: {e}", a.key)))?;
                let n = stmt.execute(params![
                    a.key,
                    a.tenant,
                    a.domain,
                    a.rule_id,
                    a.rule_title,
                    a.rule_kind,
                    a.level,
                    level_rank(&a.level),
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
             ORDER BY id DESC LIMIT ?8",
        )?;
        let rows = stmt.query_map(
            params![
                f.tenant,
                f.rule,
                f.min_level.as_deref().map_or(0, level_rank),
                f.host,
                f.from_ns,
                f.to_ns,
                f.before_id,
                f.limit.clamp(1, 10_000) as i64
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

    fn alert_counts(&self) -> Result<Vec<(String, u64)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT level, COUNT(*) FROM alerts GROUP BY level ORDER BY level")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn create_token(
        &self,
        name: &str,
        role: &str,
        tenant: &str,
        hash: &[u8],
    ) -> Result<TokenRecord> {
        let conn = self.conn();
        let created = now_ns();
        conn.execute(
            "INSERT INTO tokens (name, hash, role, tenant, created_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, hash, role, tenant, created],
        )?;
        Ok(TokenRecord {
            id: conn.last_insert_rowid(),
            name: name.into(),
            role: role.into(),
            tenant: tenant.into(),
            created_ns: created,
            revoked: false,
        })
    }

    fn find_token(&self, hash: &[u8]) -> Result<Option<TokenRecord>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, name, role, tenant, created_ns, revoked FROM tokens
                 WHERE hash = ?1 AND revoked = 0",
                [hash],
                token_from_row,
            )
            .optional()?)
    }

    fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, name, role, tenant, created_ns, revoked FROM tokens ORDER BY id",
        )?;
        let rows = stmt.query_map([], token_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn revoke_token(&self, id: i64) -> Result<bool> {
        let n = self.conn().execute(
            "UPDATE tokens SET revoked = 1 WHERE id = ?1 AND revoked = 0",
            [id],
        )?;
        Ok(n == 1)
    }
}
