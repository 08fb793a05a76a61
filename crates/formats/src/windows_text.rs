//! The fast path for EVTX records: the `evtx` crate renders each record as
//! JSON text; instead of parsing that into a `serde_json::Value` and then
//! walking it, one streaming pass flattens it into (path, scalar) pairs,
//! which are renamed the way [`crate::windows`] names them. Records of a
//! shape this path does not cover (arrays, deep nesting, no `System`) go
//! the general way, so both give the same event.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use watchfloor_model::{Event, SourceRef, Value};

use crate::windows::fill_windows_core;

/// Deeper than this, the general path is used.
const MAX_DEPTH: usize = 16;

/// Builds the event of one rendered record, or `None` when the record must
/// take the general path (including when it is not valid JSON: that path
/// reports the error).
pub fn windows_event_from_text(text: &str, source: SourceRef) -> Option<Event> {
    let mut leaves = Vec::with_capacity(48);
    let mut path = String::with_capacity(64);
    let mut de = serde_json::Deserializer::from_str(text);
    Flatten {
        leaves: &mut leaves,
        path: &mut path,
        depth: 0,
    }
    .deserialize(&mut de)
    .ok()?;
    de.end().ok()?;
    build(leaves, source)
}

/// One scalar of the document and its dotted path.
type Leaf = (String, Value);

/// A streaming flattener: scalars become leaves; an array or nesting past
/// [`MAX_DEPTH`] fails the pass.
struct Flatten<'a> {
    leaves: &'a mut Vec<Leaf>,
    path: &'a mut String,
    depth: usize,
}

impl Flatten<'_> {
    fn leaf<E>(self, v: Value) -> Result<(), E> {
        self.leaves.push((self.path.clone(), v));
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of scalars")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.leaf(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.leaf(Value::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.leaf(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(v as f64),
        })
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.leaf(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.leaf(Value::Str(v.into()))
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.leaf(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(serde::de::Error::custom("arrays take the general path"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(serde::de::Error::custom("too deep for the fast path"));
        }
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let len = self.path.len();
            if len > 0 {
                self.path.push('.');
            }
            self.path.push_str(&key);
            map.next_value_seed(Flatten {
                leaves: self.leaves,
                path: self.path,
                depth: self.depth + 1,
            })?;
            self.path.truncate(len);
        }
        Ok(())
    }
}

/// Names the leaves as `windows_event_from_json` names the same document:
/// `System` fields first, then the others in document order.
fn build(leaves: Vec<Leaf>, source: SourceRef) -> Option<Event> {
    const SYSTEM: &str = "Event.System.";
    if !leaves.iter().any(|(p, _)| p.starts_with(SYSTEM)) {
        return None;
    }
    let names = {
        // Data elements with a `#text` child keep only that text.
        let with_text: Vec<&str> = leaves
            .iter()
            .filter_map(|(p, _)| p.strip_suffix(".#text"))
            .collect();
        leaves
            .iter()
            .map(|(path, v)| match path.strip_prefix(SYSTEM) {
                Some(rest) => system_name(rest).map(|n| Some((true, n))),
                None => other_name(path, v, &with_text).map(|n| n.map(|n| (false, n))),
            })
            .collect::<Option<Vec<_>>>()?
    };
    let mut e = Event::new(source);
    e.core.windows = true;
    let mut others = Vec::new();
    for ((_, v), name) in leaves.into_iter().zip(names) {
        match name {
            Some((true, name)) => e.push(name, v),
            Some((false, name)) => others.push((name, v)),
            None => {}
        }
    }
    for (name, v) in others {
        e.push(name, v);
    }
    fill_windows_core(&mut e);
    Some(e)
}

/// `K` -> `K`, `K.#text` -> `K`, `K.#attributes.A` -> `K_A`, `K.C.rest` -> `K_C.rest`.
fn system_name(rest: &str) -> Option<String> {
    let Some((key, below)) = rest.split_once('.') else {
        return Some(rest.to_string());
    };
    if below == "#text" {
        return Some(key.to_string());
    }
    if let Some(attr) = below.strip_prefix("#attributes.") {
        // An attribute holding an object is rendered as text by the general path.
        return (!attr.contains('.')).then(|| format!("{key}_{attr}"));
    }
    Some(format!("{key}_{below}"))
}

/// The name of a leaf outside `System`: `Some(None)` for leaves the
/// general path drops, `None` for shapes left to the general path.
fn other_name(path: &str, v: &Value, with_text: &[&str]) -> Option<Option<String>> {
    let Some(rest) = path.strip_prefix("Event.") else {
        return Some(None); // other top-level keys are not part of the event
    };
    let (section, below) = match rest.split_once('.') {
        Some((s, b)) => (s, Some(b)),
        None => (rest, None),
    };
    Some(match (section, below) {
        ("#attributes", _) => None,
        ("System", None) => return None,
        ("EventData", None) => (!v.is_null()).then(|| "EventData".to_string()),
        ("EventData", Some(b)) => data_name(&path[..path.len() - b.len()], b, with_text),
        ("UserData", None) => None,
        ("UserData", Some(b)) => match b.split_once('.') {
            None if b == "#attributes" => None,
            None => Some("UserData".to_string()),
            Some(("#attributes", _)) => None,
            Some((_element, inner)) => {
                data_name(&path[..path.len() - inner.len()], inner, with_text)
            }
        },
        // Any other element keeps its path below `Event`.
        _ => Some(rest.to_string()),
    })
}

/// A data element `K[.rest]` under `parent` (which ends with a dot):
/// spaces leave `K`; an element with `#text` keeps only its text.
fn data_name(parent: &str, below: &str, with_text: &[&str]) -> Option<String> {
    let (key, rest) = match below.split_once('.') {
        Some((k, r)) => (k, Some(r)),
        None => (below, None),
    };
    if key == "#attributes" {
        return None;
    }
    let name = key.replace(' ', "");
    match rest {
        None => Some(name),
        Some("#text") => Some(name),
        Some(r) => {
            let is_element = |t: &&str| {
                t.len() == parent.len() + key.len() && t.starts_with(parent) && t.ends_with(key)
            };
            (!with_text.iter().any(is_element)).then(|| format!("{name}.{r}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::windows::windows_event_from_json;
    use serde_json::json;

    /// Both paths, fields sorted by name (the order inside `System` may differ).
    fn both(doc: serde_json::Value) -> (Option<Event>, Option<Event>) {
        let sorted = |e: Event| {
            let mut fields: Vec<_> = e.fields().to_vec();
            fields.sort_by(|a, b| a.name.cmp(&b.name));
            let mut out = Event::new(SourceRef::default());
            for f in fields {
                out.push(f.name, f.value);
            }
            out.core = e.core;
            out
        };
        let fast = windows_event_from_text(&doc.to_string(), SourceRef::default()).map(sorted);
        let general = windows_event_from_json(&doc, SourceRef::default()).map(sorted);
        (fast, general)
    }

    #[test]
    fn same_event_as_the_general_path() {
        let doc = json!({"Event": {
            "#attributes": {"xmlns": "x"},
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing", "Guid": "{54}"}},
                "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 4625},
                "TimeCreated": {"#attributes": {"SystemTime": "2025-11-26T05:11:27.927693Z"}},
                "Channel": "Security", "Computer": "dc1", "Keywords": null,
                "Correlation": {"Activity": {"ID": "x"}},
            },
            "EventData": {"TargetUserName": "bob", "Threat Name": "EICAR", "Empty": null,
                          "Big": 18446744073709551615u64, "Ratio": 0.5,
                          "Data": {"#attributes": {"Name": "x"}, "#text": "y"},
                          "Nested": {"#attributes": {"A": 1}, "B": "c"}},
            "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "u"}, "SubjectUserName": "eve",
                                            "Sub Name": {"#text": "t", "#attributes": {"x": 1}}},
                         "Plain": "p"},
            "RenderingInfo": {"Message": "m"}
        }, "Other": 1});
        let (fast, general) = both(doc);
        assert!(fast.is_some());
        assert_eq!(fast, general);
    }

    #[test]
    fn other_shapes_take_the_general_path() {
        for doc in [
            json!({"Event": {"System": {"EventID": 1}, "EventData": {"List": [1, 2]}}}),
            json!({"Event": {"System": "flat"}}),
            json!({"Event": {"System": {"Provider": {"#attributes": {"Name": {"deep": 1}}}}}}),
            json!({"NotEvent": 1}),
        ] {
            assert!(
                windows_event_from_text(&doc.to_string(), SourceRef::default()).is_none(),
                "{doc}"
            );
        }
        assert!(windows_event_from_text("{\"Event\": ", SourceRef::default()).is_none());
    }
}
