//! `watchfloor playbook ...`: check playbook files offline; list, dry-run,
//! start, answer and cancel on a running server.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{json, Value};
use watchfloor_respond::Library;

use crate::client::ServerArgs;

#[derive(Subcommand)]
pub enum PlaybookCommand {
    /// Load playbook files and report every problem of each, with its step.
    Validate {
        /// Playbook files or directories (their .yml/.yaml files).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// The playbooks a running server has loaded, and the files it refused.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// What a run would do, step by step, without doing anything.
    DryRun {
        playbook: String,
        /// The incident the run would work on.
        #[arg(long)]
        incident: Option<i64>,
        /// A parameter, NAME=VALUE (repeatable; VALUE read as YAML).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Start a run by hand.
    Run {
        playbook: String,
        #[arg(long)]
        incident: Option<i64>,
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Approve (or with --deny, deny) a run's open approval.
    Answer {
        run: i64,
        #[arg(long)]
        deny: bool,
        #[arg(long, default_value = "")]
        comment: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Stop a run; with --compensate, undo what it did first.
    Cancel {
        run: i64,
        #[arg(long)]
        compensate: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(cmd: PlaybookCommand) -> anyhow::Result<u8> {
    match cmd {
        PlaybookCommand::Validate { paths } => return validate(&paths),
        PlaybookCommand::List { server } => list(&server)?,
        PlaybookCommand::DryRun {
            playbook,
            incident,
            params,
            server,
        } => {
            let path = format!("/api/v1/playbooks/{playbook}/dry-run");
            print_dry_run(&post(&server, &path, &run_body(incident, &params)?)?);
        }
        PlaybookCommand::Run {
            playbook,
            incident,
            params,
            server,
        } => {
            let path = format!("/api/v1/playbooks/{playbook}/runs");
            print_run(&post(&server, &path, &run_body(incident, &params)?)?);
        }
        PlaybookCommand::Answer {
            run,
            deny,
            comment,
            server,
        } => {
            let decision = if deny { "deny" } else { "approve" };
            let body = json!({"decision": decision, "comment": comment});
            print_run(&post(
                &server,
                &format!("/api/v1/runs/{run}/answer"),
                &body,
            )?);
        }
        PlaybookCommand::Cancel {
            run,
            compensate,
            server,
        } => {
            let body = json!({ "compensate": compensate });
            print_run(&post(
                &server,
                &format!("/api/v1/runs/{run}/cancel"),
                &body,
            )?);
        }
    }
    Ok(0)
}

fn post(server: &ServerArgs, path: &str, body: &Value) -> anyhow::Result<Value> {
    server
        .connect()?
        .send_json(reqwest::Method::POST, path, body)
}

/// `run ID STATUS`, from a run as the API answers it.
fn print_run(run: &Value) {
    println!(
        "run {} {}",
        run["id"],
        run["status"].as_str().unwrap_or_default()
    );
}

fn list(server: &ServerArgs) -> anyhow::Result<()> {
    let answer = server.connect()?.get("/api/v1/playbooks", &[])?;
    for p in answer["playbooks"].as_array().into_iter().flatten() {
        println!(
            "{}\t{}\t{}",
            p["id"].as_str().unwrap_or_default(),
            p["steps"],
            p["title"].as_str().unwrap_or_default()
        );
    }
    print_rejected(&answer["rejected"]);
    Ok(())
}

/// A step a line: its kind, its id, and what it would do.
fn print_dry_run(answer: &Value) {
    for step in answer["steps"].as_array().into_iter().flatten() {
        let would: Vec<&str> = step["would"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "{:<9} {:<20} {}",
            step["kind"].as_str().unwrap_or_default(),
            step["step"].as_str().unwrap_or_default(),
            would.join("\n                               ")
        );
    }
}

fn run_body(incident: Option<i64>, params: &[String]) -> anyhow::Result<Value> {
    let mut map = serde_json::Map::new();
    for p in params {
        let (name, value) = p
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--param {p:?}: expected NAME=VALUE"))?;
        let typed = serde_yaml::from_str::<Value>(value).unwrap_or(Value::String(value.into()));
        map.insert(name.to_string(), typed);
    }
    Ok(json!({"incident_id": incident, "params": map}))
}

fn print_rejected(rejected: &Value) {
    for r in rejected.as_array().into_iter().flatten() {
        let source = r["source"].as_str().unwrap_or_default();
        for p in r["problems"].as_array().into_iter().flatten() {
            println!("{source}: {}", p.as_str().unwrap_or_default());
        }
    }
}

/// Every file of the paths, each checked alone: a problem names its file
/// and step; the exit status is 1 when any file is refused.
fn validate(paths: &[PathBuf]) -> anyhow::Result<u8> {
    let mut files = Vec::new();
    for path in paths {
        anyhow::ensure!(
            path.exists(),
            "{}: no such file or directory",
            path.display()
        );
        if path.is_dir() {
            files.extend(playbook_files(path)?);
        } else {
            files.push(path.clone());
        }
    }
    let mut library = Library::default();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        library.add(file.display().to_string(), &text);
    }
    for r in &library.rejected {
        for p in &r.problems {
            println!("{}: {p}", r.source);
        }
    }
    println!(
        "{} files: {} playbooks load; {} refused",
        files.len(),
        library.playbooks.len(),
        library.rejected.len()
    );
    Ok(u8::from(!library.rejected.is_empty()))
}

fn playbook_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}
