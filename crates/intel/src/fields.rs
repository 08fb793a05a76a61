//! Which fields of an event hold values an indicator can name: ECS names
//! (what the shipped parsers and the shippers write) and the Windows and
//! Sysmon names (what the Sigma rules use).

use watchfloor_model::{Event, Value};

use crate::indicator::Kind;

/// What a field holds, for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// One value of this kind.
    Of(Kind),
    /// A file hash of any of the three lengths.
    Hash,
    /// Sysmon's `Hashes`: `SHA1=...,MD5=...,SHA256=...,IMPHASH=...`.
    HashList,
}

/// The fields indicators can name, with what they hold.
const FIELDS: &[(&str, FieldKind)] = {
    use FieldKind::{Hash, HashList, Of};
    &[
        ("source.ip", Of(Kind::Ip)),
        ("destination.ip", Of(Kind::Ip)),
        ("client.ip", Of(Kind::Ip)),
        ("server.ip", Of(Kind::Ip)),
        ("host.ip", Of(Kind::Ip)),
        ("related.ip", Of(Kind::Ip)),
        ("source.address", Of(Kind::Ip)),
        ("destination.address", Of(Kind::Ip)),
        ("IpAddress", Of(Kind::Ip)),
        ("SourceIp", Of(Kind::Ip)),
        ("DestinationIp", Of(Kind::Ip)),
        ("SourceAddress", Of(Kind::Ip)),
        ("DestAddress", Of(Kind::Ip)),
        ("src_ip", Of(Kind::Ip)),
        ("dest_ip", Of(Kind::Ip)),
        ("ClientIP", Of(Kind::Ip)),
        ("dns.resolved_ip", Of(Kind::Ip)),
        ("url.domain", Of(Kind::Domain)),
        ("dns.question.name", Of(Kind::Domain)),
        ("destination.domain", Of(Kind::Domain)),
        ("source.domain", Of(Kind::Domain)),
        ("server.domain", Of(Kind::Domain)),
        ("client.domain", Of(Kind::Domain)),
        ("QueryName", Of(Kind::Domain)),
        ("DestinationHostname", Of(Kind::Domain)),
        ("url.full", Of(Kind::Url)),
        ("url.original", Of(Kind::Url)),
        ("file.hash.md5", Of(Kind::Md5)),
        ("process.hash.md5", Of(Kind::Md5)),
        ("file.hash.sha1", Of(Kind::Sha1)),
        ("process.hash.sha1", Of(Kind::Sha1)),
        ("file.hash.sha256", Of(Kind::Sha256)),
        ("process.hash.sha256", Of(Kind::Sha256)),
        ("hash", Hash),
        ("Hash", Hash),
        ("md5", Hash),
        ("sha1", Hash),
        ("sha256", Hash),
        ("Hashes", HashList),
        ("email.from.address", Of(Kind::Email)),
        ("email.to.address", Of(Kind::Email)),
        ("email.sender.address", Of(Kind::Email)),
        ("email.reply_to.address", Of(Kind::Email)),
        ("user.email", Of(Kind::Email)),
        ("source.user.email", Of(Kind::Email)),
    ]
};

/// [`FIELDS`] by name length: every field of every event is asked about,
/// and most names are none of these, so a name is compared only with the
/// few of its length (a `match` on strings compares with each arm in turn).
fn by_length() -> &'static [Vec<(&'static str, FieldKind)>] {
    static TABLE: std::sync::OnceLock<Vec<Vec<(&'static str, FieldKind)>>> =
        std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let longest = FIELDS.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let mut table = vec![Vec::new(); longest + 1];
        for &(name, kind) in FIELDS {
            table[name.len()].push((name, kind));
        }
        table
    })
}

/// The kind of value the field `name` holds, if indicators can name it.
pub fn field_kind(name: &str) -> Option<FieldKind> {
    let bytes = name.as_bytes();
    let (first, last) = (*bytes.first()?, *bytes.last()?);
    // Names of one length mostly differ in their first or last byte:
    // compared inline before the whole name (a call to memcmp).
    by_length()
        .get(name.len())?
        .iter()
        .find(|(n, _)| {
            let n = n.as_bytes();
            n[0] == first && n[n.len() - 1] == last && n == bytes
        })
        .map(|(_, kind)| *kind)
}

/// The hash kind of a hex value by its length.
pub fn hash_kind(hex: &str) -> Option<Kind> {
    match hex.len() {
        32 => Some(Kind::Md5),
        40 => Some(Kind::Sha1),
        64 => Some(Kind::Sha256),
        _ => None,
    }
}

/// Calls `f(field, kind, value)` for every value of the event an
/// indicator could name (list fields element by element, Sysmon's hash
/// lists split). Nothing is allocated.
pub fn for_each_value<'e>(event: &'e Event, mut f: impl FnMut(&'e str, Kind, &'e str)) {
    for field in event.fields() {
        let Some(kind) = field_kind(&field.name) else {
            continue;
        };
        field.value.for_each_scalar(&mut |v| {
            if let Value::Str(text) = v {
                emit(&field.name, kind, text, &mut f);
            }
            false
        });
    }
}

/// [`for_each_value`] over a stored event's fields (dotted names to JSON
/// scalars or lists of them, as the event store keeps them).
pub fn for_each_json_value<'e>(
    fields: &'e serde_json::Map<String, serde_json::Value>,
    mut f: impl FnMut(&'e str, Kind, &'e str),
) {
    for (name, value) in fields {
        let Some(kind) = field_kind(name) else {
            continue;
        };
        match value {
            serde_json::Value::String(text) => emit(name, kind, text, &mut f),
            serde_json::Value::Array(items) => {
                for text in items.iter().filter_map(serde_json::Value::as_str) {
                    emit(name, kind, text, &mut f);
                }
            }
            _ => {}
        }
    }
}

fn emit<'e>(
    field: &'e str,
    kind: FieldKind,
    text: &'e str,
    f: &mut impl FnMut(&'e str, Kind, &'e str),
) {
    let text = text.trim();
    if text.is_empty() || text == "-" {
        return;
    }
    match kind {
        FieldKind::Of(kind) => f(field, kind, text),
        FieldKind::Hash => {
            if let Some(kind) = hash_kind(text) {
                f(field, kind, text)
            }
        }
        FieldKind::HashList => {
            for part in text.split(',') {
                let hex = part.rsplit('=').next().unwrap_or(part).trim();
                if let Some(kind) = hash_kind(hex) {
                    f(field, kind, hex)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchfloor_model::SourceRef;

    #[test]
    fn values_come_from_ecs_windows_and_sysmon_fields() {
        let mut e = Event::new(SourceRef::default());
        for (k, v) in [
            ("message", "Failed password for root from 203.0.113.9"),
            ("source.ip", "203.0.113.9"),
            ("QueryName", "evil.example"),
            ("user.name", "root"),
            (
                "Hashes",
                "SHA1=A94A8FE5CCB19BA61C4C0873D391E987982FBBD3,MD5=-,IMPHASH=00",
            ),
            ("IpAddress", "-"),
        ] {
            e.push(k, Value::Str(v.into()));
        }
        e.push(
            "related.ip",
            Value::List(vec![Value::Str("10.0.0.1".into()), Value::Int(7)].into()),
        );
        let mut seen = Vec::new();
        for_each_value(&e, |field, kind, value| seen.push((field, kind, value)));
        assert_eq!(
            seen,
            [
                ("source.ip", Kind::Ip, "203.0.113.9"),
                ("QueryName", Kind::Domain, "evil.example"),
                (
                    "Hashes",
                    Kind::Sha1,
                    "A94A8FE5CCB19BA61C4C0873D391E987982FBBD3"
                ),
                ("related.ip", Kind::Ip, "10.0.0.1"),
            ]
        );
    }
}
