//! `watchfloor report availability`: uptime, outages, MTTR and MTBF per
//! check from a running server, as a table, JSON or CSV.

use clap::{Subcommand, ValueEnum};

use crate::client::ServerArgs;

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Availability per check over a period.
    Availability {
        /// Start: RFC 3339, epoch seconds or now-30d (30 days ago by default).
        #[arg(long)]
        from: Option<String>,
        /// End (now by default).
        #[arg(long)]
        to: Option<String>,
        /// One check only.
        #[arg(long)]
        check: Option<String>,
        /// check, node, service or business (business services of the topology).
        #[arg(long, default_value = "check")]
        by: String,
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
}

fn figure(v: &serde_json::Value) -> String {
    v.as_f64().map_or_else(|| "-".into(), |f| format!("{f:.0}"))
}

fn uptime(v: &serde_json::Value) -> String {
    v.as_f64()
        .map_or_else(|| "no data".into(), |f| format!("{f:.4}%"))
}

pub fn run(cmd: ReportCommand) -> anyhow::Result<u8> {
    let ReportCommand::Availability {
        from,
        to,
        check,
        by,
        format,
        server,
    } = cmd;
    let client = server.connect()?;
    let mut query = Vec::new();
    for (k, v) in [
        ("from", from),
        ("to", to),
        ("check", check),
        ("by", Some(by)),
    ] {
        if let Some(v) = v {
            query.push((k, v));
        }
    }
    let report = client.get("/api/v1/availability", &query)?;
    let rows = report["rows"].as_array().cloned().unwrap_or_default();
    let key = match report["by"].as_str() {
        Some("business") => "business_service",
        Some(other) => other,
        None => "check",
    }
    .to_string();
    let name = |r: &serde_json::Value| r[key.as_str()].as_str().unwrap_or("").to_string();
    match format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ReportFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record([
                "check",
                "uptime_percent",
                "down_secs",
                "maintenance_secs",
                "outages",
                "mttr_secs",
                "mtbf_secs",
            ])?;
            for r in &rows {
                w.write_record([
                    name(r).as_str(),
                    &r["uptime_percent"]
                        .as_f64()
                        .map_or(String::new(), |f| format!("{f:.4}")),
                    &figure(&r["down_secs"]),
                    &figure(&r["maintenance_secs"]),
                    &r["outages"].as_array().map_or(0, Vec::len).to_string(),
                    &r["mttr_secs"]
                        .as_f64()
                        .map_or(String::new(), |f| format!("{f:.0}")),
                    &r["mtbf_secs"]
                        .as_f64()
                        .map_or(String::new(), |f| format!("{f:.0}")),
                ])?;
            }
            w.flush()?;
        }
        ReportFormat::Table => {
            println!(
                "availability from {} to {}",
                report["from"].as_str().unwrap_or("?"),
                report["to"].as_str().unwrap_or("?")
            );
            println!(
                "{:<28} {:>10} {:>8} {:>9} {:>9} {:>10}",
                key, "uptime", "outages", "down s", "MTTR s", "MTBF s"
            );
            for r in &rows {
                println!(
                    "{:<28} {:>10} {:>8} {:>9} {:>9} {:>10}",
                    name(r),
                    uptime(&r["uptime_percent"]),
                    r["outages"].as_array().map_or(0, Vec::len),
                    figure(&r["down_secs"]),
                    figure(&r["mttr_secs"]),
                    figure(&r["mtbf_secs"]),
                );
                for o in r["outages"].as_array().into_iter().flatten() {
                    println!(
                        "    outage {} .. {}  {}",
                        o["start"].as_str().unwrap_or(""),
                        o["end"].as_str().unwrap_or("ongoing"),
                        o["cause"].as_str().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(0)
}
