//! [`AccessStore`] on SQLite.

use rusqlite::{params, OptionalExtension, Row};

use crate::access::{
    AccessStore, AuditFilter, AuditRecord, NewUser, TenantRecord, TokenRecord, UserRecord,
};
use crate::sqlite::SqliteStateStore;
use crate::{Result, StateError};
use watchfloor_model::now_ns;

const USER_COLUMNS: &str = "id, username, display_name, email, role, tenant, tenants, disabled,
     created_ns, failed_logins, locked_until_ns";

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    let tenants: String = r.get(6)?;
    Ok(UserRecord {
        id: r.get(0)?,
        username: r.get(1)?,
        display_name: r.get(2)?,
        email: r.get(3)?,
        role: r.get(4)?,
        tenant: r.get(5)?,
        tenants: tenants
            .split(',')
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
        disabled: r.get::<_, i64>(7)? != 0,
        created_ns: r.get(8)?,
        failed_logins: r.get(9)?,
        locked_until_ns: r.get(10)?,
    })
}

/// A UNIQUE violation becomes [`StateError::Duplicate`].
fn unique(what: String) -> impl FnOnce(rusqlite::Error) -> StateError {
    move |e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StateError::Duplicate(what)
        }
        other => other.into(),
    }
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

impl AccessStore for SqliteStateStore {
    fn create_tenant(&self, name: &str, display_name: &str) -> Result<TenantRecord> {
        let created = now_ns();
        self.conn()
            .execute(
                "INSERT INTO tenants (name, display_name, created_ns) VALUES (?1, ?2, ?3)",
                params![name, display_name, created],
            )
            .map_err(unique(format!("tenant {name}")))?;
        Ok(TenantRecord {
            name: name.into(),
            display_name: display_name.into(),
            created_ns: created,
        })
    }

    fn list_tenants(&self) -> Result<Vec<TenantRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT name, display_name, created_ns FROM tenants ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok(TenantRecord {
                name: r.get(0)?,
                display_name: r.get(1)?,
                created_ns: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn create_user(&self, u: &NewUser) -> Result<UserRecord> {
        let conn = self.conn();
        let created = now_ns();
        conn.execute(
            "INSERT INTO users (username, display_name, email, role, tenant, tenants, disabled,
                 created_ns, failed_logins, password_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, 0, ?8)",
            params![
                u.username,
                u.display_name,
                u.email,
                u.role,
                u.tenant,
                u.tenants.join(","),
                created,
                u.password_hash
            ],
        )
        .map_err(unique(format!("user {}", u.username)))?;
        Ok(UserRecord {
            id: conn.last_insert_rowid(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            email: u.email.clone(),
            role: u.role.clone(),
            tenant: u.tenant.clone(),
            tenants: u.tenants.clone(),
            disabled: false,
            created_ns: created,
            failed_logins: 0,
            locked_until_ns: None,
        })
    }

    fn get_user(&self, id: i64) -> Result<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
        Ok(self
            .conn()
            .query_row(&sql, [id], user_from_row)
            .optional()?)
    }

    fn find_login(&self, username: &str) -> Result<Option<(UserRecord, String)>> {
        let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE username = ?1");
        Ok(self
            .conn()
            .query_row(&sql, [username], |r| Ok((user_from_row(r)?, r.get(11)?)))
            .optional()?)
    }

    fn list_users(&self, tenant: Option<&str>) -> Result<Vec<UserRecord>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE ?1 IS NULL OR tenant = ?1 ORDER BY id");
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([tenant], user_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn update_user(&self, u: &UserRecord) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE users SET display_name = ?2, email = ?3, role = ?4, tenants = ?5,
                 disabled = ?6, failed_logins = ?7, locked_until_ns = ?8
             WHERE id = ?1",
            params![
                u.id,
                u.display_name,
                u.email,
                u.role,
                u.tenants.join(","),
                u.disabled,
                u.failed_logins,
                u.locked_until_ns
            ],
        )?;
        if n == 0 {
            return Err(StateError::NotFound);
        }
        Ok(())
    }

    fn set_password(&self, id: i64, password_hash: &str) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE users SET password_hash = ?2, failed_logins = 0, locked_until_ns = NULL
             WHERE id = ?1",
            params![id, password_hash],
        )?;
        if n == 0 {
            return Err(StateError::NotFound);
        }
        Ok(())
    }

    fn create_session(
        &self,
        user_id: i64,
        token_hash: &[u8],
        now: i64,
        expires_ns: i64,
    ) -> Result<()> {
        let conn = self.conn();
        // Expired sessions go when new ones come.
        conn.execute("DELETE FROM sessions WHERE expires_ns <= ?1", [now])?;
        conn.execute(
            "INSERT INTO sessions (hash, user_id, created_ns, expires_ns) VALUES (?1, ?2, ?3, ?4)",
            params![token_hash, user_id, now, expires_ns],
        )?;
        Ok(())
    }

    fn find_session(&self, token_hash: &[u8], now: i64) -> Result<Option<UserRecord>> {
        let sql = format!(
            "SELECT {} FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.hash = ?1 AND s.expires_ns > ?2 AND u.disabled = 0",
            USER_COLUMNS
                .split(',')
                .map(|c| format!("u.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(self
            .conn()
            .query_row(&sql, params![token_hash, now], user_from_row)
            .optional()?)
    }

    fn delete_session(&self, token_hash: &[u8]) -> Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM sessions WHERE hash = ?1", [token_hash])?
            == 1)
    }

    fn delete_sessions_of(&self, user_id: i64) -> Result<()> {
        self.conn()
            .execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
        Ok(())
    }

    fn append_audit(&self, r: &AuditRecord) -> Result<()> {
        self.conn().execute(
            "INSERT INTO audit (time_ns, tenant, actor, method, path, status, remote)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![r.time_ns, r.tenant, r.actor, r.method, r.path, r.status, r.remote],
        )?;
        Ok(())
    }

    fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, time_ns, tenant, actor, method, path, status, remote FROM audit
             WHERE tenant = ?1
               AND (?2 IS NULL OR actor = ?2)
               AND (?3 IS NULL OR time_ns >= ?3)
               AND (?4 IS NULL OR id < ?4)
             ORDER BY id DESC LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            params![
                f.tenant,
                f.actor,
                f.since_ns,
                f.before_id,
                f.limit.clamp(1, 10_000) as i64
            ],
            |r| {
                Ok(AuditRecord {
                    id: r.get(0)?,
                    time_ns: r.get(1)?,
                    tenant: r.get(2)?,
                    actor: r.get(3)?,
                    method: r.get(4)?,
                    path: r.get(5)?,
                    status: r.get(6)?,
                    remote: r.get(7)?,
                })
            },
        )?;
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
