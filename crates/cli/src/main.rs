//! `watchfloor`: the command-line entry point. Argument parsing and output
//! only; the work happens in the library crates.

mod check_cmd;
mod client;
mod hunt;
mod import_cmd;
mod incident_cmd;
mod intel_cmd;
mod loadgen;
mod loadgen_checks;
mod loadgen_console;
mod output;
mod playbook_cmd;
mod report_cmd;
mod rules_cmd;
mod search_cmd;
mod serve_cmd;
mod token_cmd;
mod user_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};
use watchfloor_sigma::{Placeholders, Routing, RuleSetOptions, Severity};

/// mimalloc instead of the system allocator: events and findings are many
/// small short-lived allocations, which it serves markedly faster.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for bad usage or unusable input (clap uses it too).
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "watchfloor",
    version,
    about = "Watchfloor: one operations platform for SOC and NOC crews"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: syslog and HTTP ingest, durable log, detection, search API.
    Serve(serve_cmd::ServeArgs),
    /// Search the events of a running server.
    Search(search_cmd::SearchArgs),
    /// Send files (EVTX, JSON, syslog, CEF) to a running server.
    Import(import_cmd::ImportArgs),
    /// Work the incident queue of a running server.
    Incident {
        #[command(subcommand)]
        command: incident_cmd::IncidentCommand,
    },
    /// Manage user accounts (password logins).
    User {
        #[command(subcommand)]
        command: user_cmd::UserCommand,
    },
    /// Manage tenants (client organisations of an MSSP).
    Tenant {
        #[command(subcommand)]
        command: user_cmd::TenantCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: token_cmd::TokenCommand,
    },
    /// Generate load against a running server and measure it (see docs/BENCHMARKS.md).
    Loadgen {
        #[command(subcommand)]
        command: loadgen::LoadgenCommand,
    },
    /// Run one check once (tcp://, http(s)://, icmp://, tls://, dns://) and exit as a
    /// monitoring plugin does: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Check(check_cmd::CheckArgs),
    /// Threat indicators of a running server: import, list, match, expire.
    Intel {
        #[command(subcommand)]
        command: intel_cmd::IntelCommand,
    },
    /// Reports from a running server (availability).
    Report {
        #[command(subcommand)]
        command: report_cmd::ReportCommand,
    },
    /// Print the OpenAPI document of the REST API (also served at /api/v1/openapi.json).
    Openapi,
    /// Check configuration files.
    Config {
        #[command(subcommand)]
        command: serve_cmd::ConfigCommand,
    },
    /// Run Sigma rules over log files (EVTX, JSON, syslog, CEF) and report detections.
    Hunt(hunt::HuntArgs),
    /// Response playbooks: check files; list, dry-run, start, answer and
    /// cancel runs on a running server.
    Playbook {
        #[command(subcommand)]
        command: playbook_cmd::PlaybookCommand,
    },
    /// Work with rule sets.
    Rules {
        #[command(subcommand)]
        command: rules_cmd::RulesCommand,
    },
}

/// Options shared by every command that loads rules.
#[derive(Args, Clone)]
pub struct RuleOptions {
    /// Placeholder values for rules using `|expand` (YAML: `placeholders: {Name: [values]}`).
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
    /// Replace the shipped logsource routing table (same shape as the shipped one).
    #[arg(long, value_name = "FILE")]
    pub logsources: Option<PathBuf>,
}

impl RuleOptions {
    pub fn load(&self) -> anyhow::Result<RuleSetOptions> {
        let placeholders = match &self.placeholders {
            Some(p) => Placeholders::load(p).map_err(anyhow::Error::msg)?,
            None => Placeholders::default(),
        };
        let routing = match &self.logsources {
            Some(p) => Routing::load(p).map_err(anyhow::Error::msg)?,
            None => Routing::default(),
        };
        Ok(RuleSetOptions {
            routing,
            placeholders,
        })
    }
}

/// `--min-level`: the five levels, listed in `--help` and checked by clap.
pub fn severity_arg() -> impl TypedValueParser<Value = Severity> {
    clap::builder::PossibleValuesParser::new(Severity::ALL.map(Severity::as_str))
        .try_map(|s| s.parse::<Severity>())
}

fn print_openapi() -> anyhow::Result<u8> {
    let doc = watchfloor_server::openapi::document();
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hunt(args) => hunt::run(args),
        Command::Rules { command } => rules_cmd::run(command),
        Command::Playbook { command } => playbook_cmd::run(command),
        Command::Serve(args) => serve_cmd::run(args),
        Command::Search(args) => search_cmd::run(args),
        Command::Import(args) => import_cmd::run(args),
        Command::Token { command } => token_cmd::run(command),
        Command::Incident { command } => incident_cmd::run(command),
        Command::User { command } => user_cmd::run_user(command),
        Command::Tenant { command } => user_cmd::run_tenant(command),
        Command::Config { command } => serve_cmd::config(command),
        Command::Openapi => print_openapi(),
        Command::Check(args) => check_cmd::run(args),
        Command::Intel { command } => intel_cmd::run(command),
        Command::Report { command } => report_cmd::run(command),
        Command::Loadgen { command } => loadgen::run(command),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
