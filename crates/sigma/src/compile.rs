//! Compiles a rule's `detection` into a [`Detection`]: selections of field
//! matchers and a condition tree over them, with field names mapped for
//! the target log.

use std::collections::HashMap;

use serde_yaml::{Mapping, Value as Yaml};
use watchfloor_model::Event;

use crate::condition::{parse_condition, pattern_matches, CondAst, Quantity};
use crate::matcher::{FieldMatcher, ValueMatcher};
use crate::modifiers::{build_field_matcher, yaml_kind};
use crate::placeholders::Placeholders;

/// A search identifier: alternatives (OR) of conjunctions (AND) of matchers.
#[derive(Debug, Clone)]
pub struct Selection {
    pub alternatives: Vec<Vec<FieldMatcher>>,
}

impl Selection {
    fn matches(&self, event: &Event) -> bool {
        self.alternatives
            .iter()
            .any(|all| all.iter().all(|m| m.matches(event)))
    }
}

/// A resolved condition tree.
#[derive(Debug, Clone)]
pub enum Cond {
    Sel(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    AtLeast(usize, Vec<Cond>),
}

/// A compiled detection.
#[derive(Debug, Clone)]
pub struct Detection {
    pub selections: Vec<Selection>,
    pub condition: Cond,
}

impl Detection {
    pub fn matches(&self, event: &Event) -> bool {
        self.eval(&self.condition, event)
    }

    fn eval(&self, c: &Cond, event: &Event) -> bool {
        match c {
            Cond::Sel(i) => self.selections[*i].matches(event),
            Cond::Not(inner) => !self.eval(inner, event),
            Cond::And(items) => items.iter().all(|c| self.eval(c, event)),
            Cond::Or(items) => items.iter().any(|c| self.eval(c, event)),
            Cond::AtLeast(n, items) => {
                let mut hits = 0;
                items.iter().any(|c| {
                    hits += usize::from(self.eval(c, event));
                    hits >= *n
                })
            }
        }
    }

    /// Every field name the detection reads, for reporting matched fields.
    pub fn fields_read(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for sel in &self.selections {
            for m in sel.alternatives.iter().flatten() {
                for f in m.fields_read() {
                    if !out.iter().any(|o| o == f) {
                        out.push(f.to_string());
                    }
                }
            }
        }
        out
    }

    /// Literals of which at least one must occur (in the named field, or
    /// in any field for keywords) in every event this detection matches,
    /// or `None` when no such set can be proven. The engine skips the rule
    /// when none occurs.
    pub fn required_literals(&self) -> Option<Vec<Literal>> {
        self.required(&self.condition)
    }

    fn required(&self, c: &Cond) -> Option<Vec<Literal>> {
        match c {
            Cond::Sel(i) => selection_literals(&self.selections[*i]),
            Cond::Not(_) => None,
            Cond::And(items) | Cond::AtLeast(_, items) if is_all(c, items) => {
                best(items.iter().filter_map(|c| self.required(c)))
            }
            Cond::And(_) => None,
            Cond::Or(items) | Cond::AtLeast(_, items) => {
                union(items.iter().map(|c| self.required(c)))
            }
        }
    }
}

/// A prefilter literal: lowercase text that must occur in the value of
/// `field` (any field when `None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Literal {
    pub field: Option<Box<str>>,
    pub text: String,
}

fn is_all(c: &Cond, items: &[Cond]) -> bool {
    match c {
        Cond::And(_) => true,
        Cond::AtLeast(n, _) => *n >= items.len(),
        _ => false,
    }
}

/// Shortest literal accepted by the prefilter: shorter ones hit too often.
const MIN_LITERAL: usize = 3;

/// The literal texts one of which each value requires; `None` if a value
/// requires none.
fn value_literals(v: &ValueMatcher) -> Option<Vec<String>> {
    let lits: Vec<String> = match v {
        ValueMatcher::Str(s) => vec![s.required_literal()?],
        ValueMatcher::Regex(r) => r.literals.clone()?,
        ValueMatcher::StrSet(set) => set.literals()?.collect(),
        _ => return None,
    };
    lits.iter().all(|l| l.len() >= MIN_LITERAL).then_some(lits)
}

fn matcher_literals(m: &FieldMatcher) -> Option<Vec<Literal>> {
    if m.negate || m.values.is_empty() {
        return None;
    }
    let per_value: Vec<Vec<String>> = m.values.iter().map(value_literals).collect::<Option<_>>()?;
    let texts: Vec<String> = if m.all {
        // Every value must match: the one with the longest literal will do.
        per_value
            .into_iter()
            .max_by_key(|lits| lits.iter().map(String::len).min().unwrap_or(0))?
    } else {
        per_value.into_iter().flatten().collect()
    };
    Some(
        texts
            .into_iter()
            .map(|text| Literal {
                field: m.field.clone(),
                text,
            })
            .collect(),
    )
}

fn selection_literals(sel: &Selection) -> Option<Vec<Literal>> {
    union(
        sel.alternatives
            .iter()
            .map(|all| best(all.iter().filter_map(matcher_literals))),
    )
}

/// The most selective set: the one whose shortest literal is longest.
fn best(sets: impl Iterator<Item = Vec<Literal>>) -> Option<Vec<Literal>> {
    sets.max_by_key(|s| {
        (
            s.iter().map(|l| l.text.len()).min().unwrap_or(0),
            usize::MAX - s.len(),
        )
    })
}

fn union(sets: impl Iterator<Item = Option<Vec<Literal>>>) -> Option<Vec<Literal>> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Literal> = Vec::new();
    for s in sets {
        for l in s? {
            if seen.insert(l.clone()) {
                out.push(l);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// What compiling needs besides the detection itself.
pub struct CompileContext<'a> {
    pub placeholders: &'a Placeholders,
    pub fieldmap: &'a HashMap<String, String>,
}

/// Compiles a detection section. Errors name the search identifier.
pub fn compile_detection(
    detection: &Mapping,
    ctx: &CompileContext<'_>,
) -> Result<Detection, String> {
    let mut names = Vec::new();
    let mut selections = Vec::new();
    for (key, value) in detection {
        let name = key.as_str().ok_or("search identifiers must be strings")?;
        if name == "condition" || name == "timeframe" {
            continue;
        }
        let sel = compile_selection(value, ctx).map_err(|e| format!("selection '{name}': {e}"))?;
        names.push(name.to_string());
        selections.push(sel);
    }
    let condition = match detection.get(Yaml::String("condition".into())) {
        Some(Yaml::String(s)) => resolve(&parse_condition(s).map_err(|e| e.to_string())?, &names)?,
        Some(Yaml::Sequence(list)) => {
            let conds = list
                .iter()
                .map(|c| {
                    let s = c.as_str().ok_or("condition list items must be strings")?;
                    resolve(&parse_condition(s).map_err(|e| e.to_string())?, &names)
                })
                .collect::<Result<Vec<_>, String>>()?;
            Cond::Or(conds)
        }
        Some(other) => {
            return Err(format!(
                "'condition' must be a string or a list, found {}",
                yaml_kind(other)
            ))
        }
        None => return Err("missing 'condition'".into()),
    };
    Ok(Detection {
        selections,
        condition,
    })
}

fn compile_selection(value: &Yaml, ctx: &CompileContext<'_>) -> Result<Selection, String> {
    let alternatives = match value {
        Yaml::Mapping(map) => vec![compile_map(map, ctx)?],
        Yaml::Sequence(items) if items.iter().all(|i| matches!(i, Yaml::Mapping(_))) => items
            .iter()
            .map(|i| match i {
                Yaml::Mapping(m) => compile_map(m, ctx),
                _ => unreachable!("checked above"),
            })
            .collect::<Result<_, _>>()?,
        Yaml::Sequence(items) => {
            let mut alts = Vec::new();
            let keywords: Vec<Yaml> = items.iter().filter(|i| !i.is_mapping()).cloned().collect();
            if !keywords.is_empty() {
                alts.push(vec![keyword_matcher(&Yaml::Sequence(keywords), &[], ctx)?]);
            }
            for m in items.iter().filter_map(Yaml::as_mapping) {
                alts.push(compile_map(m, ctx)?);
            }
            alts
        }
        Yaml::Null => return Err("empty search identifier".into()),
        scalar => vec![vec![keyword_matcher(scalar, &[], ctx)?]],
    };
    Ok(Selection { alternatives })
}

fn compile_map(map: &Mapping, ctx: &CompileContext<'_>) -> Result<Vec<FieldMatcher>, String> {
    if map.is_empty() {
        return Err("empty map".into());
    }
    map.iter()
        .map(|(k, v)| {
            let key = match k {
                Yaml::String(s) => s.clone(),
                Yaml::Number(n) => n.to_string(),
                other => {
                    return Err(format!(
                        "field names must be strings, found {}",
                        yaml_kind(other)
                    ))
                }
            };
            let mut parts = key.split('|');
            let field = parts.next().unwrap_or("");
            let mods: Vec<&str> = parts.collect();
            if field.is_empty() {
                return keyword_matcher(v, &mods, ctx);
            }
            let mapped = ctx.fieldmap.get(field).map(String::as_str).unwrap_or(field);
            let mut m = build_field_matcher(Some(mapped), &mods, v, ctx.placeholders)
                .map_err(|e| format!("field '{key}': {e}"))?;
            map_fieldrefs(&mut m, ctx.fieldmap);
            Ok(m)
        })
        .collect()
}

fn map_fieldrefs(m: &mut FieldMatcher, fieldmap: &HashMap<String, String>) {
    for v in &mut m.values {
        if let ValueMatcher::FieldRef { field, .. } = v {
            if let Some(to) = fieldmap.get(&**field) {
                *field = to.as_str().into();
            }
        }
    }
}

/// Keyword search: each value is found anywhere in any field value.
fn keyword_matcher(
    values: &Yaml,
    mods: &[&str],
    ctx: &CompileContext<'_>,
) -> Result<FieldMatcher, String> {
    let mut with_contains: Vec<&str> = mods.to_vec();
    let positional = ["contains", "startswith", "endswith", "re", "cidr"];
    if !mods.iter().any(|m| positional.contains(m)) {
        with_contains.push("contains");
    }
    build_field_matcher(None, &with_contains, values, ctx.placeholders)
        .map_err(|e| format!("keywords: {e}"))
}

fn resolve(ast: &CondAst, names: &[String]) -> Result<Cond, String> {
    Ok(match ast {
        CondAst::Ident(n) => Cond::Sel(
            names
                .iter()
                .position(|x| x == n)
                .ok_or_else(|| format!("condition references undefined search identifier '{n}'"))?,
        ),
        CondAst::Not(inner) => Cond::Not(Box::new(resolve(inner, names)?)),
        CondAst::And(items) => Cond::And(
            items
                .iter()
                .map(|i| resolve(i, names))
                .collect::<Result<_, _>>()?,
        ),
        CondAst::Or(items) => Cond::Or(
            items
                .iter()
                .map(|i| resolve(i, names))
                .collect::<Result<_, _>>()?,
        ),
        CondAst::Of(q, pattern) => {
            let matched: Vec<Cond> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| match pattern {
                    Some(p) => pattern_matches(p, n),
                    None => !n.starts_with('_'),
                })
                .map(|(i, _)| Cond::Sel(i))
                .collect();
            if matched.is_empty() {
                let what = pattern.as_deref().unwrap_or("them");
                return Err(format!("'of {what}' matches no search identifier"));
            }
            match q {
                Quantity::All => Cond::And(matched),
                Quantity::AtLeast(1) => Cond::Or(matched),
                Quantity::AtLeast(n) => Cond::AtLeast(*n, matched),
            }
        }
    })
}
