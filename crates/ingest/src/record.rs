//! What a source hands to the write-ahead log: the raw message, undecoded,
//! with where and when it arrived. Decoding happens after the log, so a
//! decoder bug can be fixed and the log replayed.

use std::fmt;

/// How the body is to be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One syslog message (RFC 5424, RFC 3164, or a bare line).
    Syslog = 1,
    /// One JSON object.
    Json = 2,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Syslog),
            2 => Some(Kind::Json),
            _ => None,
        }
    }
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Arrival time, ns since the epoch.
    pub received_ns: i64,
    pub kind: Kind,
    /// The source that received it, e.g. `syslog-udp`, `http`.
    pub source: String,
    pub tenant: String,
    /// The sending peer's address, when there is one.
    pub peer: String,
    /// The message was cut at the configured size limit.
    pub truncated: bool,
    pub body: Vec<u8>,
}

/// A log record that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Text fields are cut at this length in the log (they are names, not data).
const MAX_LABEL: usize = u16::MAX as usize;

fn put_label(out: &mut Vec<u8>, s: &str) {
    let mut end = s.len().min(MAX_LABEL);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_le_bytes());
    out.extend_from_slice(&s.as_bytes()[..end]);
}

struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError("record shorter than its header"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn label(&mut self) -> Result<String, DecodeError> {
        let len = u16::from_le_bytes([self.take(1)?[0], self.take(1)?[0]]) as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError("label is not UTF-8"))
    }
}

impl RawRecord {
    /// Appends the record's encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.received_ns.to_le_bytes());
        out.push(self.kind as u8);
        out.push(u8::from(self.truncated));
        put_label(out, &self.source);
        put_label(out, &self.tenant);
        put_label(out, &self.peer);
        out.extend_from_slice(&self.body);
    }

    pub fn decode(buf: &[u8]) -> Result<RawRecord, DecodeError> {
        let mut c = Cursor { buf };
        let mut ts = [0u8; 8];
        ts.copy_from_slice(c.take(8)?);
        let kind = Kind::from_byte(c.take(1)?[0]).ok_or(DecodeError("unknown record kind"))?;
        let truncated = c.take(1)?[0] != 0;
        let source = c.label()?;
        let tenant = c.label()?;
        let peer = c.label()?;
        Ok(RawRecord {
            received_ns: i64::from_le_bytes(ts),
            kind,
            source,
            tenant,
            peer,
            truncated,
            body: c.buf.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = RawRecord {
            received_ns: -7,
            kind: Kind::Json,
            source: "http".into(),
            tenant: "acme".into(),
            peer: "127.0.0.1:5000".into(),
            truncated: true,
            body: b"{\"a\":1}".to_vec(),
        };
        let mut buf = Vec::new();
        r.encode(&mut buf);
        assert_eq!(RawRecord::decode(&buf).unwrap(), r);
        for cut in 0..20 {
            assert!(RawRecord::decode(&buf[..cut]).is_err() || cut >= 8 + 2 + 2 + 4 + 2 + 4 + 2);
        }
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = RawRecord::decode(&bytes);
        }
    }
}
