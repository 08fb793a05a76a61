//! `watchfloor serve` and `watchfloor config check`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use watchfloor_server::Config;

#[derive(Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); every option has a default without one.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where events, alerts and the log live [default: ./watchfloor-data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// HTTP API address [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// Syslog UDP address, "" to turn off [default: 0.0.0.0:5514].
    #[arg(long, value_name = "ADDR")]
    pub syslog_udp: Option<String>,
    /// Syslog TCP address, "" to turn off [default: 0.0.0.0:5514].
    #[arg(long, value_name = "ADDR")]
    pub syslog_tcp: Option<String>,
    /// Rule file or directory to load besides the starter rules (repeatable).
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Do not load the starter rules that ship in the binary.
    #[arg(long)]
    pub no_starter_rules: bool,
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides.
    #[arg(long)]
    pub log_level: Option<String>,
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file and print every problem with its location.
    Check { file: PathBuf },
    /// Print the default configuration.
    Default,
    /// Print the shipped incident type catalog (types and RACI matrices)
    /// as YAML, to edit and load with `[incidents] catalog_file`.
    Catalog,
}

fn load(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Config::load(p).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}")),
        None => Ok(Config::default()),
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    let mut cfg = load(args.config.as_ref())?;
    if let Some(d) = args.data_dir {
        cfg.data_dir = d;
    }
    if let Some(h) = args.http {
        cfg.http.listen = h;
    }
    if let Some(u) = args.syslog_udp {
        cfg.syslog.udp = u;
    }
    if let Some(t) = args.syslog_tcp {
        cfg.syslog.tcp = t;
    }
    for r in &args.rules {
        anyhow::ensure!(
            r.exists(),
            "--rules {}: no such file or directory",
            r.display()
        );
    }
    cfg.rules.paths.extend(args.rules);
    if args.no_starter_rules {
        cfg.rules.starter = false;
    }
    init_logging(args.log_level.as_deref().unwrap_or(cfg.log_level.as_str()));
    watchfloor_server::run(cfg)?;
    Ok(0)
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},tantivy=warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

pub fn config(cmd: ConfigCommand) -> anyhow::Result<u8> {
    match cmd {
        ConfigCommand::Check { file } => match Config::load(&file) {
            Ok(_) => {
                println!("{}: OK", file.display());
                Ok(0)
            }
            Err(e) => {
                println!("{e}");
                eprintln!("{} problem(s) found", e.problems.len());
                Ok(1)
            }
        },
        ConfigCommand::Default => {
            print!("{}", DEFAULT_CONFIG);
            Ok(0)
        }
        ConfigCommand::Catalog => {
            print!("{}", watchfloor_incident::Catalog::default().to_yaml());
            Ok(0)
        }
    }
}

/// The defaults, as a commented file to start from.
pub const DEFAULT_CONFIG: &str = include_str!("../../../docs/watchfloor.toml");
