//! `watchfloor incident ...`: the incident queue of a running server.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};
use watchfloor_model::format_rfc3339;

use crate::client::{Client, ServerArgs};

#[derive(Subcommand)]
pub enum IncidentCommand {
    /// List incidents, most recently changed first.
    List {
        /// Only these statuses (comma-separated: new,acknowledged,in_progress,on_hold,resolved,closed).
        #[arg(long)]
        status: Option<String>,
        /// Only incidents not resolved or closed.
        #[arg(long)]
        open: bool,
        /// Only this incident type (ddos, phishing, outage, ...).
        #[arg(long = "type")]
        kind: Option<String>,
        /// Only priority N or more urgent (1 is the most urgent).
        #[arg(long)]
        priority: Option<u8>,
        #[arg(long)]
        assignee: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the JSON the server sent.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show one incident: alerts, tasks, clocks and its latest timeline entries.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Acknowledge an incident.
    Ack {
        id: i64,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Assign an incident to a person (and optionally a team).
    Assign {
        id: i64,
        assignee: String,
        #[arg(long)]
        team: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Resolve an incident, with an optional closing comment.
    Resolve {
        id: i64,
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Add a comment.
    Comment {
        id: i64,
        text: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Check the hash chain of an incident's timeline (exit 1 if broken).
    Verify {
        id: i64,
        #[command(flatten)]
        server: ServerArgs,
    },
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn time(v: &Value) -> String {
    v.as_i64().map_or_else(|| "-".into(), format_rfc3339)
}

fn print_list(list: &[Value]) {
    println!(
        "{:>6}  {:<2} {:<12} {:<14} {:<11} {:<14} {:>6}  title",
        "id", "P", "status", "type", "domain", "assignee", "alerts"
    );
    for i in list {
        let alerts: u64 = i["alerts"]
            .as_array()
            .map_or(0, |a| a.iter().filter_map(|x| x["count"].as_u64()).sum());
        println!(
            "{:>6}  {:<2} {:<12} {:<14} {:<11} {:<14} {:>6}  {}",
            text(&i["id"]),
            text(&i["priority"]),
            text(&i["status"]),
            text(&i["type"]),
            text(&i["domain"]),
            text(&i["assignee"]),
            alerts,
            text(&i["title"])
        );
    }
}

fn print_incident(i: &Value, timeline: &[Value]) {
    println!("#{} {}", text(&i["id"]), text(&i["title"]));
    println!(
        "  priority {} (impact {}, urgency {}), severity {}, {} / {}, phase {}",
        text(&i["priority"]),
        text(&i["impact"]),
        text(&i["urgency"]),
        text(&i["severity"]),
        text(&i["type"]),
        text(&i["domain"]),
        text(&i["phase"])
    );
    println!(
        "  status {}, assignee {}, team {}, opened {}, version {}",
        text(&i["status"]),
        text(&i["assignee"]),
        text(&i["team"]),
        time(&i["created_ns"]),
        text(&i["version"])
    );
    println!(
        "  SLA: acknowledge by {}, resolve by {}",
        time(&i["sla"]["ack_due_ns"]),
        time(&i["sla"]["resolve_due_ns"])
    );
    println!("alerts:");
    for a in i["alerts"].as_array().into_iter().flatten() {
        println!(
            "  {:>6} x{:<5} {:<8} {}",
            text(&a["alert_id"]),
            text(&a["count"]),
            text(&a["level"]),
            text(&a["rule"])
        );
    }
    println!("tasks:");
    for t in i["tasks"].as_array().into_iter().flatten() {
        println!(
            "  {:>3} [{}] {:<10} {}",
            text(&t["id"]),
            text(&t["status"]),
            text(&t["team"]),
            text(&t["title"])
        );
    }
    let deadlines = i["compliance"]["deadlines"].as_array();
    if deadlines.is_some_and(|d| !d.is_empty()) {
        println!("regulatory deadlines:");
        for d in deadlines.into_iter().flatten() {
            println!(
                "  {:<5} {:<22} due {:<28} {}",
                text(&d["regime"]),
                text(&d["report"]),
                time(&d["due_ns"]),
                text(&d["state"])
            );
        }
    }
    println!("timeline (latest {}):", timeline.len());
    for e in timeline {
        println!(
            "  {:>4} {} {:<12} {}",
            text(&e["seq"]),
            time(&e["time_ns"]),
            text(&e["actor"]),
            text(&e["action"])
        );
    }
}

/// Reads the incident's version and applies a change based on it.
fn patch(client: &Client, id: i64, mut change: Value) -> anyhow::Result<Value> {
    let current = client.get(&format!("/api/v1/incidents/{id}"), &[])?;
    change["version"] = current["version"].clone();
    client.send_json(Method::PATCH, &format!("/api/v1/incidents/{id}"), &change)
}

fn say(i: &Value) {
    println!(
        "#{} is {} (assignee {}, version {})",
        text(&i["id"]),
        text(&i["status"]),
        text(&i["assignee"]),
        text(&i["version"])
    );
}

pub fn run(cmd: IncidentCommand) -> anyhow::Result<u8> {
    match cmd {
        IncidentCommand::List {
            status,
            open,
            kind,
            priority,
            assignee,
            limit,
            json,
            server,
        } => {
            let mut q = vec![("limit", limit.to_string())];
            let optional = [
                ("status", status),
                ("type", kind),
                ("priority", priority.map(|p| p.to_string())),
                ("assignee", assignee),
                ("open", open.then(|| "true".to_string())),
            ];
            q.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            let body = server.connect()?.get("/api/v1/incidents", &q)?;
            if json {
                println!("{body:#}");
            } else {
                print_list(body["incidents"].as_array().map_or(&[], |v| v));
            }
        }
        IncidentCommand::Show { id, json, server } => {
            let client = server.connect()?;
            let incident = client.get(&format!("/api/v1/incidents/{id}"), &[])?;
            if json {
                println!("{incident:#}");
                return Ok(0);
            }
            let t = client.get(&format!("/api/v1/incidents/{id}/timeline"), &[])?;
            let all = t["timeline"].as_array().map_or(&[][..], |v| v);
            print_incident(&incident, &all[all.len().saturating_sub(15)..]);
        }
        IncidentCommand::Ack { id, server } => {
            say(&patch(
                &server.connect()?,
                id,
                json!({"status": "acknowledged"}),
            )?);
        }
        IncidentCommand::Assign {
            id,
            assignee,
            team,
            server,
        } => {
            let mut change = json!({ "assignee": assignee });
            if let Some(t) = team {
                change["team"] = json!(t);
            }
            say(&patch(&server.connect()?, id, change)?);
        }
        IncidentCommand::Resolve {
            id,
            comment,
            server,
        } => {
            let client = server.connect()?;
            if let Some(c) = comment {
                client.send_json(
                    Method::POST,
                    &format!("/api/v1/incidents/{id}/comments"),
                    &json!({ "text": c }),
                )?;
            }
            say(&patch(&client, id, json!({"status": "resolved"}))?);
        }
        IncidentCommand::Comment { id, text, server } => {
            server.connect()?.send_json(
                Method::POST,
                &format!("/api/v1/incidents/{id}/comments"),
                &json!({ "text": text }),
            )?;
            println!("comment added to #{id}");
        }
        IncidentCommand::Verify { id, server } => {
            let v = server
                .connect()?
                .get(&format!("/api/v1/incidents/{id}/timeline/verify"), &[])?;
            if v["valid"] == json!(true) {
                println!("#{id}: timeline intact ({} entries)", text(&v["entries"]));
            } else {
                println!(
                    "#{id}: timeline BROKEN at entry {}: {}",
                    text(&v["broken_at"]),
                    text(&v["reason"])
                );
                return Ok(1);
            }
        }
    }
    Ok(0)
}
