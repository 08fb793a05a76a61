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
    /// Every variant with a literal here: the pass is skipped for events
    /// none of whose candidates needs it.
    variants: Bits,
}

impl Scanner {
    fn build(patterns: Vec<(String, Vec<(u32, u32)>)>, variant_count: usize) -> Option<Scanner> {
        let mut variants = Bits::new(variant_count);
        for (_, needs) in &patterns {
            for (v, _) in needs {
                variants.insert(*v as usize);
            }
        }
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(patterns.iter().map(|(text, _)| text))
            .ok()?;
        Some(Scanner {
            ac,
            needs: patterns.into_iter().map(|(_, n)| n.into()).collect(),
            variants,
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
    /// False when a set of literals could not be compiled into a scanner:
    /// then nothing may be filtered.
    usable: bool,
}

/// The scanner, if some candidate variant has a literal in it.
fn needed<'a>(scanner: &'a Option<Scanner>, candidates: &Bits) -> Option<&'a Scanner> {
    scanner
        .as_ref()
        .filter(|s| s.variants.intersects(candidates))
}

/// Literals tied to a path that the event model resolves by alias
/// (`Event.EventData.Image`) are searched in every field.
fn plain_field(field: &Option<Box<str>>) -> Option<&str> {
    field.as_deref().filter(|f| !f.starts_with("Event."))
}

impl Prefilter {
    /// Builds the prefilter from each variant's required literals
    /// (`variant_count` variants in all).
    pub fn build(
        required: impl Iterator<Item = (usize, Vec<Literal>)>,
        variant_count: usize,
    ) -> Prefilter {
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
        let (had_field, had_any) = (!in_field.is_empty(), !in_any.is_empty());
        let in_field = Scanner::build(sorted(in_field), variant_count);
        let in_any_field = Scanner::build(sorted(in_any), variant_count);
        Prefilter {
            field_ids,
            usable: in_field.is_some() == had_field && in_any_field.is_some() == had_any,
            in_field,
            in_any_field,
        }
    }

    pub fn is_usable(&self) -> bool {
        self.usable
    }

    /// Marks in `passed` every variant with a required literal in `event`,
    /// running only the scanners some of the `candidates` need.
    pub fn scan(&self, event: &Event, candidates: &Bits, passed: &mut Bits) {
        let (in_field, in_any) = (
            needed(&self.in_field, candidates),
            needed(&self.in_any_field, candidates),
        );
        if in_field.is_none() && in_any.is_none() {
            return;
        }
        for f in event.fields() {
            let field = in_field.and(self.field_ids.get(&*f.name).copied());
            if field.is_none() && in_any.is_none() {
                continue;
            }
            let mut each = |v: &Value| {
                if let Some(t) = v.as_text() {
                    if let (Some(s), Some(id)) = (in_field, field) {
                        s.mark(t.as_str(), Some(id), passed);
                    }
                    if let Some(s) = in_any {
                        s.mark(t.as_str(), None, passed);
                    }
                }
                false
            };
            f.value.for_each_scalar(&mut each);
        }
    }
}
