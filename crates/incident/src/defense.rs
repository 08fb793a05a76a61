//! Preventive measures: an incident's ATT&CK techniques (the `attack.t*`
//! tags its alerts brought) by name and tactic, and the mitigations that
//! address them, ranked by how many of its techniques each one addresses
//! (what would have stopped this, for the post-incident review).

use schemars::JsonSchema;
use serde::Serialize;
use watchfloor_intel::attack::{self, technique_id_of_tag};
use watchfloor_model::incident::Incident;

/// A technique of the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TechniqueView {
    /// `T1059.001`.
    pub id: String,
    pub name: String,
    /// Its tactics' names (`Execution`).
    pub tactics: Vec<String>,
    /// The tag it came from (`attack.t1059.001`; an old id MITRE revoked
    /// gives its replacement).
    pub tag: String,
}

/// A recommended mitigation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MitigationView {
    /// `M1038`.
    pub id: String,
    pub name: String,
    pub summary: String,
    /// The incident's techniques it addresses.
    pub techniques: Vec<String>,
}

/// The incident's techniques and the mitigations recommended for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Defense {
    pub techniques: Vec<TechniqueView>,
    /// Technique tags the ATT&CK data does not know (newer than it).
    pub unresolved: Vec<String>,
    /// Those addressing the most techniques first.
    pub mitigations: Vec<MitigationView>,
    /// MITRE's copyright notice, shown with the data.
    pub notice: &'static str,
}

/// The defense view of an incident.
pub fn defense(incident: &Incident) -> Defense {
    defense_of_tags(incident.attack.iter().map(String::as_str))
}

/// The defense view of some ATT&CK tags.
pub fn defense_of_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Defense {
    let table = attack::shipped();
    let mut techniques: Vec<TechniqueView> = Vec::new();
    let mut unresolved = Vec::new();
    for tag in tags {
        let tag = tag.to_ascii_lowercase();
        if technique_id_of_tag(&tag).is_none() {
            continue; // a tactic, group or software tag
        }
        let Some(t) = table.technique_of_tag(&tag) else {
            unresolved.push(tag);
            continue;
        };
        if techniques.iter().any(|v| v.id == t.id) {
            continue;
        }
        techniques.push(TechniqueView {
            id: t.id.clone(),
            name: t.name.clone(),
            tactics: t
                .tactics
                .iter()
                .map(|s| {
                    table
                        .tactic(s)
                        .map_or_else(|| s.clone(), |t| t.name.clone())
                })
                .collect(),
            tag,
        });
    }
    let ids: Vec<&str> = techniques.iter().map(|t| t.id.as_str()).collect();
    let mitigations = table
        .recommend(&ids)
        .into_iter()
        .map(|r| MitigationView {
            id: r.mitigation.id.clone(),
            name: r.mitigation.name.clone(),
            summary: r.mitigation.summary.clone(),
            techniques: r.techniques.iter().map(|t| t.to_string()).collect(),
        })
        .collect();
    Defense {
        techniques,
        unresolved,
        mitigations,
        notice: attack::NOTICE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incident_with_phishing_and_scripting_lists_the_expected_mitigations() {
        let d = defense_of_tags([
            "attack.T1059",
            "attack.execution",
            "attack.t1086",
            "attack.t1566",
            "attack.t1690",
        ]);
        let techniques: Vec<(&str, &str, &[String])> = d
            .techniques
            .iter()
            .map(|t| (t.id.as_str(), t.name.as_str(), t.tactics.as_slice()))
            .collect();
        assert_eq!(
            techniques,
            [
                (
                    "T1059",
                    "Command and Scripting Interpreter",
                    &["Execution".to_string()][..]
                ),
                ("T1059.001", "PowerShell", &["Execution".to_string()][..]),
                ("T1566", "Phishing", &["Initial Access".to_string()][..]),
            ],
            "T1086 was revoked by T1059.001"
        );
        assert_eq!(d.unresolved, ["attack.t1690"]);
        let top: Vec<(&str, usize)> = d
            .mitigations
            .iter()
            .take(3)
            .map(|m| (m.name.as_str(), m.techniques.len()))
            .collect();
        assert_eq!(
            top,
            [
                ("Antivirus/Antimalware", 3),
                ("Restrict Web-Based Content", 2),
                ("Privileged Account Management", 2)
            ],
            "{:#?}",
            d.mitigations
        );
        assert!(d.mitigations.iter().any(|m| m.name == "User Training"));
        assert!(d
            .mitigations
            .iter()
            .any(|m| m.name == "Execution Prevention"));
    }
}
