//! Connectors: what a step's `action` names. Each takes its rendered
//! inputs and an idempotency key, acts on a real system and returns what it
//! did (the step's output), or an error in words. Connectors that reach into
//! the incident room (tasks, comments, notices through the outbox) go
//! through [`Host`], which the server implements.

mod command;
mod dns;
mod http;
mod ldap;
mod nftables;
mod route;
mod search;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::config::RespondConfig;

/// One call of an action.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub tenant: &'a str,
    pub incident_id: Option<i64>,
    pub run_id: i64,
    /// The same for every attempt and every restart of this element of
    /// this step of this run.
    pub key: &'a str,
}

/// What the incident room does for the connectors (the server wires it).
/// Each call with a key already used returns what the first did.
pub trait Host: Send + Sync {
    /// A task for a team on the run's incident.
    fn add_task(
        &self,
        call: &Call<'_>,
        title: &str,
        team: &str,
        assignee: Option<&str>,
    ) -> Result<Value, String>;
    /// A comment on the run's incident.
    fn comment(&self, call: &Call<'_>, text: &str) -> Result<Value, String>;
    /// Notices through the outbox (email, Slack/Mattermost, webhooks) to
    /// `user:NAME`, `team:NAME` (its on-call person) or `channel:NAME`.
    fn notify(
        &self,
        call: &Call<'_>,
        to: &[String],
        subject: &str,
        body: &str,
    ) -> Result<Value, String>;
    /// An e-mail to addresses outside Watchfloor's users (a person whose
    /// password is reset), through the outbox, once per key and address.
    fn email(
        &self,
        _call: &Call<'_>,
        _to: &[String],
        _subject: &str,
        _body: &str,
    ) -> Result<Value, String> {
        Err("e-mail is not available here".into())
    }
    /// The tenant's stored events matching a query (search syntax), newest
    /// first, from `from_ns` on, at most `limit`; each event's fields.
    fn search(
        &self,
        _call: &Call<'_>,
        _query: &str,
        _from_ns: i64,
        _limit: usize,
    ) -> Result<Vec<serde_json::Map<String, Value>>, String> {
        Err("searching events is not available here".into())
    }
    /// Adds indicators to the tenant's blocklist (the intel room's scope:
    /// its exports, RPZ and nftables feeds, then carry them).
    fn block_indicators(
        &self,
        _call: &Call<'_>,
        _kind: &str,
        _values: &[String],
        _valid_for_secs: Option<u64>,
    ) -> Result<Value, String> {
        Err("the blocklist is not available here".into())
    }
}

/// An action's inputs: which it needs, which it may take.
struct Spec {
    name: &'static str,
    required: &'static [&'static str],
    optional: &'static [&'static str],
}

const SPECS: &[Spec] = &[
    Spec {
        name: "http.request",
        required: &["url"],
        optional: &[
            "method",
            "headers",
            "body",
            "auth_secret",
            "auth_scheme",
            "expect",
        ],
    },
    Spec {
        name: "notify.send",
        required: &["to", "subject"],
        optional: &["body"],
    },
    Spec {
        name: "nftables.add",
        required: &["set", "addresses"],
        optional: &["family", "table", "set6", "timeout", "netns"],
    },
    Spec {
        name: "nftables.remove",
        required: &["set", "addresses"],
        optional: &["family", "table", "set6", "netns"],
    },
    Spec {
        name: "route.replace",
        required: &["destination", "via"],
        optional: &["dev", "metric", "table", "netns"],
    },
    Spec {
        name: "command.run",
        required: &["command"],
        optional: &["args", "stdin"],
    },
    Spec {
        name: "events.search",
        required: &["query"],
        optional: &["since", "limit", "collect"],
    },
    Spec {
        name: "intel.block",
        required: &["kind", "values"],
        optional: &["valid_for"],
    },
    Spec {
        name: "email.send",
        required: &["to", "subject"],
        optional: &["body"],
    },
    Spec {
        name: "dns.block",
        required: &["domains"],
        optional: &["file", "format"],
    },
    Spec {
        name: "dns.unblock",
        required: &["domains"],
        optional: &["file", "format"],
    },
    Spec {
        name: "ldap.account",
        required: &["user", "operation"],
        optional: &[],
    },
    Spec {
        name: "incident.task",
        required: &["title", "team"],
        optional: &["assignee"],
    },
    Spec {
        name: "incident.comment",
        required: &["text"],
        optional: &[],
    },
];

/// The action names, for messages and the API.
pub fn names() -> Vec<&'static str> {
    SPECS.iter().map(|s| s.name).collect()
}

/// What is wrong with a step's action and inputs, before any run.
pub fn input_problems(name: &str, inputs: &BTreeMap<String, Value>) -> Vec<String> {
    let Some(spec) = SPECS.iter().find(|s| s.name == name) else {
        return vec![format!(
            "action {name:?} is unknown (known: {})",
            names().join(", ")
        )];
    };
    let mut problems = Vec::new();
    for key in spec.required {
        if !inputs.contains_key(*key) {
            problems.push(format!("{name} needs `with.{key}`"));
        }
    }
    for key in inputs.keys() {
        if !spec.required.contains(&key.as_str()) && !spec.optional.contains(&key.as_str()) {
            let mut known: Vec<&str> = spec.required.to_vec();
            known.extend(spec.optional);
            problems.push(format!(
                "{name} takes no `with.{key}` (it takes {})",
                known.join(", ")
            ));
        }
    }
    problems
}

/// One line saying what the action will do: what approvers and dry runs show.
pub fn describe(name: &str, input: &Value) -> String {
    let text = |key: &str| input.get(key).map(show).unwrap_or_default();
    match name {
        "http.request" => format!(
            "HTTP {} {}",
            input
                .get("method")
                .map(show)
                .unwrap_or_else(|| "POST".into()),
            text("url")
        ),
        "notify.send" => format!("notify {}: {}", text("to"), text("subject")),
        "nftables.add" | "nftables.remove" => nftables::describe(name, input),
        "route.replace" => route::describe(input),
        "command.run" => format!("run {} {}", text("command"), text("args"))
            .trim_end()
            .to_string(),
        "incident.task" => format!("task for {}: {}", text("team"), text("title")),
        "events.search" => format!("search events: {}", text("query")),
        "intel.block" => format!(
            "add to the blocklist ({}): {}",
            text("kind"),
            text("values")
        ),
        "email.send" => format!("e-mail {}: {}", text("to"), text("subject")),
        "dns.block" => format!("DNS: answer NXDOMAIN for {}", text("domains")),
        "dns.unblock" => format!("DNS: stop blocking {}", text("domains")),
        "ldap.account" => format!(
            "LDAP: {} the account {}",
            text("operation").replace('_', " "),
            text("user")
        ),
        "incident.comment" => format!("comment: {}", text("text")),
        other => format!("{other} {input}"),
    }
}

/// A value in words: strings bare, lists joined.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(show).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The connectors, configured.
pub struct Actions {
    config: RespondConfig,
    http: reqwest::Client,
    host: Arc<dyn Host>,
}

impl Actions {
    pub fn new(config: RespondConfig, host: Arc<dyn Host>) -> Actions {
        let http = reqwest::Client::builder()
            .user_agent(concat!("watchfloor/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Actions { config, http, host }
    }

    pub fn config(&self) -> &RespondConfig {
        &self.config
    }

    /// Calls an action (the caller bounds it by the step's timeout).
    pub async fn call(&self, name: &str, input: &Value, call: &Call<'_>) -> Result<Value, String> {
        match name {
            "http.request" => http::request(&self.http, &self.config, input, call).await,
            "nftables.add" => nftables::add(&self.config, input).await,
            "nftables.remove" => nftables::remove(&self.config, input).await,
            "route.replace" => route::replace(&self.config, input).await,
            "command.run" => command::run(&self.config, input, call).await,
            "incident.task" => {
                let (title, team) = (string(input, "title")?, string(input, "team")?);
                let assignee = input.get("assignee").and_then(Value::as_str);
                self.host.add_task(call, &title, &team, assignee)
            }
            "incident.comment" => self.host.comment(call, &string(input, "text")?),
            "notify.send" => {
                let to = strings(input, "to")?;
                let body = input.get("body").map(show).unwrap_or_default();
                self.host
                    .notify(call, &to, &string(input, "subject")?, &body)
            }
            "email.send" => {
                let to = strings(input, "to")?;
                if to.is_empty() {
                    return Err("`to` names no address".into());
                }
                let body = input.get("body").map(show).unwrap_or_default();
                self.host
                    .email(call, &to, &string(input, "subject")?, &body)
            }
            "events.search" => search::run(self.host.as_ref(), input, call),
            "intel.block" => {
                let values = strings(input, "values")?;
                let valid_for = match input.get("valid_for").filter(|v| !v.is_null()) {
                    Some(v) => Some(
                        humantime::parse_duration(&show(v))
                            .map_err(|e| format!("`valid_for` {}: {e}", show(v)))?
                            .as_secs(),
                    ),
                    None => None,
                };
                self.host
                    .block_indicators(call, &string(input, "kind")?, &values, valid_for)
            }
            "dns.block" => dns::block(&self.config, input, true).await,
            "dns.unblock" => dns::block(&self.config, input, false).await,
            "ldap.account" => ldap::account(&self.config, input).await,
            other => Err(format!("action {other:?} is unknown")),
        }
    }
}

/// A required text input.
fn string(input: &Value, key: &str) -> Result<String, String> {
    match input.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) if !other.is_null() => Err(format!("`{key}` must be text, not {other}")),
        _ => Err(format!("`{key}` is missing or empty")),
    }
}

/// An input that is one text or a list of texts.
fn strings(input: &Value, key: &str) -> Result<Vec<String>, String> {
    match input.get(key) {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("`{key}` must list texts, not {other}")),
            })
            .collect(),
        Some(Value::Null) | None => Ok(Vec::new()),
        Some(other) => Err(format!("`{key}` must be a text or a list, not {other}")),
    }
}

/// A connector's program, killed with the server: if the server dies
/// mid-action (`kill -9`), its program does not go on unseen while the
/// restarted server calls the action again with the same key, so two
/// calls of one action never run at once. (Linux's parent-death signal;
/// the actions run on the runtime's worker threads, which live as long as
/// the server.)
pub(crate) fn command(program: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(program);
    c.kill_on_drop(true);
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no
    // memory of the parent; it runs in the child between fork and exec.
    unsafe {
        c.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

/// Reads a named secret from its file (trimmed).
fn secret(config: &RespondConfig, name: &str) -> Result<String, String> {
    let path = config
        .secrets
        .get(name)
        .ok_or_else(|| format!("no secret {name:?} in [respond.secrets]"))?;
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("secret {name:?} ({}): {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn input_problems_name_what_is_wrong() {
        let inputs: BTreeMap<String, Value> =
            serde_json::from_value(json!({"set": "blocked", "adresses": "1.2.3.4"})).unwrap();
        let problems = input_problems("nftables.add", &inputs);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("needs `with.addresses`"));
        assert!(problems[1].contains("takes no `with.adresses`"));
        assert!(input_problems("nftables.ad", &BTreeMap::new())[0].contains("unknown"));
    }

    #[test]
    fn describe_reads_like_the_action() {
        let d = describe(
            "nftables.add",
            &json!({"set": "blocked", "addresses": ["198.51.100.7", "203.0.113.9"],
                    "timeout": "10m", "netns": "edge"}),
        );
        assert_eq!(
            d,
            "nftables: add 198.51.100.7, 203.0.113.9 to inet watchfloor blocked for 10m (netns edge)"
        );
        assert_eq!(
            describe(
                "incident.task",
                &json!({"team": "it", "title": "Reset bob"})
            ),
            "task for it: Reset bob"
        );
    }
}
