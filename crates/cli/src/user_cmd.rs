//! `watchfloor user ...` and `watchfloor tenant ...`: accounts and tenants,
//! worked on the data directory's state database directly (like `token`),
//! so the first admin can be made before the server ever starts.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use watchfloor_server::auth::{self, Role};
use watchfloor_state::{AccessStore, NewUser, SqliteStateStore};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input (one line).
    Create {
        #[arg(long)]
        username: String,
        /// admin, soc_analyst, noc_engineer, incident_manager, viewer or ingest.
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Further tenants the user may act in (comma-separated).
        #[arg(long, value_delimiter = ',')]
        also: Vec<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value = "./watchfloor-data")]
        data_dir: PathBuf,
    },
    /// List users (never their passwords).
    List {
        #[arg(long, default_value = "./watchfloor-data")]
        data_dir: PathBuf,
    },
    /// Set a user's password (read from standard input) and end their sessions.
    Passwd {
        username: String,
        #[arg(long, default_value = "./watchfloor-data")]
        data_dir: PathBuf,
    },
    /// Disable a user and end their sessions.
    Disable {
        username: String,
        #[arg(long, default_value = "./watchfloor-data")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (a client organisation).
    Create {
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long, default_value = "./watchfloor-data")]
        data_dir: PathBuf,
    },
    List {
        #[arg(long, default_value = "./watchfloor-data")]
        data_dir: PathBuf,
    },
}

fn open(dir: &Path) -> anyhow::Result<SqliteStateStore> {
    std::fs::create_dir_all(dir)?;
    SqliteStateStore::open(&dir.join("state.db"))
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    Ok(password)
}

fn find(state: &SqliteStateStore, username: &str) -> anyhow::Result<watchfloor_state::UserRecord> {
    state
        .find_login(username)?
        .map(|(u, _)| u)
        .ok_or_else(|| anyhow::anyhow!("no user {username:?}"))
}

pub fn run_user(cmd: UserCommand) -> anyhow::Result<u8> {
    match cmd {
        UserCommand::Create {
            username,
            role,
            tenant,
            also,
            display_name,
            email,
            data_dir,
        } => {
            anyhow::ensure!(
                Role::parse(&role).is_some(),
                "--role {role}: one of {}",
                Role::ALL.join(", ")
            );
            let password_hash =
                auth::hash_password(&read_password()?).map_err(anyhow::Error::msg)?;
            let state = open(&data_dir)?;
            let user = state.create_user(&NewUser {
                display_name: display_name.unwrap_or_else(|| username.clone()),
                username,
                email,
                role,
                tenant,
                tenants: also,
                password_hash,
            })?;
            eprintln!(
                "user {} ({}, role {}, tenant {}) created",
                user.id, user.username, user.role, user.tenant
            );
        }
        UserCommand::List { data_dir } => {
            let state = open(&data_dir)?;
            println!(
                "{:>4}  {:<20} {:<16} {:<16} {:<8} also",
                "id", "username", "role", "tenant", "state"
            );
            for u in state.list_users(None)? {
                let live = if u.disabled { "disabled" } else { "active" };
                println!(
                    "{:>4}  {:<20} {:<16} {:<16} {live:<8} {}",
                    u.id,
                    u.username,
                    u.role,
                    u.tenant,
                    u.tenants.join(",")
                );
            }
        }
        UserCommand::Passwd { username, data_dir } => {
            let state = open(&data_dir)?;
            let user = find(&state, &username)?;
            let hash = auth::hash_password(&read_password()?).map_err(anyhow::Error::msg)?;
            state.set_password(user.id, &hash)?;
            state.delete_sessions_of(user.id)?;
            eprintln!("password of {username} changed; their sessions ended");
        }
        UserCommand::Disable { username, data_dir } => {
            let state = open(&data_dir)?;
            let mut user = find(&state, &username)?;
            user.disabled = true;
            state.update_user(&user)?;
            state.delete_sessions_of(user.id)?;
            eprintln!("{username} disabled; their sessions ended");
        }
    }
    Ok(0)
}

pub fn run_tenant(cmd: TenantCommand) -> anyhow::Result<u8> {
    match cmd {
        TenantCommand::Create {
            name,
            display_name,
            data_dir,
        } => {
            let state = open(&data_dir)?;
            let t = state.create_tenant(&name, display_name.as_deref().unwrap_or(&name))?;
            eprintln!("tenant {} created", t.name);
        }
        TenantCommand::List { data_dir } => {
            let state = open(&data_dir)?;
            for t in state.list_tenants()? {
                println!("{:<24} {}", t.name, t.display_name);
            }
        }
    }
    Ok(0)
}
