//! Retro-hunts: indicators that just arrived, looked for in events stored
//! before they did ("was this address here last week?").
//!
//! A [`RetroSet`] holds only the new indicators. Stored events come as
//! JSON text; most cannot hold any of the values, and the set's line
//! filter turns them away unparsed: an Aho-Corasick automaton (ASCII case
//! folded) over what each indicator's value must leave in the text (a
//! domain, a URL's host, a hash, an address). A network or an IPv6 address
//! leaves no fixed text (an address in a /16, a zero run written another
//! way), so a set holding one parses every event.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::decay::DecayModel;
use crate::fields::for_each_json_value;
use crate::indicator::{Indicator, Kind};
use crate::live::Match;
use crate::set::{IntelSet, Outcome};
use crate::warninglist::Warninglists;

/// New indicators of one scope, ready to be looked for in stored events.
pub struct RetroSet {
    scope: String,
    set: IntelSet,
    /// `None`: no fixed text stands for every indicator; every event is
    /// parsed.
    needles: Option<AhoCorasick>,
    /// Values refused on the way in.
    pub invalid: Vec<String>,
}

impl RetroSet {
    pub fn new(scope: &str, indicators: Vec<Indicator>) -> RetroSet {
        let mut needles = Some(Vec::with_capacity(indicators.len()));
        let mut set = IntelSet::default();
        let mut invalid = Vec::new();
        for ind in indicators {
            match (needle(&ind), needles.as_mut()) {
                (Some(text), Some(list)) => list.push(text),
                (None, _) => needles = None,
                _ => {}
            }
            if let Err(e) = set.add(ind) {
                invalid.push(e.to_string());
            }
        }
        let needles = needles.and_then(|list| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostFirst)
                .build(list)
                .ok()
        });
        RetroSet {
            scope: scope.to_string(),
            set,
            needles,
            invalid,
        }
    }

    pub fn scope(&self) -> &str {
        &self.scope
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether every event must be parsed (no line filter).
    pub fn parses_every_event(&self) -> bool {
        self.needles.is_none()
    }

    /// Whether a stored event's text may hold one of the values.
    pub fn may_match(&self, line: &str) -> bool {
        self.needles.as_ref().is_none_or(|n| n.is_match(line))
    }

    /// The live, not warned, matches of a stored event's fields at
    /// `now_ns`, each indicator once.
    pub fn matches(
        &self,
        fields: &serde_json::Map<String, serde_json::Value>,
        decay: &DecayModel,
        warninglists: &Warninglists,
        now_ns: i64,
    ) -> Vec<Match> {
        let mut out: Vec<Match> = Vec::new();
        for_each_json_value(fields, |field, kind, value| {
            if !self.set.holds(kind) {
                return;
            }
            let Outcome::Hit(ind) = self.set.check(kind, value, decay, warninglists, now_ns) else {
                return;
            };
            let seen = out
                .iter()
                .any(|m| m.indicator.kind == kind && m.indicator.value == ind.value);
            if !seen {
                out.push(Match {
                    field: field.to_string(),
                    value: value.to_string(),
                    scope: self.scope.clone(),
                    indicator: ind.clone(),
                    score: decay.score(ind, now_ns),
                });
            }
        });
        out
    }
}

/// The text an event holding the indicator's value must contain, when
/// there is one: JSON escapes `"` and `\`, so values with them have none.
fn needle(ind: &Indicator) -> Option<String> {
    let text = match ind.kind {
        Kind::Ip => (!ind.value.contains(['/', ':'])).then(|| ind.value.clone())?,
        Kind::Url => url::Url::parse(&ind.value).ok()?.host_str()?.to_string(),
        _ => ind.value.clone(),
    };
    (!text.is_empty() && !text.contains(['"', '\\'])).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicator::Tlp;
    use serde_json::json;

    const DAY: i64 = 86_400 * 1_000_000_000;

    fn ind(kind: Kind, value: &str) -> Indicator {
        Indicator {
            kind,
            value: value.into(),
            source: "feed".into(),
            confidence: 90,
            tlp: Tlp::Amber,
            labels: vec![],
            first_seen_ns: DAY,
            last_seen_ns: DAY,
            valid_until_ns: None,
            sightings: 0,
        }
    }

    fn fields(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_line_filter_lets_through_what_may_hold_a_value_in_any_case() {
        let set = RetroSet::new(
            "acme",
            vec![
                ind(Kind::Domain, "evil.example"),
                ind(Kind::Url, "http://phish.example/login"),
                ind(Kind::Sha256, &"ab".repeat(32)),
                ind(Kind::Ip, "198.51.100.7"),
            ],
        );
        assert!(!set.parses_every_event());
        assert!(set.may_match(r#"{"dns.question.name":"WWW.EVIL.EXAMPLE"}"#));
        assert!(set.may_match(r#"{"url.full":"http://PHISH.example:80/login"}"#));
        assert!(set.may_match(&format!(r#"{{"Hashes":"SHA256={}"}}"#, "AB".repeat(32))));
        assert!(set.may_match(r#"{"source.ip":"198.51.100.7"}"#));
        assert!(!set.may_match(r#"{"source.ip":"198.51.100.8","message":"good.example"}"#));
    }

    #[test]
    fn networks_and_ipv6_addresses_parse_every_event() {
        for value in ["198.51.100.0/24", "2001:db8::1"] {
            let set = RetroSet::new("acme", vec![ind(Kind::Ip, value)]);
            assert!(set.parses_every_event(), "{value}");
            assert!(set.may_match("{}"));
        }
    }

    #[test]
    fn matches_are_live_unwarned_and_each_indicator_once() {
        let set = RetroSet::new(
            "acme",
            vec![
                ind(Kind::Ip, "198.51.100.0/24"),
                ind(Kind::Domain, "evil.example"),
                ind(Kind::Ip, "8.8.8.8"),
            ],
        );
        let mut lists = Warninglists::default();
        lists.add("resolvers".into(), "cidr", &["8.8.8.8/32".into()]);
        let event = fields(json!({
            "source.ip": "198.51.100.9",
            "destination.ip": "198.51.100.10",
            "dns.question.name": "a.evil.example",
            "related.ip": ["8.8.8.8"],
            "message": "evil.example in text is not a field value",
        }));
        let found = set.matches(&event, &DecayModel::default(), &lists, DAY + 1);
        let mut got: Vec<_> = found
            .iter()
            .map(|m| (m.indicator.value.as_str(), m.scope.as_str()))
            .collect();
        got.sort();
        assert_eq!(got, [("198.51.100.0/24", "acme"), ("evil.example", "acme")]);
        let later = DAY + 400 * DAY;
        assert!(set
            .matches(&event, &DecayModel::default(), &lists, later)
            .is_empty());
    }
}
