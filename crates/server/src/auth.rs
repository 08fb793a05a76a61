//! API tokens and roles. A token is 32 random bytes shown once; only its
//! SHA-256 is stored (a random 256-bit secret needs no slow hash: there is
//! nothing to guess). Every `/api` request and `/metrics` carries one as
//! `Authorization: Bearer <token>`.

use std::path::Path;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use watchfloor_state::{AccessStore, StateError, TokenRecord, UserRecord};

const PREFIX: &str = "wf_";

/// What a token (and later a user) may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including tokens and rule reloads.
    Admin,
    /// Read everything, reload rules, work incidents (`analyst` is the
    /// same role under its earlier name).
    SocAnalyst,
    /// Read everything, work incidents.
    NocEngineer,
    /// Work incidents, and own their regulatory side: compliance flags,
    /// report submissions.
    IncidentManager,
    /// Read events, alerts, incidents and metrics.
    Viewer,
    /// Send events only (agents, forwarders, `watchfloor import`).
    Ingest,
}

/// The actions endpoints require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Ingest,
    ReloadRules,
    ManageTokens,
    Metrics,
    /// Users and the audit log of the caller's tenant.
    ManageUsers,
    /// On-call schedules, escalation policies, teams and notification
    /// channels (which hold webhook secrets).
    ManageOnCall,
    /// Create, change, pause and delete availability checks.
    ManageChecks,
    /// Open, update, comment, add tasks and observables, merge and split.
    WorkIncidents,
    /// Flag incidents for NIS2/DORA/GDPR and record report submissions.
    Compliance,
    /// Move the test clock (only served when it is on).
    Clock,
    /// Import and expire threat indicators (the shared scope: provider
    /// admins only).
    ManageIntel,
}

impl Role {
    pub const ALL: [&'static str; 6] = [
        "admin",
        "soc_analyst",
        "noc_engineer",
        "incident_manager",
        "viewer",
        "ingest",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::SocAnalyst => "soc_analyst",
            Role::NocEngineer => "noc_engineer",
            Role::IncidentManager => "incident_manager",
            Role::Viewer => "viewer",
            Role::Ingest => "ingest",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "admin" => Role::Admin,
            "soc_analyst" | "analyst" => Role::SocAnalyst,
            "noc_engineer" => Role::NocEngineer,
            "incident_manager" => Role::IncidentManager,
            "viewer" => Role::Viewer,
            "ingest" => Role::Ingest,
            _ => return None,
        })
    }

    pub fn allows(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Admin => true,
            Role::SocAnalyst => matches!(
                action,
                Read | ReloadRules | Metrics | WorkIncidents | ManageIntel
            ),
            Role::NocEngineer => matches!(action, Read | Metrics | WorkIncidents | ManageChecks),
            Role::IncidentManager => matches!(
                action,
                Read | Metrics | WorkIncidents | Compliance | ManageOnCall | ManageChecks
            ),
            Role::Viewer => matches!(action, Read | Metrics),
            Role::Ingest => matches!(action, Ingest),
        }
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source failing is not recoverable for a security tool.
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no OS randomness: {e}"));
    bytes
}

fn random_secret(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// A new random API token.
pub fn generate() -> String {
    random_secret(PREFIX)
}

/// Session tokens (from a password login) start with this.
pub const SESSION_PREFIX: &str = "wfs_";
/// How long a login lasts.
pub const SESSION_LIFETIME_NS: i64 = 12 * 3600 * 1_000_000_000;
/// Passwords shorter than this are refused.
pub const MIN_PASSWORD: usize = 12;
const LOCK_AFTER: i64 = 5;

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes)
/// and a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    if password.chars().count() < MIN_PASSWORD {
        return Err(format!("password: at least {MIN_PASSWORD} characters"));
    }
    let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn password_matches(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Why a login failed (the API answers all of them with the same 401 so
/// nobody learns which usernames exist).
#[derive(Debug, PartialEq, Eq)]
pub enum LoginError {
    Refused,
    Locked { until_ns: i64 },
    Store(String),
}

/// Checks a password; on success opens a session and returns its secret
/// (shown once) and the user. Five failures in a row lock the account for
/// a minute, doubling with each further failure up to 15 minutes.
pub fn login(
    access: &dyn AccessStore,
    username: &str,
    password: &str,
    now_ns: i64,
) -> Result<(String, UserRecord), LoginError> {
    let store = |e: StateError| LoginError::Store(e.to_string());
    let Some((mut user, phc)) = access.find_login(username).map_err(store)? else {
        // Spend the same time as for a real user.
        let _ = password_matches(password, dummy_hash());
        return Err(LoginError::Refused);
    };
    if let Some(until) = user.locked_until_ns.filter(|&u| u > now_ns) {
        return Err(LoginError::Locked { until_ns: until });
    }
    if user.disabled || !password_matches(password, &phc) {
        user.failed_logins += 1;
        if user.failed_logins >= LOCK_AFTER {
            let minutes = 1i64 << (user.failed_logins - LOCK_AFTER).min(4);
            user.locked_until_ns = Some(now_ns + minutes.min(15) * 60_000_000_000);
        }
        access.update_user(&user).map_err(store)?;
        return Err(LoginError::Refused);
    }
    if user.failed_logins > 0 || user.locked_until_ns.is_some() {
        user.failed_logins = 0;
        user.locked_until_ns = None;
        access.update_user(&user).map_err(store)?;
    }
    let secret = random_secret(SESSION_PREFIX);
    access
        .create_session(
            user.id,
            &hash(&secret),
            now_ns,
            now_ns + SESSION_LIFETIME_NS,
        )
        .map_err(store)?;
    Ok((secret, user))
}

/// A hash of a random password, verified against when the username does
/// not exist so that both cases take as long.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = base64::engine::general_purpose::STANDARD.encode(random_bytes::<24>());
        hash_password(&random).unwrap_or_default()
    })
}

/// Who is calling: an API token or a logged-in user, acting in one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `token:<name>` or `user:<username>`: what the audit log and the
    /// incident timeline record.
    pub actor: String,
    /// The token's or user's name alone.
    pub name: String,
    pub role: Role,
    /// The tenant this request acts in.
    pub tenant: String,
    /// The user's or token's home tenant.
    pub home_tenant: String,
    pub user_id: Option<i64>,
}

/// Why a presented credential does not let the call through.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// 401: no valid credential.
    Unauthenticated(&'static str),
    /// 403: valid, but not for the tenant asked for.
    WrongTenant(String),
}

/// Resolves a bearer secret (API token or session) and the tenant asked
/// for (`X-Watchfloor-Tenant`) to a principal.
pub fn authenticate(
    state: &dyn AccessStore,
    access: &dyn AccessStore,
    presented: &str,
    tenant: Option<&str>,
    now_ns: i64,
) -> Result<Principal, Denied> {
    let unknown = Denied::Unauthenticated("invalid or revoked token");
    let principal = if presented.starts_with(SESSION_PREFIX) && presented.len() <= 128 {
        let user = access
            .find_session(&hash(presented), now_ns)
            .map_err(|_| Denied::Unauthenticated("session store unavailable"))?
            .ok_or(Denied::Unauthenticated("invalid or expired session"))?;
        let role = Role::parse(&user.role).ok_or(Denied::Unauthenticated("unknown role"))?;
        let wanted = tenant.unwrap_or(&user.tenant).to_string();
        if !user.can_act_in(&wanted) {
            return Err(Denied::WrongTenant(wanted));
        }
        Principal {
            actor: format!("user:{}", user.username),
            name: user.username,
            role,
            tenant: wanted,
            home_tenant: user.tenant,
            user_id: Some(user.id),
        }
    } else {
        let token = verify(state, presented)
            .map_err(|_| unknown)?
            .ok_or(Denied::Unauthenticated("invalid or revoked token"))?;
        let role =
            Role::parse(&token.role).ok_or(Denied::Unauthenticated("token has an unknown role"))?;
        if let Some(t) = tenant.filter(|t| *t != token.tenant) {
            return Err(Denied::WrongTenant(t.to_string()));
        }
        Principal {
            actor: format!("token:{}", token.name),
            name: token.name,
            role,
            tenant: token.tenant.clone(),
            home_tenant: token.tenant,
            user_id: None,
        }
    };
    Ok(principal)
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Creates a token and returns its secret (shown once) with its record.
pub fn create_token(
    state: &dyn AccessStore,
    name: &str,
    role: &str,
    tenant: &str,
) -> Result<(String, TokenRecord), StateError> {
    let secret = generate();
    let record = state.create_token(name, role, tenant, &hash(&secret))?;
    Ok((secret, record))
}

/// The token record for a presented secret, if it is live.
pub fn verify(state: &dyn AccessStore, presented: &str) -> Result<Option<TokenRecord>, StateError> {
    if !presented.starts_with(PREFIX) || presented.len() > 128 {
        return Ok(None);
    }
    state.find_token(&hash(presented))
}

/// On first start (no token at all), creates an admin token and writes it
/// to `<data-dir>/initial-admin-token`, readable by the owner only.
pub fn ensure_initial_token(
    state: &dyn AccessStore,
    data_dir: &Path,
    tenant: &str,
) -> std::io::Result<Option<std::path::PathBuf>> {
    let existing = state.list_tokens().map_err(std::io::Error::other)?;
    if !existing.is_empty() {
        return Ok(None);
    }
    let (secret, _) =
        create_token(state, "initial-admin", "admin", tenant).map_err(std::io::Error::other)?;
    let path = data_dir.join("initial-admin-token");
    write_private(&path, format!("{secret}\n").as_bytes())?;
    Ok(Some(path))
}

/// Writes a file with mode 0600 from the start (never briefly readable).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with("wf_") && a.len() == 46);
        assert_eq!(hash(&a).len(), 32);
    }

    #[test]
    fn roles_allow_what_they_say() {
        assert!(Role::Admin.allows(Action::ManageTokens));
        assert!(!Role::Viewer.allows(Action::Ingest));
        assert!(!Role::Ingest.allows(Action::Read));
        assert!(Role::SocAnalyst.allows(Action::ReloadRules));
        assert!(!Role::SocAnalyst.allows(Action::ManageTokens));
        assert!(!Role::SocAnalyst.allows(Action::Compliance));
        assert!(Role::IncidentManager.allows(Action::Compliance));
        assert!(Role::NocEngineer.allows(Action::WorkIncidents));
        assert!(!Role::Viewer.allows(Action::WorkIncidents));
        assert_eq!(
            Role::parse("analyst"),
            Some(Role::SocAnalyst),
            "the earlier name"
        );
        assert!(Role::ALL.iter().all(|r| Role::parse(r).is_some()));
    }
}
