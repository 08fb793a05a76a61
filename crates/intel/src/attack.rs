//! MITRE ATT&CK Enterprise, compiled: tactics, techniques and
//! sub-techniques, mitigations, which mitigation addresses which technique,
//! and the ids MITRE revoked with what replaced them. [`compile`] reads the
//! STIX data (one object per file, as in the mitre/cti repository) into a
//! compact table, shipped in the binary as `data/attack-enterprise.tsv`
//! and read once by [`shipped`]. A test checks that the shipped table is
//! what the corpus compiles to; `cargo run -p watchfloor-intel --example
//! compile_attack -- DIR` writes it again from a newer release.
//!
//! What it answers: the technique a Sigma tag (`attack.t1059.001`) names,
//! with its tactics; the mitigations that address a set of techniques,
//! ranked by how many of them each addresses (an incident's "what would
//! have stopped this").

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// MITRE's copyright designation, reproduced as its terms of use ask
/// wherever the data is shown.
pub const NOTICE: &str = "© 2025 The MITRE Corporation. This work is reproduced and distributed \
                          with the permission of The MITRE Corporation.";

/// The compiled table shipped in the binary.
const SHIPPED: &str = include_str!("../data/attack-enterprise.tsv");

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tactic {
    /// `TA0002`.
    pub id: String,
    /// The short name techniques are filed under (`execution`).
    pub short: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Technique {
    /// `T1059` or `T1059.001`.
    pub id: String,
    pub name: String,
    /// Short names of its tactics.
    pub tactics: Vec<String>,
    /// Retired by MITRE (kept so old tags still resolve).
    pub deprecated: bool,
}

impl Technique {
    /// The parent of a sub-technique (`T1059` of `T1059.001`).
    pub fn parent_id(&self) -> Option<&str> {
        self.id.split_once('.').map(|(parent, _)| parent)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mitigation {
    /// `M1038`.
    pub id: String,
    pub name: String,
    /// The first sentence of MITRE's description.
    pub summary: String,
}

/// A mitigation recommended for some techniques.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recommendation<'a> {
    pub mitigation: &'a Mitigation,
    /// The given techniques it addresses.
    pub techniques: Vec<&'a str>,
}

/// The compiled data.
#[derive(Debug, Default)]
pub struct Attack {
    tactics: Vec<Tactic>,
    techniques: Vec<Technique>,
    mitigations: Vec<Mitigation>,
    technique_at: HashMap<String, usize>,
    /// Revoked id to the id that replaced it.
    revoked: HashMap<String, String>,
    /// Per technique, the mitigations addressing it.
    mitigated_by: Vec<Vec<usize>>,
}

/// The table shipped in the binary, read on first use.
pub fn shipped() -> &'static Attack {
    static TABLE: OnceLock<Attack> = OnceLock::new();
    TABLE.get_or_init(|| parse(SHIPPED).unwrap_or_default())
}

impl Attack {
    pub fn tactics(&self) -> &[Tactic] {
        &self.tactics
    }

    pub fn techniques(&self) -> &[Technique] {
        &self.techniques
    }

    pub fn mitigations(&self) -> &[Mitigation] {
        &self.mitigations
    }

    /// A technique by id (any case), a revoked id giving its replacement.
    pub fn technique(&self, id: &str) -> Option<&Technique> {
        let id = id.trim().to_ascii_uppercase();
        let id = self.revoked.get(&id).unwrap_or(&id);
        self.technique_at.get(id).map(|&i| &self.techniques[i])
    }

    /// The technique a Sigma tag names (`attack.t1059.001`); `None` for
    /// tactic, group and software tags and for unknown ids.
    pub fn technique_of_tag(&self, tag: &str) -> Option<&Technique> {
        technique_id_of_tag(tag).and_then(|id| self.technique(id))
    }

    pub fn tactic(&self, short: &str) -> Option<&Tactic> {
        self.tactics.iter().find(|t| t.short == short)
    }

    /// The mitigations addressing a technique: its own, or its parent's
    /// when MITRE names none for the sub-technique itself.
    fn mitigations_of(&self, technique: &Technique) -> &[usize] {
        let own = &self.mitigated_by[self.technique_at[&technique.id]];
        match technique.parent_id().and_then(|p| self.technique_at.get(p)) {
            Some(&parent) if own.is_empty() => &self.mitigated_by[parent],
            _ => own,
        }
    }

    /// The mitigations addressing any of `technique_ids`, those addressing
    /// the most first (then by id); unknown ids are passed over.
    pub fn recommend<S: AsRef<str>>(&self, technique_ids: &[S]) -> Vec<Recommendation<'_>> {
        let mut addressed: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
        for id in technique_ids {
            let Some(technique) = self.technique(id.as_ref()) else {
                continue;
            };
            for &m in self.mitigations_of(technique) {
                addressed.entry(m).or_default().insert(&technique.id);
            }
        }
        let mut out: Vec<Recommendation<'_>> = addressed
            .into_iter()
            .map(|(m, techniques)| Recommendation {
                mitigation: &self.mitigations[m],
                techniques: techniques.into_iter().collect(),
            })
            .collect();
        out.sort_by(|a, b| {
            b.techniques
                .len()
                .cmp(&a.techniques.len())
                .then_with(|| a.mitigation.id.cmp(&b.mitigation.id))
        });
        out
    }
}

/// How many rules name each technique.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// `(technique id, rules)`, by id.
    pub techniques: Vec<(String, usize)>,
    /// Technique tags the data does not know, with their rule counts.
    pub unresolved: Vec<(String, usize)>,
}

impl Attack {
    /// The coverage of rules, each given by its tags.
    pub fn coverage<'a, T: AsRef<str> + 'a>(
        &self,
        rules: impl IntoIterator<Item = &'a [T]>,
    ) -> Coverage {
        let mut covered: BTreeMap<String, usize> = BTreeMap::new();
        let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
        for tags in rules {
            let mut ids: BTreeSet<String> = BTreeSet::new();
            let mut missing: BTreeSet<String> = BTreeSet::new();
            for tag in tags {
                let tag = tag.as_ref().to_ascii_lowercase();
                match (technique_id_of_tag(&tag), self.technique_of_tag(&tag)) {
                    (_, Some(t)) => ids.insert(t.id.clone()),
                    (Some(id), None) => missing.insert(id.to_ascii_uppercase()),
                    (None, None) => false,
                };
            }
            for id in ids {
                *covered.entry(id).or_default() += 1;
            }
            for id in missing {
                *unknown.entry(id).or_default() += 1;
            }
        }
        Coverage {
            techniques: covered.into_iter().collect(),
            unresolved: unknown.into_iter().collect(),
        }
    }
}

/// A tactic's share of covered techniques.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TacticCoverage<'a> {
    pub tactic: &'a Tactic,
    /// Current techniques and sub-techniques filed under it that a rule names.
    pub covered: usize,
    pub total: usize,
}

impl Attack {
    /// Per tactic, in the matrix's order, how many of its current techniques a
    /// coverage names.
    pub fn tactic_coverage(&self, coverage: &Coverage) -> Vec<TacticCoverage<'_>> {
        let covered: BTreeSet<&str> = coverage
            .techniques
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        let mut out: Vec<TacticCoverage<'_>> = self
            .tactics
            .iter()
            .map(|tactic| TacticCoverage {
                tactic,
                covered: 0,
                total: 0,
            })
            .collect();
        for t in self.techniques.iter().filter(|t| !t.deprecated) {
            for row in out
                .iter_mut()
                .filter(|r| t.tactics.contains(&r.tactic.short))
            {
                row.total += 1;
                row.covered += usize::from(covered.contains(t.id.as_str()));
            }
        }
        out
    }
}

/// The ATT&CK version of the shipped data (mitre/cti of 2025-11-13).
pub const ATTACK_VERSION: &str = "18";

/// An ATT&CK Navigator layer (format 4.5) of a coverage: each technique
/// scored by its rule count.
pub fn navigator_layer(coverage: &Coverage, name: &str, description: &str) -> serde_json::Value {
    let max = coverage
        .techniques
        .iter()
        .map(|(_, n)| *n)
        .max()
        .unwrap_or(1);
    let techniques: Vec<serde_json::Value> = coverage
        .techniques
        .iter()
        .map(|(id, n)| {
            serde_json::json!({
                "techniqueID": id,
                "score": n,
                "comment": format!("{n} rule{}", if *n == 1 { "" } else { "s" }),
                "enabled": true,
                "showSubtechniques": id.contains('.'),
            })
        })
        .collect();
    serde_json::json!({
        "name": name,
        "versions": {"attack": ATTACK_VERSION, "navigator": "5.1.0", "layer": "4.5"},
        "domain": "enterprise-attack",
        "description": description,
        "techniques": techniques,
        "gradient": {"colors": ["#ffe766", "#8ec843"], "minValue": 1, "maxValue": max.max(1)},
        "legendItems": [],
        "metadata": [{"name": "notice", "value": NOTICE}],
        "hideDisabled": false,
        "selectTechniquesAcrossTactics": true,
        "selectSubtechniquesWithParent": false,
    })
}

/// The technique id of a tag (`attack.t1059.001` to `T1059.001`).
pub fn technique_id_of_tag(tag: &str) -> Option<&str> {
    let id = tag.strip_prefix("attack.")?;
    let digits = id.strip_prefix(['t', 'T'])?;
    let (main, sub) = digits.split_once('.').unwrap_or((digits, "000"));
    let numeric = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    (numeric(main, 4) && numeric(sub, 3)).then_some(id)
}

/// Reads a compiled table.
pub fn parse(text: &str) -> Result<Attack, String> {
    let mut attack = Attack::default();
    let mut mitigates: Vec<(String, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let bad = || format!("line {}: {line:?}", n + 1);
        match cols.as_slice() {
            ["tactic", id, short, name] => attack.tactics.push(Tactic {
                id: id.to_string(),
                short: short.to_string(),
                name: name.to_string(),
            }),
            ["technique", id, name, tactics, deprecated] => {
                attack
                    .technique_at
                    .insert(id.to_string(), attack.techniques.len());
                attack.techniques.push(Technique {
                    id: id.to_string(),
                    name: name.to_string(),
                    tactics: tactics
                        .split(',')
                        .filter(|t| !t.is_empty())
                        .map(String::from)
                        .collect(),
                    deprecated: *deprecated == "deprecated",
                });
            }
            ["mitigation", id, name, summary] => attack.mitigations.push(Mitigation {
                id: id.to_string(),
                name: name.to_string(),
                summary: summary.to_string(),
            }),
            ["mitigates", mitigation, techniques] => {
                for t in techniques.split(',') {
                    mitigates.push((mitigation.to_string(), t.to_string()));
                }
            }
            ["revoked", old, new] => {
                attack.revoked.insert(old.to_string(), new.to_string());
            }
            _ => return Err(bad()),
        }
    }
    attack.mitigated_by = vec![Vec::new(); attack.techniques.len()];
    let mitigation_at: HashMap<&str, usize> = attack
        .mitigations
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.as_str(), i))
        .collect();
    for (m, t) in &mitigates {
        let (Some(&m), Some(&t)) = (mitigation_at.get(m.as_str()), attack.technique_at.get(t))
        else {
            return Err(format!("mitigates {m} {t}: unknown id"));
        };
        attack.mitigated_by[t].push(m);
    }
    Ok(attack)
}

/// The parts of a STIX object the table needs.
#[derive(Deserialize)]
struct Object {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    external_references: Vec<Reference>,
    #[serde(default)]
    kill_chain_phases: Vec<Phase>,
    #[serde(default)]
    x_mitre_shortname: String,
    #[serde(default)]
    x_mitre_deprecated: bool,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    relationship_type: String,
    #[serde(default)]
    tactic_refs: Vec<String>,
    #[serde(default)]
    source_ref: String,
    #[serde(default)]
    target_ref: String,
}

#[derive(Deserialize)]
struct Reference {
    source_name: String,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct Phase {
    kill_chain_name: String,
    phase_name: String,
}

#[derive(Deserialize)]
struct Bundle {
    objects: Vec<Object>,
}

impl Object {
    /// The ATT&CK id (`T1059.001`, `M1038`, `TA0002`).
    fn attack_id(&self) -> Option<&str> {
        self.external_references
            .iter()
            .find(|r| r.source_name == "mitre-attack")
            .and_then(|r| r.external_id.as_deref())
    }
}

/// Compiles the STIX data of `dir` (the `enterprise-attack` directory of
/// mitre/cti, one bundle per file under a directory per type) into the
/// table's text.
pub fn compile(dir: &Path) -> Result<String, String> {
    let read = |kind: &str| read_objects(&dir.join(kind));
    let patterns = read("attack-pattern")?;
    let courses = read("course-of-action")?;
    let relationships = read("relationship")?;
    let mut tactics = read("x-mitre-tactic")?;
    tactics.retain(|t| !t.revoked && !t.x_mitre_deprecated);

    // STIX id to ATT&CK id, for the relationships.
    let mut attack_id: HashMap<&str, &str> = HashMap::new();
    let mut out = String::new();
    out.push_str(&format!(
        "# MITRE ATT&CK Enterprise, compiled by watchfloor-intel (attack::compile).\n# {NOTICE}\n\
         # The ATT&CK terms of use: https://attack.mitre.org/resources/legal-and-branding/terms-of-use/\n"
    ));
    // Tactics in the matrix's order (reconnaissance to impact).
    let matrix = read("x-mitre-matrix")?;
    let order: Vec<&str> = matrix
        .iter()
        .flat_map(|m| m.tactic_refs.iter().map(String::as_str))
        .collect();
    tactics.sort_by_key(|t| order.iter().position(|r| *r == t.id).unwrap_or(usize::MAX));
    let rows: Vec<String> = tactics
        .iter()
        .filter_map(|t| {
            let id = t.attack_id()?;
            Some(format!(
                "tactic\t{id}\t{}\t{}",
                t.x_mitre_shortname,
                clean(&t.name)
            ))
        })
        .collect();
    lines_into(&mut out, rows);

    let mut rows = Vec::new();
    for p in patterns.iter().filter(|p| !p.revoked) {
        let Some(id) = p.attack_id() else { continue };
        attack_id.insert(&p.id, id);
        let tactics: Vec<&str> = p
            .kill_chain_phases
            .iter()
            .filter(|k| k.kill_chain_name == "mitre-attack")
            .map(|k| k.phase_name.as_str())
            .collect();
        let state = if p.x_mitre_deprecated {
            "deprecated"
        } else {
            "current"
        };
        rows.push(format!(
            "technique\t{id}\t{}\t{}\t{state}",
            clean(&p.name),
            tactics.join(",")
        ));
    }
    rows.sort();
    lines_into(&mut out, rows);

    let mut rows = Vec::new();
    for c in courses
        .iter()
        .filter(|c| !c.revoked && !c.x_mitre_deprecated)
    {
        let Some(id) = c.attack_id().filter(|id| id.starts_with('M')) else {
            continue;
        };
        attack_id.insert(&c.id, id);
        rows.push(format!(
            "mitigation\t{id}\t{}\t{}",
            clean(&c.name),
            summary(&c.description)
        ));
    }
    rows.sort();
    lines_into(&mut out, rows);

    let revoked_ids: HashMap<&str, &str> = patterns
        .iter()
        .filter(|p| p.revoked)
        .filter_map(|p| Some((p.id.as_str(), p.attack_id()?)))
        .collect();
    let mut mitigates: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut revoked: BTreeMap<&str, &str> = BTreeMap::new();
    for r in relationships
        .iter()
        .filter(|r| !r.revoked && !r.x_mitre_deprecated)
    {
        match r.relationship_type.as_str() {
            "mitigates" => {
                if let (Some(m), Some(t)) = (
                    attack_id.get(r.source_ref.as_str()),
                    attack_id.get(r.target_ref.as_str()),
                ) {
                    mitigates.entry(m).or_default().insert(t);
                }
            }
            "revoked-by" => {
                if let (Some(old), Some(new)) = (
                    revoked_ids.get(r.source_ref.as_str()),
                    attack_id.get(r.target_ref.as_str()),
                ) {
                    revoked.insert(old, new);
                }
            }
            _ => {}
        }
    }
    for (m, techniques) in mitigates {
        let list: Vec<&str> = techniques.into_iter().collect();
        out.push_str(&format!("mitigates\t{m}\t{}\n", list.join(",")));
    }
    for (old, new) in revoked {
        // An id reused for a current technique is not a revoked one.
        if !attack_id.values().any(|id| id == &old) {
            out.push_str(&format!("revoked\t{old}\t{new}\n"));
        }
    }
    Ok(out)
}

fn lines_into(out: &mut String, rows: Vec<String>) {
    for row in rows {
        out.push_str(&row);
        out.push('\n');
    }
}

/// Every object of the bundles in one directory.
fn read_objects(dir: &Path) -> Result<Vec<Object>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let bundle: Bundle =
            serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        out.extend(bundle.objects.into_iter().filter(|o| !o.kind.is_empty()));
    }
    Ok(out)
}

/// A name or text on one line, without tabs.
fn clean(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first sentence of a description, without its citations, markup
/// and links, at most 300 characters.
fn summary(description: &str) -> String {
    let mut text = String::with_capacity(description.len());
    let mut rest = description;
    while let Some(at) = rest.find("(Citation:") {
        text.push_str(rest[..at].trim_end());
        rest = rest[at..].split_once(')').map_or("", |(_, after)| after);
    }
    text.push_str(rest);
    let text = strip_markup(&text);
    let text = clean(&text);
    let first = match text.find(". ") {
        Some(end) => &text[..=end],
        None => &text,
    };
    let first = first.trim();
    match first.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &first[..cut]),
        None => first.to_string(),
    }
}

/// Text without HTML tags, and Markdown links as their words.
fn strip_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            ']' if chars.peek() == Some(&'(') => {
                // [words](url): keep the words, drop the url
                for c in chars.by_ref() {
                    if c == ')' {
                        break;
                    }
                }
            }
            '[' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_techniques_and_nothing_else() {
        assert_eq!(technique_id_of_tag("attack.t1059.001"), Some("t1059.001"));
        assert_eq!(technique_id_of_tag("attack.T1566"), Some("T1566"));
        for not in [
            "attack.execution",
            "attack.g0016",
            "attack.s0002",
            "attack.t15",
            "t1059",
        ] {
            assert_eq!(technique_id_of_tag(not), None, "{not}");
        }
    }

    #[test]
    fn the_shipped_table_reads_and_resolves_revoked_ids() {
        let attack = shipped();
        assert!(
            attack.techniques().len() > 600,
            "{}",
            attack.techniques().len()
        );
        assert!(attack.mitigations().len() > 40);
        assert_eq!(attack.tactics().len(), 14);
        let t = attack.technique_of_tag("attack.t1059.001").unwrap();
        assert_eq!(
            (t.name.as_str(), t.tactics.as_slice()),
            ("PowerShell", &["execution".to_string()][..])
        );
        // T1086 (PowerShell) was revoked by T1059.001.
        assert_eq!(
            attack.technique("t1086").map(|t| t.id.as_str()),
            Some("T1059.001")
        );
        assert_eq!(
            attack.tactic("initial-access").map(|t| t.id.as_str()),
            Some("TA0001")
        );
        assert!(NOTICE.contains("MITRE"));
    }

    #[test]
    fn phishing_and_scripting_get_their_mitigations_ranked() {
        let attack = shipped();
        let ranked = attack.recommend(&["T1566", "T1059", "T9999"]);
        let ids: Vec<&str> = ranked.iter().map(|r| r.mitigation.id.as_str()).collect();
        // Restrict Web-Based Content, Audit and Antivirus/Antimalware address
        // both; then the ones of either, by id.
        assert_eq!(
            ids,
            [
                "M1021", "M1047", "M1049", "M1017", "M1026", "M1031", "M1033", "M1038", "M1040",
                "M1042", "M1045", "M1054"
            ]
        );
        assert_eq!(ranked[0].techniques, ["T1059", "T1566"]);
        assert_eq!(ranked[0].mitigation.name, "Restrict Web-Based Content");
    }

    #[test]
    fn a_sub_technique_without_mitigations_of_its_own_gets_its_parents() {
        let attack = shipped();
        let sub = attack
            .techniques()
            .iter()
            .find(|t| {
                let parent = t.parent_id().and_then(|p| attack.technique(p));
                !t.deprecated
                    && attack.mitigated_by[attack.technique_at[&t.id]].is_empty()
                    && parent.is_some_and(|p| {
                        !attack.mitigated_by[attack.technique_at[&p.id]].is_empty()
                    })
            })
            .expect("such a sub-technique");
        let parent = attack.technique(sub.parent_id().unwrap()).unwrap();
        let of_sub: Vec<_> = attack
            .recommend(&[&sub.id])
            .iter()
            .map(|r| r.mitigation.id.clone())
            .collect();
        let of_parent: Vec<_> = attack
            .recommend(&[&parent.id])
            .iter()
            .map(|r| r.mitigation.id.clone())
            .collect();
        assert_eq!(of_sub, of_parent, "{}", sub.id);
    }

    #[test]
    fn coverage_counts_rules_per_technique_and_layers_score_them() {
        let rules: [&[&str]; 3] = [
            &["attack.execution", "attack.t1059.001", "attack.t1086"],
            &["attack.t1059.001", "attack.t1690"],
            &["attack.t1566"],
        ];
        let c = shipped().coverage(rules);
        assert_eq!(
            c.techniques,
            [("T1059.001".to_string(), 2), ("T1566".to_string(), 1)],
            "a rule counts once per technique, revoked ids as their replacement"
        );
        assert_eq!(c.unresolved, [("T1690".to_string(), 1)]);
        let tactics = shipped().tactic_coverage(&c);
        let execution = tactics
            .iter()
            .find(|t| t.tactic.short == "execution")
            .unwrap();
        assert_eq!(execution.covered, 1);
        assert!(execution.total > 30, "{}", execution.total);
        let layer = navigator_layer(&c, "rules", "");
        assert_eq!(layer["domain"], "enterprise-attack");
        assert_eq!(layer["techniques"][0]["techniqueID"], "T1059.001");
        assert_eq!(layer["techniques"][0]["score"], 2);
        assert_eq!(layer["gradient"]["maxValue"], 2);
    }

    #[test]
    fn summaries_lose_citations_markup_and_links() {
        let s = summary(
            "Use <code>AppLocker</code> to block [scripts](https://x.example) (Citation: Microsoft). More text.",
        );
        assert_eq!(s, "Use AppLocker to block scripts.");
    }

    #[test]
    fn bad_tables_name_the_line() {
        assert!(parse("tactic\tTA0001\n").unwrap_err().contains("line 1"));
        assert!(parse("mitigates\tM1\tT1\n")
            .unwrap_err()
            .contains("unknown"));
    }
}
