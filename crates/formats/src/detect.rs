use std::io::Read;
use std::path::Path;

/// The formats Watchfloor decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Windows XML event log, binary.
    Evtx,
    /// JSON: one document, an array, NDJSON or concatenated documents;
    /// EVTX exports, Winlogbeat/ECS, OTRF/Mordor, Suricata EVE or any object.
    Json,
    /// Syslog lines, RFC 3164 or RFC 5424 (CEF payloads inside are decoded).
    Syslog,
    /// Bare CEF lines.
    Cef,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Evtx => "evtx",
            Format::Json => "json",
            Format::Syslog => "syslog",
            Format::Cef => "cef",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "evtx" => Some(Format::Evtx),
            "json" | "jsonl" | "ndjson" | "eve" => Some(Format::Json),
            "syslog" | "log" => Some(Format::Syslog),
            "cef" => Some(Format::Cef),
            _ => None,
        }
    }
}

const EVTX_MAGIC: &[u8] = b"ElfFile\0";

/// Detects a file's format from its first bytes, falling back to its
/// extension when the content is not conclusive.
pub fn detect_format(path: &Path) -> std::io::Result<Format> {
    let mut head = [0u8; 4096];
    let n = read_head(path, &mut head)?;
    Ok(detect_from_bytes(&head[..n], extension(path).as_deref()))
}

fn read_head(path: &Path, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut f = std::fs::File::open(path)?;
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

pub(crate) fn detect_from_bytes(head: &[u8], ext: Option<&str>) -> Format {
    if head.starts_with(EVTX_MAGIC) {
        return Format::Evtx;
    }
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'{') | Some(b'[') => return Format::Json,
        Some(_) if head.starts_with(b"CEF:") => return Format::Cef,
        _ => {}
    }
    match ext {
        Some("evtx") => Format::Evtx,
        Some("json" | "jsonl" | "ndjson") => Format::Json,
        Some("cef") => Format::Cef,
        _ => Format::Syslog,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_wins_over_extension() {
        assert_eq!(
            detect_from_bytes(b"ElfFile\0....", Some("log")),
            Format::Evtx
        );
        assert_eq!(
            detect_from_bytes(b"  \n{\"a\":1}", Some("log")),
            Format::Json
        );
        assert_eq!(detect_from_bytes(b"[{}]", None), Format::Json);
        assert_eq!(detect_from_bytes(b"CEF:0|a|b|c|d|e|5|", None), Format::Cef);
        assert_eq!(
            detect_from_bytes(b"<13>Jan  1 00:00:00 h t: m", None),
            Format::Syslog
        );
        assert_eq!(detect_from_bytes(b"", Some("evtx")), Format::Evtx);
    }
}
