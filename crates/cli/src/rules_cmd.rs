//! `watchfloor rules validate DIR...`

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use watchfloor_sigma::RuleSetBuilder;

use crate::client::ServerArgs;
use crate::RuleOptions;

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Load rules and report every rule that cannot be used, with the reason.
    Validate {
        /// Rule files or directories (searched recursively for .yml/.yaml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: ValidateFormat,
        #[command(flatten)]
        options: RuleOptions,
    },
    /// Make a running server load its rules again (as SIGHUP does); ingest
    /// goes on, and a bad rule is reported without stopping the others.
    Reload {
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ValidateFormat {
    Text,
    Json,
}

pub fn run(cmd: RulesCommand) -> anyhow::Result<u8> {
    let (paths, format, options) = match cmd {
        RulesCommand::Validate {
            paths,
            format,
            options,
        } => (paths, format, options),
        RulesCommand::Reload { server } => return reload(&server),
    };
    let mut b = RuleSetBuilder::new(options.load()?);
    for p in &paths {
        anyhow::ensure!(p.exists(), "{}: no such file or directory", p.display());
        b.add_path(p)
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    }
    let set = b.build();
    let r = set.report();
    match format {
        ValidateFormat::Json => println!("{}", serde_json::to_string_pretty(r)?),
        ValidateFormat::Text => {
            for rej in &r.rejected {
                println!("rejected: {rej}");
            }
            println!(
                "{} files: {} load cleanly; {} rules, {} correlations, {} filters loaded; {} rejected",
                r.files,
                r.files_loaded,
                r.rules_loaded,
                r.correlations_loaded,
                r.filters_loaded,
                r.rejected.len()
            );
        }
    }
    Ok(if r.rejected.is_empty() { 0 } else { 1 })
}

fn reload(server: &ServerArgs) -> anyhow::Result<u8> {
    let r = server
        .connect()?
        .post("/api/v1/rules/reload", &[], Vec::new(), false)?;
    let rejected = r["rejected"].as_array().cloned().unwrap_or_default();
    for rej in &rejected {
        println!("rejected: {}", rej.as_str().unwrap_or_default());
    }
    println!(
        "rule set {} loaded: {} rules, {} correlations; {} rejected",
        r["generation"],
        r["rules"],
        r["correlations"],
        rejected.len()
    );
    Ok(if rejected.is_empty() { 0 } else { 1 })
}
