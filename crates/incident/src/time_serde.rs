//! Times in configuration documents: nanoseconds inside, RFC 3339 text
//! (`2026-11-23T09:00:00Z`) in JSON.

use serde::{Deserialize, Deserializer, Serializer};
use watchfloor_model::{format_rfc3339, parse_timestamp};

pub fn serialize<S: Serializer>(ns: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_rfc3339(*ns))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = String::deserialize(d)?;
    parse_timestamp(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "{text:?} is not an RFC 3339 time (like 2026-11-23T09:00:00Z)"
        ))
    })
}
