use std::fmt;

use crate::Text;

/// One field value. Scalars keep their type; arrays of scalars are kept as a
/// list so that a matcher can test each element.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Text),
    List(Box<[Value]>),
}

/// A borrowed string form of a scalar value. Numbers are formatted into an
/// inline buffer so that no allocation happens on the hot path.
pub enum ValueStr<'a> {
    Borrowed(&'a str),
    Inline { buf: [u8; 32], len: usize },
}

impl ValueStr<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            ValueStr::Borrowed(s) => s,
            // The buffer only ever holds ASCII digits written by itoa/ryu.
            ValueStr::Inline { buf, len } => std::str::from_utf8(&buf[..*len]).unwrap_or(""),
        }
    }
}

impl Value {
    /// The string form used by string matchers: `None` for null and lists.
    pub fn as_text(&self) -> Option<ValueStr<'_>> {
        match self {
            Value::Str(s) => Some(ValueStr::Borrowed(s)),
            Value::Int(i) => {
                let mut b = itoa::Buffer::new();
                Some(inline(b.format(*i)))
            }
            Value::Float(f) => {
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    let mut b = itoa::Buffer::new();
                    return Some(inline(b.format(*f as i64)));
                }
                let mut b = ryu::Buffer::new();
                Some(inline(b.format(*f)))
            }
            Value::Bool(true) => Some(ValueStr::Borrowed("true")),
            Value::Bool(false) => Some(ValueStr::Borrowed("false")),
            Value::Null | Value::List(_) => None,
        }
    }

    /// The numeric form used by numeric comparisons, parsing strings.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => parse_number(s),
            _ => None,
        }
    }

    /// Calls `f` on every scalar: the value itself, or each list element.
    pub fn for_each_scalar<'a>(&'a self, f: &mut impl FnMut(&'a Value) -> bool) -> bool {
        match self {
            Value::List(items) => items.iter().any(|v| v.for_each_scalar(f)),
            other => f(other),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Builds a value from JSON; objects are never passed here (they are
    /// flattened by the caller), so an object inside an array becomes text.
    pub fn from_json_scalar(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::Str(s.as_str().into()),
            serde_json::Value::Array(items) => {
                Value::List(items.iter().map(Value::from_json_scalar).collect())
            }
            obj @ serde_json::Value::Object(_) => Value::Str(obj.to_string().into()),
        }
    }

    /// [`Value::to_json`] without copying the text.
    pub fn into_json(self) -> serde_json::Value {
        match self {
            Value::Str(s) => serde_json::Value::String(s.into_string()),
            Value::List(items) => serde_json::Value::Array(
                items.into_vec().into_iter().map(Value::into_json).collect(),
            ),
            other => other.to_json(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::List(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
        }
    }
}

fn inline(s: &str) -> ValueStr<'static> {
    let mut buf = [0u8; 32];
    let len = s.len().min(32);
    buf[..len].copy_from_slice(&s.as_bytes()[..len]);
    ValueStr::Inline { buf, len }
}

/// Parses decimal and `0x` hexadecimal numbers, as Windows logs write both.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::List(items) => {
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                Ok(())
            }
            Value::Null => f.write_str(""),
            other => f.write_str(other.as_text().as_ref().map(ValueStr::as_str).unwrap_or("")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_a_text_form_without_allocation() {
        assert_eq!(Value::Int(4688).as_text().unwrap().as_str(), "4688");
        assert_eq!(Value::Float(2.0).as_text().unwrap().as_str(), "2");
        assert_eq!(Value::Float(2.5).as_text().unwrap().as_str(), "2.5");
        assert_eq!(Value::Bool(true).as_text().unwrap().as_str(), "true");
        assert!(Value::Null.as_text().is_none());
    }

    #[test]
    fn strings_parse_as_numbers_including_hex() {
        assert_eq!(Value::Str("0x10".into()).as_f64(), Some(16.0));
        assert_eq!(Value::Str(" 42 ".into()).as_f64(), Some(42.0));
        assert_eq!(Value::Str("abc".into()).as_f64(), None);
    }
}
