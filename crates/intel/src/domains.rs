//! Domain indicators match the domain and every name under it: a lookup
//! tries the name, then each parent, most specific first, down to two
//! labels (an indicator is never a bare top-level domain).

use std::collections::HashMap;

/// Looked up for every value of every event: foldhash (seeded per
/// process) rather than SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Debug, Clone, Default)]
pub struct DomainTable {
    names: FastMap<String, u32>,
}

impl DomainTable {
    /// Adds a normalised domain (lower case, no trailing dot).
    pub fn insert(&mut self, domain: String, value: u32) {
        self.names.insert(domain, value);
    }

    /// The value of the most specific domain that is `name` or a parent of
    /// it. `name` may be in any case and end with a dot.
    pub fn lookup(&self, name: &str) -> Option<u32> {
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.lookup_lower(&name.to_ascii_lowercase());
        }
        self.lookup_lower(name)
    }

    fn lookup_lower(&self, name: &str) -> Option<u32> {
        let mut rest = name;
        loop {
            // A bare top-level domain is never looked up.
            let (_, parent) = rest.split_once('.')?;
            if let Some(v) = self.names.get(rest) {
                return Some(*v);
            }
            rest = parent;
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn subdomains_match_their_parents_most_specific_first() {
        let mut t = DomainTable::default();
        t.insert("example.com".into(), 1);
        t.insert("bad.example.com".into(), 2);
        assert_eq!(t.lookup("example.com"), Some(1));
        assert_eq!(t.lookup("WWW.Example.COM."), Some(1));
        assert_eq!(t.lookup("x.bad.example.com"), Some(2));
        assert_eq!(t.lookup("notexample.com"), None, "a suffix is not a parent");
        assert_eq!(t.lookup("com"), None);
        assert_eq!(t.lookup(""), None);
    }

    const LABELS: [&str; 4] = ["a", "b", "ex", "com"];

    fn name() -> impl Strategy<Value = String> {
        prop::collection::vec(0..LABELS.len(), 1..5)
            .prop_map(|ls| ls.iter().map(|l| LABELS[*l]).collect::<Vec<_>>().join("."))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn lookups_agree_with_checking_every_domain(
            domains in prop::collection::vec(name(), 0..12),
            probes in prop::collection::vec(name(), 1..12),
        ) {
            let mut t = DomainTable::default();
            let mut kept: Vec<(String, u32)> = Vec::new();
            for (d, v) in domains.into_iter().zip(0u32..) {
                if d.contains('.') {
                    t.insert(d.clone(), v);
                    kept.retain(|(k, _)| *k != d);
                    kept.push((d, v));
                }
            }
            for p in probes {
                // The longest domain that is the name or ends with "." + it.
                let expected = kept
                    .iter()
                    .filter(|(d, _)| p == *d || p.ends_with(&format!(".{d}")))
                    .max_by_key(|(d, _)| d.len())
                    .map(|(_, v)| *v);
                prop_assert_eq!(t.lookup(&p), expected, "{}", p);
            }
        }
    }
}
