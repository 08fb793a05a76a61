//! Bodies of `POST /api/v1/ingest` (and the other HTTP sources): NDJSON or
//! one JSON array of objects, optionally gzip-compressed, framed by the
//! `formats` crate's JSON splitter. Decompression stops at a limit (a gzip bomb
//! is refused, not expanded). Each event is checked to be a JSON object;
//! the others are reported back by line, the good ones go on.

use std::borrow::Cow;
use std::io::Read;

use serde_json::value::RawValue;
use watchfloor_formats::{JsonSplitter, Piece};

/// Why a whole body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("decompressed body exceeds {0} bytes")]
    TooLarge(u64),
    #[error("invalid gzip data: {0}")]
    Gzip(String),
    #[error("invalid JSON array: {0}")]
    Array(String),
}

/// One event that was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// Line (NDJSON) or element (array), from 1.
    pub line: usize,
    pub error: String,
}

/// The events of a body.
#[derive(Debug, Default)]
pub struct Split {
    /// Each event's JSON text, with whether it was cut at the size limit
    /// (cut events are kept as text and flagged, not dropped).
    pub events: Vec<(Vec<u8>, bool)>,
    pub rejected: Vec<Rejection>,
}

/// Gunzips when asked to (or when the body starts with the gzip magic),
/// reading at most `max` bytes of output.
pub fn decode(body: &[u8], gzip: bool, max: u64) -> Result<Cow<'_, [u8]>, BodyError> {
    let is_gzip = gzip || body.starts_with(&[0x1f, 0x8b]);
    if !is_gzip {
        if body.len() as u64 > max {
            return Err(BodyError::TooLarge(max));
        }
        return Ok(Cow::Borrowed(body));
    }
    let mut out = Vec::new();
    let mut reader = flate2::read::MultiGzDecoder::new(body).take(max + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Gzip(e.to_string()))?;
    if out.len() as u64 > max {
        return Err(BodyError::TooLarge(max));
    }
    Ok(Cow::Owned(out))
}

/// Splits a decoded body into events, with the `formats` JSON splitter: a
/// top-level array gives its elements, anything else is NDJSON (one event a
/// line). Each event must be a JSON object (checked without building it);
/// the others are reported by element or line number, and the good ones go
/// on. An event over `max_event` bytes keeps its first `max_event` bytes
/// and is flagged as cut.
pub fn split(body: &[u8], max_event: usize) -> Result<Split, BodyError> {
    let mut splitter = JsonSplitter::new(body)
        .with_limit(max_event)
        .keeping_prefixes();
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'[') {
        splitter = splitter.with_line_mode(true);
    }
    let mut split = Split::default();
    let mut element = 0;
    while let Some(piece) = splitter
        .next_piece()
        .map_err(|e| BodyError::Array(e.to_string()))?
    {
        element += 1;
        let number = |line: u64| {
            if splitter.is_array() {
                element
            } else {
                line as usize
            }
        };
        match piece {
            Piece::Document { bytes, line } => {
                let text = trimmed(bytes);
                let verdict = match serde_json::from_slice::<&RawValue>(&text) {
                    Ok(_) if text.first() == Some(&b'{') => Ok(()),
                    Ok(_) => Err("not a JSON object".to_string()),
                    Err(e) => Err(format!("invalid JSON: {e}")),
                };
                match verdict {
                    Ok(()) => split.events.push((text, false)),
                    Err(error) => split.rejected.push(Rejection {
                        line: number(line),
                        error,
                    }),
                }
            }
            Piece::Oversized { prefix, .. } => {
                split.events.push((prefix, true));
            }
            Piece::Garbage { line, .. } => split.rejected.push(Rejection {
                line: number(line),
                error: if splitter.is_array() {
                    "not a JSON object".into()
                } else {
                    "invalid JSON: not a JSON document".into()
                },
            }),
        }
    }
    if splitter.array_unclosed() {
        return Err(BodyError::Array("the array is not closed".into()));
    }
    Ok(split)
}

/// The bytes without the white space around them, in place.
fn trimmed(mut bytes: Vec<u8>) -> Vec<u8> {
    let end = bytes.trim_ascii_end().len();
    bytes.truncate(end);
    let start = bytes.len() - bytes.trim_ascii_start().len();
    bytes.drain(..start);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn ndjson_with_bad_lines_reports_them_by_number() {
        let body = b"{\"a\":1}\n\nnot json\n[1]\n{\"b\":\"\\u00e9\"}\r\n";
        let s = split(body, 1024).unwrap();
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.rejected.len(), 2);
        assert_eq!(s.rejected[0].line, 3);
        assert!(
            s.rejected[0].error.starts_with("invalid JSON"),
            "{:?}",
            s.rejected[0]
        );
        assert_eq!(
            s.rejected[1],
            Rejection {
                line: 4,
                error: "not a JSON object".into()
            }
        );
    }

    #[test]
    fn arrays_and_oversized_events() {
        let s = split(
            b" [ {\"a\":1}, 5, {\"b\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"} ]",
            16,
        )
        .unwrap();
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.events[0], (b"{\"a\":1}".to_vec(), false));
        assert!(s.events[1].1, "cut and flagged");
        assert_eq!(s.events[1].0.len(), 16);
        assert_eq!(s.rejected[0].line, 2);
        assert!(matches!(split(b"[{\"a\":1}", 16), Err(BodyError::Array(_))));
    }

    #[test]
    fn one_bad_element_costs_that_element_only() {
        let body =
            br#"[{"a":1}, "a string with { and ] inside", [1, {"x": 2}], {"b":}, {"c":"]"}]"#;
        let s = split(body, 1024).unwrap();
        let texts: Vec<&[u8]> = s.events.iter().map(|(t, _)| t.as_slice()).collect();
        assert_eq!(texts, [&br#"{"a":1}"#[..], &br#"{"c":"]"}"#[..]]);
        let lines: Vec<usize> = s.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 3, 4], "{:?}", s.rejected);
        assert!(s.rejected[2].error.starts_with("invalid JSON"));
    }

    #[test]
    fn an_oversized_line_is_cut_and_the_next_lines_still_count() {
        let body = format!("{{\"m\":\"{}\"}}\n{{\"n\":1}}\n", "x".repeat(100));
        let s = split(body.as_bytes(), 32).unwrap();
        assert_eq!(s.events.len(), 2);
        assert_eq!((s.events[0].0.len(), s.events[0].1), (32, true));
        assert_eq!(s.events[1], (b"{\"n\":1}".to_vec(), false));
    }

    #[test]
    fn gzip_is_decoded_within_the_limit_and_bombs_are_refused() {
        let data = b"{\"a\":1}\n".repeat(10);
        assert_eq!(decode(&gz(&data), false, 1000).unwrap().as_ref(), &data[..]);
        let bomb = gz(&vec![b' '; 10 << 20]);
        assert!(bomb.len() < 100 << 10);
        assert_eq!(
            decode(&bomb, true, 1 << 20),
            Err(BodyError::TooLarge(1 << 20))
        );
        assert!(matches!(
            decode(b"\x1f\x8bgarbage", false, 1000),
            Err(BodyError::Gzip(_))
        ));
    }
}
