//! `[respond]`: where playbooks come from and what the connectors may touch.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RespondConfig {
    /// Run playbooks (triggers, the API, the console). Off: nothing runs.
    pub enabled: bool,
    /// A directory of playbook files (`*.yml`) besides the shipped ones; a
    /// file with a shipped playbook's id replaces it.
    #[schemars(extend("format" = "path"))]
    pub playbooks: Option<PathBuf>,
    /// The `nft` program (nftables actions).
    pub nft: String,
    /// The `ip` program (route actions, and entering network namespaces).
    pub ip: String,
    /// Secrets that connectors use by name (`auth_secret: soar`), each read
    /// from its file when used: never in a playbook, a run's log or the API.
    pub secrets: BTreeMap<String, PathBuf>,
    /// The commands `command.run` may run (`[[respond.commands]]`).
    pub commands: Vec<CommandConfig>,
    /// Parameters of playbooks as this site runs them
    /// (`[[respond.params]]`: a playbook, and values for its `params`, read
    /// as YAML scalars: `true`, `50`, `30m`).
    pub params: Vec<PlaybookParams>,
    /// Where `dns.block` writes the blocked domains and how the resolver
    /// reloads them (`[respond.dns]`).
    pub dns: DnsConfig,
    /// The directory `ldap.account` changes (`[respond.ldap]`).
    pub ldap: LdapConfig,
    /// Runs started per minute and tenant at most (a storm of incidents
    /// must not become a storm of actions).
    #[schemars(range(min = 1, max = 100_000))]
    pub max_runs_per_minute: u32,
}

impl Default for RespondConfig {
    fn default() -> Self {
        RespondConfig {
            enabled: true,
            playbooks: None,
            nft: "nft".into(),
            ip: "ip".into(),
            secrets: BTreeMap::new(),
            commands: Vec::new(),
            params: Vec::new(),
            dns: DnsConfig::default(),
            ldap: LdapConfig::default(),
            max_runs_per_minute: 60,
        }
    }
}

/// An allow-listed command: the program and its fixed arguments; a step's
/// `args` are appended (no shell, so nothing in them is interpreted).
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("x-required" = ["name", "argv"]))]
pub struct CommandConfig {
    /// What steps call it by (`command: NAME`).
    pub name: String,
    #[schemars(length(min = 1))]
    pub argv: Vec<String>,
    /// Whether steps may append arguments.
    #[serde(default)]
    pub allow_args: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    /// The file of blocked domains (an Unbound include, or an RPZ zone).
    #[schemars(extend("format" = "path"))]
    pub file: Option<PathBuf>,
    /// `unbound` (`local-zone: "d." always_nxdomain` lines) or `rpz`.
    #[schemars(extend("enum" = ["unbound", "rpz"]))]
    pub format: String,
    /// The command that makes the resolver read it again (no shell), e.g.
    /// `["unbound-control", "reload"]` or `["rndc", "reload", "rpz.local"]`.
    pub reload: Vec<String>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            file: None,
            format: "unbound".into(),
            reload: vec!["unbound-control".into(), "reload".into()],
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636` (empty: no directory).
    pub url: String,
    /// Who Watchfloor binds as (empty: anonymous).
    pub bind_dn: String,
    /// The bind password: a name of `[respond.secrets]`.
    pub password_secret: Option<String>,
    pub base_dn: String,
    /// How an account is found; `{user}` is the user name, escaped.
    pub user_filter: String,
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            url: String::new(),
            bind_dn: String::new(),
            password_secret: None,
            base_dn: String::new(),
            user_filter: "(|(uid={user})(sAMAccountName={user}))".into(),
        }
    }
}

/// A site's values for a playbook's `params` (over the playbook's own
/// defaults; a run started by hand may still override them).
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("x-required" = ["playbook", "values"]))]
pub struct PlaybookParams {
    pub playbook: String,
    pub values: BTreeMap<String, String>,
}

impl RespondConfig {
    /// The site's values for a playbook's params, typed.
    pub fn params_for(&self, playbook: &str) -> serde_json::Map<String, serde_json::Value> {
        self.params
            .iter()
            .filter(|p| p.playbook == playbook)
            .flat_map(|p| &p.values)
            .map(|(k, v)| {
                let typed = serde_yaml::from_str::<serde_json::Value>(v)
                    .ok()
                    .filter(|t| !t.is_object() && !t.is_array())
                    .unwrap_or_else(|| serde_json::Value::String(v.clone()));
                (k.clone(), typed)
            })
            .collect()
    }

    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for command in &self.commands {
            let name = &command.name;
            if command.argv.first().is_none_or(|p| p.is_empty()) {
                problems.push(format!("respond.commands {name:?}: argv names no program"));
            }
            if !names.insert(name) {
                problems.push(format!("respond.commands {name:?}: defined twice"));
            }
        }
        if let Some(name) = &self.ldap.password_secret {
            if !self.secrets.contains_key(name) {
                problems.push(format!(
                    "respond.ldap.password_secret: no secret {name:?} in [respond.secrets]"
                ));
            }
        }
        if !self.ldap.url.is_empty()
            && !self.ldap.url.starts_with("ldap://")
            && !self.ldap.url.starts_with("ldaps://")
        {
            problems.push(format!(
                "respond.ldap.url {:?}: ldap:// or ldaps://",
                self.ldap.url
            ));
        }
        for (name, program) in [("nft", &self.nft), ("ip", &self.ip)] {
            if program.trim().is_empty() {
                problems.push(format!("respond.{name}: empty"));
            }
        }
        problems
    }
}

/// Sending notifications: the address in acknowledge links, the SMTP
/// relay for email, and retries.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// The base URL users reach this server at (acknowledge links); by
    /// default `http://` (or `https://`) and `[http] listen`.
    pub public_url: Option<String>,
    /// SMTP relay host; email is off while it is empty.
    pub smtp_host: String,
    #[schemars(range(min = 1, max = 65_535))]
    pub smtp_port: u64,
    /// `none` (plain, for a local relay), `starttls` or `tls`.
    pub smtp_security: SmtpSecurity,
    pub smtp_from: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    /// Attempts per message before it is marked failed.
    #[schemars(range(min = 1, max = 100))]
    pub max_attempts: u64,
    /// Per attempt.
    #[schemars(range(min = 1, max = 300))]
    pub timeout_secs: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            public_url: None,
            smtp_host: String::new(),
            smtp_port: 25,
            smtp_security: SmtpSecurity::None,
            smtp_from: "watchfloor@localhost".into(),
            smtp_username: None,
            smtp_password: None,
            max_attempts: 8,
            timeout_secs: 10,
        }
    }
}

/// How email reaches the SMTP relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain, for a relay on the same host or network.
    #[default]
    None,
    /// Plain, then upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}
