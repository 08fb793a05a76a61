//! The ATT&CK table against the shared corpus: the shipped table is what
//! the corpus's STIX data compiles to, and every technique tag of the
//! SigmaHQ rules resolves to a technique with a name and a tactic, but for
//! the ones newer than the data (reported).

use std::collections::BTreeSet;
use std::path::Path;

use watchfloor_intel::attack::{compile, shipped, technique_id_of_tag};

#[test]
fn the_shipped_table_is_the_corpus_compiled() {
    let Some(corpus) = watchfloor_testkit::corpus("ATT&CK table") else {
        return;
    };
    let compiled = compile(&corpus.join("intel/attack/enterprise-attack")).unwrap();
    let shipped_text = include_str!("../data/attack-enterprise.tsv");
    assert!(
        compiled == shipped_text,
        "crates/intel/data/attack-enterprise.tsv is stale: run the compile_attack example"
    );
    let notice = std::fs::read_to_string(corpus.join("intel/attack/LICENSE.txt")).unwrap();
    assert!(
        notice.contains(watchfloor_intel::attack::NOTICE),
        "MITRE's notice, word for word"
    );
}

/// The `attack.tNNNN` tags of every rule file under `dir`.
fn technique_tags(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            technique_tags(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for line in text.lines() {
                let tag = line
                    .trim()
                    .trim_start_matches("- ")
                    .trim()
                    .to_ascii_lowercase();
                if technique_id_of_tag(&tag).is_some() {
                    out.insert(tag);
                }
            }
        }
    }
}

#[test]
fn every_technique_tag_of_the_sigma_rules_resolves_but_the_newer_ones() {
    let Some(corpus) = watchfloor_testkit::corpus("Sigma tags against ATT&CK") else {
        return;
    };
    let mut tags = BTreeSet::new();
    for entry in std::fs::read_dir(corpus.join("sigma")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("rules") {
            technique_tags(&entry.path(), &mut tags);
        }
    }
    let attack = shipped();
    let mut unknown = Vec::new();
    for tag in &tags {
        match attack.technique_of_tag(tag) {
            Some(t) => assert!(!t.tactics.is_empty() || t.deprecated, "{tag}: no tactic"),
            None => unknown.push(tag.trim_start_matches("attack.").to_ascii_uppercase()),
        }
    }
    println!(
        "{} technique tags, {} resolve; newer than the ATT&CK data: {unknown:?}",
        tags.len(),
        tags.len() - unknown.len()
    );
    assert!(tags.len() > 350, "{}", tags.len());
    // corpus/README.md: T1685, T1686, T1689, T1690 and their sub-techniques
    // are newer than this ATT&CK release.
    let newer = ["T1685", "T1686", "T1689", "T1690"];
    for id in &unknown {
        assert!(
            newer.iter().any(|n| id.starts_with(n)),
            "{id} does not resolve"
        );
    }
}
