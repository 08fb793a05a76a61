//! What a block reads of an event it stores: its stored JSON line and its
//! searchable values. Two kinds of events give both: an [`EventDoc`] (the
//! API's and the tests' form) and a [`NewEvent`], the pipeline's decoded
//! event, whose line is written straight from its fields. Building a JSON
//! object first (a map of owned names and values per event) cost the
//! indexer about a seventh of its time on parsed syslog.
//!
//! Both must give, for the same event, the same line and the same values
//! in the same order: the line is what searches read back, and a block's
//! table lists values in this order (a property test checks it).

use watchfloor_model::{Event, Value};

use crate::EventDoc;

/// An event to store, as the pipeline decoded it from a log record.
pub struct NewEvent<'a> {
    /// The write-ahead log sequence number: unique, and the event's id.
    pub id: u64,
    pub time_ns: i64,
    pub received_ns: i64,
    pub tenant: &'a str,
    pub source: &'a str,
    pub truncated: bool,
    /// Stored as field `peer` when the event has no such field (empty: none).
    pub peer: &'a str,
    /// Its fields, and its host (`core.host`).
    pub event: &'a Event,
}

impl NewEvent<'_> {
    /// The document this event is stored as.
    pub fn to_doc(&self) -> EventDoc {
        let mut fields = self.event.to_json_object();
        if !self.peer.is_empty() {
            fields
                .entry("peer")
                .or_insert_with(|| serde_json::Value::String(self.peer.to_string()));
        }
        EventDoc {
            id: self.id,
            time_ns: self.time_ns,
            received_ns: self.received_ns,
            tenant: self.tenant.to_string(),
            source: self.source.to_string(),
            host: self.host().map(str::to_string),
            truncated: self.truncated,
            fields,
        }
    }

    /// Whether the stored line can be written straight from the fields: a
    /// JSON object keeps one value a name, so an event that repeats a name
    /// goes through [`Self::to_doc`] (the last value at the first place).
    pub(crate) fn writes_directly(&self) -> bool {
        self.event.has_unique_names()
    }

    fn host(&self) -> Option<&str> {
        self.event.core.host.as_deref()
    }

    fn adds_peer(&self) -> bool {
        !self.peer.is_empty() && self.event.get_exact("peer").is_none()
    }
}

/// An event as a block stores it.
pub(crate) trait BlockEvent {
    fn id(&self) -> u64;
    fn time_ns(&self) -> i64;
    fn received_ns(&self) -> i64;
    fn tenant(&self) -> &str;
    /// Appends the stored JSON (no line break in it).
    fn write_json(&self, out: &mut Vec<u8>);
    /// The `message` field's text, or "".
    fn message(&self) -> &str;
    /// Calls `each(name, value)` for every searchable value, as
    /// [`crate::terms::for_each_value`] does on the stored document.
    fn for_each_value(&self, scratch: &mut Vec<u8>, each: &mut dyn FnMut(&str, &str));
}

impl BlockEvent for EventDoc {
    fn id(&self) -> u64 {
        self.id
    }

    fn time_ns(&self) -> i64 {
        self.time_ns
    }

    fn received_ns(&self) -> i64 {
        self.received_ns
    }

    fn tenant(&self) -> &str {
        &self.tenant
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        // An EventDoc always serializes (string keys, no foreign types), and
        // serde_json writes UTF-8 with line breaks escaped.
        let _ = serde_json::to_writer(out, self);
    }

    fn message(&self) -> &str {
        match self.fields.get(crate::terms::MESSAGE) {
            Some(serde_json::Value::String(m)) => m,
            _ => "",
        }
    }

    fn for_each_value(&self, _: &mut Vec<u8>, each: &mut dyn FnMut(&str, &str)) {
        crate::terms::for_each_value(self, |_| true, each);
    }
}

impl BlockEvent for NewEvent<'_> {
    fn id(&self) -> u64 {
        self.id
    }

    fn time_ns(&self) -> i64 {
        self.time_ns
    }

    fn received_ns(&self) -> i64 {
        self.received_ns
    }

    fn tenant(&self) -> &str {
        self.tenant
    }

    /// The JSON serde writes for [`NewEvent::to_doc`]'s document: its
    /// fields in order, then `peer`.
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut numbers = itoa::Buffer::new();
        out.extend_from_slice(b"{\"id\":");
        out.extend_from_slice(numbers.format(self.id).as_bytes());
        out.extend_from_slice(b",\"time_ns\":");
        out.extend_from_slice(numbers.format(self.time_ns).as_bytes());
        out.extend_from_slice(b",\"received_ns\":");
        out.extend_from_slice(numbers.format(self.received_ns).as_bytes());
        out.extend_from_slice(b",\"tenant\":");
        write_str(out, self.tenant);
        out.extend_from_slice(b",\"source\":");
        write_str(out, self.source);
        if let Some(host) = self.host() {
            out.extend_from_slice(b",\"host\":");
            write_str(out, host);
        }
        if self.truncated {
            out.extend_from_slice(b",\"truncated\":true");
        }
        out.extend_from_slice(b",\"fields\":{");
        for (i, field) in self.event.fields().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, &field.name);
            out.push(b':');
            write_value(out, &field.value);
        }
        if self.adds_peer() {
            if !self.event.fields().is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"peer\":");
            write_str(out, self.peer);
        }
        out.extend_from_slice(b"}}");
    }

    fn message(&self) -> &str {
        match self.event.get_exact(crate::terms::MESSAGE) {
            Some(Value::Str(m)) => m,
            _ => "",
        }
    }

    fn for_each_value(&self, scratch: &mut Vec<u8>, each: &mut dyn FnMut(&str, &str)) {
        each("source", self.source);
        if let Some(host) = self.host() {
            each("host", host);
        }
        for field in self.event.fields() {
            match &field.value {
                Value::Str(s) => each(&field.name, s),
                Value::List(items) => {
                    for item in items.iter() {
                        match item {
                            Value::Str(s) => each(&field.name, s),
                            other => each_json(scratch, &field.name, other, each),
                        }
                    }
                }
                Value::Null => {}
                // A number JSON cannot hold is stored as null, and skipped.
                Value::Float(f) if !f.is_finite() => {}
                other => each_json(scratch, &field.name, other, each),
            }
        }
        if self.adds_peer() {
            each("peer", self.peer);
        }
    }
}

/// A value that is not a string, as its JSON text.
fn each_json(scratch: &mut Vec<u8>, name: &str, value: &Value, each: &mut dyn FnMut(&str, &str)) {
    scratch.clear();
    write_value(scratch, value);
    // Only UTF-8 is written: JSON text of numbers, literals and strings.
    if let Ok(text) = std::str::from_utf8(scratch) {
        each(name, text);
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    // Most values need no escape: written as they are, without serde's
    // writer (its call and escape table cost more than these bytes).
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing a string to a vector cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Whether JSON needs some byte of `bytes` escaped: a control character,
/// a quote or a backslash. Eight bytes are tested at a time (every byte of
/// a message goes through here, once a stored line).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero when the high bit of the byte in the answer is
    // set; bytes above it may be flagged falsely only if one below is zero.
    fn zero_byte(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x & HIGH
    }
    let special = |chunk: &[u8]| {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        // Bytes below 0x20: subtracting 0x20 borrows into the high bit,
        // unless the byte had it set already (then it is not a control).
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let quote = zero_byte(x ^ (ONES * u64::from(b'"')));
        let backslash = zero_byte(x ^ (ONES * u64::from(b'\\')));
        control | quote | backslash != 0
    };
    if bytes.len() < 8 {
        return bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
    }
    // The last eight bytes overlap the chunks rather than a byte loop.
    bytes.chunks_exact(8).any(special) || special(&bytes[bytes.len() - 8..])
}

/// A value as serde_json writes [`Value::to_json`]'s.
fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::Float(f) if f.is_finite() => {
            let _ = serde_json::to_writer(&mut *out, f);
        }
        Value::Float(_) => out.extend_from_slice(b"null"),
        Value::Str(s) => write_str(out, s),
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::needs_escape;

    fn plainly(bytes: &[u8]) -> bool {
        bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
    }

    /// Every byte at every place of a word and a half, among neighbours
    /// that are plain, high (UTF-8 continuation) or the byte just above
    /// the special ones: a borrow between lanes would show here.
    #[test]
    fn every_byte_at_every_place_is_judged_as_one_at_a_time() {
        for neighbour in [b'a', 0x80, 0xff, b'#', b']', b' ', 0x7f] {
            for byte in 0..=255u8 {
                for at in 0..12 {
                    let mut text = [neighbour; 12];
                    text[at] = byte;
                    for len in at + 1..=12 {
                        let bytes = &text[..len];
                        assert_eq!(needs_escape(bytes), plainly(bytes), "{bytes:?}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_a_byte_at_a_time(text in proptest::collection::vec(
            proptest::prop_oneof![0u8..0x21, 0x21u8..0x80, 0x80u8..=0xff, proptest::strategy::Just(b'\\')],
            0..40,
        )) {
            proptest::prop_assert_eq!(needs_escape(&text), plainly(&text));
        }
    }
}
