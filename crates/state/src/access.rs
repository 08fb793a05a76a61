//! Who may do what: tenants, users (password hashes only), sessions and
//! API tokens (their hashes only), and the audit log of every write.

use serde::{Deserialize, Serialize};

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub name: String,
    pub display_name: String,
    pub created_ns: i64,
}

/// A user as stored and shown: never the password or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub role: String,
    /// The tenant the user belongs to.
    pub tenant: String,
    /// Further tenants the user may act in (an MSSP operator's clients).
    pub tenants: Vec<String>,
    pub disabled: bool,
    pub created_ns: i64,
    /// Consecutive failed logins, and until when logins are refused.
    pub failed_logins: i64,
    pub locked_until_ns: Option<i64>,
}

impl UserRecord {
    /// May this user act in `tenant`?
    pub fn can_act_in(&self, tenant: &str) -> bool {
        self.tenant == tenant || self.tenants.iter().any(|t| t == tenant)
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub role: String,
    pub tenant: String,
    pub tenants: Vec<String>,
    /// A PHC string (argon2id), never the password.
    pub password_hash: String,
}

/// One write through the API: who, what, where, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    #[serde(default)]
    pub id: i64,
    pub time_ns: i64,
    /// The tenant acted in ("" when the caller was not identified).
    pub tenant: String,
    /// `user:<name>`, `token:<name>` or `anonymous`.
    pub actor: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub remote: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub tenant: String,
    pub actor: Option<String>,
    pub since_ns: Option<i64>,
    pub limit: usize,
    pub before_id: Option<i64>,
}

/// An API token as stored: the secret itself never is, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub tenant: String,
    pub created_ns: i64,
    pub revoked: bool,
}

/// Tenants, users, sessions, API tokens and the audit log.
pub trait AccessStore: Send + Sync {
    /// Creates a tenant; [`StateError::Duplicate`](crate::StateError) if it exists.
    fn create_tenant(&self, name: &str, display_name: &str) -> Result<TenantRecord>;
    fn list_tenants(&self) -> Result<Vec<TenantRecord>>;
    /// Creates a user; [`StateError::Duplicate`](crate::StateError) if the
    /// username is taken.
    fn create_user(&self, user: &NewUser) -> Result<UserRecord>;
    fn get_user(&self, id: i64) -> Result<Option<UserRecord>>;
    /// The user and their password hash, for a login.
    fn find_login(&self, username: &str) -> Result<Option<(UserRecord, String)>>;
    /// Users of a tenant (home tenant), or of all tenants with `None`.
    fn list_users(&self, tenant: Option<&str>) -> Result<Vec<UserRecord>>;
    /// Writes display name, email, role, extra tenants, disabled flag,
    /// failed-login count and lock.
    fn update_user(&self, user: &UserRecord) -> Result<()>;
    fn set_password(&self, id: i64, password_hash: &str) -> Result<()>;
    /// Also drops sessions expired at `now_ns`.
    fn create_session(
        &self,
        user_id: i64,
        token_hash: &[u8],
        now_ns: i64,
        expires_ns: i64,
    ) -> Result<()>;
    /// The user of a live session.
    fn find_session(&self, token_hash: &[u8], now_ns: i64) -> Result<Option<UserRecord>>;
    fn delete_session(&self, token_hash: &[u8]) -> Result<bool>;
    /// Ends every session of a user (password change, disabling).
    fn delete_sessions_of(&self, user_id: i64) -> Result<()>;
    fn append_audit(&self, record: &AuditRecord) -> Result<()>;
    /// Audit records of a tenant, newest first.
    fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;
    fn create_token(
        &self,
        name: &str,
        role: &str,
        tenant: &str,
        hash: &[u8],
    ) -> Result<TokenRecord>;
    /// The live token with this hash.
    fn find_token(&self, hash: &[u8]) -> Result<Option<TokenRecord>>;
    fn list_tokens(&self) -> Result<Vec<TokenRecord>>;
    fn revoke_token(&self, id: i64) -> Result<bool>;
}
