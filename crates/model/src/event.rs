use std::sync::Arc;

use crate::{Text, Value};

/// One named field of an event. Names are dotted paths for nested data.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: Name,
    pub value: Value,
    /// [`name_key`] of the name: lookups compare it before the bytes.
    key: u64,
}

/// A field's name: shared when it is a parser's or the program's own (see
/// [`Text::interned`]), owned when it came with a record.
pub type Name = Text;

/// A cheap summary of a field name (length and a few bytes) that differs
/// for almost all pairs of distinct names, so a lookup rejects most fields
/// with one integer comparison.
#[inline]
fn name_key(name: &str) -> u64 {
    let b = name.as_bytes();
    let at = |i: usize| u64::from(b.get(i).copied().unwrap_or(0));
    let n = b.len();
    (n as u64) << 40
        | at(0) << 32
        | at(n / 2) << 24
        | at(n.wrapping_sub(3)) << 16
        | at(n.wrapping_sub(2)) << 8
        | at(n.wrapping_sub(1))
}

/// A name's bit in [`Event::name_bits`], from its key.
#[inline]
fn name_bit(key: u64) -> u64 {
    1 << (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58)
}

/// Where an event came from: the file (or stream) and the record number in it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceRef {
    pub path: Arc<str>,
    /// 1-based record number in the source (EVTX record id, line number, ...).
    pub record: u64,
}

/// Typed attributes every stage needs without searching the fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Core {
    /// Event time, nanoseconds since the Unix epoch (UTC).
    pub timestamp: Option<i64>,
    pub host: Option<Text>,
    /// Windows event log channel (`Security`, `Microsoft-Windows-Sysmon/Operational`).
    pub channel: Option<Text>,
    /// Provider / program that wrote the record.
    pub provider: Option<Text>,
    pub event_id: Option<u32>,
    pub tenant: Option<Arc<str>>,
    pub source: SourceRef,
    /// True when the record is a Windows event log record (any encoding).
    pub windows: bool,
    /// The Sigma logsource product of a non-Windows record, lower-case
    /// (`linux` for syslog, or what the record or its source declares);
    /// `None` when unknown. Rules for a product run only on its records.
    pub product: Option<Text>,
    /// The Sigma logsource category the record declares, lower-case
    /// (`database`, `proxy`, `firewall`, ...); `None` when it declares
    /// none. A rule that names a category and no product runs only on
    /// records of that category (and, for the Windows categories, on the
    /// channels and event ids the routing table gives).
    pub category: Option<Text>,
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    fields: Vec<Field>,
    /// How many leading fields arrived with the record; the rest were
    /// derived from them (parsed, ECS names). `None`: all are original.
    originals: Option<usize>,
    /// One bit of 64 per name present (see [`name_bit`]): a name whose bit
    /// is clear is not there, so setting or looking up an absent name (a
    /// parser's new fields, a rule's field on another kind of record)
    /// skips the scan of the fields.
    name_bits: u64,
    /// Whether some name is there twice ([`Event::push`] adds, where
    /// [`Event::set`] replaces).
    repeated: bool,
    pub core: Core,
}

/// Nesting deeper than this is kept as text rather than flattened, so that a
/// hostile document cannot make flattening take unbounded time or stack.
pub const MAX_FLATTEN_DEPTH: usize = 64;

/// Path prefixes of the EVTX JSON shape; Sigma rules name these fields by
/// their short form (`Image`, `EventID`, `Provider_Name`).
const WINDOWS_PREFIXES: [(&str, char); 3] = [
    ("Event.EventData.", '.'),
    ("Event.UserData.", '.'),
    ("Event.System.", '_'),
];

impl Event {
    pub fn new(source: SourceRef) -> Self {
        Event {
            fields: Vec::with_capacity(32),
            originals: None,
            name_bits: 0,
            repeated: false,
            core: Core {
                source,
                ..Core::default()
            },
        }
    }

    /// The event emptied, as [`Event::new`] makes it, keeping the room of
    /// its fields.
    pub fn reset(&mut self, source: SourceRef) {
        self.fields.clear();
        self.originals = None;
        self.name_bits = 0;
        self.repeated = false;
        self.core = Core {
            source,
            ..Core::default()
        };
    }

    pub fn push(&mut self, name: impl Into<Name>, value: Value) {
        let name = name.into();
        let key = name_key(&name);
        // Only a name whose bit is set may be there already.
        if !self.repeated && self.name_bits & name_bit(key) != 0 {
            self.repeated = self.fields.iter().any(|f| f.key == key && f.name == name);
        }
        self.push_keyed(key, name, value);
    }

    /// Adds a field whose name is known not to be there yet.
    fn push_keyed(&mut self, key: u64, name: Name, value: Value) {
        self.name_bits |= name_bit(key);
        self.fields.push(Field { key, name, value });
    }

    /// Adds or replaces a field.
    pub fn set(&mut self, name: &str, value: Value) {
        self.set_named(name, value, |n| Name::from(n));
    }

    /// [`Event::set`] with a name that costs no allocation when added.
    pub fn set_shared(&mut self, name: &Name, value: Value) {
        self.set_named(name, value, |_| name.clone());
    }

    fn set_named(&mut self, name: &str, value: Value, owned: impl FnOnce(&str) -> Name) {
        let key = name_key(name);
        let there = if self.name_bits & name_bit(key) == 0 {
            None
        } else {
            self.fields
                .iter_mut()
                .find(|f| f.key == key && &*f.name == name)
        };
        match there {
            Some(f) => f.value = value,
            None => self.push_keyed(key, owned(name), value),
        }
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Marks the fields present now as the record's own: the fields added
    /// after this are derived from them (parsed, renamed).
    pub fn end_original_fields(&mut self) {
        self.originals = Some(self.fields.len());
    }

    /// The fields that arrived with the record, without the derived ones.
    /// Keyword search reads these: a derived field repeats part of an
    /// original one (`source.ip` out of `message`) or holds a constant the
    /// record never said (`event.outcome: failure`).
    pub fn original_fields(&self) -> &[Field] {
        let end = self.originals.unwrap_or(self.fields.len());
        &self.fields[..end.min(self.fields.len())]
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Looks a field up by name. For Windows records the original EVTX JSON
    /// path also works (`Event.EventData.Image`, `Event.System.Provider.Name`).
    pub fn get(&self, name: &str) -> Option<&Value> {
        if let Some(v) = self.get_exact(name) {
            return Some(v);
        }
        if self.core.windows {
            return self.get_windows_alias(name);
        }
        None
    }

    /// Whether no name is there twice (then the fields are a JSON object
    /// as they stand).
    pub fn has_unique_names(&self) -> bool {
        !self.repeated
    }

    /// The value of field `name` as named (no Windows alias).
    pub fn get_exact(&self, name: &str) -> Option<&Value> {
        let key = name_key(name);
        if self.name_bits & name_bit(key) == 0 {
            return None;
        }
        self.fields
            .iter()
            .find(|f| f.key == key && &*f.name == name)
            .map(|f| &f.value)
    }

    fn get_windows_alias(&self, name: &str) -> Option<&Value> {
        for (prefix, join) in WINDOWS_PREFIXES {
            if let Some(rest) = name.strip_prefix(prefix) {
                if join == '.' {
                    let leaf = rest.rsplit('.').next().unwrap_or(rest);
                    return self.get_exact(leaf);
                }
                let joined = rest.replace(".#attributes.", "_").replace('.', "_");
                return self.get_exact(&joined);
            }
        }
        None
    }

    /// Flattens a JSON object into dotted-path fields under `prefix`.
    pub fn flatten_json(&mut self, prefix: &str, value: &serde_json::Value) {
        let mut path = String::from(prefix);
        self.flatten_into(&mut path, value, 0);
    }

    fn flatten_into(&mut self, path: &mut String, value: &serde_json::Value, depth: usize) {
        match value {
            serde_json::Value::Object(map) if depth < MAX_FLATTEN_DEPTH => {
                for (k, v) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    self.flatten_into(path, v, depth + 1);
                    path.truncate(len);
                }
            }
            serde_json::Value::Array(items)
                if depth < MAX_FLATTEN_DEPTH && items.iter().any(|i| i.is_object()) =>
            {
                for (i, v) in items.iter().enumerate() {
                    let len = path.len();
                    path.push('.');
                    path.push_str(itoa::Buffer::new().format(i));
                    self.flatten_into(path, v, depth + 1);
                    path.truncate(len);
                }
            }
            other => {
                let name = if path.is_empty() {
                    "_raw"
                } else {
                    path.as_str()
                };
                self.push(name, Value::from_json_scalar(other));
            }
        }
    }

    /// The fields as a JSON object (flat, dotted keys), for output.
    pub fn to_json_object(&self) -> serde_json::Map<String, serde_json::Value> {
        self.fields
            .iter()
            .map(|f| (f.name.to_string(), f.value.to_json()))
            .collect()
    }

    /// [`Event::to_json_object`] moving the names and values out: the
    /// event is left without fields.
    pub fn take_json_object(&mut self) -> serde_json::Map<String, serde_json::Value> {
        self.originals = None;
        self.name_bits = 0;
        self.repeated = false;
        std::mem::take(&mut self.fields)
            .into_iter()
            .map(|f| (f.name.into_string(), f.value.into_json()))
            .collect()
    }

    /// First string value among `names`, for deriving core attributes.
    pub fn first_text(&self, names: &[&str]) -> Option<Text> {
        names.iter().find_map(|n| match self.get_exact(n) {
            Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
            Some(v @ (Value::Int(_) | Value::Float(_))) => v.as_text().map(|t| t.as_str().into()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_objects_are_reachable_by_dotted_path() {
        let mut e = Event::new(SourceRef::default());
        e.flatten_json(
            "",
            &json!({"a": {"b": {"c": 1}}, "tags": ["x", "y"], "n": null}),
        );
        assert_eq!(e.get("a.b.c"), Some(&Value::Int(1)));
        assert_eq!(
            e.get("tags"),
            Some(&Value::List(
                vec![Value::Str("x".into()), Value::Str("y".into())].into()
            ))
        );
        assert_eq!(e.get("n"), Some(&Value::Null));
        assert_eq!(e.get("a.b"), None);
    }

    #[test]
    fn arrays_of_objects_are_indexed() {
        let mut e = Event::new(SourceRef::default());
        e.flatten_json(
            "",
            &json!({"answers": [{"ip": "1.2.3.4"}, {"ip": "5.6.7.8"}]}),
        );
        assert_eq!(e.get("answers.1.ip"), Some(&Value::Str("5.6.7.8".into())));
    }

    #[test]
    fn windows_records_answer_to_their_original_paths() {
        let mut e = Event::new(SourceRef::default());
        e.core.windows = true;
        e.push("Image", Value::Str("C:\\x.exe".into()));
        e.push(
            "Provider_Name",
            Value::Str("Microsoft-Windows-Sysmon".into()),
        );
        assert!(e.get("Event.EventData.Image").is_some());
        assert!(e.get("Event.System.Provider.#attributes.Name").is_some());
        assert!(e.get("Event.System.Provider.Name").is_some());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut v = json!(1);
        for _ in 0..1000 {
            v = json!({ "a": v });
        }
        let mut e = Event::new(SourceRef::default());
        e.flatten_json("", &v);
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn interned_names_are_one_copy_and_read_as_any_name() {
        let a = Name::interned("source.ip");
        let b = Name::interned(&String::from("source.ip"));
        assert!(std::ptr::eq(a.as_ptr(), b.as_ptr()));
        let mut e = Event::new(SourceRef::default());
        e.set_shared(&a, Value::Int(1));
        e.set("source.ip", Value::Int(2));
        e.set_shared(&Name::from_static("user.name"), Value::Int(3));
        assert_eq!(e.len(), 2);
        assert_eq!(e.get("source.ip"), Some(&Value::Int(2)));
        assert_eq!(e.fields()[1].name, "user.name");
        assert_eq!(e.fields()[1].name.clone().into_string(), "user.name");
    }

    /// The name bits never hide a field: lookups, `set` and the unique
    /// check agree with a plain scan, with names enough to share bits.
    mod name_bits {
        use super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            prop_oneof![
                (0u32..200).prop_map(|i| format!("field{i}")),
                "[a-z.]{0,6}",
                // Same length and the same bytes where the key looks: the
                // same key, told apart only by the names.
                (0u32..20).prop_map(|i| format!("k{i:03}wxyz")),
            ]
        }

        proptest! {
            #[test]
            fn agree_with_a_scan(ops in prop::collection::vec((any::<bool>(), name(), any::<i64>()), 0..120),
                                 asked in prop::collection::vec(name(), 0..20)) {
                let mut e = Event::new(SourceRef::default());
                let mut plain: Vec<(String, i64)> = Vec::new();
                for (set, name, v) in &ops {
                    if *set {
                        e.set(name, Value::Int(*v));
                        match plain.iter_mut().find(|(n, _)| n == name) {
                            Some(f) => f.1 = *v,
                            None => plain.push((name.clone(), *v)),
                        }
                    } else {
                        e.push(name.as_str(), Value::Int(*v));
                        plain.push((name.clone(), *v));
                    }
                }
                for name in ops.iter().map(|o| &o.1).chain(&asked) {
                    let want = plain.iter().find(|(n, _)| n == name).map(|f| Value::Int(f.1));
                    prop_assert_eq!(e.get_exact(name), want.as_ref());
                }
                let unique = plain.iter().enumerate().all(|(i, (n, _))| plain[..i].iter().all(|(m, _)| m != n));
                prop_assert_eq!(e.has_unique_names(), unique);
            }
        }
    }
}
