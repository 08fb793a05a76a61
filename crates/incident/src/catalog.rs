//! The incident type catalog: each type's domain, how alerts are
//! recognised as that type, and its RACI matrix (activities to teams).

use serde::{Deserialize, Serialize};
use watchfloor_model::incident::{Domain, Raci};

/// One activity of a RACI matrix and which teams are Responsible,
/// Accountable (exactly one), Consulted and Informed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaciRow {
    /// detect, triage, contain, communicate, restore, report, ...
    pub activity: String,
    /// The task the Responsible teams get when an incident opens.
    pub task: String,
    pub responsible: Vec<String>,
    pub accountable: String,
    #[serde(default)]
    pub consulted: Vec<String>,
    #[serde(default)]
    pub informed: Vec<String>,
}

impl RaciRow {
    /// (team, letter) for every letter a team holds in this row.
    pub fn letters(&self) -> impl Iterator<Item = (&str, Raci)> {
        self.responsible
            .iter()
            .map(|t| (t.as_str(), Raci::R))
            .chain(std::iter::once((self.accountable.as_str(), Raci::A)))
            .chain(self.consulted.iter().map(|t| (t.as_str(), Raci::C)))
            .chain(self.informed.iter().map(|t| (t.as_str(), Raci::I)))
    }
}

/// An incident type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentType {
    pub key: String,
    pub name: String,
    pub domain: Domain,
    /// ATT&CK tags (prefixes, lower case) that mark an alert as this type.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Words in an alert's rule title that mark it as this type.
    #[serde(default)]
    pub keywords: Vec<String>,
    pub raci: Vec<RaciRow>,
}

/// The types, in the order alerts are matched against them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub types: Vec<IncidentType>,
}

/// Teams the default matrices use.
pub const TEAMS: [&str; 5] = ["soc", "noc", "it", "legal_dpo", "management"];

impl Catalog {
    pub fn get(&self, key: &str) -> Option<&IncidentType> {
        self.types.iter().find(|t| t.key == key)
    }

    /// The type an alert belongs to: the first whose tags or keywords
    /// match, else the domain's generic type.
    pub fn classify(&self, domain: Domain, rule_title: &str, tags: &[String]) -> &IncidentType {
        let title = rule_title.to_ascii_lowercase();
        let wanted = if domain == Domain::Operations {
            Domain::Operations
        } else {
            Domain::Security
        };
        let fits = |t: &&IncidentType| t.domain == wanted || t.domain == Domain::Both;
        let matched = self.types.iter().filter(fits).find(|t| {
            t.tags.iter().any(|p| {
                tags.iter()
                    .any(|tag| tag.to_ascii_lowercase().starts_with(p))
            }) || t.keywords.iter().any(|k| title.contains(k.as_str()))
        });
        let generic = if wanted == Domain::Operations {
            GENERIC_OPERATIONS
        } else {
            GENERIC_SECURITY
        };
        matched
            .or_else(|| self.get(generic))
            .unwrap_or(&self.types[0])
    }

    /// Every problem with a catalog someone edited.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.types.is_empty() {
            out.push("incident types: the catalog is empty".to_string());
        }
        for generic in [GENERIC_SECURITY, GENERIC_OPERATIONS] {
            if self.get(generic).is_none() {
                out.push(format!(
                    "incident types: {generic} is missing (alerts that fit no other type become one)"
                ));
            }
        }
        for t in &self.types {
            if t.raci.is_empty() {
                out.push(format!("incident type {}: no RACI rows", t.key));
            }
            if self.types.iter().filter(|o| o.key == t.key).count() > 1 {
                out.push(format!("incident type {}: defined twice", t.key));
            }
            for row in &t.raci {
                let at = format!("incident type {}, activity {}", t.key, row.activity);
                if row.responsible.is_empty() {
                    out.push(format!("{at}: no team is Responsible (R)"));
                }
                if row.accountable.is_empty() {
                    out.push(format!("{at}: no team is Accountable (A)"));
                }
            }
        }
        out.dedup();
        out
    }
}

impl Catalog {
    /// A catalog from YAML (or JSON) text: `types: [{key, name, domain,
    /// tags, keywords, raci: [{activity, task, responsible, accountable,
    /// consulted, informed}]}]`, with every problem.
    pub fn from_yaml(text: &str) -> Result<Catalog, Vec<String>> {
        let catalog: Catalog = serde_yaml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let problems = catalog.problems();
        if problems.is_empty() {
            Ok(catalog)
        } else {
            Err(problems)
        }
    }

    /// The catalog as YAML, to start an edited one from.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }
}

pub const GENERIC_SECURITY: &str = "suspicious_activity";
pub const GENERIC_OPERATIONS: &str = "outage";

/// `"noc:RA soc:C management:I"`: each team with the letters it holds.
fn row(activity: &str, task: &str, spec: &str) -> RaciRow {
    let mut r = RaciRow {
        activity: activity.into(),
        task: task.into(),
        responsible: Vec::new(),
        accountable: String::new(),
        consulted: Vec::new(),
        informed: Vec::new(),
    };
    for part in spec.split_whitespace() {
        let (team, letters) = part.split_once(':').unwrap_or((part, "I"));
        for letter in letters.chars() {
            match letter {
                'R' => r.responsible.push(team.into()),
                'A' => r.accountable = team.into(),
                'C' => r.consulted.push(team.into()),
                _ => r.informed.push(team.into()),
            }
        }
    }
    r
}

fn kind(
    key: &str,
    name: &str,
    domain: Domain,
    tags: &[&str],
    keywords: &[&str],
    raci: Vec<RaciRow>,
) -> IncidentType {
    IncidentType {
        key: key.into(),
        name: name.into(),
        domain,
        tags: tags.iter().map(|s| s.to_string()).collect(),
        keywords: keywords.iter().map(|s| s.to_string()).collect(),
        raci,
    }
}

fn report_row(lead: &str) -> RaciRow {
    row(
        "report",
        "Write the post-incident report and the lessons learned",
        &format!("{lead}:R management:A"),
    )
}

impl Default for Catalog {
    /// The floor's classic cases. DDoS: the NOC detects and mitigates, the
    /// SOC decides what to block and finds the source. Link failure: the
    /// NOC reroutes, the SOC rules out an attack. Phishing: the SOC blocks
    /// URLs and senders, IT resets passwords. Ransomware: the SOC leads,
    /// the NOC isolates segments, the DPO starts the legal clocks.
    fn default() -> Self {
        use Domain::*;
        let types = vec![
            kind(
                "ransomware",
                "Ransomware",
                Security,
                &["attack.t1486", "attack.t1490"],
                &["ransom", "shadow cop", "vssadmin"],
                vec![
                    row(
                        "triage",
                        "Scope the infection: hosts, accounts, encryption activity",
                        "soc:RA noc:C management:I",
                    ),
                    row(
                        "contain",
                        "Isolate the affected network segments",
                        "noc:R soc:A it:I",
                    ),
                    row(
                        "eradicate",
                        "Remove the malware and the attacker's access",
                        "soc:RA it:R",
                    ),
                    row(
                        "restore",
                        "Restore systems and data from clean backups",
                        "it:RA soc:C noc:C",
                    ),
                    row(
                        "notify",
                        "Assess notification duties; start the NIS2, DORA and GDPR clocks",
                        "legal_dpo:RA management:I soc:C",
                    ),
                    row(
                        "communicate",
                        "Brief management and decide on external communication",
                        "management:RA legal_dpo:C soc:I",
                    ),
                    report_row("soc"),
                ],
            ),
            kind(
                "phishing",
                "Phishing",
                Security,
                &["attack.t1566", "attack.t1598"],
                &["phish"],
                vec![
                    row(
                        "triage",
                        "Assess the message and find every recipient",
                        "soc:RA",
                    ),
                    row(
                        "contain",
                        "Block the URLs, domains and senders; purge the messages",
                        "soc:RA it:C",
                    ),
                    row(
                        "reset_credentials",
                        "Reset passwords and revoke sessions of users who clicked",
                        "it:RA soc:C",
                    ),
                    row(
                        "communicate",
                        "Warn staff about the campaign",
                        "soc:R management:A it:I",
                    ),
                    row(
                        "notify",
                        "Decide whether exposed credentials make a personal-data breach",
                        "legal_dpo:RA soc:C",
                    ),
                    report_row("soc"),
                ],
            ),
            kind(
                "ddos",
                "Distributed denial of service",
                Both,
                &["attack.t1498", "attack.t1499"],
                &["ddos", "denial of service", "flood", "bandwidth"],
                vec![
                    row(
                        "detect",
                        "Confirm the traffic surge, its targets and its volume",
                        "noc:RA soc:C management:I",
                    ),
                    row(
                        "contain",
                        "Mitigate: rate-limit, scrub or reroute the attack traffic",
                        "noc:RA soc:C",
                    ),
                    row(
                        "block",
                        "Decide which sources to block and hand the list to the NOC",
                        "soc:RA noc:C",
                    ),
                    row(
                        "investigate",
                        "Find the attack's sources and whether it covers another intrusion",
                        "soc:RA noc:I",
                    ),
                    row(
                        "restore",
                        "Lift the mitigations once traffic is normal; confirm the service",
                        "noc:RA soc:I",
                    ),
                    row(
                        "communicate",
                        "Tell users and management about the service impact",
                        "noc:R management:A",
                    ),
                    report_row("noc"),
                ],
            ),
            kind(
                "link_failure",
                "Link failure",
                Operations,
                &[],
                &[
                    "link down",
                    "link failure",
                    "linkdown",
                    "uplink",
                    "interface down",
                    "ifoperstatus",
                    "bgp",
                ],
                vec![
                    row(
                        "detect",
                        "Confirm which link failed and what depends on it",
                        "noc:RA",
                    ),
                    row(
                        "restore",
                        "Reroute traffic over the backup path",
                        "noc:RA it:I",
                    ),
                    row(
                        "triage",
                        "Rule out an attack behind the failure (sabotage, hijack, DDoS)",
                        "soc:RA noc:I",
                    ),
                    row(
                        "communicate",
                        "Open a ticket with the carrier; tell affected users",
                        "noc:RA management:I",
                    ),
                    report_row("noc"),
                ],
            ),
            kind(
                "data_breach",
                "Data breach",
                Security,
                &[
                    "attack.exfiltration",
                    "attack.t1041",
                    "attack.t1048",
                    "attack.t1567",
                ],
                &["exfiltrat", "data leak"],
                vec![
                    row(
                        "triage",
                        "Establish what data left, whose, and how",
                        "soc:RA legal_dpo:C",
                    ),
                    row(
                        "contain",
                        "Close the channel the data left through",
                        "soc:RA noc:C",
                    ),
                    row(
                        "notify",
                        "Start the GDPR clock; decide on telling the people affected",
                        "legal_dpo:RA management:I",
                    ),
                    report_row("soc"),
                ],
            ),
            kind(
                "malware",
                "Malware",
                Security,
                &["attack.t1204", "attack.t1059"],
                &[
                    "malware", "trojan", "backdoor", "webshell", "mimikatz", "cobalt",
                ],
                vec![
                    row(
                        "triage",
                        "Identify the malware and the hosts it reached",
                        "soc:RA",
                    ),
                    row("contain", "Isolate the infected hosts", "soc:RA it:R noc:C"),
                    row("eradicate", "Clean or reimage the hosts", "it:RA soc:C"),
                    report_row("soc"),
                ],
            ),
            kind(
                "intrusion",
                "Intrusion",
                Security,
                &[
                    "attack.t1110",
                    "attack.initial_access",
                    "attack.lateral_movement",
                    "attack.privilege_escalation",
                    "attack.persistence",
                ],
                &["brute force", "brute-force", "intrusion", "exploit"],
                vec![
                    row(
                        "triage",
                        "Confirm the intrusion and the accounts involved",
                        "soc:RA",
                    ),
                    row(
                        "contain",
                        "Block the sources and disable the compromised accounts",
                        "soc:RA it:R noc:C",
                    ),
                    row(
                        "eradicate",
                        "Remove persistence and close the way in",
                        "soc:RA it:C",
                    ),
                    report_row("soc"),
                ],
            ),
            kind(
                "suspicious_activity",
                "Suspicious activity",
                Security,
                &[],
                &[],
                vec![
                    row(
                        "triage",
                        "Triage the alerts: true or false positive",
                        "soc:RA",
                    ),
                    report_row("soc"),
                ],
            ),
            kind(
                "degradation",
                "Service degradation",
                Operations,
                &[],
                &["latency", "slow", "degrad", "packet loss", "jitter"],
                vec![
                    row(
                        "diagnose",
                        "Find the bottleneck behind the degradation",
                        "noc:RA it:C",
                    ),
                    row(
                        "restore",
                        "Bring performance back within its thresholds",
                        "noc:RA it:R",
                    ),
                    report_row("noc"),
                ],
            ),
            kind(
                "capacity",
                "Capacity",
                Operations,
                &[],
                &["capacity", "disk full", "disk space", "memory", "saturat"],
                vec![
                    row(
                        "relieve",
                        "Free or add capacity before the service fails",
                        "noc:RA it:R",
                    ),
                    row(
                        "plan",
                        "Plan the capacity change",
                        "it:RA noc:C management:I",
                    ),
                    report_row("noc"),
                ],
            ),
            kind(
                "outage",
                "Outage",
                Operations,
                &[],
                &["down", "unreachable", "outage", "failed"],
                vec![
                    row("detect", "Confirm the outage and its root cause", "noc:RA"),
                    row("restore", "Restore the service", "noc:RA it:R"),
                    row(
                        "triage",
                        "Rule out an attack behind the outage",
                        "soc:R noc:A",
                    ),
                    row(
                        "communicate",
                        "Tell users and management",
                        "noc:R management:A",
                    ),
                    report_row("noc"),
                ],
            ),
        ];
        Catalog { types }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Catalog::default().problems(), Vec::<String>::new());
    }

    #[test]
    fn classifies_by_tag_keyword_and_domain() {
        let c = Catalog::default();
        let k = |d, title, t: &[&str]| c.classify(d, title, &tags(t)).key.clone();
        assert_eq!(
            k(Domain::Security, "Suspicious mail", &["attack.t1566.001"]),
            "phishing"
        );
        assert_eq!(
            k(
                Domain::Security,
                "Threat intel match: domain login.example [phishing] from feed",
                &[]
            ),
            "phishing",
            "an intel match by its indicator's labels"
        );
        assert_eq!(k(Domain::Security, "SSH Brute Force", &[]), "intrusion");
        assert_eq!(
            k(Domain::Security, "Anything", &["attack.T1486"]),
            "ransomware"
        );
        assert_eq!(
            k(Domain::Operations, "Inbound bandwidth over 95%", &[]),
            "ddos"
        );
        assert_eq!(
            k(Domain::Operations, "Link down: uplink-a", &[]),
            "link_failure"
        );
        assert_eq!(k(Domain::Operations, "HTTP check failed", &[]), "outage");
        assert_eq!(k(Domain::Operations, "Something odd", &[]), "outage");
        assert_eq!(
            k(Domain::Security, "Something odd", &[]),
            "suspicious_activity"
        );
    }

    #[test]
    fn the_defaults_survive_a_round_trip_through_yaml() {
        let c = Catalog::default();
        assert_eq!(Catalog::from_yaml(&c.to_yaml()), Ok(c));
        let errors = Catalog::from_yaml("types:\n  - key: x\n    name: X\n    domain: security\n    raci: []\n    colour: red\n")
            .unwrap_err();
        assert!(errors[0].contains("colour"), "{errors:?}");
        let errors = Catalog::from_yaml(
            "types:\n  - key: x\n    name: X\n    domain: security\n    raci: []\n",
        )
        .unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn problems_name_the_type_and_activity() {
        let mut c = Catalog::default();
        c.types[0].raci[0].responsible.clear();
        c.types.push(c.types[1].clone());
        let p = c.problems();
        assert!(
            p.iter()
                .any(|m| m
                    == "incident type ransomware, activity triage: no team is Responsible (R)"),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m == "incident type phishing: defined twice"),
            "{p:?}"
        );
    }
}
