//! `watchfloor token create|list|revoke`: works on the data directory's
//! state database directly, so it also works before the first start and
//! while the server runs.

use std::path::PathBuf;

use clap::Subcommand;
use watchfloor_server::auth::{self, Role};
use watchfloor_state::{AccessStore, SqliteStateStore};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (it is shown only this once).
    Create {
        #[arg(long)]
        name: String,
        /// admin, soc_analyst, noc_engineer, incident_manager, viewer or ingest.
        #[arg(long, default_value = "viewer")]
        role: String,
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long, default_value = "./watchfloor-data")]
        data_dir: PathBuf,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long, default_value = "./watchfloor-data")]
        data_dir: PathBuf,
    },
    /// Revoke a token by id.
    Revoke {
        id: i64,
        #[arg(long, default_value = "./watchfloor-data")]
        data_dir: PathBuf,
    },
}

fn open(dir: &std::path::Path) -> anyhow::Result<SqliteStateStore> {
    std::fs::create_dir_all(dir)?;
    SqliteStateStore::open(&dir.join("state.db"))
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))
}

pub fn run(cmd: TokenCommand) -> anyhow::Result<u8> {
    match cmd {
        TokenCommand::Create {
            name,
            role,
            tenant,
            data_dir,
        } => {
            anyhow::ensure!(
                Role::parse(&role).is_some(),
                "--role {role}: one of {}",
                Role::ALL.join(", ")
            );
            let state = open(&data_dir)?;
            let (secret, record) = auth::create_token(&state, &name, &role, &tenant)?;
            eprintln!(
                "token {} ({}, role {}, tenant {}) created; it is shown only now:",
                record.id, record.name, record.role, record.tenant
            );
            println!("{secret}");
        }
        TokenCommand::List { data_dir } => {
            let state = open(&data_dir)?;
            println!(
                "{:>4}  {:<24} {:<16} {:<16} state",
                "id", "name", "role", "tenant"
            );
            for t in state.list_tokens()? {
                let live = if t.revoked { "revoked" } else { "live" };
                println!(
                    "{:>4}  {:<24} {:<16} {:<16} {live}",
                    t.id, t.name, t.role, t.tenant
                );
            }
        }
        TokenCommand::Revoke { id, data_dir } => {
            let state = open(&data_dir)?;
            if !state.revoke_token(id)? {
                anyhow::bail!("no live token with id {id}");
            }
            println!("token {id} revoked");
        }
    }
    Ok(0)
}
