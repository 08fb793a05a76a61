//! Syslog, RFC 5424 and RFC 3164 (including the BSD form without a PRI that
//! `/var/log/syslog` and `auth.log` use). A message whose body is CEF is
//! decoded into CEF fields as well.

use std::io::{BufRead, BufReader};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use watchfloor_model::{parse_timestamp, Event, Name, SourceRef, Text, Value};

use crate::cef::{parse_cef, push_cef};
use crate::{Format, Record, RecordError};

/// Longest line accepted; longer lines are truncated and flagged.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// A decoded syslog message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyslogMessage<'a> {
    pub facility: Option<u8>,
    pub severity: Option<u8>,
    pub timestamp: Option<i64>,
    pub hostname: Option<&'a str>,
    pub app_name: Option<&'a str>,
    pub procid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    /// RFC 5424 structured data: (sd-id, param, value).
    pub structured: Vec<(&'a str, &'a str, String)>,
    pub message: &'a str,
    pub rfc5424: bool,
}

/// Parses one syslog line. Anything after the header that cannot be parsed
/// is kept as the message, so no text is ever lost; `Err` only for lines that
/// carry no message at all.
pub fn parse_syslog_line(line: &str) -> Result<SyslogMessage<'_>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Err("empty line".into());
    }
    let mut msg = SyslogMessage::default();
    let rest = match parse_pri(line) {
        Some((pri, rest)) => {
            msg.facility = Some(pri / 8);
            msg.severity = Some(pri % 8);
            rest
        }
        None => line,
    };
    if let Some(body) = rest.strip_prefix("1 ") {
        msg.rfc5424 = true;
        parse_5424(body, &mut msg);
    } else {
        parse_3164(rest, &mut msg);
    }
    Ok(msg)
}

fn parse_pri(line: &str) -> Option<(u8, &str)> {
    let rest = line.strip_prefix('<')?;
    let end = rest.find('>')?;
    if end == 0 || end > 3 {
        return None;
    }
    let pri: u8 = rest[..end].parse().ok()?;
    (pri <= 191).then_some((pri, &rest[end + 1..]))
}

fn nil(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

fn parse_5424<'a>(body: &'a str, msg: &mut SyslogMessage<'a>) {
    let mut parts = body.splitn(6, ' ');
    msg.timestamp = parts.next().and_then(nil).and_then(parse_timestamp);
    msg.hostname = parts.next().and_then(nil);
    msg.app_name = parts.next().and_then(nil);
    msg.procid = parts.next().and_then(nil);
    msg.msgid = parts.next().and_then(nil);
    let rest = parts.next().unwrap_or("");
    let (structured, message) = parse_structured_data(rest);
    msg.structured = structured;
    msg.message = message.strip_prefix('\u{feff}').unwrap_or(message);
}

/// Splits `[id k="v" ...][id2 ...] message` into its parts.
fn parse_structured_data(s: &str) -> (Vec<(&str, &str, String)>, &str) {
    let mut out = Vec::new();
    if let Some(rest) = s.strip_prefix("- ") {
        return (out, rest);
    }
    if s == "-" {
        return (out, "");
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i] == b'[' {
        match parse_sd_element(s, i + 1, &mut out) {
            Some(end) => i = end,
            None => return (Vec::new(), s),
        }
    }
    (out, s[i..].strip_prefix(' ').unwrap_or(&s[i..]))
}

/// Parses one SD element starting after its `[`, returning the index after `]`.
fn parse_sd_element<'a>(
    s: &'a str,
    start: usize,
    out: &mut Vec<(&'a str, &'a str, String)>,
) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = start;
    while i < bytes.len() && bytes[i] != b' ' && bytes[i] != b']' {
        i += 1;
    }
    let id = &s[start..i];
    loop {
        match bytes.get(i)? {
            b']' => return Some(i + 1),
            b' ' => i += 1,
            _ => {
                let eq = s[i..].find('=')? + i;
                let name = &s[i..eq];
                if bytes.get(eq + 1) != Some(&b'"') {
                    return None;
                }
                let (value, end) = parse_sd_value(s, eq + 2)?;
                out.push((id, name, value));
                i = end;
            }
        }
    }
}

fn parse_sd_value(s: &str, start: usize) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut chars = s[start..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, n @ ('"' | '\\' | ']'))) => value.push(n),
                Some((_, n)) => {
                    value.push('\\');
                    value.push(n);
                }
                None => return None,
            },
            '"' => return Some((value, start + off + 1)),
            c => value.push(c),
        }
    }
    None
}

fn parse_3164<'a>(rest: &'a str, msg: &mut SyslogMessage<'a>) {
    let (ts, after_ts) = parse_3164_time(rest);
    msg.timestamp = ts;
    let mut body = after_ts.trim_start();
    if ts.is_some() {
        if let Some((host, tail)) = body.split_once(' ') {
            if !host.ends_with(':') {
                msg.hostname = Some(host);
                body = tail;
            }
        }
    }
    let (app, pid, message) = split_tag(body);
    msg.app_name = app;
    msg.procid = pid;
    msg.message = message;
}

/// `Mmm dd hh:mm:ss` (no year: the current year, or the previous one when
/// that would put the record in the future) or an RFC 3339 stamp.
fn parse_3164_time(s: &str) -> (Option<i64>, &str) {
    if s.len() >= 15 && s.is_char_boundary(15) {
        let (head, tail) = s.split_at(15);
        if let Some(ts) = bsd_timestamp(head) {
            return (Some(ts), tail);
        }
    }
    if let Some((first, tail)) = s.split_once(' ') {
        if let Some(ts) = parse_timestamp(first) {
            return (Some(ts), tail);
        }
    }
    (None, s)
}

fn bsd_timestamp(head: &str) -> Option<i64> {
    let now = Utc::now();
    let with_year = |year: i32| {
        NaiveDateTime::parse_from_str(&format!("{year} {head}"), "%Y %b %e %H:%M:%S").ok()
    };
    let naive = with_year(now.year())?;
    let dt = Utc.from_utc_datetime(&naive);
    let dt = if dt > now + chrono::Duration::days(1) {
        Utc.from_utc_datetime(&with_year(now.year() - 1)?)
    } else {
        dt
    };
    // Feb 29 without a year that has one is not a valid date.
    let _ = NaiveDate::from_ymd_opt(dt.year(), dt.month(), dt.day())?;
    dt.timestamp_nanos_opt()
}

/// `sshd[123]: message` or `kernel: message`.
fn split_tag(body: &str) -> (Option<&str>, Option<&str>, &str) {
    let Some(colon) = body
        .find(": ")
        .or_else(|| body.strip_suffix(':').map(|b| b.len()))
    else {
        return (None, None, body);
    };
    let tag = &body[..colon];
    if tag.is_empty() || tag.contains(' ') || tag.len() > 64 {
        return (None, None, body);
    }
    let message = body.get(colon + 2..).unwrap_or("");
    match tag.split_once('[') {
        Some((app, pid)) => (Some(app), Some(pid.trim_end_matches(']')), message),
        None => (Some(tag), None, message),
    }
}

/// Turns a parsed message into an event with the usual field names.
pub fn syslog_event(msg: &SyslogMessage<'_>, source: SourceRef) -> Event {
    let mut e = Event::new(source);
    fill_syslog_event(&mut e, msg);
    e
}

/// [`syslog_event`] into an event that was [`Event::reset`] (its room
/// reused: the pipeline decodes every record into the same few events).
pub fn fill_syslog_event(e: &mut Event, msg: &SyslogMessage<'_>) {
    // Names written here are shared, not allocated per event.
    let mut put = |name: &'static str, v: Option<&str>| {
        if let Some(v) = v {
            e.push(Name::from_static(name), Value::Str(v.into()));
        }
    };
    put("hostname", msg.hostname);
    put("app_name", msg.app_name);
    put("procid", msg.procid);
    put("msgid", msg.msgid);
    if let Some(f) = msg.facility {
        e.push(Name::from_static("facility"), Value::Int(f.into()));
    }
    if let Some(s) = msg.severity {
        e.push(Name::from_static("severity"), Value::Int(s.into()));
    }
    for (id, name, value) in &msg.structured {
        e.push(format!("sd.{id}.{name}"), Value::Str(value.as_str().into()));
    }
    e.push(Name::from_static("message"), Value::Str(msg.message.into()));
    if let Some(cef) = parse_cef(msg.message) {
        push_cef(e, &cef);
    }
    e.core.timestamp = msg.timestamp;
    e.core.host = msg.hostname.map(Into::into);
    e.core.provider = msg.app_name.map(Into::into);
    e.core.product = Some(Text::from_static("linux"));
}

pub(crate) fn read_syslog_file(
    path: &Path,
    format: Format,
    sink: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?);
    let label: Arc<str> = path.display().to_string().into();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let (n, truncated) = read_bounded_line(&mut reader, &mut buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let text = String::from_utf8_lossy(&buf);
        if text.trim().is_empty() {
            continue;
        }
        let source = SourceRef {
            path: label.clone(),
            record: line_no,
        };
        let record = decode_line(&text, format, source, truncated).map_err(|message| RecordError {
            path: label.to_string(),
            record: line_no,
            message,
        });
        if sink(record).is_break() {
            break;
        }
    }
    Ok(())
}

fn decode_line(
    text: &str,
    format: Format,
    source: SourceRef,
    truncated: bool,
) -> Result<Event, String> {
    let mut event = if format == Format::Cef {
        let cef = parse_cef(text).ok_or("not a CEF record (expected 'CEF:Version|...')")?;
        let mut e = Event::new(source);
        push_cef(&mut e, &cef);
        e
    } else {
        let msg = parse_syslog_line(text)?;
        syslog_event(&msg, source)
    };
    if truncated {
        event.push("watchfloor.truncated", Value::Bool(true));
    }
    Ok(event)
}

/// Reads one line, keeping at most [`MAX_LINE_BYTES`]; the rest of an
/// overlong line is consumed and the line is flagged as truncated.
fn read_bounded_line(
    reader: &mut impl BufRead,
    out: &mut Vec<u8>,
) -> std::io::Result<(usize, bool)> {
    let mut total = 0;
    let mut truncated = false;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((total, truncated));
        }
        let (chunk, found) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = MAX_LINE_BYTES.saturating_sub(out.len());
        if chunk.len() > room {
            truncated = true;
        }
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        total += used;
        reader.consume(used);
        if found {
            return Ok((total, truncated));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5424_with_structured_data() {
        let m = parse_syslog_line(
            r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event"#,
        )
        .unwrap();
        assert!(m.rfc5424);
        assert_eq!(m.facility, Some(20));
        assert_eq!(m.severity, Some(5));
        assert_eq!(m.hostname, Some("mymachine.example.com"));
        assert_eq!(m.app_name, Some("evntslog"));
        assert_eq!(m.procid, None);
        assert_eq!(m.msgid, Some("ID47"));
        assert_eq!(
            m.structured[1],
            (
                "exampleSDID@32473",
                "eventSource",
                "Application".to_string()
            )
        );
        assert_eq!(m.message, "An application event");
        assert!(m.timestamp.is_some());
    }

    #[test]
    fn rfc5424_escapes_and_nil_values() {
        let m = parse_syslog_line(r#"<13>1 - - - - - [a b="x\"y\]z"] msg"#).unwrap();
        assert_eq!(m.structured[0].2, "x\"y]z");
        assert_eq!(m.hostname, None);
        assert_eq!(m.message, "msg");
    }

    #[test]
    fn rfc3164_with_and_without_pri() {
        let m = parse_syslog_line(
            "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick",
        )
        .unwrap();
        assert_eq!(m.facility, Some(4));
        assert_eq!(m.hostname, Some("mymachine"));
        assert_eq!(m.app_name, Some("su"));
        assert_eq!(m.procid, Some("230"));
        assert_eq!(m.message, "'su root' failed for lonvick");
        let m =
            parse_syslog_line("Jan  5 01:02:03 host sshd[99]: Failed password for root").unwrap();
        assert_eq!(m.facility, None);
        assert_eq!(m.hostname, Some("host"));
        assert_eq!(m.app_name, Some("sshd"));
    }

    #[test]
    fn unparseable_headers_keep_the_text() {
        let m = parse_syslog_line("<999>garbage without header").unwrap();
        assert_eq!(m.message, "<999>garbage without header");
        assert!(parse_syslog_line("   ").is_err());
    }

    #[test]
    fn cef_inside_syslog_is_decoded() {
        let m = parse_syslog_line(
            "<13>Jan  5 01:02:03 fw CEF:0|Vendor|FW|1.0|100|Blocked|5|src=10.0.0.1 dst=10.0.0.2",
        )
        .unwrap();
        let e = syslog_event(&m, SourceRef::default());
        assert_eq!(e.get("src"), Some(&Value::Str("10.0.0.1".into())));
        assert_eq!(e.get("deviceVendor"), Some(&Value::Str("Vendor".into())));
    }

    #[test]
    fn overlong_lines_are_truncated_and_flagged() {
        let long = format!("{}\nnext\n", "a".repeat(MAX_LINE_BYTES + 10));
        let mut r = std::io::Cursor::new(long.into_bytes());
        let mut out = Vec::new();
        let (n, truncated) = read_bounded_line(&mut r, &mut out).unwrap();
        assert!(truncated);
        assert_eq!(n, MAX_LINE_BYTES + 11);
        assert_eq!(out.len(), MAX_LINE_BYTES);
        out.clear();
        let (_, t2) = read_bounded_line(&mut r, &mut out).unwrap();
        assert!(!t2);
        assert_eq!(out, b"next\n");
    }
}
