//! Reading a stored event with only some of its fields: an aggregation
//! over many matches needs the fields its query names and the field it
//! counts, not the whole record, and skipping a JSON value costs far less
//! than building it.

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserializer;

use crate::matcher::names_accept;
use crate::EventDoc;

/// Parses a stored event, keeping of its `fields` only those in `keep`.
pub fn parse_event(json: &str, keep: &[String]) -> serde_json::Result<EventDoc> {
    let mut d = serde_json::Deserializer::from_str(json);
    let ev = EventSeed { keep }.deserialize(&mut d)?;
    d.end()?;
    Ok(ev)
}

struct EventSeed<'k> {
    keep: &'k [String],
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = EventDoc;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<EventDoc, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = EventDoc;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a stored event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventDoc, A::Error> {
        let mut ev = EventDoc {
            id: 0,
            time_ns: 0,
            received_ns: 0,
            tenant: String::new(),
            source: String::new(),
            host: None,
            truncated: false,
            fields: serde_json::Map::new(),
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "id" => ev.id = map.next_value()?,
                "time_ns" => ev.time_ns = map.next_value()?,
                "received_ns" => ev.received_ns = map.next_value()?,
                "tenant" => ev.tenant = map.next_value()?,
                "source" => ev.source = map.next_value()?,
                "host" => ev.host = map.next_value()?,
                "truncated" => ev.truncated = map.next_value()?,
                "fields" => ev.fields = map.next_value_seed(FieldsSeed { keep: self.keep })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ev)
    }
}

struct FieldsSeed<'k> {
    keep: &'k [String],
}

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_> {
    type Value = serde_json::Map<String, serde_json::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed<'_> {
    type Value = serde_json::Map<String, serde_json::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event's fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = serde_json::Map::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if names_accept(self.keep, &key) {
                fields.insert(key.into_owned(), map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kept_fields_are_read_and_the_rest_is_the_same() {
        let full = EventDoc {
            id: 7,
            time_ns: 5,
            received_ns: 6,
            tenant: "acme".into(),
            source: "syslog-tcp".into(),
            host: Some("web1".into()),
            truncated: true,
            fields: serde_json::json!({"Program": "sshd", "message": "a \"quoted\" line", "user": ["a", "b"], "Größe": 3})
                .as_object()
                .cloned()
                .unwrap(),
        };
        let json = serde_json::to_string(&full).unwrap();
        let keep = vec!["program".to_string(), crate::terms::name_prefix("Größe")];
        let partial = parse_event(&json, &keep).unwrap();
        let names: Vec<&str> = partial.fields.keys().map(String::as_str).collect();
        assert_eq!(names, vec!["Program", "Größe"]);
        let mut expected = full.clone();
        expected
            .fields
            .retain(|k, _| k == "Program" || k == "Größe");
        assert_eq!(partial, expected);
        assert_eq!(parse_event(&json, &[]).unwrap().fields.len(), 0);
        assert!(parse_event("{\"id\": \"x\"}", &keep).is_err());
        assert!(parse_event("{} trailing", &keep).is_err());
    }
}
