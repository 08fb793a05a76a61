//! `watchfloor intel`: import, list, explain and expire the threat
//! indicators of a running server.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use crate::client::{Client, ServerArgs};

#[derive(Subcommand)]
pub enum IntelCommand {
    /// Import indicators from files: STIX 2.1 bundles, lists with one value
    /// a line (kinds guessed), or CSV with a column map. Re-imports merge.
    Import {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "auto")]
        format: ImportFormat,
        /// The feed's name (the file's name by default).
        #[arg(long)]
        source: Option<String>,
        /// Lists: every value's kind (ip, domain, url, md5, sha1, sha256, email).
        #[arg(long)]
        kind: Option<String>,
        /// Lists: 0 to 100.
        #[arg(long)]
        confidence: Option<u8>,
        /// Lists: clear, green, amber, amber-strict or red.
        #[arg(long)]
        tlp: Option<String>,
        /// Lists: labels for every value, comma-separated.
        #[arg(long)]
        labels: Option<String>,
        /// Lists: stop matching this many days from now.
        #[arg(long)]
        valid_days: Option<u32>,
        /// CSV: the column (from 0) holding the value.
        #[arg(long)]
        value_column: Option<usize>,
        /// CSV: the column naming each value's kind.
        #[arg(long)]
        kind_column: Option<usize>,
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the indicators the tenant sees (its own and the shared ones).
    List {
        /// Only this kind.
        #[arg(long)]
        kind: Option<String>,
        /// Text the value, source or a label contains.
        #[arg(long, short)]
        query: Option<String>,
        /// Only those that match now.
        #[arg(long)]
        live: bool,
        #[arg(long, default_value = "50")]
        limit: usize,
        #[arg(long, default_value = "0")]
        offset: usize,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// What the indicators say about a value: hit, warned (with the
    /// warninglist), expired or miss. Exits 1 on a hit.
    Match {
        value: String,
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Write a blocklist of the indicators that match now (warninglisted
    /// values left out): one value a line, a DNS RPZ zone, an nftables
    /// script, or a STIX 2.1 bundle.
    Export {
        #[arg(long, value_enum, default_value = "text")]
        format: ExportFormat,
        /// Only these kinds, comma-separated (ip, domain, url, md5, sha1, sha256, email).
        #[arg(long)]
        kind: Option<String>,
        /// The most restricted TLP written (amber by default).
        #[arg(long)]
        max_tlp: Option<String>,
        /// rpz: the zone's origin.
        #[arg(long)]
        zone: Option<String>,
        /// nftables: the table, "FAMILY NAME".
        #[arg(long)]
        table: Option<String>,
        /// nftables: the sets' name prefix ({set}_v4, {set}_v6).
        #[arg(long)]
        set: Option<String>,
        /// Write here (atomically: a temporary file renamed) instead of
        /// standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// The feeds of `[[intel.feeds]]` (TAXII, MISP, URLs) with their last
    /// pull; `--pull NAME` pulls one now.
    Feeds {
        #[arg(long, value_name = "NAME")]
        pull: Option<String>,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// The retro-hunts imports started: new indicators looked for in the
    /// stored events of the past days.
    Hunts {
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Expire an indicator now: it stays listed and matches nothing.
    Expire {
        value: String,
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Args)]
pub struct ScopeArgs {
    /// The shared indicators every tenant matches (provider admins).
    #[arg(long)]
    shared: bool,
}

impl ScopeArgs {
    fn param(&self) -> (&'static str, String) {
        let scope = if self.shared { "shared" } else { "tenant" };
        ("scope", scope.to_string())
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ImportFormat {
    Auto,
    Stix,
    Text,
    Csv,
}

impl ImportFormat {
    fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Auto => "auto",
            ImportFormat::Stix => "stix",
            ImportFormat::Text => "text",
            ImportFormat::Csv => "csv",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Text,
    Rpz,
    Nftables,
    Stix,
}

impl ExportFormat {
    fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Text => "text",
            ExportFormat::Rpz => "rpz",
            ExportFormat::Nftables => "nftables",
            ExportFormat::Stix => "stix",
        }
    }
}

/// `(name, value)` for each option given.
fn given<const N: usize>(
    options: [(&'static str, Option<String>); N],
) -> Vec<(&'static str, String)> {
    options
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

pub fn run(cmd: IntelCommand) -> anyhow::Result<u8> {
    match cmd {
        IntelCommand::Import {
            files,
            format,
            source,
            kind,
            confidence,
            tlp,
            labels,
            valid_days,
            value_column,
            kind_column,
            scope,
            server,
        } => {
            let client = server.connect()?;
            let mut query = given([
                ("kind", kind),
                ("confidence", confidence.map(|c| c.to_string())),
                ("tlp", tlp),
                ("labels", labels),
                ("valid_days", valid_days.map(|d| d.to_string())),
                ("value_column", value_column.map(|c| c.to_string())),
                ("kind_column", kind_column.map(|c| c.to_string())),
            ]);
            query.push(("format", format.as_str().to_string()));
            query.push(scope.param());
            let mut refused = 0;
            for file in &files {
                refused += import_file(&client, file, source.as_deref(), &query)?;
            }
            Ok(u8::from(refused > 0))
        }
        IntelCommand::List {
            kind,
            query,
            live,
            limit,
            offset,
            json,
            server,
        } => {
            let mut params = given([("kind", kind), ("q", query)]);
            params.push(("limit", limit.to_string()));
            params.push(("offset", offset.to_string()));
            if live {
                params.push(("live", "true".into()));
            }
            let page = server.connect()?.get("/api/v1/intel/indicators", &params)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&page)?);
            } else {
                print_indicators(&page);
            }
            Ok(0)
        }
        IntelCommand::Match {
            value,
            kind,
            server,
        } => {
            let mut params = given([("kind", kind)]);
            params.push(("value", value));
            let ex = server.connect()?.get("/api/v1/intel/match", &params)?;
            print_explanation(&ex);
            Ok(u8::from(ex["outcome"] == "hit"))
        }
        IntelCommand::Export {
            format,
            kind,
            max_tlp,
            zone,
            table,
            set,
            output,
            server,
        } => {
            let mut params = given([
                ("kind", kind),
                ("max_tlp", max_tlp),
                ("zone", zone),
                ("table", table),
                ("set", set),
            ]);
            params.push(("format", format.as_str().to_string()));
            let text = server
                .connect()?
                .get_text("/api/v1/intel/export", &params)?;
            match output {
                Some(path) => write_atomically(&path, text.as_bytes())?,
                None => print!("{text}"),
            }
            Ok(0)
        }
        IntelCommand::Feeds { pull, json, server } => {
            let client = server.connect()?;
            if let Some(name) = pull {
                let path = format!("/api/v1/intel/feeds/{name}/pull");
                client.post(&path, &[], Vec::new(), false)?;
                println!("pulling {name}");
                return Ok(0);
            }
            let feeds = client.get("/api/v1/intel/feeds", &[])?;
            if json {
                println!("{}", serde_json::to_string_pretty(&feeds)?);
            } else {
                print_feeds(&feeds);
            }
            Ok(0)
        }
        IntelCommand::Hunts { json, server } => {
            let hunts = server.connect()?.get("/api/v1/intel/hunts", &[])?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hunts)?);
            } else {
                print_hunts(&hunts);
            }
            Ok(0)
        }
        IntelCommand::Expire {
            value,
            kind,
            scope,
            server,
        } => {
            let mut params = given([("kind", kind)]);
            params.push(("value", value.clone()));
            params.push(scope.param());
            server
                .connect()?
                .delete("/api/v1/intel/indicators", &params)?;
            println!("expired {value}");
            Ok(0)
        }
    }
}

/// Sends one file; prints what it gave and returns how many were refused.
fn import_file(
    client: &Client,
    file: &std::path::Path,
    source: Option<&str>,
    query: &[(&str, String)],
) -> anyhow::Result<u64> {
    let body = std::fs::read(file).with_context(|| format!("{}", file.display()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let mut query = query.to_vec();
    query.push(("source", source.map_or(name, String::from)));
    let report = client
        .post("/api/v1/intel/indicators", &query, body, false)
        .with_context(|| format!("{}", file.display()))?;
    println!(
        "{}: {} added, {} merged, {} refused",
        file.display(),
        report["added"],
        report["merged"],
        report["refused"]
    );
    for problem in report["problems"].as_array().into_iter().flatten() {
        eprintln!("  {}", problem.as_str().unwrap_or_default());
    }
    Ok(report["refused"].as_u64().unwrap_or(0))
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`: a firewall or resolver reloading the file never reads half.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("{}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}", path.display()))
}

fn print_feeds(feeds: &Value) {
    println!(
        "{:<20} {:<6} {:<10} {:<8} {:<28} {:>8} {:>8} {:>8}",
        "NAME", "TYPE", "SCOPE", "STATE", "LAST SUCCESS", "REQUESTS", "ADDED", "MERGED"
    );
    for f in feeds["feeds"].as_array().into_iter().flatten() {
        println!(
            "{:<20} {:<6} {:<10} {:<8} {:<28} {:>8} {:>8} {:>8}",
            text(&f["name"]),
            text(&f["type"]),
            text(&f["scope"]),
            text(&f["state"]),
            text(&f["last_success"]),
            text(&f["pulled"]["requests"]),
            text(&f["added"]),
            text(&f["merged"]),
        );
        if let Some(error) = f["error"].as_str() {
            println!("     error: {error}");
        }
    }
}

fn print_hunts(hunts: &Value) {
    println!(
        "{:>4} {:<8} {:<10} {:<24} {:>10} {:>10} {:>10} {:>7} {:>7}",
        "ID", "STATE", "SCOPE", "SOURCE", "INDICATORS", "EVENTS", "PARSED", "MATCHES", "ALERTS"
    );
    for h in hunts["hunts"].as_array().into_iter().flatten() {
        let r = &h["report"];
        println!(
            "{:>4} {:<8} {:<10} {:<24} {:>10} {:>10} {:>10} {:>7} {:>7}",
            text(&h["id"]),
            text(&h["state"]),
            text(&h["scope"]),
            text(&h["source"]),
            text(&r["indicators"]),
            text(&r["events"]),
            text(&r["parsed"]),
            text(&r["matches"]),
            text(&r["alerts"]),
        );
        if let Some(error) = h["error"].as_str() {
            println!("     error: {error}");
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn print_indicators(page: &Value) {
    println!(
        "{:<8} {:<40} {:<7} {:>5} {:>5} {:<12} {:<20} LABELS",
        "KIND", "VALUE", "SCOPE", "CONF", "SCORE", "TLP", "SOURCE"
    );
    for ind in page["indicators"].as_array().into_iter().flatten() {
        let labels: Vec<String> = ind["labels"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        println!(
            "{:<8} {:<40} {:<7} {:>5} {:>5} {:<12} {:<20} {}",
            text(&ind["kind"]),
            text(&ind["value"]),
            text(&ind["scope"]),
            text(&ind["confidence"]),
            text(&ind["score"]),
            text(&ind["tlp"]),
            text(&ind["source"]),
            labels.join(",")
        );
    }
    let shown = page["indicators"].as_array().map_or(0, Vec::len);
    println!(
        "({shown} of {} from offset {})",
        text(&page["total"]),
        text(&page["offset"])
    );
}

fn print_explanation(ex: &Value) {
    let what = format!("{} {}", text(&ex["kind"]), text(&ex["value"]));
    let ind = &ex["indicator"];
    match ex["outcome"].as_str() {
        Some("hit") => println!(
            "{what}: HIT {} from {} (scope {}, confidence {}, score {}, TLP {})",
            text(&ind["value"]),
            text(&ind["source"]),
            text(&ind["scope"]),
            text(&ind["confidence"]),
            text(&ind["score"]),
            text(&ind["tlp"])
        ),
        Some("warned") => println!(
            "{what}: held by {} from {}, but on the warninglist \"{}\": no alert",
            text(&ind["value"]),
            text(&ind["source"]),
            text(&ex["warninglist"])
        ),
        Some("expired") => println!(
            "{what}: held by {} from {}, but expired or decayed (score {}, valid until {})",
            text(&ind["value"]),
            text(&ind["source"]),
            text(&ind["score"]),
            text(&ind["valid_until"])
        ),
        _ => println!("{what}: no indicator"),
    }
}
