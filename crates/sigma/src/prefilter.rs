//! The literal prefilter: Aho-Corasick automata over an event's values mark
//! the rule variants whose required literals occur where they must. Each
//! field that rules name has an automaton of its own literals (small
//! automata stay in cache, and a hit needs no field check); keyword
//! literals, which may sit in any field, share one automaton run over every
//! value. The engine evaluates only the marked variants, plus those without
//! a prefilter.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rustc_hash::FxHashMap;
use watchfloor_model::{Event, Value};

use crate::bits::Bits;
use crate::compile::Literal;

/// Literals found by one automaton, and the variants that need each.
struct Scanner {
    ac: AhoCorasick,
    needs: Vec<Box<[u32]>>,
    /// Every variant with a literal here: the pass is skipped for events
    /// none of whose candidates needs it.
    variants: Bits,
}

impl Scanner {
    fn build(literals: FxHashMap<String, Vec<u32>>, variant_count: usize) -> Option<Scanner> {
        let mut patterns: Vec<(String, Vec<u32>)> = literals.into_iter().collect();
        patterns.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut variants = Bits::new(variant_count);
        for v in patterns.iter().flat_map(|(_, needs)| needs) {
            variants.insert(*v as usize);
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

    /// Marks in `passed` the variants needing a literal found in `text`.
    fn mark(&self, text: &str, passed: &mut Bits) {
        for m in self.ac.find_overlapping_iter(text) {
            for &variant in self.needs[m.pattern().as_usize()].iter() {
                passed.insert(variant as usize);
            }
        }
    }

    /// The scanner, if some candidate variant has a literal in it.
    fn needed(&self, candidates: &Bits) -> Option<&Scanner> {
        self.variants.intersects(candidates).then_some(self)
    }
}

#[derive(Default)]
pub struct Prefilter {
    /// Per field name, the automaton of the literals tied to that field.
    by_field: FxHashMap<Box<str>, Scanner>,
    in_any_field: Option<Scanner>,
    /// False when a set of literals could not be compiled into a scanner:
    /// then nothing may be filtered.
    usable: bool,
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
        let mut by_field: FxHashMap<Box<str>, FxHashMap<String, Vec<u32>>> = FxHashMap::default();
        let mut in_any: FxHashMap<String, Vec<u32>> = FxHashMap::default();
        for (variant, literals) in required {
            for lit in literals {
                let needs = match plain_field(&lit.field) {
                    Some(name) => by_field.entry(name.into()).or_default(),
                    None => &mut in_any,
                };
                let list = needs.entry(lit.text).or_default();
                if list.last() != Some(&(variant as u32)) {
                    list.push(variant as u32);
                }
            }
        }
        let mut usable = true;
        let mut build = |literals| {
            let scanner = Scanner::build(literals, variant_count);
            usable &= scanner.is_some();
            scanner
        };
        let any_literals = !in_any.is_empty();
        let in_any_field = any_literals.then(|| build(in_any)).flatten();
        let by_field = by_field
            .into_iter()
            .filter_map(|(field, literals)| Some((field, build(literals)?)))
            .collect();
        Prefilter {
            by_field,
            in_any_field,
            usable,
        }
    }

    pub fn is_usable(&self) -> bool {
        self.usable
    }

    /// Marks in `passed` every variant with a required literal in `event`,
    /// running only the automata some of the `candidates` need.
    pub fn scan(&self, event: &Event, candidates: &Bits, passed: &mut Bits) {
        let in_any = self
            .in_any_field
            .as_ref()
            .and_then(|s| s.needed(candidates));
        let originals = event.original_fields().len();
        for (i, f) in event.fields().iter().enumerate() {
            let own = self
                .by_field
                .get(&*f.name)
                .and_then(|s| s.needed(candidates));
            // Keywords are searched in the record's own fields only.
            let in_any = in_any.filter(|_| i < originals);
            if own.is_none() && in_any.is_none() {
                continue;
            }
            let mut each = |v: &Value| {
                if let Some(t) = v.as_text() {
                    for s in own.iter().chain(in_any.iter()) {
                        s.mark(t.as_str(), passed);
                    }
                }
                false
            };
            f.value.for_each_scalar(&mut each);
        }
    }
}
