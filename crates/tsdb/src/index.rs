//! The inverted label index: for each label name and value, the sorted ids of
//! the series that carry it.

use std::collections::BTreeMap;

use promql_parser::label::Matcher;

use crate::labels::Labels;

/// Postings lists of one set of series (the head or one block). Ids are
/// added in increasing order, so each list stays sorted without sorting.
#[derive(Debug, Default)]
pub struct Postings {
    by_label: BTreeMap<String, BTreeMap<String, Vec<u32>>>,
    all: Vec<u32>,
}

impl Postings {
    pub fn add(&mut self, id: u32, labels: &Labels) {
        self.all.push(id);
        for l in labels.iter() {
            self.by_label
                .entry(l.name.clone())
                .or_default()
                .entry(l.value.clone())
                .or_default()
                .push(id);
        }
    }

    /// Forgets series (ids sorted), e.g. after their data left the head.
    pub fn remove(&mut self, gone: &[u32]) {
        let keep = |ids: &mut Vec<u32>| ids.retain(|id| gone.binary_search(id).is_err());
        keep(&mut self.all);
        for values in self.by_label.values_mut() {
            values.values_mut().for_each(keep);
            values.retain(|_, ids| !ids.is_empty());
        }
        self.by_label.retain(|_, values| !values.is_empty());
    }

    /// The ids of the series every matcher accepts (a missing label has the
    /// empty value, as in Prometheus).
    pub fn select(&self, matchers: &[Matcher]) -> Vec<u32> {
        let mut result: Option<Vec<u32>> = None;
        // Matchers that cannot match the empty value narrow fastest: first.
        let mut ordered: Vec<&Matcher> = matchers.iter().collect();
        ordered.sort_by_key(|m| m.is_match(""));
        for m in ordered {
            let ids = self.matching(m);
            result = Some(match result {
                None => ids,
                Some(acc) => intersect(&acc, &ids),
            });
            if result.as_ref().is_some_and(|r| r.is_empty()) {
                break;
            }
        }
        result.unwrap_or_else(|| self.all.clone())
    }

    fn matching(&self, m: &Matcher) -> Vec<u32> {
        let values = self.by_label.get(&m.name);
        if m.is_match("") {
            // Everything except the series whose value for the label fails.
            let mut excluded: Vec<u32> = Vec::new();
            for (value, ids) in values.into_iter().flatten() {
                if !m.is_match(value) {
                    excluded = union(&excluded, ids);
                }
            }
            return difference(&self.all, &excluded);
        }
        let mut out = Vec::new();
        if let promql_parser::label::MatchOp::Equal = m.op {
            if let Some(ids) = values.and_then(|v| v.get(&m.value)) {
                out.extend_from_slice(ids);
            }
            return out;
        }
        for (value, ids) in values.into_iter().flatten() {
            if m.is_match(value) {
                out = union(&out, ids);
            }
        }
        out
    }

    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.by_label.keys().map(String::as_str)
    }

    /// Values of `name` with the series that carry each.
    pub fn label_values(&self, name: &str) -> impl Iterator<Item = (&str, &[u32])> {
        self.by_label
            .get(name)
            .into_iter()
            .flatten()
            .map(|(v, ids)| (v.as_str(), ids.as_slice()))
    }

    pub fn series_count(&self) -> usize {
        self.all.len()
    }
}

pub(crate) fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(a.len() + b.len()));
    while i < a.len() || j < b.len() {
        let take_a = j >= b.len() || (i < a.len() && a[i] <= b[j]);
        if take_a {
            if j < b.len() && a[i] == b[j] {
                j += 1;
            }
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out
}

fn difference(a: &[u32], b: &[u32]) -> Vec<u32> {
    a.iter()
        .copied()
        .filter(|id| b.binary_search(id).is_err())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::label::MatchOp;
    use proptest::prelude::*;

    fn matcher(name: &str, op: &str, value: &str) -> Matcher {
        let op = match op {
            "=" => MatchOp::Equal,
            "!=" => MatchOp::NotEqual,
            "=~" => MatchOp::Re(regex::Regex::new(&format!("^(?:{value})$")).unwrap()),
            _ => MatchOp::NotRe(regex::Regex::new(&format!("^(?:{value})$")).unwrap()),
        };
        Matcher::new(op, name, value)
    }

    fn index(series: &[Labels]) -> Postings {
        let mut p = Postings::default();
        for (id, l) in series.iter().enumerate() {
            p.add(id as u32, l);
        }
        p
    }

    fn pick(options: &[&'static str]) -> impl Strategy<Value = &'static str> {
        proptest::sample::select(options.to_vec())
    }

    fn arb_labels() -> impl Strategy<Value = Labels> {
        proptest::collection::vec((pick(&["a", "b", "c"]), pick(&["", "x", "y", "xy"])), 0..4)
            .prop_map(Labels::from_pairs)
    }

    fn arb_matcher() -> impl Strategy<Value = Matcher> {
        (
            pick(&["a", "b", "d"]),
            pick(&["=", "!=", "=~", "!~"]),
            pick(&["", "x", "x.*", "y|xy", ".*"]),
        )
            .prop_map(|(n, op, v)| matcher(n, op, v))
    }

    proptest! {
        /// The index agrees with checking every series by brute force.
        #[test]
        fn select_agrees_with_a_scan(
            series in proptest::collection::vec(arb_labels(), 0..30),
            matchers in proptest::collection::vec(arb_matcher(), 0..4),
        ) {
            let p = index(&series);
            let want: Vec<u32> = series.iter().enumerate()
                .filter(|(_, l)| matchers.iter().all(|m| m.is_match(l.value(&m.name))))
                .map(|(i, _)| i as u32).collect();
            prop_assert_eq!(p.select(&matchers), want);
        }
    }

    #[test]
    fn removed_series_are_gone_from_every_list() {
        let series = [
            Labels::from_pairs([("a", "x")]),
            Labels::from_pairs([("a", "y")]),
        ];
        let mut p = index(&series);
        p.remove(&[0]);
        assert_eq!(p.select(&[matcher("a", "=~", ".+")]), vec![1]);
        assert_eq!(
            p.label_values("a").map(|(v, _)| v).collect::<Vec<_>>(),
            vec!["y"]
        );
    }
}
