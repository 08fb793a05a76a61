//! The embedded state store: SQLite in WAL mode, one file, every trait of
//! this crate implemented on one connection (one file per trait).

mod access;
mod alerts;
mod checkpoints;
mod checks;
mod documents;
mod incidents;
mod intel;
mod outbox;
mod runs;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::Connection;

use crate::{Result, StateError};

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
CREATE INDEX IF NOT EXISTS alerts_tenant_time ON alerts (tenant, time_ns, rule_title);
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
CREATE INDEX IF NOT EXISTS incidents_tenant_created ON incidents (tenant, created_ns);
CREATE INDEX IF NOT EXISTS incidents_tenant_priority ON incidents (tenant, priority, updated_ns);
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
-- Check results moved to the metric store; their outputs stay here.
DROP TABLE IF EXISTS check_samples;
DROP TABLE IF EXISTS check_rollups;
CREATE TABLE IF NOT EXISTS check_outputs (
    tenant TEXT NOT NULL,
    check_name TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    output TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS check_outputs_by_check ON check_outputs (tenant, check_name, time_ns);
CREATE INDEX IF NOT EXISTS check_outputs_by_time ON check_outputs (time_ns);
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
CREATE TABLE IF NOT EXISTS indicators (
    scope TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    source TEXT NOT NULL,
    confidence INTEGER NOT NULL,
    tlp TEXT NOT NULL,
    labels TEXT NOT NULL,
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns INTEGER NOT NULL,
    valid_until_ns INTEGER,
    sightings INTEGER NOT NULL,
    PRIMARY KEY (scope, kind, value)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    playbook TEXT NOT NULL,
    incident_id INTEGER,
    dedup_key TEXT,
    status TEXT NOT NULL,
    finished INTEGER NOT NULL,
    wake_ns INTEGER,
    seq INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS runs_dedup ON runs (tenant, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_unfinished ON runs (id) WHERE finished = 0;
CREATE INDEX IF NOT EXISTS runs_tenant_incident ON runs (tenant, incident_id, id);
CREATE TABLE IF NOT EXISTS run_log (
    run_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
";

/// The embedded [`StateStore`].
pub struct SqliteStateStore {
    conn: Mutex<Connection>,
}

impl SqliteStateStore {
    /// Opens (or creates) the database file.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
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
pub(crate) fn migrate(conn: &Connection) -> Result<()> {
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
    let has_sla_columns: bool = conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('incidents') WHERE name = 'sla_due_ns'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has_sla_columns {
        // The wallboard's columns (2026-12-02), filled from the stored incidents once.
        conn.execute_batch(
            "ALTER TABLE incidents ADD COLUMN title TEXT NOT NULL DEFAULT '';
             ALTER TABLE incidents ADD COLUMN sla_kind TEXT;
             ALTER TABLE incidents ADD COLUMN sla_due_ns INTEGER;
             ALTER TABLE incidents ADD COLUMN sla_breached INTEGER NOT NULL DEFAULT 0;
             UPDATE incidents SET
               title = coalesce(json_extract(body, '$.title'), ''),
               sla_kind = CASE
                 WHEN json_extract(body, '$.acknowledged_ns') IS NULL
                      AND json_extract(body, '$.sla.ack_due_ns') IS NOT NULL THEN 'acknowledge'
                 WHEN json_extract(body, '$.sla.resolve_due_ns') IS NOT NULL THEN 'resolve' END,
               sla_due_ns = CASE
                 WHEN json_extract(body, '$.acknowledged_ns') IS NULL
                      AND json_extract(body, '$.sla.ack_due_ns') IS NOT NULL
                   THEN json_extract(body, '$.sla.ack_due_ns')
                 ELSE json_extract(body, '$.sla.resolve_due_ns') END,
               sla_breached = (json_extract(body, '$.sla.ack_breached_ns') IS NOT NULL
                   OR json_extract(body, '$.sla.resolve_breached_ns') IS NOT NULL);",
        )?;
    }
    // The open incidents: the queue's order, and what the wallboard counts
    // (domain, breaches) without reading the incidents themselves.
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS incidents_open_sla ON incidents (tenant, sla_due_ns) WHERE open = 1;
         CREATE INDEX IF NOT EXISTS incidents_open_board
             ON incidents (tenant, priority, updated_ns, domain, sla_breached) WHERE open = 1;
         DROP INDEX IF EXISTS incidents_open_queue;",
    )?;
    Ok(())
}

pub(crate) use alerts::alert_from_row;
