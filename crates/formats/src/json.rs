//! JSON in every framing users meet: one document, a top-level array,
//! NDJSON, or concatenated pretty-printed documents.
//!
//! A byte-level splitter finds document boundaries without parsing (it only
//! tracks strings, escapes and bracket depth), so that one bad document is
//! reported and skipped while the rest of the file is still read, nesting
//! depth costs no stack, and a document over [`MAX_RECORD_BYTES`] is skipped
//! without being held in memory.

use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;
use watchfloor_model::{parse_timestamp, Event, SourceRef, Text, Value};

use crate::windows::{fill_windows_core, windows_event_from_json};
use crate::{Record, RecordError};

/// Largest single JSON document accepted; larger ones are reported and skipped.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

/// One framed piece of input: a complete document or a run of bytes that is
/// not JSON, with the line it started on.
#[derive(Debug, PartialEq)]
pub enum Piece {
    Document {
        bytes: Vec<u8>,
        line: u64,
    },
    /// Over the limit; `prefix` holds its first bytes (up to the limit)
    /// when the splitter keeps them ([`JsonSplitter::keeping_prefixes`]).
    Oversized {
        line: u64,
        size: usize,
        prefix: Vec<u8>,
    },
    Garbage {
        line: u64,
        size: usize,
    },
}

/// Splits a byte stream into JSON documents.
pub struct JsonSplitter<R> {
    reader: R,
    line: u64,
    max: usize,
    top_array: Option<bool>,
    /// One document per line (NDJSON): a line break inside a document ends
    /// it, so a broken line costs that line only. Known from the file name
    /// or learned from the first document.
    line_mode: Option<bool>,
    /// Keep the first `max` bytes of an oversized document.
    keep_prefix: bool,
    /// The `]` of a top-level array was read.
    array_closed: bool,
}

impl<R: BufRead> JsonSplitter<R> {
    pub fn new(reader: R) -> Self {
        JsonSplitter {
            reader,
            line: 1,
            max: MAX_RECORD_BYTES,
            top_array: None,
            line_mode: None,
            keep_prefix: false,
            array_closed: false,
        }
    }

    /// Declares the input to be NDJSON (or not) instead of learning it.
    pub fn with_line_mode(mut self, line_mode: bool) -> Self {
        self.line_mode = Some(line_mode);
        self
    }

    pub fn with_limit(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// Hands over the first `max` bytes of an oversized document (so a
    /// receiver can store it cut and flagged) instead of dropping them.
    pub fn keeping_prefixes(mut self) -> Self {
        self.keep_prefix = true;
        self
    }

    /// Whether the input is a top-level array.
    pub fn is_array(&self) -> bool {
        self.top_array == Some(true)
    }

    /// A top-level array whose closing `]` never came (a cut body).
    pub fn array_unclosed(&self) -> bool {
        self.is_array() && !self.array_closed
    }

    fn peek(&mut self) -> std::io::Result<Option<u8>> {
        Ok(self.reader.fill_buf()?.first().copied())
    }

    fn bump(&mut self) -> std::io::Result<Option<u8>> {
        let b = self.peek()?;
        if let Some(b) = b {
            self.reader.consume(1);
            if b == b'\n' {
                self.line += 1;
            }
        }
        Ok(b)
    }

    /// Skips whitespace, and the commas and brackets of a top-level array.
    fn skip_separators(&mut self) -> std::io::Result<()> {
        while let Some(b) = self.peek()? {
            let in_array = self.top_array == Some(true);
            let is_sep = b.is_ascii_whitespace() || (in_array && (b == b',' || b == b']'));
            if !is_sep {
                break;
            }
            if in_array && b == b']' {
                self.array_closed = true;
            }
            self.bump()?;
        }
        Ok(())
    }

    /// The next piece, or `None` at the end of input.
    pub fn next_piece(&mut self) -> std::io::Result<Option<Piece>> {
        self.skip_separators()?;
        let Some(first) = self.peek()? else {
            return Ok(None);
        };
        if self.top_array.is_none() {
            self.top_array = Some(first == b'[');
            if first == b'[' {
                self.bump()?;
                return self.next_piece();
            }
        }
        let line = self.line;
        if self.is_array() && first != b'{' {
            return self.skip_element(line).map(Some);
        }
        if first != b'{' && first != b'[' {
            return self.skip_garbage(line).map(Some);
        }
        self.take_document(line).map(Some)
    }

    fn skip_garbage(&mut self, line: u64) -> std::io::Result<Piece> {
        let mut size = 0;
        while let Some(b) = self.peek()? {
            if b == b'{' && size > 0 {
                break;
            }
            self.bump()?;
            size += 1;
            if b == b'\n' {
                break;
            }
        }
        Ok(Piece::Garbage { line, size })
    }

    /// Skips one element of a top-level array that is not an object (a
    /// number, a string that may hold brackets, a nested array), up to the
    /// `,` or `]` that ends it.
    fn skip_element(&mut self, line: u64) -> std::io::Result<Piece> {
        let mut scan = Scan::default();
        let mut size = 0;
        while let Some(b) = self.peek()? {
            if scan.outside() && (b == b',' || b == b']') {
                break;
            }
            scan.feed(b);
            self.bump()?;
            size += 1;
        }
        Ok(Piece::Garbage { line, size })
    }

    fn take_document(&mut self, line: u64) -> std::io::Result<Piece> {
        let mut bytes = Vec::new();
        let mut size = 0usize;
        let mut scan = Scan::default();
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                // Truncated document: hand it over so the parser names the error.
                return Ok(self.finish(bytes, size, line));
            }
            let mut used = 0;
            let mut done = false;
            let line_mode = self.line_mode == Some(true);
            for &b in buf {
                used += 1;
                if b == b'\n' {
                    self.line += 1;
                    if line_mode {
                        // Unfinished at the end of its line: hand over what
                        // there is (the parser names the error) and go on
                        // with the next line.
                        done = true;
                        break;
                    }
                }
                if scan.feed(b) {
                    done = true;
                    break;
                }
            }
            if size + used <= self.max {
                bytes.extend_from_slice(&buf[..used]);
            } else if self.keep_prefix {
                let room = self.max.saturating_sub(bytes.len());
                bytes.extend_from_slice(&buf[..used.min(room)]);
            } else {
                bytes = Vec::new();
            }
            size += used;
            self.reader.consume(used);
            if done {
                self.line_mode.get_or_insert(self.line == line);
                return Ok(self.finish(bytes, size, line));
            }
        }
    }

    fn finish(&self, bytes: Vec<u8>, size: usize, line: u64) -> Piece {
        if size > self.max {
            Piece::Oversized {
                line,
                size,
                prefix: bytes,
            }
        } else {
            Piece::Document { bytes, line }
        }
    }
}

/// Where a byte scan stands in JSON text: inside a string (after an
/// escape), and how deep in brackets. Enough to find where a document ends
/// without parsing it.
#[derive(Default)]
struct Scan {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Scan {
    /// Takes one byte; true when it closed the outermost bracket.
    fn feed(&mut self, b: u8) -> bool {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
            }
            return false;
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                return self.depth == 0;
            }
            _ => {}
        }
        false
    }

    /// Outside every string and bracket.
    fn outside(&self) -> bool {
        self.depth == 0 && !self.in_string
    }
}

/// Reads a JSON file of any framing and decodes each document to an event.
pub(crate) fn read_json_file(
    path: &Path,
    sink: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    let reader: Box<dyn Read> = if is_gzip(path) {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let label: Arc<str> = path.display().to_string().into();
    let mut splitter = JsonSplitter::new(BufReader::with_capacity(256 * 1024, reader));
    if is_ndjson_name(path) {
        splitter = splitter.with_line_mode(true);
    }
    let mut record = 0u64;
    while let Some(piece) = splitter.next_piece()? {
        record += 1;
        let source = SourceRef {
            path: label.clone(),
            record,
        };
        if sink(decode_piece(piece, source)).is_break() {
            break;
        }
    }
    Ok(())
}

/// `x.ndjson`, `x.jsonl`, and the same gzipped.
fn is_ndjson_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.ends_with(".ndjson") || name.ends_with(".jsonl")
}

fn is_gzip(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

fn decode_piece(piece: Piece, source: SourceRef) -> Record {
    let error = |message: String| RecordError {
        path: source.path.to_string(),
        record: source.record,
        message,
    };
    match piece {
        Piece::Document { bytes, line } => match serde_json::from_slice::<Json>(&bytes) {
            Ok(doc) => event_from_json(&doc, source.clone())
                .ok_or_else(|| error(format!("line {line}: JSON document is not an object"))),
            Err(e) => Err(error(format!("line {line}: invalid JSON: {e}"))),
        },
        Piece::Oversized { line, size, .. } => Err(error(format!(
            "line {line}: JSON document of {size} bytes exceeds the {MAX_RECORD_BYTES}-byte limit"
        ))),
        Piece::Garbage { line, size } => Err(error(format!(
            "line {line}: {size} bytes that are not JSON skipped"
        ))),
    }
}

/// Builds an event from one JSON document, recognising its shape:
/// EVTX export (`Event.System`), Winlogbeat/ECS (`winlog.*`), OTRF/Mordor
/// flat Windows records (`Channel` + `EventID`), Suricata EVE, or any object.
pub fn event_from_json(doc: &Json, source: SourceRef) -> Option<Event> {
    if !doc.is_object() {
        return None;
    }
    if let Some(e) = windows_event_from_json(doc, source.clone()) {
        return Some(e);
    }
    let mut e = Event::new(source);
    e.flatten_json("", doc);
    if doc.get("winlog").is_some_and(Json::is_object) {
        promote_winlogbeat(&mut e, doc);
    } else if doc.get("Channel").is_some() && doc.get("EventID").is_some() {
        e.core.windows = true;
        fill_windows_core(&mut e);
    } else if doc.get("event_type").is_some() && doc.get("src_ip").is_some() {
        fill_generic_core(&mut e);
        e.core.provider = Some(Text::from_static("suricata"));
    } else {
        fill_generic_core(&mut e);
    }
    Some(e)
}

/// Winlogbeat nests the record under `winlog`; Sigma rules use the bare
/// EventData names, so those are added at the top level too.
fn promote_winlogbeat(e: &mut Event, doc: &Json) {
    let winlog = &doc["winlog"];
    if let Some(Json::Object(data)) = winlog.get("event_data") {
        for (k, v) in data {
            e.push(k.as_str(), Value::from_json_scalar(v));
        }
    }
    let copies = [
        ("event_id", "EventID"),
        ("channel", "Channel"),
        ("provider_name", "Provider_Name"),
        ("computer_name", "Computer"),
        ("record_id", "EventRecordID"),
    ];
    for (from, to) in copies {
        if let Some(v) = winlog.get(from) {
            let value = match v {
                Json::String(s) if to == "EventID" => s
                    .parse::<i64>()
                    .map(Value::Int)
                    .unwrap_or_else(|_| Value::from_json_scalar(v)),
                _ => Value::from_json_scalar(v),
            };
            e.set(to, value);
        }
    }
    e.core.windows = true;
    fill_windows_core(e);
    if e.core.host.is_none() {
        e.core.host = e.first_text(&["host.name", "host.hostname"]);
    }
}

fn fill_generic_core(e: &mut Event) {
    // The Sigma product a record declares (ECS puts the module in `event.module`).
    e.core.product = e
        .first_text(&["product", "event.module", "logsource.product"])
        .map(|p| p.to_lowercase().into());
    // The Sigma category a record declares: its own logsource, or ECS's
    // `event.category` (whose `database`, `web`... name the same things).
    e.core.category = e
        .first_text(&["logsource.category", "event.category"])
        .map(|c| c.to_lowercase().into());
    e.core.timestamp = e
        .first_text(&["@timestamp", "timestamp", "time", "ts", "eventTime", "date"])
        .and_then(|t| parse_timestamp(&t));
    e.core.host = e.first_text(&["host.name", "host.hostname", "hostname", "host", "Computer"]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pieces(input: &[u8]) -> Vec<Piece> {
        let mut s = JsonSplitter::new(input).with_limit(64);
        let mut out = Vec::new();
        while let Some(p) = s.next_piece().unwrap() {
            out.push(p);
        }
        out
    }

    fn docs(input: &[u8]) -> usize {
        pieces(input)
            .iter()
            .filter(|p| matches!(p, Piece::Document { .. }))
            .count()
    }

    #[test]
    fn every_framing_splits_into_documents() {
        assert_eq!(docs(b"{\"a\":1}"), 1);
        assert_eq!(docs(b"[{\"a\":1},\n {\"a\":2}]"), 2);
        assert_eq!(docs(b"{\"a\":1}\n{\"a\":2}\n"), 2);
        assert_eq!(docs(b"{\n  \"a\": {\"b\": \"}\"}\n}\n{\n \"c\": 2\n}"), 2);
    }

    #[test]
    fn a_broken_line_of_ndjson_costs_that_line_only() {
        let input = b"{\"a\":1}\n{\"broken\": \nnot json\n{\"a\":{\"b\":2}}\n";
        // Learned from the first document, and declared.
        for mut s in [
            JsonSplitter::new(&input[..]),
            JsonSplitter::new(&input[..]).with_line_mode(true),
        ] {
            let mut p = Vec::new();
            while let Some(piece) = s.next_piece().unwrap() {
                p.push(piece);
            }
            assert_eq!(p.len(), 4, "{p:?}");
            assert!(
                matches!(&p[1], Piece::Document { line: 2, bytes } if bytes.starts_with(b"{\"broken"))
            );
            assert!(matches!(p[2], Piece::Garbage { line: 3, .. }));
            assert!(matches!(&p[3], Piece::Document { line: 4, .. }));
        }
        // Pretty-printed documents still span lines.
        assert_eq!(docs(b"{\n \"a\": 1\n}\n{\n \"a\": 2\n}\n"), 2);
    }

    #[test]
    fn garbage_between_documents_is_reported_and_skipped() {
        let p = pieces(b"{\"a\":1}\n\x00\xffgarbage\n{\"a\":2}\n");
        assert_eq!(p.len(), 3);
        assert!(matches!(p[1], Piece::Garbage { line: 2, .. }));
    }

    #[test]
    fn oversized_documents_are_skipped_without_buffering() {
        let big = format!("{{\"a\":\"{}\"}}\n{{\"b\":1}}", "x".repeat(1000));
        let p = pieces(big.as_bytes());
        assert!(matches!(p[0], Piece::Oversized { .. }));
        assert!(matches!(p[1], Piece::Document { .. }));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let doc = format!("{{\"a\":{deep}}}");
        let mut s = JsonSplitter::new(doc.as_bytes());
        let piece = s.next_piece().unwrap().unwrap();
        let r = decode_piece(piece, SourceRef::default());
        assert!(r.unwrap_err().message.contains("invalid JSON"));
    }

    #[test]
    fn winlogbeat_records_are_windows_events() {
        let doc = json!({"@timestamp": "2024-01-01T00:00:00Z", "winlog": {"event_id": 4688, "channel": "Security",
            "provider_name": "Microsoft-Windows-Security-Auditing", "computer_name": "dc1",
            "event_data": {"NewProcessName": "C:\\x.exe"}}});
        let e = event_from_json(&doc, SourceRef::default()).unwrap();
        assert!(e.core.windows);
        assert_eq!(e.core.event_id, Some(4688));
        assert_eq!(
            e.get("NewProcessName"),
            Some(&Value::Str("C:\\x.exe".into()))
        );
        assert_eq!(
            e.get("winlog.event_data.NewProcessName"),
            Some(&Value::Str("C:\\x.exe".into()))
        );
    }

    #[test]
    fn mordor_flat_records_are_windows_events() {
        let doc = json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Hostname": "h", "Image": "a"});
        let e = event_from_json(&doc, SourceRef::default()).unwrap();
        assert!(e.core.windows);
        assert_eq!(e.core.host.as_deref(), Some("h"));
    }

    #[test]
    fn suricata_eve_keeps_nested_fields() {
        let doc = json!({"timestamp": "2024-01-01T00:00:00.000000+0000", "event_type": "alert", "src_ip": "10.0.0.1",
            "alert": {"signature": "ET X"}});
        let e = event_from_json(&doc, SourceRef::default()).unwrap();
        assert_eq!(e.get("alert.signature"), Some(&Value::Str("ET X".into())));
        assert_eq!(e.core.provider.as_deref(), Some("suricata"));
        assert!(e.core.timestamp.is_some());
    }
}
