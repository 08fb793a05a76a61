//! API tokens and roles. A token is 32 random bytes shown once; only its
//! SHA-256 is stored (a random 256-bit secret needs no slow hash: there is
//! nothing to guess). Every `/api` request and `/metrics` carries one as
//! `Authorization: Bearer <token>`.

use std::path::Path;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use watchfloor_store::{StateStore, StoreError, TokenRecord};

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
    /// Open, update, comment, add tasks and observables, merge and split.
    WorkIncidents,
    /// Flag incidents for NIS2/DORA/GDPR and record report submissions.
    Compliance,
    /// Move the test clock (only served when it is on).
    Clock,
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
            Role::SocAnalyst => matches!(action, Read | ReloadRules | Metrics | WorkIncidents),
            Role::NocEngineer => matches!(action, Read | Metrics | WorkIncidents),
            Role::IncidentManager => matches!(action, Read | Metrics | WorkIncidents | Compliance),
            Role::Viewer => matches!(action, Read | Metrics),
            Role::Ingest => matches!(action, Ingest),
        }
    }
}

/// A new random token.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is not recoverable for a security tool.
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no OS randomness: {e}"));
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Creates a token and returns its secret (shown once) with its record.
pub fn create_token(
    state: &dyn StateStore,
    name: &str,
    role: &str,
    tenant: &str,
) -> Result<(String, TokenRecord), StoreError> {
    let secret = generate();
    let record = state.create_token(name, role, tenant, &hash(&secret))?;
    Ok((secret, record))
}

/// The token record for a presented secret, if it is live.
pub fn verify(state: &dyn StateStore, presented: &str) -> Result<Option<TokenRecord>, StoreError> {
    if !presented.starts_with(PREFIX) || presented.len() > 128 {
        return Ok(None);
    }
    state.find_token(&hash(presented))
}

/// On first start (no token at all), creates an admin token and writes it
/// to `<data-dir>/initial-admin-token`, readable by the owner only.
pub fn ensure_initial_token(
    state: &dyn StateStore,
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
