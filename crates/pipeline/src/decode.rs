//! Log records to events: the raw body goes through `formats`, and the
//! arrival facts (source, tenant, peer, receive time) are attached.

use watchfloor_formats::parsers::{ParseOutcome, Parsers};
use watchfloor_formats::{event_from_json, fill_syslog_event, parse_syslog_line};
use watchfloor_ingest::{Kind, RawRecord};
use watchfloor_model::{Event, Name, SourceRef, Text, Value};
use watchfloor_search::{EventDoc, NewEvent};

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

/// Decodes one record and parses it by its program (syslog); issues are
/// reported and also recorded on the event (field `decode_error`). A line
/// no parser pattern matches is kept as it came, with `parser.outcome`
/// saying so (counted by the pipeline), never dropped.
pub fn decode(lsn: u64, raw: &RawRecord, parsers: &Parsers) -> (Event, Vec<DecodeIssue>) {
    let mut event = Event::default();
    let issues = decode_into(&mut event, lsn, raw, parsers);
    (event, issues)
}

/// [`decode`] into `event`, whatever it held (its room is reused: the
/// pipeline's threads decode every record into the same few events).
pub fn decode_into(
    event: &mut Event,
    lsn: u64,
    raw: &RawRecord,
    parsers: &Parsers,
) -> Vec<DecodeIssue> {
    let source = SourceRef {
        path: raw.source.clone(),
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
    match raw.kind {
        Kind::Syslog => match parse_syslog_line(&text) {
            Ok(msg) => {
                event.reset(source);
                fill_syslog_event(event, &msg);
                event.end_original_fields();
                mark_parse(event, parsers);
            }
            Err(e) => {
                issues.push(DecodeIssue::NotSyslog(e));
                *event = bare(&text, source);
            }
        },
        Kind::Json => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(doc) => match event_from_json(&doc, source.clone()) {
                Some(mut e) => {
                    e.end_original_fields();
                    watchfloor_formats::ecs::add_ecs_names(&mut e);
                    program_of_json(&mut e);
                    mark_parse(&mut e, parsers);
                    *event = e;
                }
                None => {
                    issues.push(DecodeIssue::NotAnObject);
                    *event = bare(&text, source);
                }
            },
            Err(e) => {
                issues.push(DecodeIssue::NotJson(e.to_string()));
                *event = bare(&text, source);
            }
        },
    }
    if event.core.host.is_none() && !raw.peer.is_empty() {
        event.core.host = Some((*raw.peer).into());
    }
    event.core.tenant = Some(raw.tenant.clone());
    if let Some(first) = issues.first() {
        event.push("decode_error", Value::Str(first.message().into()));
    }
    issues
}

/// The program of a JSON record that carries a syslog line (shippers and
/// `watchfloor import` send `app_name`; ECS says `process.name`), so the
/// same parsers and rules read it as on the syslog path.
fn program_of_json(e: &mut Event) {
    if e.core.windows || e.core.provider.is_some() {
        return;
    }
    e.core.provider = e.first_text(&["app_name", "process.name", "program", "ident"]);
    // A syslog line shipped as JSON is what the syslog path reads as the
    // `linux` product (the Sigma rules' logsource for sshd, sudo, cron...).
    if e.core.provider.is_some() && e.core.product.is_none() {
        e.core.product = Some(Text::from_static("linux"));
    }
}

/// Runs the parser of the event's program and records which one read it
/// (`parser.name`) and whether a pattern matched (`parser.outcome`).
fn mark_parse(e: &mut Event, parsers: &Parsers) {
    let (name, outcome) = match parsers.apply(e) {
        None => return,
        Some(ParseOutcome::Parsed(n)) => (n.clone(), "parsed"),
        Some(ParseOutcome::Unmatched(n)) => (n.clone(), "unmatched"),
    };
    const NAME: Name = Name::from_static("parser.name");
    const OUTCOME: Name = Name::from_static("parser.outcome");
    e.push(NAME, Value::Str(name));
    e.push(OUTCOME, Value::Str(Text::from_static(outcome)));
}

fn bare(text: &str, source: SourceRef) -> Event {
    let mut e = Event::new(source);
    e.push("message", Value::Str(text.into()));
    e
}

/// The stored form of a decoded event.
pub fn to_doc(lsn: u64, raw: &RawRecord, event: &Event) -> EventDoc {
    new_event(lsn, raw, event).to_doc()
}

/// A decoded event to store (the indexer's path): the store writes its
/// document straight from the event's fields.
pub fn new_event<'a>(lsn: u64, raw: &'a RawRecord, event: &'a Event) -> NewEvent<'a> {
    NewEvent {
        id: lsn,
        time_ns: event.core.timestamp.unwrap_or(raw.received_ns),
        received_ns: raw.received_ns,
        tenant: &raw.tenant,
        source: &raw.source,
        truncated: raw.truncated,
        peer: &raw.peer,
        event,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A field of `e` as text.
    fn text(e: &Event, name: &str) -> Option<String> {
        e.get(name).map(|v| v.to_string())
    }

    fn decode_shipped(lsn: u64, raw: &RawRecord) -> (Event, Vec<DecodeIssue>) {
        decode(lsn, raw, &Parsers::shipped())
    }

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
        let (e, issues) = decode_shipped(
            1,
            &raw(
                Kind::Syslog,
                b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
            ),
        );
        assert!(issues.is_empty());
        assert_eq!(e.core.host.as_deref(), Some("mymachine"));
        let (e, _) = decode_shipped(2, &raw(Kind::Syslog, b"just text"));
        assert_eq!(e.core.host.as_deref(), Some("192.0.2.7"));
        assert_eq!(e.core.tenant.as_deref(), Some("acme"));
    }

    #[test]
    fn bad_records_are_kept_as_messages_with_the_reason() {
        let (e, issues) = decode_shipped(1, &raw(Kind::Syslog, b"<13>bad \xff\xfe bytes"));
        assert_eq!(issues, vec![DecodeIssue::InvalidUtf8]);
        assert!(e.get("message").is_some());
        let (e, issues) = decode_shipped(2, &raw(Kind::Json, b"{not json"));
        assert_eq!(issues[0].kind(), "invalid_json");
        assert_eq!(text(&e, "message").as_deref(), Some("{not json"));
        let (_, issues) = decode_shipped(3, &raw(Kind::Json, b"[1,2]"));
        assert_eq!(issues, vec![DecodeIssue::NotAnObject]);
        let doc = to_doc(3, &raw(Kind::Json, b"[1,2]"), &e);
        assert!(doc.fields.contains_key("decode_error"));
    }

    #[test]
    fn syslog_lines_get_parsed_fields_and_unmatched_ones_stay_whole() {
        let line = b"<38>Dec  2 10:00:00 bastion1 sshd[4242]: Failed password for root from 203.0.113.9 port 22 ssh2";
        let (e, issues) = decode_shipped(1, &raw(Kind::Syslog, line));
        assert!(issues.is_empty());
        assert_eq!(text(&e, "source.ip").as_deref(), Some("203.0.113.9"));
        assert_eq!(text(&e, "user.name").as_deref(), Some("root"));
        assert_eq!(text(&e, "parser.outcome").as_deref(), Some("parsed"));
        let odd = b"<38>Dec  2 10:00:00 bastion1 sshd[4242]: Failed password for ro";
        let (e, issues) = decode_shipped(2, &raw(Kind::Syslog, odd));
        assert!(issues.is_empty(), "an unparsed line is no decode error");
        assert_eq!(text(&e, "parser.outcome").as_deref(), Some("unmatched"));
        assert!(e.get("message").is_some() && e.get("source.ip").is_none());
    }

    /// An event decoded into again is the event a fresh decode gives,
    /// whatever it held before (more fields, a repeated name, another
    /// kind of record, an error).
    #[test]
    fn decoding_into_a_used_event_leaves_nothing_of_the_last_record() {
        let records = [
            raw(Kind::Json, br#"{"EventID":4624,"Channel":"Security","Computer":"dc1","a":1,"b":2,"c":3}"#),
            raw(Kind::Syslog, b"<38>Dec  2 10:00:00 bastion1 sshd[4242]: Failed password for root from 203.0.113.9 port 22 ssh2"),
            raw(Kind::Syslog, b"<13>1 2026-12-02T10:00:00Z web1 app - - [x@1 a=\"1\" a=\"2\"] repeated"),
            raw(Kind::Syslog, b"<38>Dec  2 10:00:00 h CRON[1]: (root) CMD (true)"),
            raw(Kind::Json, b"{not json"),
            raw(Kind::Syslog, b"<13>bad \xff\xfe bytes"),
            raw(Kind::Syslog, b"<38>Dec  2 10:00:00 bastion1 sshd[4242]: Failed password for ro"),
        ];
        let parsers = Parsers::shipped();
        let mut used = Event::default();
        let mut repeats = 0;
        for (i, r) in records.iter().chain(records.iter().rev()).enumerate() {
            let issues = decode_into(&mut used, i as u64, r, &parsers);
            let (fresh, fresh_issues) = decode(i as u64, r, &parsers);
            assert_eq!(used, fresh, "record {i}");
            assert_eq!(issues, fresh_issues, "record {i}");
            repeats += usize::from(!used.has_unique_names());
        }
        assert_eq!(repeats, 2, "the structured data names `a` twice");
    }

    #[test]
    fn json_records_of_a_program_are_parsed_too() {
        let doc = br#"{"app_name":"sshd","hostname":"bastion","message":"Invalid user oracle from 198.51.100.4 port 50022"}"#;
        let (e, _) = decode_shipped(1, &raw(Kind::Json, doc));
        assert_eq!(text(&e, "user.name").as_deref(), Some("oracle"));
        assert_eq!(text(&e, "source.ip").as_deref(), Some("198.51.100.4"));
        let (e, _) = decode_shipped(
            2,
            &raw(Kind::Json, br#"{"message":"Invalid user x from 1.2.3.4"}"#),
        );
        assert!(e.get("parser.name").is_none(), "no program, no parser");
    }

    #[test]
    fn a_web_server_line_is_of_sigmas_webserver_category() {
        let line = br#"<190>Dec  2 10:00:00 web1 nginx: 203.0.113.9 - - [02/Dec/2026:10:00:00 +0000] "GET /cgi-bin/x HTTP/1.1" 404 1 "-" "curl""#;
        let (e, _) = decode_shipped(1, &raw(Kind::Syslog, line));
        assert_eq!(e.core.category.as_deref(), Some("webserver"));
        assert_eq!(
            text(&e, "http.response.status_code").as_deref(),
            Some("404")
        );
    }
}
