//! Compiled field and value matchers, evaluated against an [`Event`].

use std::net::IpAddr;

use chrono::{Datelike, TimeZone, Timelike, Utc};
use ipnet::IpNet;
use watchfloor_model::{parse_timestamp, Event, Value};

use crate::strmatch::{find, StrMatcher, StrSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumOp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl NumOp {
    pub fn test(self, a: f64, b: f64) -> bool {
        match self {
            NumOp::Eq => a == b,
            NumOp::Lt => a < b,
            NumOp::Lte => a <= b,
            NumOp::Gt => a > b,
            NumOp::Gte => a >= b,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefPosition {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

/// A compiled `|re` value and the literals any of its matches contains.
#[derive(Debug, Clone)]
pub struct RegexMatcher {
    pub re: regex::Regex,
    /// Literals (ASCII-lowercased; non-ASCII case variants kept as they
    /// are) one of which every match contains, when the pattern proves a
    /// small set (used by the engine's prefilter).
    pub literals: Option<Vec<String>>,
}

/// One compiled value test.
#[derive(Debug, Clone)]
pub enum ValueMatcher {
    Str(StrMatcher),
    /// Many plain string comparisons in one automaton pass.
    StrSet(Box<StrSet>),
    Regex(RegexMatcher),
    Cidr(IpNet),
    Num {
        op: NumOp,
        value: f64,
    },
    Time {
        part: TimePart,
        op: NumOp,
        value: f64,
    },
    /// `null`: the field is absent or null.
    Null,
    /// `exists`: the field is (true) or is not (false) present.
    Exists(bool),
    /// `fieldref`: compares with the value of another field of the event.
    FieldRef {
        field: Box<str>,
        position: RefPosition,
        cased: bool,
    },
}

/// A string comparison matches a value as written or with the white
/// space around it removed: Windows writes some values with a trailing
/// space (`LogonProcessName` is `NtLmSsp ` in real 4624 events) that the
/// published rules do not spell, and Hayabusa trims too. A rule that spells
/// the space still matches the value as written. Regular expressions see
/// the value as written (they can say `\s*` themselves).
fn as_written_or_trimmed(value: &str, test: impl Fn(&str) -> bool) -> bool {
    if test(value) {
        return true;
    }
    let trimmed = value.trim();
    trimmed.len() != value.len() && test(trimmed)
}

impl ValueMatcher {
    /// Tests one scalar value (lists are split by the caller).
    fn test_scalar(&self, v: &Value, event: &Event) -> bool {
        match self {
            ValueMatcher::Str(m) => v
                .as_text()
                .is_some_and(|t| as_written_or_trimmed(t.as_str(), |s| m.is_match(s))),
            ValueMatcher::StrSet(set) => v
                .as_text()
                .is_some_and(|t| as_written_or_trimmed(t.as_str(), |s| set.is_match(s))),
            ValueMatcher::Regex(r) => v.as_text().is_some_and(|t| r.re.is_match(t.as_str())),
            ValueMatcher::Cidr(net) => v
                .as_text()
                .and_then(|t| t.as_str().trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| net.contains(&ip)),
            ValueMatcher::Num { op, value } => v.as_f64().is_some_and(|x| op.test(x, *value)),
            ValueMatcher::Time { part, op, value } => {
                time_part(v, *part).is_some_and(|x| op.test(x as f64, *value))
            }
            ValueMatcher::Null => v.is_null(),
            ValueMatcher::Exists(want) => *want,
            ValueMatcher::FieldRef {
                field,
                position,
                cased,
            } => fieldref_match(v, event.get(field), *position, *cased),
        }
    }

    /// Tests a field's value, `None` when the field is absent.
    pub fn test(&self, v: Option<&Value>, event: &Event) -> bool {
        match (self, v) {
            (ValueMatcher::Null, None) => true,
            (ValueMatcher::Exists(want), v) => *want == v.is_some(),
            (_, None) => false,
            (m, Some(v)) => {
                let mut hit = |s: &Value| m.test_scalar(s, event);
                match v {
                    Value::List(items) if items.is_empty() => matches!(m, ValueMatcher::Null),
                    v => v.for_each_scalar(&mut hit),
                }
            }
        }
    }
}

/// Replaces the plain string matchers of an any-of list by automata (one
/// per case rule) where there are enough of them; the result matches the
/// same values.
pub fn with_string_sets(values: Vec<ValueMatcher>) -> Vec<ValueMatcher> {
    let (mut strs, mut out): (Vec<StrMatcher>, Vec<ValueMatcher>) = (Vec::new(), Vec::new());
    for v in values {
        match v {
            ValueMatcher::Str(m) => strs.push(m),
            other => out.push(other),
        }
    }
    let mut sets: Vec<ValueMatcher> = [(false, false), (true, false), (false, true)]
        .into_iter()
        .filter_map(|(cased, unicode)| StrSet::extract(&mut strs, cased, unicode))
        .map(|set| ValueMatcher::StrSet(Box::new(set)))
        .collect();
    sets.extend(strs.into_iter().map(ValueMatcher::Str));
    sets.extend(out);
    sets
}

fn fieldref_match(v: &Value, other: Option<&Value>, position: RefPosition, cased: bool) -> bool {
    let (Some(a), Some(b)) = (v.as_text(), other.and_then(Value::as_text)) else {
        return false;
    };
    let (a, b) = (a.as_str().as_bytes(), b.as_str().as_bytes());
    let eq = |x: &[u8], y: &[u8]| {
        if cased {
            x == y
        } else {
            x.eq_ignore_ascii_case(y)
        }
    };
    match position {
        RefPosition::Exact => eq(a, b),
        RefPosition::Prefix => a.len() >= b.len() && eq(&a[..b.len()], b),
        RefPosition::Suffix => a.len() >= b.len() && eq(&a[a.len() - b.len()..], b),
        RefPosition::Contains => find(a, b, cased).is_some(),
    }
}

fn time_part(v: &Value, part: TimePart) -> Option<u32> {
    let nanos = match v {
        Value::Int(i) => i.checked_mul(1_000_000_000)?,
        other => parse_timestamp(other.as_text()?.as_str())?,
    };
    let dt = Utc.timestamp_nanos(nanos);
    Some(match part {
        TimePart::Minute => dt.minute(),
        TimePart::Hour => dt.hour(),
        TimePart::Day => dt.day(),
        TimePart::Week => dt.iso_week().week(),
        TimePart::Month => dt.month(),
        TimePart::Year => dt.year().max(0) as u32,
    })
}

/// `field|modifiers: values`: the values of one map entry of a selection.
/// `field` is `None` for keyword (field-less) search over every value.
#[derive(Debug, Clone)]
pub struct FieldMatcher {
    pub field: Option<Box<str>>,
    pub values: Vec<ValueMatcher>,
    /// `all`: every value must match (default: any).
    pub all: bool,
    /// `neq`: the field is different from the values.
    pub negate: bool,
}

impl FieldMatcher {
    pub fn matches(&self, event: &Event) -> bool {
        let hit = match &self.field {
            Some(name) => {
                let v = event.get(name);
                let one = |m: &ValueMatcher| m.test(v, event);
                if self.all {
                    self.values.iter().all(one)
                } else {
                    self.values.iter().any(one)
                }
            }
            None => self.keyword_match(event),
        };
        hit != self.negate
    }

    /// Keywords match if any field's value matches; with `all`, every
    /// keyword must be found in some field. Only the record's own fields
    /// are searched, not those parsed out of them.
    fn keyword_match(&self, event: &Event) -> bool {
        let found = |m: &ValueMatcher| {
            event
                .original_fields()
                .iter()
                .any(|f| !f.value.is_null() && m.test(Some(&f.value), event))
        };
        if self.all {
            self.values.iter().all(found)
        } else {
            self.values.iter().any(found)
        }
    }

    /// Field names this matcher reads.
    pub fn fields_read(&self) -> impl Iterator<Item = &str> {
        self.field
            .as_deref()
            .into_iter()
            .chain(self.values.iter().filter_map(|v| match v {
                ValueMatcher::FieldRef { field, .. } => Some(&**field),
                _ => None,
            }))
    }
}
