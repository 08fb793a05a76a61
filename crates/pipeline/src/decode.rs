//! Log records to events: the raw body goes through `formats`, and the
//! arrival facts (source, tenant, peer, receive time) are attached.

use std::sync::Arc;

use watchfloor_formats::{event_from_json, parse_syslog_line, syslog_event};
use watchfloor_ingest::{Kind, RawRecord};
use watchfloor_model::{Event, SourceRef, Value};
use watchfloor_search::EventDoc;

/// Why a record gave no event of its own format. The record is still
/// stored, as a bare message, so nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeIssue {
    InvalidUtf8,
    NotSyslog(String),
    NotJson(String),
    NotAnObject,
}

impl DecodeIssue {
    /// A label for counters.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeIssue::InvalidUtf8 => "invalid_utf8",
            DecodeIssue::NotSyslog(_) => "not_syslog",
            DecodeIssue::NotJson(_) => "invalid_json",
            DecodeIssue::NotAnObject => "not_an_object",
        }
    }

    fn message(&self) -> String {
        match self {
            DecodeIssue::InvalidUtf8 => "invalid UTF-8 replaced".into(),
            DecodeIssue::NotSyslog(e) => format!("not syslog: {e}"),
            DecodeIssue::NotJson(e) => format!("invalid JSON: {e}"),
            DecodeIssue::NotAnObject => "JSON is not an object".into(),
        }
    }
}

/// Decodes one record; issues are reported and also recorded on the event
/// (field `decode_error`).
pub fn decode(lsn: u64, raw: &RawRecord) -> (Event, Vec<DecodeIssue>) {
    let source = SourceRef {
        path: Arc::from(raw.source.as_str()),
        record: lsn,
    };
    let mut issues = Vec::new();
    let text = match std::str::from_utf8(&raw.body) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => {
            issues.push(DecodeIssue::InvalidUtf8);
            String::from_utf8_lossy(&raw.body)
        }
    };
    let mut event = match raw.kind {
        Kind::Syslog => match parse_syslog_line(&text) {
            Ok(msg) => syslog_event(&msg, source),
            Err(e) => {
                issues.push(DecodeIssue::NotSyslog(e));
                bare(&text, source)
            }
        },
        Kind::Json => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(doc) => match event_from_json(&doc, source.clone()) {
                Some(e) => e,
                None => {
                    issues.push(DecodeIssue::NotAnObject);
                    bare(&text, source)
                }
            },
            Err(e) => {
                issues.push(DecodeIssue::NotJson(e.to_string()));
                bare(&text, source)
            }
        },
    };
    if event.core.host.is_none() && !raw.peer.is_empty() {
        event.core.host = Some(raw.peer.as_str().into());
    }
    event.core.tenant = Some(Arc::from(raw.tenant.as_str()));
    if let Some(first) = issues.first() {
        event.push("decode_error", Value::Str(first.message().into()));
    }
    (event, issues)
}

fn bare(text: &str, source: SourceRef) -> Event {
    let mut e = Event::new(source);
    e.push("message", Value::Str(text.into()));
    e
}

/// The stored form of a decoded event.
pub fn to_doc(lsn: u64, raw: &RawRecord, event: &Event) -> EventDoc {
    let mut fields = event.to_json_object();
    if !raw.peer.is_empty() {
        fields
            .entry("peer")
            .or_insert_with(|| serde_json::Value::String(raw.peer.clone()));
    }
    EventDoc {
        id: lsn,
        time_ns: event.core.timestamp.unwrap_or(raw.received_ns),
        received_ns: raw.received_ns,
        tenant: raw.tenant.clone(),
        source: raw.source.clone(),
        host: event.core.host.as_deref().map(Into::into),
        truncated: raw.truncated,
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: Kind, body: &[u8]) -> RawRecord {
        RawRecord {
            received_ns: 5,
            kind,
            source: "test".into(),
            tenant: "acme".into(),
            peer: "192.0.2.7".into(),
            truncated: false,
            body: body.to_vec(),
        }
    }

    #[test]
    fn syslog_gets_its_fields_and_the_peer_as_fallback_host() {
        let (e, issues) = decode(
            1,
            &raw(
                Kind::Syslog,
                b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
            ),
        );
        assert!(issues.is_empty());
        assert_eq!(e.core.host.as_deref(), Some("mymachine"));
        let (e, _) = decode(2, &raw(Kind::Syslog, b"just text"));
        assert_eq!(e.core.host.as_deref(), Some("192.0.2.7"));
        assert_eq!(e.core.tenant.as_deref(), Some("acme"));
    }

    #[test]
    fn bad_records_are_kept_as_messages_with_the_reason() {
        let (e, issues) = decode(1, &raw(Kind::Syslog, b"<13>bad \xff\xfe bytes"));
        assert_eq!(issues, vec![DecodeIssue::InvalidUtf8]);
        assert!(e.get("message").is_some());
        let (e, issues) = decode(2, &raw(Kind::Json, b"{not json"));
        assert_eq!(issues[0].kind(), "invalid_json");
        assert_eq!(
            e.get("message").map(|v| v.to_string()).as_deref(),
            Some("{not json")
        );
        let (_, issues) = decode(3, &raw(Kind::Json, b"[1,2]"));
        assert_eq!(issues, vec![DecodeIssue::NotAnObject]);
        let doc = to_doc(3, &raw(Kind::Json, b"[1,2]"), &e);
        assert!(doc.fields.contains_key("decode_error"));
    }
}
