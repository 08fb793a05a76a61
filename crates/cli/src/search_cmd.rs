//! `watchfloor search QUERY`: the search API from the command line.

use std::io::Write;

use clap::{Args, ValueEnum};

use crate::client::ServerArgs;

#[derive(Args)]
pub struct SearchArgs {
    /// Query, e.g. 'host:web1 AND "failed password"' (empty: everything).
    #[arg(default_value = "")]
    pub query: String,
    /// Start of the time range: RFC 3339, epoch seconds or now-15m.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the time range (exclusive).
    #[arg(long)]
    pub to: Option<String>,
    /// Most events to print.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[arg(long, value_enum, default_value = "table")]
    pub format: SearchFormat,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SearchFormat {
    /// One line per event: time, host, source, message.
    Table,
    /// One JSON object per line, as the API returns them.
    Json,
}

const PAGE: usize = 1000;

pub fn run(args: SearchArgs) -> anyhow::Result<u8> {
    let client = args.server.connect()?;
    let mut cursor: Option<String> = None;
    let mut printed = 0usize;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    while printed < args.limit {
        let mut query = vec![
            ("q", args.query.clone()),
            ("limit", (args.limit - printed).min(PAGE).to_string()),
        ];
        if let Some(f) = &args.from {
            query.push(("from", f.clone()));
        }
        if let Some(t) = &args.to {
            query.push(("to", t.clone()));
        }
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let page = client.get("/api/v1/events", &query)?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        for e in &events {
            match args.format {
                SearchFormat::Json => writeln!(out, "{e}")?,
                SearchFormat::Table => writeln!(out, "{}", table_line(e))?,
            }
        }
        printed += events.len();
        match page["next"].as_str() {
            Some(next) if !events.is_empty() => cursor = Some(next.to_string()),
            _ => break,
        }
    }
    if printed == 0 {
        eprintln!("no events match");
    }
    Ok(0)
}

fn table_line(e: &serde_json::Value) -> String {
    let time = e["time_ns"]
        .as_i64()
        .map(|t| {
            chrono::DateTime::from_timestamp_nanos(t)
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        })
        .unwrap_or_default();
    let host = e["host"].as_str().unwrap_or("-");
    let source = e["source"].as_str().unwrap_or("-");
    let fields = &e["fields"];
    let message = fields["message"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| fields.to_string());
    let mut message: String = message
        .chars()
        .filter(|c| !c.is_control())
        .take(160)
        .collect();
    if e["truncated"].as_bool() == Some(true) {
        message.push_str(" [truncated]");
    }
    format!("{time}  {host:<16} {source:<12} {message}")
}
