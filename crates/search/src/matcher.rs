//! Exact evaluation of a query on one event.
//!
//! The index holds blocks of events, and a block's terms only say that
//! it may hold a match (see `events.rs`). This module decides for each
//! event of such a block: it evaluates the query against the event's own
//! terms ([`crate::terms`], with positions), so an event matches exactly
//! when an index of that event alone would have answered the query.

use std::ops::{Bound, RangeBounds};

use crate::query::{Pattern, Query, WildPart};
use crate::terms::{
    self, as_number, kv_term, name_term, word_term, KV_SEP, MAX_KV_VALUE, WORD_SEP,
};
use crate::{EventDoc, Result, SearchError};

/// Whether a field name is one of `names` (lower-cased, as [`fields_of`]
/// gives them).
pub fn names_accept(names: &[String], name: &str) -> bool {
    if name.is_ascii() {
        names.iter().any(|n| n.eq_ignore_ascii_case(name))
    } else {
        names.contains(&terms::name_prefix(name))
    }
}

fn push_term(buf: &mut String, list: &mut Vec<(u32, u32, u32)>, term: &str, position: usize) {
    let start = buf.len() as u32;
    buf.push_str(term);
    list.push((start, buf.len() as u32, position as u32));
}

/// The terms of one event, sorted, with their positions; reused from one
/// event to the next so that a scan allocates little.
#[derive(Default)]
pub struct EventTerms {
    builder: terms::TermBuilder,
    buf: String,
    /// (start, end) in `buf`, and the position.
    terms: Vec<(u32, u32, u32)>,
}

impl EventTerms {
    /// Replaces the terms with those of `ev`.
    pub fn load(&mut self, ev: &EventDoc) {
        self.load_fields(ev, None);
    }

    /// Replaces the terms with those of the fields of `ev` named in
    /// `fields` (lower-cased), or of all its fields. Leaving fields out
    /// moves positions, but words of one value stay consecutive and
    /// values stay apart, so phrases match as before.
    pub fn load_fields(&mut self, ev: &EventDoc, fields: Option<&[String]>) {
        self.buf.clear();
        self.terms.clear();
        let (buf, list, builder) = (&mut self.buf, &mut self.terms, &mut self.builder);
        let mut add = |term: &str, position: usize| push_term(buf, list, term, position);
        match fields {
            None => builder.event(ev, |_| true, &mut add),
            Some(names) => builder.event(ev, |name| names_accept(names, name), &mut add),
        }
        self.sort();
    }

    /// Replaces the terms with those of `values` ((name, value) pairs, as
    /// [`terms::for_each_value`] gives an event's): the same terms and
    /// positions as [`Self::load_fields`] makes of an event with these values.
    pub fn load_values<'v>(&mut self, values: impl Iterator<Item = (&'v str, &'v str)>) {
        self.buf.clear();
        self.terms.clear();
        let (buf, list, builder) = (&mut self.buf, &mut self.terms, &mut self.builder);
        builder.values(values, |term, position| {
            push_term(buf, list, term, position)
        });
        self.sort();
    }

    fn sort(&mut self) {
        let buf = &self.buf;
        self.terms.sort_unstable_by(|a, b| {
            (&buf[a.0 as usize..a.1 as usize], a.2).cmp(&(&buf[b.0 as usize..b.1 as usize], b.2))
        });
    }

    fn term(&self, i: usize) -> &str {
        let (start, end, _) = self.terms[i];
        &self.buf[start as usize..end as usize]
    }

    /// Index of the first term not below `t`.
    fn first_at_or_above(&self, t: &str) -> usize {
        self.terms
            .partition_point(|&(s, e, _)| &self.buf[s as usize..e as usize] < t)
    }

    fn contains(&self, t: &str) -> bool {
        let i = self.first_at_or_above(t);
        i < self.terms.len() && self.term(i) == t
    }

    fn has_at(&self, t: &str, position: u32) -> bool {
        let i = self.first_at_or_above(t);
        self.terms[i..]
            .iter()
            .take_while(|&&(s, e, _)| &self.buf[s as usize..e as usize] == t)
            .any(|&(_, _, p)| p == position)
    }

    fn positions<'a>(&'a self, t: &'a str) -> impl Iterator<Item = u32> + 'a {
        let i = self.first_at_or_above(t);
        self.terms[i..]
            .iter()
            .take_while(move |&&(s, e, _)| &self.buf[s as usize..e as usize] == t)
            .map(|&(_, _, p)| p)
    }

    /// Terms in `[from, to)` (byte order), as a term range query reads them.
    fn between<'a>(
        &'a self,
        from: Bound<&str>,
        to: Bound<&'a str>,
    ) -> impl Iterator<Item = &'a str> {
        let start = match from {
            Bound::Unbounded => 0,
            Bound::Included(t) => self.first_at_or_above(t),
            Bound::Excluded(t) => {
                let i = self.first_at_or_above(t);
                i + (i..self.terms.len())
                    .take_while(|&j| self.term(j) == t)
                    .count()
            }
        };
        (start..self.terms.len())
            .map(|i| self.term(i))
            .take_while(move |t| match to {
                Bound::Unbounded => true,
                Bound::Included(hi) => *t <= hi,
                Bound::Excluded(hi) => *t < hi,
            })
    }
}

/// A query compiled for one time bucket (free text is looked up under
/// the field names of the bucket, as the index query does).
#[derive(Debug)]
pub enum Matcher {
    All,
    And(Vec<Matcher>),
    Or(Vec<Matcher>),
    Not(Box<Matcher>),
    /// Any of these terms, or any of these phrases (consecutive terms).
    Value {
        terms: Vec<String>,
        phrases: Vec<Vec<String>>,
    },
    /// A term matching the whole expression.
    Regex(regex::Regex),
    /// A term in a byte range.
    TermRange(Bound<String>, Bound<String>),
    /// A whole value of the field (after `prefix`) that is a number in range.
    NumberRange {
        prefix: String,
        above: String,
        range: (Bound<f64>, Bound<f64>),
    },
}

/// The fields (lower-cased) a query looks at, or `None` when it looks at
/// every field (free text).
pub fn fields_of(q: &Query) -> Option<Vec<String>> {
    fn walk(q: &Query, out: &mut Vec<String>) -> bool {
        match q {
            Query::All => true,
            Query::And(items) | Query::Or(items) => items.iter().all(|i| walk(i, out)),
            Query::Not(inner) => walk(inner, out),
            Query::Match { field: None, .. } => false,
            Query::Match {
                field: Some(name), ..
            }
            | Query::Exists(name)
            | Query::Range { field: name, .. } => {
                out.push(terms::name_prefix(name));
                true
            }
        }
    }
    let mut names = Vec::new();
    walk(q, &mut names).then(|| {
        names.sort();
        names.dedup();
        names
    })
}

impl Matcher {
    /// Compiles `q`; `names` are the field names free text is looked up under.
    pub fn compile(q: &Query, names: &[String]) -> Result<Matcher> {
        Ok(match q {
            Query::All => Matcher::All,
            Query::And(items) => Matcher::And(compile_all(items, names)?),
            Query::Or(items) => Matcher::Or(compile_all(items, names)?),
            Query::Not(inner) => Matcher::Not(Box::new(Matcher::compile(inner, names)?)),
            Query::Exists(name) => Matcher::Value {
                terms: vec![name_term(name)],
                phrases: Vec::new(),
            },
            Query::Match {
                field: Some(name),
                value,
            } => value_matcher(std::slice::from_ref(name), value)?,
            Query::Match { field: None, value } => value_matcher(names, value)?,
            Query::Range {
                field,
                lower,
                upper,
            } => range_matcher(field, lower, upper),
        })
    }

    /// Whether the event whose terms these are matches.
    pub fn matches(&self, ev: &EventTerms) -> bool {
        match self {
            Matcher::All => true,
            Matcher::And(items) => items.iter().all(|m| m.matches(ev)),
            Matcher::Or(items) => items.iter().any(|m| m.matches(ev)),
            Matcher::Not(inner) => !inner.matches(ev),
            Matcher::Value { terms, phrases } => {
                terms.iter().any(|t| ev.contains(t)) || phrases.iter().any(|p| has_phrase(ev, p))
            }
            Matcher::Regex(re) => (0..ev.terms.len()).any(|i| re.is_match(ev.term(i))),
            Matcher::TermRange(lo, hi) => ev
                .between(
                    lo.as_ref().map(String::as_str),
                    hi.as_ref().map(String::as_str),
                )
                .next()
                .is_some(),
            Matcher::NumberRange {
                prefix,
                above,
                range,
            } => ev
                .between(Bound::Included(prefix), Bound::Excluded(above))
                .any(|t| as_number(&t[prefix.len()..]).is_some_and(|n| range.contains(&n))),
        }
    }
}

fn compile_all(items: &[Query], names: &[String]) -> Result<Vec<Matcher>> {
    items.iter().map(|q| Matcher::compile(q, names)).collect()
}

fn has_phrase(ev: &EventTerms, words: &[String]) -> bool {
    let Some((first, rest)) = words.split_first() else {
        return false;
    };
    ev.positions(first).any(|p| {
        rest.iter()
            .enumerate()
            .all(|(i, w)| ev.has_at(w, p + 1 + i as u32))
    })
}

/// The terms a value is found under in each of `fields`: its whole value
/// (short ones), its one word, or its words in order.
pub fn value_terms(fields: &[String], v: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let words: Vec<&str> = crate::words::words(v).collect();
    let mut single = Vec::new();
    let mut phrases = Vec::new();
    for name in fields {
        if v.len() <= MAX_KV_VALUE {
            single.push(kv_term(name, v));
        }
        match words.as_slice() {
            [] => {}
            [word] => single.push(word_term(name, word)),
            several => phrases.push(several.iter().map(|w| word_term(name, w)).collect()),
        }
    }
    (single, phrases)
}

/// The expression a wildcard is: any of the field names, a separator
/// (whole value or word), and the pattern, over whole terms.
pub fn wildcard_pattern(fields: &[String], parts: &[WildPart]) -> String {
    let names: Vec<String> = fields
        .iter()
        .map(|n| regex_syntax::escape(&n.to_lowercase()))
        .collect();
    let pattern: String = parts
        .iter()
        .map(|p| match p {
            WildPart::Literal(s) => regex_syntax::escape(&s.to_lowercase()),
            WildPart::Any => ".*".to_string(),
            WildPart::One => ".".to_string(),
        })
        .collect();
    format!(
        "(?:{})[{}{}]{}",
        names.join("|"),
        KV_SEP,
        regex_syntax::escape(&WORD_SEP.to_string()),
        pattern
    )
}

fn value_matcher(fields: &[String], value: &Pattern) -> Result<Matcher> {
    if fields.is_empty() {
        return Ok(Matcher::Or(Vec::new()));
    }
    match value {
        Pattern::Word(v) | Pattern::Phrase(v) => {
            let (terms, phrases) = value_terms(fields, v);
            Ok(Matcher::Value { terms, phrases })
        }
        Pattern::Wildcard(parts) => {
            let whole = format!(r"\A(?:{})\z", wildcard_pattern(fields, parts));
            regex::Regex::new(&whole)
                .map(Matcher::Regex)
                .map_err(|e| SearchError::TooBroad(format!("wildcard too large to search: {e}")))
        }
    }
}

/// A number when both bounds read as numbers (an open end counts).
pub fn numeric_bounds(
    lower: &Bound<String>,
    upper: &Bound<String>,
) -> Option<(Bound<f64>, Bound<f64>)> {
    let numeric = |b: &Bound<String>| match b {
        Bound::Unbounded => Some(Bound::Unbounded),
        Bound::Included(v) => as_number(v).map(Bound::Included),
        Bound::Excluded(v) => as_number(v).map(Bound::Excluded),
    };
    Some((numeric(lower)?, numeric(upper)?))
}

/// The term bounds of a text range over `field`'s whole values.
pub fn text_range_terms(
    field: &str,
    lower: &Bound<String>,
    upper: &Bound<String>,
) -> (Bound<String>, Bound<String>) {
    range_terms(lower, upper, |v| kv_term(field, v), above_values(field))
}

/// The term bounds of a text range, each bound made a term by `term`;
/// unbounded, from `term("")` to `above` (the first term past them all).
pub fn range_terms(
    lower: &Bound<String>,
    upper: &Bound<String>,
    term: impl Fn(&str) -> String,
    above: String,
) -> (Bound<String>, Bound<String>) {
    let lo = match lower {
        Bound::Unbounded => Bound::Included(term("")),
        Bound::Included(v) => Bound::Included(term(v)),
        Bound::Excluded(v) => Bound::Excluded(term(v)),
    };
    let hi = match upper {
        Bound::Unbounded => Bound::Excluded(above),
        Bound::Included(v) => Bound::Included(term(v)),
        Bound::Excluded(v) => Bound::Excluded(term(v)),
    };
    (lo, hi)
}

/// Above every whole-value term of `field`: the character after the
/// separator.
pub fn above_values(field: &str) -> String {
    let mut above = terms::name_prefix(field);
    above.push(char::from(KV_SEP as u8 + 1));
    above
}

fn range_matcher(field: &str, lower: &Bound<String>, upper: &Bound<String>) -> Matcher {
    match numeric_bounds(lower, upper) {
        Some(range) => Matcher::NumberRange {
            prefix: kv_term(field, ""),
            above: above_values(field),
            range,
        },
        None => {
            let (lo, hi) = text_range_terms(field, lower, upper);
            Matcher::TermRange(lo, hi)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(fields: serde_json::Value) -> EventDoc {
        EventDoc {
            id: 1,
            time_ns: 0,
            received_ns: 0,
            tenant: "t".into(),
            source: "test".into(),
            host: Some("web1".into()),
            truncated: false,
            fields: fields.as_object().cloned().unwrap_or_default(),
        }
    }

    fn matches(query: &str, ev: &EventDoc) -> bool {
        let mut terms = EventTerms::default();
        terms.load(ev);
        let names = ["source", "host", "message", "port", "tags"].map(String::from);
        let q = crate::query::parse(query).expect("query");
        Matcher::compile(&q, &names)
            .expect("compile")
            .matches(&terms)
    }

    #[test]
    fn the_fields_a_query_reads() {
        let fields = |q: &str| fields_of(&crate::query::parse(q).expect("query"));
        assert_eq!(
            fields("Host:a AND NOT port:[1 TO 2] OR _exists_:HOST"),
            Some(vec!["host".to_string(), "port".to_string()])
        );
        assert_eq!(fields("host:a OR free"), None);
        assert_eq!(fields(""), Some(vec![]));
    }

    #[test]
    fn values_words_phrases_and_ranges() {
        let ev = event(serde_json::json!({
            "message": "Failed password for root from 10.0.0.5",
            "port": 22,
            "tags": ["a b", "c"],
        }));
        for yes in [
            "host:web1",
            "host:WEB*",
            "message:password",
            "\"password for root\"",
            "port:[20 TO 22]",
            "port:>=22",
            "host:[a TO x]",
            "10.0.0.5",
            "_exists_:tags",
            "NOT host:db1",
            "tags:c OR nothing",
        ] {
            assert!(matches(yes, &ev), "{yes}");
        }
        for no in [
            "host:web",
            "\"root password\"",
            "port:{22 TO 30]",
            "port:<22",
            "tags:\"b c\"",
            "_exists_:user",
            "NOT host:web1",
            "host:web1 AND nothing",
        ] {
            assert!(!matches(no, &ev), "{no}");
        }
    }
}
