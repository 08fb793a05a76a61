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
    /// Instead of events: the most frequent values of this field with counts.
    #[arg(long, value_name = "FIELD")]
    pub count_by: Option<String>,
    /// How many values --count-by lists.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub top: u16,
    /// Instead of events: counts per time bucket of this width (30s, 1m, 1h, 1d).
    #[arg(long, value_name = "WIDTH")]
    pub histogram: Option<String>,
    /// Instead of events: the number of distinct values of this field.
    #[arg(long, value_name = "FIELD")]
    pub distinct: Option<String>,
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
    if args.count_by.is_some() || args.histogram.is_some() || args.distinct.is_some() {
        return aggregate(&client, &args);
    }
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

/// `--count-by`, `--histogram`, `--distinct`: one aggregation request.
fn aggregate(client: &crate::client::Client, args: &SearchArgs) -> anyhow::Result<u8> {
    let mut query = vec![("q", args.query.clone()), ("top", args.top.to_string())];
    let optional = [
        ("from", &args.from),
        ("to", &args.to),
        ("count_by", &args.count_by),
        ("histogram", &args.histogram),
        ("distinct", &args.distinct),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            query.push((name, v.clone()));
        }
    }
    let a = client.get("/api/v1/events/aggregate", &query)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if matches!(args.format, SearchFormat::Json) {
        writeln!(out, "{a}")?;
        return Ok(0);
    }
    for line in aggregation_table(&a) {
        writeln!(out, "{line}")?;
    }
    if a["complete"].as_bool() == Some(false) {
        eprintln!("note: counting stopped at the server's limit; narrow the time range");
    }
    Ok(0)
}

/// The aggregation as aligned text: histogram rows with a bar, then the
/// top values with their share, then the distinct count.
fn aggregation_table(a: &serde_json::Value) -> Vec<String> {
    let mut lines = Vec::new();
    let matched = a["matched"].as_u64().unwrap_or(0);
    if let Some(buckets) = a["histogram"].as_array() {
        let peak = buckets
            .iter()
            .filter_map(|b| b["count"].as_u64())
            .max()
            .unwrap_or(0)
            .max(1);
        for b in buckets {
            let count = b["count"].as_u64().unwrap_or(0);
            let start = b["start_ns"]
                .as_i64()
                .map(|t| {
                    chrono::DateTime::from_timestamp_nanos(t)
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string()
                })
                .unwrap_or_default();
            let bar = "#".repeat((count * 50).div_ceil(peak) as usize);
            lines.push(format!("{start}  {count:>10}  {bar}"));
        }
    }
    if let Some(top) = a.get("top").filter(|t| t.is_object()) {
        let width = top["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["value"].as_str())
            .map(|v| v.chars().count().min(60))
            .max()
            .unwrap_or(5)
            .max(5);
        lines.push(format!(
            "{:<width$}  {:>10}  share",
            top["field"].as_str().unwrap_or("value"),
            "count"
        ));
        for v in top["values"].as_array().into_iter().flatten() {
            let count = v["count"].as_u64().unwrap_or(0);
            let value: String = v["value"].as_str().unwrap_or("").chars().take(60).collect();
            let share = 100.0 * count as f64 / matched.max(1) as f64;
            lines.push(format!("{value:<width$}  {count:>10}  {share:5.1}%"));
        }
        for (what, key) in [("(other values)", "other"), ("(no such field)", "missing")] {
            let n = top[key].as_u64().unwrap_or(0);
            if n > 0 {
                lines.push(format!("{what:<width$}  {n:>10}"));
            }
        }
    }
    if let Some(d) = a.get("distinct").filter(|d| d.is_object()) {
        let floor = if d["exact"].as_bool() == Some(false) {
            "at least "
        } else {
            ""
        };
        lines.push(format!(
            "distinct {}: {floor}{}",
            d["field"].as_str().unwrap_or(""),
            d["count"].as_u64().unwrap_or(0)
        ));
    }
    lines.push(format!("{matched} matching events"));
    lines
}
