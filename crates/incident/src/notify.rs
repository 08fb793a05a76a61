//! Who hears about an incident and what they read: teams with their
//! notification channels (webhook, Slack/Mattermost-compatible webhook,
//! email), message templates (minijinja), and turning an escalation
//! target or a RACI notice into queued messages. Sending is the server's
//! job; this module only decides and renders.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use watchfloor_model::format_rfc3339;
use watchfloor_model::incident::Incident;
use watchfloor_state::{DocumentStore, NewNotification, StateError};

use crate::escalation::{EscalationPolicy, Target};
use crate::oncall::Schedule;

/// Document kinds, as stored.
pub const SCHEDULE: &str = "schedule";
pub const POLICY: &str = "escalation_policy";
pub const TEAM: &str = "team";
pub const CHANNEL: &str = "channel";

/// A team (stored as a document of kind `team`): its members and where
/// messages to the team go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Team {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub members: Vec<String>,
    /// Names of channels.
    #[serde(default)]
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// JSON POST with the incident, the message and the acknowledge link.
    Webhook,
    /// `{"text": ...}` POST: Slack incoming webhooks and Mattermost.
    Slack,
    /// SMTP, through the server's `[notify.smtp]` relay.
    Email,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Webhook => "webhook",
            Transport::Slack => "slack",
            Transport::Email => "email",
        }
    }
}

/// A notification channel (stored as a document of kind `channel`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub transport: Transport,
    /// For webhooks and Slack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For email: the addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// Extra HTTP headers for webhooks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// minijinja templates replacing the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_template: Option<String>,
}

pub const DEFAULT_SUBJECT: &str =
    "[Watchfloor P{{ incident.priority }}] #{{ incident.id }} {{ incident.title }}";
pub const DEFAULT_BODY: &str = "{{ reason }}

Incident #{{ incident.id }}: {{ incident.title }}
Type {{ incident.type }} ({{ incident.domain }}), priority P{{ incident.priority }}, severity {{ incident.severity }}, status {{ incident.status }}
Tenant {{ incident.tenant }}, opened {{ incident.created }}
{%- if incident.assignee %}
Assignee {{ incident.assignee }}{% endif %}
{%- if ack_url %}

Acknowledge: {{ ack_url }}{% endif %}
";

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env
}

fn template_problem(name: &str, text: &str) -> Option<String> {
    environment()
        .template_from_str(text)
        .err()
        .map(|e| format!("{name}: {e}"))
}

fn valid_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://")) && url.len() > 8
}

fn valid_email(addr: &str) -> bool {
    addr.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty() && host.contains('.') && !addr.contains([' ', ',', '<', '>', '\n'])
    })
}

impl Channel {
    /// Every problem, each naming where it is.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.transport {
            Transport::Webhook | Transport::Slack => match &self.url {
                Some(u) if valid_url(u) => {}
                _ => out.push("url: an http:// or https:// URL".into()),
            },
            Transport::Email => {
                if self.to.is_empty() {
                    out.push("to: one or more email addresses".into());
                }
                for (i, a) in self.to.iter().enumerate() {
                    if !valid_email(a) {
                        out.push(format!("to[{i}]: {a:?} is not an email address"));
                    }
                }
            }
        }
        for (name, t) in [
            ("subject_template", &self.subject_template),
            ("body_template", &self.body_template),
        ] {
            if let Some(p) = t.as_deref().and_then(|t| template_problem(name, t)) {
                out.push(p);
            }
        }
        out
    }

    /// (transport, address) for each message this channel sends.
    fn addresses(&self) -> Vec<(Transport, String)> {
        match self.transport {
            Transport::Email => self
                .to
                .iter()
                .map(|a| (Transport::Email, a.clone()))
                .collect(),
            t => self.url.iter().map(|u| (t, u.clone())).collect(),
        }
    }
}

/// The incident as templates and webhooks see it.
pub fn incident_view(i: &Incident) -> serde_json::Value {
    json!({
        "id": i.id, "tenant": i.tenant, "title": i.title, "type": i.kind,
        "domain": i.domain.as_str(), "priority": i.priority, "severity": i.severity,
        "status": i.status.as_str(), "assignee": i.assignee, "team": i.team,
        "created": format_rfc3339(i.created_ns),
    })
}

/// Renders subject and body; a template that fails at render time falls
/// back to the default, and the failure is returned as a problem.
fn render(channel: Option<&Channel>, ctx: &serde_json::Value) -> (String, String, Vec<String>) {
    let env = environment();
    let mut problems = Vec::new();
    let mut one = |custom: Option<&String>, default: &str, name: &str| -> String {
        if let Some(t) = custom {
            match env.render_str(t, ctx) {
                Ok(s) => return s,
                Err(e) => problems.push(format!("{name}: {e}; the default was used")),
            }
        }
        env.render_str(default, ctx)
            .unwrap_or_else(|e| e.to_string())
    };
    let subject = one(
        channel.and_then(|c| c.subject_template.as_ref()),
        DEFAULT_SUBJECT,
        "subject_template",
    );
    let body = one(
        channel.and_then(|c| c.body_template.as_ref()),
        DEFAULT_BODY,
        "body_template",
    );
    (subject.trim().to_string(), body, problems)
}

/// A tenant's schedules, policies, teams and channels, read once per tick.
#[derive(Debug, Default)]
pub struct Directory {
    pub schedules: BTreeMap<String, Schedule>,
    /// In name order: the first that matches an incident is its policy.
    pub policies: Vec<(String, EscalationPolicy)>,
    pub teams: BTreeMap<String, Team>,
    pub channels: BTreeMap<String, Channel>,
}

fn load_kind<T: serde::de::DeserializeOwned>(
    store: &dyn DocumentStore,
    tenant: &str,
    kind: &str,
) -> Result<Vec<(String, T)>, StateError> {
    let mut out = Vec::new();
    for doc in store.list_documents(tenant, kind)? {
        match serde_json::from_value(doc.body) {
            Ok(v) => out.push((doc.name, v)),
            // Documents are checked when written; one that no longer reads
            // (an older format) is skipped, not fatal for the others.
            Err(e) => tracing::error!("{kind} {:?} of tenant {tenant}: {e}", doc.name),
        }
    }
    Ok(out)
}

impl Directory {
    pub fn load(store: &dyn DocumentStore, tenant: &str) -> Result<Directory, StateError> {
        Ok(Directory {
            schedules: load_kind(store, tenant, SCHEDULE)?.into_iter().collect(),
            policies: load_kind(store, tenant, POLICY)?,
            teams: load_kind(store, tenant, TEAM)?.into_iter().collect(),
            channels: load_kind(store, tenant, CHANNEL)?.into_iter().collect(),
        })
    }

    /// The first policy (by name) that takes this incident.
    pub fn policy_for(&self, incident: &Incident) -> Option<&(String, EscalationPolicy)> {
        self.policies
            .iter()
            .find(|(_, p)| p.applies_to.matches(incident))
    }

    pub fn policy(&self, name: &str) -> Option<&EscalationPolicy> {
        self.policies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
    }
}

/// Messages for one occasion (an escalation step, a RACI notice) and the
/// problems met while addressing them.
#[derive(Debug, Default)]
pub struct Batch {
    pub messages: Vec<NewNotification>,
    /// `user:bob`, `channel:soc-slack`, ... in order.
    pub recipients: Vec<String>,
    pub problems: Vec<String>,
}

/// Addresses and renders messages about one incident.
pub struct Composer<'a> {
    pub incident: &'a Incident,
    pub directory: &'a Directory,
    /// The base of acknowledge links (`http://host:8080`).
    pub public_url: &'a str,
    /// The email address of a user who may act in the incident's tenant.
    pub email_of: &'a dyn Fn(&str) -> Option<String>,
    pub now_ns: i64,
    /// Whether messages carry a link that acknowledges the incident
    /// (escalations do; RACI notices only inform).
    pub acknowledge_links: bool,
}

/// A fresh acknowledge-link secret and its hash.
fn ack_secret() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    // No randomness from the OS is not something to carry on without.
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("no OS randomness: {e}"));
    let secret = format!(
        "wfa_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = Sha256::digest(secret.as_bytes()).to_vec();
    (secret, hash)
}

/// The hash stored for an acknowledge-link secret.
pub fn ack_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

impl Composer<'_> {
    /// Messages for an escalation target, addressed as of `at_ns`.
    pub fn for_target(
        &self,
        target: &Target,
        at_ns: i64,
        key: &str,
        reason: &str,
        out: &mut Batch,
    ) {
        match target {
            Target::User(name) => self.for_user(name, key, reason, out),
            Target::Team(name) => self.for_team(name, key, reason, out),
            Target::Schedule(name) => match self.directory.schedules.get(name) {
                None => out
                    .problems
                    .push(format!("schedule {name:?} does not exist")),
                Some(s) => match s.on_call_at(at_ns) {
                    None => out
                        .problems
                        .push(format!("nobody is on call in schedule {name:?}")),
                    Some(on) => {
                        let reason = format!("{reason} (on call for {name})");
                        self.for_user(&on.user, key, &reason, out);
                    }
                },
            },
        }
    }

    fn for_user(&self, name: &str, key: &str, reason: &str, out: &mut Batch) {
        match (self.email_of)(name) {
            Some(addr) => {
                let recipient = format!("user:{name}");
                self.push(None, Transport::Email, &addr, &recipient, key, reason, out);
            }
            None => out.problems.push(format!(
                "user {name:?} has no email address or may not act in tenant {}",
                self.incident.tenant
            )),
        }
    }

    /// Messages to every channel of a team.
    pub fn for_team(&self, name: &str, key: &str, reason: &str, out: &mut Batch) {
        let Some(team) = self.directory.teams.get(name) else {
            out.problems
                .push(format!("team {name:?} has no team document"));
            return;
        };
        if team.channels.is_empty() {
            out.problems.push(format!("team {name:?} has no channels"));
        }
        for channel_name in &team.channels {
            let Some(channel) = self.directory.channels.get(channel_name) else {
                out.problems.push(format!(
                    "team {name:?}: channel {channel_name:?} does not exist"
                ));
                continue;
            };
            let recipient = format!("team:{name}");
            for (transport, addr) in channel.addresses() {
                let key = format!("{key}:{channel_name}");
                self.push(
                    Some(channel),
                    transport,
                    &addr,
                    &recipient,
                    &key,
                    reason,
                    out,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &self,
        channel: Option<&Channel>,
        transport: Transport,
        address: &str,
        recipient: &str,
        key: &str,
        reason: &str,
        out: &mut Batch,
    ) {
        let (ack_url, ack_hash) = if self.acknowledge_links {
            let (secret, hash) = ack_secret();
            let base = self.public_url.trim_end_matches('/');
            (Some(format!("{base}/ack/{secret}")), Some(hash))
        } else {
            (None, None)
        };
        let ctx = json!({
            "incident": incident_view(self.incident),
            "reason": reason,
            "recipient": recipient,
            "ack_url": ack_url,
        });
        let (subject, body, problems) = render(channel, &ctx);
        out.problems.extend(problems);
        let payload = match transport {
            Transport::Email => None,
            Transport::Slack => Some(json!({ "text": format!("*{subject}*\n{body}") })),
            Transport::Webhook => Some(json!({
                "event": key.split(':').next().unwrap_or("notification"),
                "subject": subject, "body": body, "reason": reason,
                "recipient": recipient, "ack_url": ack_url,
                "incident": incident_view(self.incident),
            })),
        };
        let headers = channel
            .map(|c| c.headers.clone().into_iter().collect())
            .unwrap_or_default();
        out.recipients
            .push(format!("{recipient} ({} {address})", transport.as_str()));
        out.messages.push(NewNotification {
            tenant: self.incident.tenant.clone(),
            incident_id: self.incident.id,
            key: format!("{key}:{recipient}:{address}"),
            transport: transport.as_str().into(),
            target: address.into(),
            recipient: recipient.into(),
            subject,
            body,
            payload,
            headers,
            ack_hash,
            created_ns: self.now_ns,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_report_every_problem() {
        let c: Channel = serde_json::from_value(json!({
            "transport": "email", "to": ["ops@example.org", "nobody"],
            "body_template": "{% if %}"
        }))
        .expect("parses");
        let p = c.problems();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("to[1]"));
        assert!(p[1].starts_with("body_template"));
        let w: Channel =
            serde_json::from_value(json!({"transport": "slack", "url": "ftp://x"})).expect("ok");
        assert_eq!(w.problems().len(), 1);
    }

    #[test]
    fn default_templates_render_the_incident_and_the_link() {
        let incident: Incident = serde_json::from_value(json!({
            "id": 7, "tenant": "acme", "version": 1, "title": "core link down",
            "domain": "operations", "type": "link_failure", "severity": "high",
            "impact": "high", "urgency": "high", "priority": 1, "status": "new",
            "created_ns": 0, "updated_ns": 0
        }))
        .expect("incident");
        let ctx = json!({"incident": incident_view(&incident), "reason": "Step 1",
                         "ack_url": "http://h/ack/wfa_x"});
        let (subject, body, problems) = render(None, &ctx);
        assert!(problems.is_empty());
        assert_eq!(subject, "[Watchfloor P1] #7 core link down");
        assert!(body.starts_with("Step 1\n"), "{body}");
        assert!(body.contains("Acknowledge: http://h/ack/wfa_x"), "{body}");
        let custom: Channel = serde_json::from_value(json!({
            "transport": "slack", "url": "http://x",
            "subject_template": "{{ incident.title | upper }} for {{ recipient }}"
        }))
        .expect("channel");
        let ctx = json!({"incident": incident_view(&incident), "recipient": "team:noc"});
        assert_eq!(render(Some(&custom), &ctx).0, "CORE LINK DOWN for team:noc");
    }
}
