//! ArcSight Common Event Format:
//! `CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension`.

use watchfloor_model::{Event, Value};

/// A decoded CEF record.
#[derive(Debug, Clone, PartialEq)]
pub struct Cef {
    pub header: Vec<String>,
    pub extension: Vec<(String, String)>,
}

const HEADER_NAMES: [&str; 7] = [
    "cefVersion",
    "deviceVendor",
    "deviceProduct",
    "deviceVersion",
    "signatureId",
    "name",
    "severity",
];

/// Parses a CEF record that may be preceded by other text (a syslog header).
pub fn parse_cef(text: &str) -> Option<Cef> {
    let start = text.find("CEF:")?;
    let body = &text[start + 4..];
    let mut header = Vec::with_capacity(7);
    let mut field = String::new();
    let mut chars = body.char_indices();
    let mut ext_start = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, n)) => field.push(n),
                None => field.push('\\'),
            },
            '|' => {
                header.push(std::mem::take(&mut field));
                if header.len() == 7 {
                    ext_start = Some(i + 1);
                    break;
                }
            }
            c => field.push(c),
        }
    }
    if header.len() < 7 {
        // A header cut short: keep what there is if at least the version and vendor exist.
        if header.len() < 2 {
            return None;
        }
        header.push(field);
    }
    let extension = ext_start
        .map(|s| parse_extension(&body[s..]))
        .unwrap_or_default();
    Some(Cef { header, extension })
}

/// Extension: `key=value` pairs separated by spaces, where values may hold
/// spaces; a new key starts at the last space before the next `key=`.
fn parse_extension(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let key_starts = find_key_starts(s);
    for (n, &(kstart, eq)) in key_starts.iter().enumerate() {
        let vend = key_starts
            .get(n + 1)
            .map(|&(k, _)| k - 1)
            .unwrap_or(s.len());
        let key = &s[kstart..eq];
        let raw = s.get(eq + 1..vend.max(eq + 1)).unwrap_or("");
        out.push((key.to_string(), unescape_value(raw.trim_end())));
    }
    out
}

/// Positions (key start, '=' index) of every unescaped `key=` in `s`.
fn find_key_starts(s: &str) -> Vec<(usize, usize)> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && (i == 0 || bytes[i - 1] != b'\\') {
            let mut k = i;
            while k > 0
                && (bytes[k - 1].is_ascii_alphanumeric()
                    || matches!(bytes[k - 1], b'_' | b'.' | b'-' | b'[' | b']'))
            {
                k -= 1;
            }
            if k < i && (k == 0 || bytes[k - 1] == b' ') {
                out.push((k, i));
            }
        }
        i += 1;
    }
    out
}

fn unescape_value(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(n) => out.push(n),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Adds CEF header and extension fields to an event.
pub(crate) fn push_cef(e: &mut Event, cef: &Cef) {
    for (name, value) in HEADER_NAMES.iter().zip(&cef.header) {
        e.push(*name, Value::Str(value.as_str().into()));
    }
    for (k, v) in &cef.extension {
        e.push(k.as_str(), Value::Str(v.as_str().into()));
    }
    if let Some(vendor) = cef.header.get(1) {
        e.core
            .provider
            .get_or_insert_with(|| vendor.as_str().into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_extension_with_spaces_and_escapes() {
        let c = parse_cef(r"CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 msg=Detected a \= sign and spaces cs1Label=x").unwrap();
        assert_eq!(c.header[1], "Security");
        assert_eq!(c.header[6], "10");
        assert_eq!(c.extension[0], ("src".into(), "10.0.0.1".into()));
        assert_eq!(
            c.extension[2],
            ("msg".into(), "Detected a = sign and spaces".into())
        );
        assert_eq!(c.extension[3], ("cs1Label".into(), "x".into()));
    }

    #[test]
    fn pipes_escaped_in_header() {
        let c = parse_cef(r"CEF:0|V\|x|P|1|2|N|3|").unwrap();
        assert_eq!(c.header[1], "V|x");
        assert!(c.extension.is_empty());
    }

    #[test]
    fn not_cef() {
        assert!(parse_cef("hello").is_none());
        assert!(parse_cef("CEF:").is_none());
    }
}
