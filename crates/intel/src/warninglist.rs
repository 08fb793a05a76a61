//! MISP warninglists: lists of known-benign values (public resolvers, CDN
//! ranges, top domains) that keep an indicator from matching, with the
//! list named in the explanation.
//!
//! A directory of MISP's layout is read: `lists/<name>/list.json`, each
//! with `name`, `type` and `list`. Types: `cidr` (addresses and networks:
//! an address inside one is warned), `hostname` (a domain and every name
//! under it), `string` (the exact value, any case), `substring` (a value
//! holding it). `regex` lists are counted as not loaded (their patterns
//! are PCRE).

use std::collections::HashMap;
use std::path::Path;

use crate::domains::DomainTable;
use crate::indicator::{normalize_domain, parse_net, Kind};
use crate::trie::NetTable;

#[derive(serde::Deserialize)]
struct ListFile {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    list: Vec<String>,
}

/// Every loaded warninglist, indexed for lookups.
#[derive(Default)]
pub struct Warninglists {
    names: Vec<String>,
    nets: NetTable,
    hostnames: DomainTable,
    strings: HashMap<String, u32>,
    substrings: Vec<(String, u32)>,
    /// Lists read but not used, with why.
    pub skipped: Vec<String>,
}

impl Warninglists {
    /// Loads `dir/lists/*/list.json` (or `dir/*/list.json`); a file that
    /// does not read is an error naming it.
    pub fn load(dir: &Path) -> Result<Warninglists, String> {
        let lists = if dir.join("lists").is_dir() {
            dir.join("lists")
        } else {
            dir.to_path_buf()
        };
        let mut entries: Vec<_> = std::fs::read_dir(&lists)
            .map_err(|e| format!("{}: {e}", lists.display()))?
            .filter_map(|e| e.ok().map(|e| e.path().join("list.json")))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        let mut w = Warninglists::default();
        for path in entries {
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let file: ListFile =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            w.add(file.name, &file.kind, &file.list);
        }
        Ok(w)
    }

    /// Adds one list of values of a MISP type.
    pub fn add(&mut self, name: String, kind: &str, values: &[String]) {
        let id = self.names.len() as u32;
        match kind {
            "cidr" => values
                .iter()
                .filter_map(|v| parse_net(v.trim()))
                .for_each(|net| self.nets.insert(net, id)),
            "hostname" => values
                .iter()
                .filter_map(|v| normalize_domain(v.trim().trim_start_matches("*.")))
                .for_each(|d| self.hostnames.insert(d, id)),
            "string" => values.iter().for_each(|v| {
                self.strings.insert(v.trim().to_ascii_lowercase(), id);
            }),
            "substring" => values
                .iter()
                .filter(|v| !v.trim().is_empty())
                .for_each(|v| self.substrings.push((v.trim().to_ascii_lowercase(), id))),
            other => {
                self.skipped
                    .push(format!("{name}: type {other} is not supported"));
                return;
            }
        }
        self.names.push(name);
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name of a list that warns about `value` (normalised, of `kind`).
    pub fn check(&self, kind: Kind, value: &str) -> Option<&str> {
        let found = match kind {
            Kind::Ip => parse_net(value).and_then(|n| self.nets.lookup(n.network())),
            Kind::Domain => self.hostnames.lookup(value),
            Kind::Url => url::Url::parse(value)
                .ok()
                .and_then(|u| u.host_str().and_then(|h| self.hostnames.lookup(h))),
            _ => None,
        };
        let found = found.or_else(|| self.check_text(value));
        found.map(|id| self.names[id as usize].as_str())
    }

    fn check_text(&self, value: &str) -> Option<u32> {
        let lower = value.to_ascii_lowercase();
        self.strings.get(&lower).copied().or_else(|| {
            self.substrings
                .iter()
                .find(|(s, _)| lower.contains(s.as_str()))
                .map(|(_, id)| *id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists() -> Warninglists {
        let mut w = Warninglists::default();
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        w.add(
            "Public DNS resolvers".into(),
            "cidr",
            &v(&["8.8.8.8/32", "1.1.1.0/24"]),
        );
        w.add(
            "CDN hostnames".into(),
            "hostname",
            &v(&["cdn.example.net", "*.akamai.example"]),
        );
        w.add("Sinkholes".into(), "string", &v(&["sinkhole@Example.org"]));
        w.add("Odd".into(), "regex", &v(&["^x$"]));
        w
    }

    #[test]
    fn benign_values_are_named_by_their_list() {
        let w = lists();
        assert_eq!(w.check(Kind::Ip, "8.8.8.8"), Some("Public DNS resolvers"));
        assert_eq!(w.check(Kind::Ip, "1.1.1.77"), Some("Public DNS resolvers"));
        assert_eq!(w.check(Kind::Ip, "203.0.113.9"), None);
        assert_eq!(
            w.check(Kind::Domain, "img.cdn.example.net"),
            Some("CDN hostnames")
        );
        assert_eq!(
            w.check(Kind::Domain, "x.akamai.example"),
            Some("CDN hostnames")
        );
        assert_eq!(
            w.check(Kind::Url, "https://cdn.example.net/lib.js"),
            Some("CDN hostnames")
        );
        assert_eq!(
            w.check(Kind::Email, "sinkhole@example.org"),
            Some("Sinkholes")
        );
        assert_eq!(w.check(Kind::Domain, "evil.example.com"), None);
        assert_eq!(w.len(), 3);
        assert_eq!(w.skipped, ["Odd: type regex is not supported"]);
    }

    #[test]
    fn misp_warninglists_of_the_corpus_load() {
        let Some(dir) = watchfloor_testkit::corpus("MISP warninglists") else {
            return;
        };
        let w = Warninglists::load(&dir.join("intel/misp-warninglists")).expect("load");
        assert!(w.len() > 100, "{} lists", w.len());
        assert!(w.check(Kind::Ip, "8.8.8.8").is_some(), "Google's resolver");
        assert_eq!(
            w.check(Kind::Ip, "203.0.113.9"),
            Some("List of RFC 5735 CIDR blocks"),
            "documentation addresses are nobody's"
        );
        assert!(
            w.skipped.iter().all(|s| s.contains("regex")),
            "{:?}",
            w.skipped
        );
    }
}
