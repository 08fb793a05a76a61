//! A cheap test on an event's stored line that turns away events which
//! cannot match a query, before the line is parsed.
//!
//! A query value is matched against an event's terms, which are its
//! values lower-cased (and their words). So when a query needs a value,
//! any run of plain ASCII characters from that value appears, ignoring
//! ASCII case, in the JSON line of every event that matches, as long as
//! the line itself is ASCII: serde_json writes such characters verbatim
//! (it escapes only `"`, `\` and control characters), and only outside
//! ASCII does lower-casing change bytes (the Kelvin sign becomes `k`).
//! The test is a necessary condition: it never turns away a match, and
//! whatever it lets through is checked exactly by the matcher.
//!
//! Blocks hold events of many kinds, so a query for one program or one
//! address turns most of a candidate block's lines away at the cost of a
//! substring scan instead of a parse.

use aho_corasick::{packed, AhoCorasick};

use crate::query::{Pattern, Query, WildPart};
use crate::terms::as_number;

/// Needles shorter than this turn too little away to pay for the scan.
const MIN_NEEDLE: usize = 3;

/// Case variants a vectorised (Teddy) search takes at once; past this,
/// needles are searched ignoring case by an automaton, several times
/// slower on a log line.
const MAX_VARIANTS: usize = 64;

/// The line test of one query.
pub struct Prefilter {
    /// A line may match only if it holds one of the needles (ASCII case
    /// ignored); `None` when the query names no such value.
    finder: Option<Finder>,
}

enum Finder {
    /// Every case variant of short needles, searched exactly.
    Variants(packed::Searcher),
    Automaton(AhoCorasick),
}

impl Prefilter {
    pub fn of(query: &Query) -> Prefilter {
        let finder = alternatives(query).and_then(|set| {
            let variants: Vec<String> = set.iter().flat_map(|n| case_variants(n)).collect();
            let packed = (variants.len() <= MAX_VARIANTS)
                .then(|| packed::Config::new().builder().extend(&variants).build())
                .flatten();
            match packed {
                Some(searcher) => Some(Finder::Variants(searcher)),
                None => AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(set)
                    .ok()
                    .map(Finder::Automaton),
            }
        });
        Prefilter { finder }
    }

    /// False only when no event with this stored JSON can match.
    pub fn may_match(&self, json: &str) -> bool {
        let found = match &self.finder {
            None => return true,
            Some(Finder::Variants(s)) => s.find(json).is_some(),
            Some(Finder::Automaton(a)) => a.is_match(json),
        };
        found || !json.is_ascii()
    }
}

/// `needle` in every mix of ASCII upper and lower case.
fn case_variants(needle: &str) -> Vec<String> {
    let mut variants = vec![String::with_capacity(needle.len())];
    for c in needle.chars() {
        let (lower, upper) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
        if lower == upper || variants.len() > MAX_VARIANTS {
            variants.iter_mut().for_each(|v| v.push(c));
            continue;
        }
        variants = variants
            .into_iter()
            .flat_map(|v| [format!("{v}{lower}"), format!("{v}{upper}")])
            .collect();
    }
    variants
}

/// Strings of which every matching event's line holds at least one, or
/// `None` when the query gives none.
fn alternatives(query: &Query) -> Option<Vec<String>> {
    match query {
        Query::Match { value, .. } => needle_of(value).map(|n| vec![n]),
        // Any one conjunct's alternatives will do: the shortest list of
        // the longest needles turns most away.
        Query::And(items) => items.iter().filter_map(alternatives).max_by_key(|set| {
            let shortest = set.iter().map(String::len).min().unwrap_or(0);
            (std::cmp::Reverse(set.len()), shortest)
        }),
        // Every branch must give one, and a match holds one of them.
        Query::Or(items) if !items.is_empty() => {
            let mut all = Vec::new();
            for item in items {
                all.extend(alternatives(item)?);
            }
            Some(all)
        }
        Query::Or(_) | Query::All | Query::Not(_) | Query::Range { .. } | Query::Exists(_) => None,
    }
}

/// The longest plain run of a value that every match holds, cut to at
/// most six letters (a part of a needle is a needle too, and six letters
/// have 64 case variants).
fn needle_of(value: &Pattern) -> Option<String> {
    let longest = |text: &str| {
        text.split(|c: char| !is_plain(c))
            .map(few_letters)
            .max_by_key(|run| run.len())
            .map(str::to_string)
    };
    let needle = match value {
        // A number may be matched as a number (22 and 22.0), so it is no needle.
        Pattern::Word(v) | Pattern::Phrase(v) if as_number(v).is_some() => None,
        // A value is matched whole or by its words, and only each word is
        // sure to stand in the line as it is (`A!a` matches `A!"a` word by
        // word, and the line escapes the quote).
        Pattern::Word(v) | Pattern::Phrase(v) => crate::words::words(v)
            .filter_map(longest)
            .max_by_key(String::len),
        Pattern::Wildcard(parts) => parts
            .iter()
            .filter_map(|p| match p {
                WildPart::Literal(s) => longest(s),
                WildPart::Any | WildPart::One => None,
            })
            .max_by_key(String::len),
    }?;
    (needle.len() >= MIN_NEEDLE).then_some(needle)
}

/// The longest part of `run` with at most six ASCII letters.
fn few_letters(run: &str) -> &str {
    let letters: Vec<usize> = run
        .bytes()
        .enumerate()
        .filter(|(_, b)| b.is_ascii_alphabetic())
        .map(|(i, _)| i)
        .collect();
    if letters.len() <= 6 {
        return run;
    }
    // A window from just after one letter to just before the seventh after it.
    (0..=letters.len() - 6)
        .map(|k| {
            let start = if k == 0 { 0 } else { letters[k - 1] + 1 };
            let end = letters.get(k + 6).copied().unwrap_or(run.len());
            &run[start..end]
        })
        .max_by_key(|w| w.len())
        .unwrap_or(run)
}

/// Characters serde_json writes as they are and ASCII lower-casing keeps
/// in place. Not the space: the terms turn two control characters into
/// spaces, so a space in a value's term may be an escape in its line.
fn is_plain(c: char) -> bool {
    c.is_ascii_graphic() && c != '"' && c != '\\'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::{EventTerms, Matcher};
    use crate::query::parse;
    use crate::EventDoc;

    fn event(fields: serde_json::Value) -> EventDoc {
        crate::testsuite::event(1, 0, "t", fields)
    }

    #[test]
    fn needles_come_from_the_values_a_query_needs() {
        let of = |q: &str| alternatives(&parse(q).unwrap());
        assert_eq!(of("program:sshd"), Some(vec!["sshd".into()]));
        assert_eq!(
            of("program:sshd AND message:\"Failed password\""),
            Some(vec!["ssword".into()])
        );
        assert_eq!(
            of("program:sshd OR program:sudo"),
            Some(vec!["sshd".into(), "sudo".into()])
        );
        assert_eq!(of("program:sshd OR NOT host:x"), None);
        assert_eq!(of("user:ad*min"), Some(vec!["min".into()]));
        assert_eq!(of("port:22"), None, "numbers are matched as numbers");
        assert_eq!(of("port:[1 TO 1024]"), None);
        assert_eq!(of("_exists_:user"), None);
        assert_eq!(of("a:\"x y\""), None, "runs shorter than three");
        assert_eq!(
            of("f:\"Failed! password\""),
            Some(vec!["ssword".into()]),
            "words, not runs across them (the line may escape what lies between)"
        );
        assert_eq!(
            of("f:powershell.exe"),
            Some(vec!["ell.exe".into()]),
            "six letters at most"
        );
        assert_eq!(of("ip:10.1.2.3x"), Some(vec!["10.1.2.3x".into()]));
    }

    #[test]
    fn a_line_without_the_needle_is_turned_away_and_case_is_ignored() {
        let p = Prefilter::of(&parse("program:sshd").unwrap());
        assert!(p.may_match(r#"{"fields":{"program":"SSHD"}}"#));
        assert!(!p.may_match(r#"{"fields":{"program":"cron"}}"#));
        // Outside ASCII the line is always let through.
        assert!(p.may_match(r#"{"fields":{"program":"\u212Aron","x":"é"}}"#));
        assert!(Prefilter::of(&Query::All).may_match("{}"));
        let many = Prefilter::of(&parse("a:abcdef OR b:ghijkl OR c:mnopqr").unwrap());
        assert!(
            matches!(many.finder, Some(Finder::Automaton(_))),
            "192 variants"
        );
        assert!(many.may_match(r#"{"c":"xMnOpQrx"}"#) && !many.may_match(r#"{"c":"mnopq"}"#));
        assert_eq!(case_variants("a1b").len(), 4);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// Whatever the matcher accepts, the prefilter lets through: values
        /// that hold the query's text in another case, among control
        /// characters, escapes and letters that lower-case into ASCII.
        #[test]
        fn never_turns_a_match_away(
            before in "[ -~\u{1e}\u{1f}\u{212a}é]{0,6}",
            needle in "[ -~\u{212a}]{1,8}",
            after in "[ -~\u{1e}\u{1f}é]{0,6}",
            upper in proptest::bool::ANY,
            wild in proptest::bool::ANY,
        ) {
            let inside = if upper { needle.to_uppercase() } else { needle.clone() };
            let ev = event(serde_json::json!({ "f": format!("{before}{inside}{after}") }));
            let json = serde_json::to_string(&ev).unwrap();
            let escaped: String = needle
                .chars()
                .map(|c| if c.is_alphanumeric() { c.to_string() } else { format!("\\{c}") })
                .collect();
            let text = if wild {
                format!("f:*{escaped}*")
            } else {
                format!("f:\"{}\"", needle.replace(['"', '\\'], ""))
            };
            let Ok(query) = parse(&text) else { return Ok(()) };
            let Ok(matcher) = Matcher::compile(&query, &[]) else { return Ok(()) };
            let mut terms = EventTerms::default();
            terms.load(&ev);
            if matcher.matches(&terms) {
                proptest::prop_assert!(Prefilter::of(&query).may_match(&json), "{text} on {json}");
            }
        }
    }

    #[test]
    fn the_property_test_sees_matches() {
        // The property above is only worth something if its cases match.
        let ev = event(serde_json::json!({ "f": "xxSSHDyy" }));
        let query = parse("f:*sshd*").unwrap();
        let mut terms = EventTerms::default();
        terms.load(&ev);
        assert!(Matcher::compile(&query, &[]).unwrap().matches(&terms));
        assert!(Prefilter::of(&query).may_match(&serde_json::to_string(&ev).unwrap()));
    }
}
