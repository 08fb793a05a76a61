//! Plain indicator lists, as abuse.ch and most blocklists publish them:
//! one value a line (`#` comments, blank lines ignored, the kind given or
//! guessed from each value), or CSV with a column map (which column holds
//! the value, and optionally its kind).

use crate::indicator::{guess_kind, normalize, Indicator, Kind, Tlp};
use crate::stix::Imported;

/// How a list's lines are read.
#[derive(Debug, Clone, Default)]
pub struct ListFormat {
    /// Every value's kind; `None`: guessed from each value.
    pub kind: Option<Kind>,
    /// Read as CSV, the value in this column (from 0).
    pub csv_value_column: Option<usize>,
    /// With CSV: a column naming each value's kind (`ip`, `domain`, ...).
    pub csv_kind_column: Option<usize>,
    pub confidence: u8,
}

/// The indicators of a file: a STIX 2.1 bundle when it holds a JSON object,
/// else a list of one value a line (kinds guessed). The source is the
/// file's name.
pub fn read_indicator_file(path: &std::path::Path, now_ns: i64) -> Result<Imported, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let source = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if text.trim_start().starts_with('{') {
        return crate::stix::import_bundle(&text, &source)
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    Ok(import_list(&text, &source, &ListFormat::default(), now_ns))
}

/// The indicators of a list's text, `now_ns` as their first sighting.
pub fn import_list(text: &str, source: &str, format: &ListFormat, now_ns: i64) -> Imported {
    let mut out = Imported::default();
    let make = |kind: Kind, value: &str| Indicator {
        kind,
        value: value.to_string(),
        source: source.to_string(),
        confidence: if format.confidence == 0 {
            50
        } else {
            format.confidence
        },
        tlp: Tlp::Clear,
        labels: Vec::new(),
        first_seen_ns: now_ns,
        last_seen_ns: now_ns,
        valid_until_ns: None,
        sightings: 0,
    };
    let mut take = |line_no: usize, value: &str, kind: Option<Kind>| {
        let value = value.trim();
        if value.is_empty() {
            out.skipped.push(format!("line {line_no}: no value"));
            return;
        }
        let Some(kind) = kind.or(format.kind).or_else(|| guess_kind(value)) else {
            out.skipped
                .push(format!("line {line_no}: {value:?}: no kind of indicator"));
            return;
        };
        match normalize(kind, value) {
            Ok(v) => out.indicators.push(make(kind, &v)),
            Err(e) => out.skipped.push(format!("line {line_no}: {e}")),
        }
    };
    match format.csv_value_column {
        None => text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .for_each(|(n, l)| take(n, l, None)),
        Some(column) => {
            // One reader over the whole text (records keep their line).
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .comment(Some(b'#'))
                .from_reader(text.as_bytes());
            for (i, record) in reader.records().enumerate() {
                let Ok(record) = record else {
                    take(i + 1, "", None);
                    continue;
                };
                let n = record.position().map_or(i + 1, |p| p.line() as usize);
                let kind = format
                    .csv_kind_column
                    .and_then(|k| record.get(k))
                    .and_then(kind_named);
                match record.get(column) {
                    // A header line names its columns: not a value.
                    Some(v) if i == 0 && guess_kind(v).is_none() => {}
                    Some(v) => take(n, v, kind),
                    None => take(n, "", None),
                }
            }
        }
    }
    out
}

/// A kind by the names feeds use for it.
pub fn kind_named(name: &str) -> Option<Kind> {
    match name.trim().to_ascii_lowercase().as_str() {
        "ip" | "ip:port" | "ipv4" | "ipv6" | "cidr" | "ip-src" | "ip-dst" | "ipv4-addr"
        | "ipv6-addr" => Some(Kind::Ip),
        "domain" | "hostname" | "domain-name" | "fqdn" => Some(Kind::Domain),
        "url" | "uri" => Some(Kind::Url),
        "md5" | "md5_hash" => Some(Kind::Md5),
        "sha1" | "sha-1" | "sha1_hash" => Some(Kind::Sha1),
        "sha256" | "sha-256" | "sha256_hash" => Some(Kind::Sha256),
        "email" | "email-src" | "email-addr" => Some(Kind::Email),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_a_line_with_kinds_guessed() {
        let text =
            "# Feodo Tracker style\n203.0.113.9\n\n198.51.100.0/24\nevil.example\nnot a value\n";
        let got = import_list(text, "feodo", &ListFormat::default(), 7);
        let kinds: Vec<Kind> = got.indicators.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, [Kind::Ip, Kind::Ip, Kind::Domain]);
        assert_eq!(got.indicators[0].first_seen_ns, 7);
        assert_eq!(
            got.skipped,
            ["line 6: \"not a value\": no kind of indicator"]
        );
        let forced = ListFormat {
            kind: Some(Kind::Domain),
            ..Default::default()
        };
        let got = import_list("10.0.0.1\n", "x", &forced, 0);
        assert!(
            got.skipped[0].contains("not a valid domain indicator"),
            "{:?}",
            got.skipped
        );
    }

    #[test]
    fn csv_with_a_column_map_as_urlhaus_publishes_it() {
        let text = concat!(
            "# URLhaus\n",
            "id,dateadded,url,url_status,threat\n",
            "1,\"2026-12-01 10:00:00\",\"http://Bad.example/x.exe\",online,malware_download\n",
            "2,\"2026-12-01 10:05:00\",\"not a url\",online,malware_download\n",
        );
        let format = ListFormat {
            kind: Some(Kind::Url),
            csv_value_column: Some(2),
            ..Default::default()
        };
        let got = import_list(text, "urlhaus", &format, 0);
        assert_eq!(got.indicators.len(), 1, "{:?}", got.skipped);
        assert_eq!(got.indicators[0].value, "http://bad.example/x.exe");
        assert_eq!(got.skipped.len(), 1);
        let typed = ListFormat {
            csv_value_column: Some(0),
            csv_kind_column: Some(1),
            ..Default::default()
        };
        let got = import_list("evil.example,domain\n203.0.113.9,ip-dst\n", "x", &typed, 0);
        assert_eq!(got.indicators[1].kind, Kind::Ip);
    }
}
