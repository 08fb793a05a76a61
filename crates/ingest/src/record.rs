//! What a source hands to the write-ahead log: the raw message, undecoded,
//! with where and when it arrived. Decoding happens after the log, so a
//! decoder bug can be fixed and the log replayed.

use std::fmt;
use std::sync::Arc;

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
    /// The source that received it, e.g. `syslog-udp`, `http`. Labels are
    /// shared: records read back in a row mostly repeat them (see
    /// [`Labels`]).
    pub source: Arc<str>,
    pub tenant: Arc<str>,
    /// The sending peer's address, when there is one.
    pub peer: Arc<str>,
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

    fn label(&mut self, last: &mut Arc<str>) -> Result<Arc<str>, DecodeError> {
        let len = u16::from_le_bytes([self.take(1)?[0], self.take(1)?[0]]) as usize;
        let bytes = self.take(len)?;
        if bytes != last.as_bytes() {
            let text = std::str::from_utf8(bytes).map_err(|_| DecodeError("label is not UTF-8"))?;
            *last = text.into();
        }
        Ok(last.clone())
    }
}

/// The labels of the record read last: a reader that decodes records in a
/// row shares a label equal to the last one's instead of allocating it
/// again (a stream's records mostly come from one source, tenant and peer).
#[derive(Default)]
pub struct Labels {
    source: Arc<str>,
    tenant: Arc<str>,
    peer: Arc<str>,
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
        Self::decode_sharing(buf, &mut Labels::default())
    }

    /// [`Self::decode`], sharing labels with the record `last` read.
    pub fn decode_sharing(buf: &[u8], last: &mut Labels) -> Result<RawRecord, DecodeError> {
        let mut c = Cursor { buf };
        let mut ts = [0u8; 8];
        ts.copy_from_slice(c.take(8)?);
        let kind = Kind::from_byte(c.take(1)?[0]).ok_or(DecodeError("unknown record kind"))?;
        let truncated = c.take(1)?[0] != 0;
        let source = c.label(&mut last.source)?;
        let tenant = c.label(&mut last.tenant)?;
        let peer = c.label(&mut last.peer)?;
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

    fn record(source: &str, tenant: &str, peer: &str) -> RawRecord {
        RawRecord {
            received_ns: 1,
            kind: Kind::Syslog,
            source: source.into(),
            tenant: tenant.into(),
            peer: peer.into(),
            truncated: false,
            body: b"line".to_vec(),
        }
    }

    #[test]
    fn records_in_a_row_share_equal_labels_and_only_those() {
        let mut labels = Labels::default();
        let mut read = |r: &RawRecord| {
            let mut buf = Vec::new();
            r.encode(&mut buf);
            RawRecord::decode_sharing(&buf, &mut labels).unwrap()
        };
        let a = read(&record("syslog-tcp", "acme", "10.0.0.1"));
        let b = read(&record("syslog-tcp", "acme", "10.0.0.2"));
        assert_eq!(b, record("syslog-tcp", "acme", "10.0.0.2"));
        assert!(Arc::ptr_eq(&a.source, &b.source) && Arc::ptr_eq(&a.tenant, &b.tenant));
        assert!(!Arc::ptr_eq(&a.peer, &b.peer));
        let bad = [&[0u8; 8][..], &[1, 0, 2, 0, 0xff, 0xfe]].concat();
        assert_eq!(
            RawRecord::decode_sharing(&bad, &mut labels),
            Err(DecodeError("label is not UTF-8"))
        );
    }

    proptest::proptest! {
        /// Records read in a row decode as each would alone, whatever
        /// labels they repeat (and after a record that failed to decode).
        #[test]
        fn sharing_labels_changes_no_record(
            records in proptest::collection::vec(("[ab]{0,2}", "[ab]{0,2}", "[ab]{0,2}", proptest::bool::ANY), 0..12),
        ) {
            let mut labels = Labels::default();
            for (source, tenant, peer, damaged) in &records {
                let mut buf = Vec::new();
                record(source, tenant, peer).encode(&mut buf);
                if *damaged {
                    buf.truncate(12);
                }
                proptest::prop_assert_eq!(
                    RawRecord::decode_sharing(&buf, &mut labels),
                    RawRecord::decode(&buf)
                );
            }
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = RawRecord::decode(&bytes);
        }
    }
}
