//! Bodies of `POST /api/v1/ingest`: NDJSON or one JSON array of objects,
//! optionally gzip-compressed. Decompression stops at a limit (a gzip bomb
//! is refused, not expanded). Each event is checked to be a JSON object;
//! the others are reported back by line, the good ones go on.

use std::borrow::Cow;
use std::io::Read;

use serde_json::value::RawValue;

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
pub struct Split<'a> {
    /// Each event's JSON text, with whether it was cut at the size limit
    /// (cut events are kept as text and flagged, not dropped).
    pub events: Vec<(&'a [u8], bool)>,
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

/// Splits a decoded body into events.
pub fn split(body: &[u8], max_event: usize) -> Result<Split<'_>, BodyError> {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let mut split = Split::default();
    if body.get(start) == Some(&b'[') {
        let text = std::str::from_utf8(body).map_err(|e| BodyError::Array(e.to_string()))?;
        let items: Vec<&RawValue> =
            serde_json::from_str(text).map_err(|e| BodyError::Array(e.to_string()))?;
        for (i, item) in items.into_iter().enumerate() {
            // A borrowed RawValue is a slice of the body itself: no copy.
            let raw = item.get().as_bytes();
            if raw.first() != Some(&b'{') {
                split.rejected.push(Rejection {
                    line: i + 1,
                    error: "not a JSON object".into(),
                });
            } else if raw.len() > max_event {
                split.events.push((&raw[..max_event], true));
            } else {
                split.events.push((raw, false));
            }
        }
        return Ok(split);
    }
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if line.len() > max_event {
            split.events.push((&line[..max_event], true));
            continue;
        }
        match serde_json::from_slice::<&RawValue>(line) {
            Ok(_) if line.first() == Some(&b'{') => split.events.push((line, false)),
            Ok(_) => split.rejected.push(Rejection {
                line: i + 1,
                error: "not a JSON object".into(),
            }),
            Err(e) => split.rejected.push(Rejection {
                line: i + 1,
                error: format!("invalid JSON: {e}"),
            }),
        }
    }
    Ok(split)
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
        assert!(s.rejected[0].error.starts_with("invalid JSON"));
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
        assert_eq!(s.events[0], (&b"{\"a\":1}"[..], false));
        assert!(s.events[1].1, "cut and flagged");
        assert_eq!(s.events[1].0.len(), 16);
        assert_eq!(s.rejected[0].line, 2);
        assert!(matches!(split(b"[{\"a\":1}", 16), Err(BodyError::Array(_))));
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
