//! The literal prefilter: one pass of shared Aho-Corasick automata over an
//! event's values marks the rule variants whose required literals occur
//! where they must (in the named field, or anywhere for keywords); the
//! engine evaluates only those, plus the variants without a prefilter.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rustc_hash::FxHashMap;
use watchfloor_model::{Event, Value};

use crate::bits::Bits;
use crate::compile::Literal;

/// Literals found by one automaton, and who needs each.
struct Scanner {
    ac: AhoCorasick,
    /// Per pattern: (variant, field id) pairs; field ids are ignored by the
    /// any-field scanner.
    needs: Vec<Box<[(u32, u32)]>>,
}

impl Scanner {
    fn build(patterns: Vec<(String, Vec<(u32, u32)>)>) -> Option<Scanner> {
        if patterns.is_empty() {
            return None;
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(patterns.iter().map(|(text, _)| text))
            .ok()?;
        Some(Scanner {
            ac,
            needs: patterns.into_iter().map(|(_, n)| n.into()).collect(),
        })
    }

    /// Marks in `passed` the variants needing a literal found in `text`,
    /// taken from field `field` (`None`: any field will do).
    fn mark(&self, text: &str, field: Option<u32>, passed: &mut Bits) {
        for m in self.ac.find_overlapping_iter(text) {
            for &(variant, f) in self.needs[m.pattern().as_usize()].iter() {
                if field.is_none_or(|id| id == f) {
                    passed.insert(variant as usize);
                }
            }
        }
    }
}

#[derive(Default)]
pub struct Prefilter {
    /// Ids of the field names literals are tied to.
    field_ids: FxHashMap<Box<str>, u32>,
    in_field: Option<Scanner>,
    in_any_field: Option<Scanner>,
}

/// Literals tied to a path that the event model resolves by alias
/// (`Event.EventData.Image`) are searched in every field.
fn plain_field(field: &Option<Box<str>>) -> Option<&str> {
    field.as_deref().filter(|f| !f.starts_with("Event."))
}

impl Prefilter {
    /// Builds the prefilter from each variant's required literals.
    pub fn build(required: impl Iterator<Item = (usize, Vec<Literal>)>) -> Prefilter {
        let mut field_ids: FxHashMap<Box<str>, u32> = FxHashMap::default();
        let mut in_field: FxHashMap<String, Vec<(u32, u32)>> = FxHashMap::default();
        let mut in_any: FxHashMap<String, Vec<(u32, u32)>> = FxHashMap::default();
        for (variant, literals) in required {
            for lit in literals {
                let variant = variant as u32;
                match plain_field(&lit.field) {
                    Some(name) => {
                        let next = field_ids.len() as u32;
                        let id = *field_ids.entry(name.into()).or_insert(next);
                        in_field.entry(lit.text).or_default().push((variant, id));
                    }
                    None => in_any.entry(lit.text).or_default().push((variant, 0)),
                }
            }
        }
        let sorted = |m: FxHashMap<String, Vec<(u32, u32)>>| {
            let mut v: Vec<_> = m.into_iter().collect();
            v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            v
        };
        Prefilter {
            field_ids,
            in_field: Scanner::build(sorted(in_field)),
            in_any_field: Scanner::build(sorted(in_any)),
        }
    }

    /// False when some literal could not be compiled: then nothing may be
    /// filtered.
    pub fn is_usable(&self, had_literals: bool) -> bool {
        !had_literals || self.in_field.is_some() || self.in_any_field.is_some()
    }

    /// Marks in `passed` every variant with a required literal in `event`.
    pub fn scan(&self, event: &Event, passed: &mut Bits) {
        for f in event.fields() {
            let field = self.field_ids.get(&*f.name).copied();
            let mut each = |v: &Value| {
                if let Some(t) = v.as_text() {
                    if let (Some(s), Some(id)) = (&self.in_field, field) {
                        s.mark(t.as_str(), Some(id), passed);
                    }
                    if let Some(s) = &self.in_any_field {
                        s.mark(t.as_str(), None, passed);
                    }
                }
                false
            };
            f.value.for_each_scalar(&mut each);
        }
    }
}
