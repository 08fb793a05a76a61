//! Indicators out of STIX 2.1 bundles.
//!
//! An `indicator` object's pattern (STIX patterning, `pattern_type` stix)
//! gives one indicator per equality comparison of a supported object path,
//! when the observation is one comparison or several joined by `OR`:
//!
//! | path | kind |
//! |---|---|
//! | `ipv4-addr:value`, `ipv6-addr:value` | ip |
//! | `domain-name:value` | domain |
//! | `url:value` | url |
//! | `file:hashes.MD5`, `'SHA-1'`, `'SHA-256'` (any spelling of the names) | md5, sha1, sha256 |
//! | `email-addr:value`, `email-message:from_ref.value` | email |
//!
//! Anything else (`AND` across comparisons, `MATCHES`, other objects,
//! qualifiers) is skipped, with the reason, as a plain indicator cannot
//! hold it. Confidence, labels, `valid_from`/`valid_until` and the TLP
//! marking come from the object.

use serde_json::Value;

use crate::indicator::{Indicator, Kind, Tlp};

/// What a bundle gave.
#[derive(Debug, Default)]
pub struct Imported {
    pub indicators: Vec<Indicator>,
    /// Indicator objects not taken, each with its id and why.
    pub skipped: Vec<String>,
}

/// The indicators of a bundle's text; `source` names where it came from.
pub fn import_bundle(text: &str, source: &str) -> Result<Imported, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if doc["type"] != "bundle" {
        return Err("not a STIX bundle (no \"type\": \"bundle\")".into());
    }
    let objects = doc["objects"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    Ok(import_objects(objects, source))
}

/// The indicators of STIX objects (a bundle's, a TAXII envelope's); other
/// object types are passed over.
pub fn import_objects(objects: &[Value], source: &str) -> Imported {
    let mut out = Imported::default();
    for object in objects.iter().filter(|o| o["type"] == "indicator") {
        let id = object["id"].as_str().unwrap_or("(no id)");
        match indicators_of(object, source) {
            Ok(found) => out.indicators.extend(found),
            Err(why) => out.skipped.push(format!("{id}: {why}")),
        }
    }
    out
}

fn indicators_of(object: &Value, source: &str) -> Result<Vec<Indicator>, String> {
    if object["pattern_type"].as_str().is_some_and(|t| t != "stix") {
        return Err(format!(
            "pattern type {} is not stix",
            object["pattern_type"]
        ));
    }
    let pattern = object["pattern"].as_str().ok_or("no pattern")?;
    let comparisons = parse_pattern(pattern)?;
    let time = |name: &str| object[name].as_str().and_then(parse_time);
    let first_seen = time("valid_from").or_else(|| time("created")).unwrap_or(0);
    let template = Indicator {
        kind: Kind::Ip,
        value: String::new(),
        source: source.to_string(),
        confidence: object["confidence"]
            .as_u64()
            .map_or(50, |c| c.min(100) as u8),
        tlp: tlp_of(object),
        labels: object["labels"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        first_seen_ns: first_seen,
        last_seen_ns: time("modified").unwrap_or(first_seen).max(first_seen),
        valid_until_ns: time("valid_until"),
        sightings: 0,
    };
    comparisons
        .into_iter()
        .map(|(path, value)| {
            let kind = kind_of_path(&path).ok_or_else(|| format!("{path} is not supported"))?;
            Ok(Indicator {
                kind,
                value,
                ..template.clone()
            })
        })
        .collect()
}

/// STIX timestamps (RFC 3339 UTC) as nanoseconds since the epoch.
fn parse_time(s: &str) -> Option<i64> {
    watchfloor_model::parse_timestamp(s)
}

/// The TLP of an object's markings (TLP 1.0 and 2.0 marking definitions).
fn tlp_of(object: &Value) -> Tlp {
    const MARKINGS: [(&str, Tlp); 9] = [
        ("613f2e26-407d-48c7-9eca-b8e91df99dc9", Tlp::Clear), // TLP 1.0 WHITE
        ("34098fce-860f-48ae-8e50-ebd3cc5e41da", Tlp::Green),
        ("f88d31f6-486f-44da-b317-01333bde0b82", Tlp::Amber),
        ("5e57c739-391a-4eb3-b6be-7d15ca92d5ed", Tlp::Red),
        ("94868c89-83c2-464b-929b-a1a8aa3c8487", Tlp::Clear), // TLP 2.0
        ("bab4a63c-aed9-4cf5-a766-dfca5abac2bb", Tlp::Green),
        ("55d920b0-5e8b-4f79-9ee9-91f868d9b421", Tlp::Amber),
        ("939a9414-2ddd-4d32-a0cd-375ea402b003", Tlp::AmberStrict),
        ("e828b379-4e03-4974-9ac4-e53a884c97c1", Tlp::Red),
    ];
    let refs = object["object_marking_refs"].as_array();
    refs.into_iter()
        .flatten()
        .filter_map(|r| r.as_str()?.strip_prefix("marking-definition--"))
        .find_map(|id| MARKINGS.iter().find(|(m, _)| *m == id).map(|(_, t)| *t))
        .unwrap_or_default()
}

fn kind_of_path(path: &str) -> Option<Kind> {
    let (object, property) = path.split_once(':')?;
    let property = property.replace(['\'', '"'], "");
    match (object, property.as_str()) {
        ("ipv4-addr" | "ipv6-addr", "value") => Some(Kind::Ip),
        ("domain-name", "value") => Some(Kind::Domain),
        ("url", "value") => Some(Kind::Url),
        ("email-addr", "value") | ("email-message", "from_ref.value") => Some(Kind::Email),
        ("file", p) => {
            let hash = p
                .strip_prefix("hashes.")?
                .to_ascii_uppercase()
                .replace('-', "");
            match hash.as_str() {
                "MD5" => Some(Kind::Md5),
                "SHA1" => Some(Kind::Sha1),
                "SHA256" => Some(Kind::Sha256),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The `(path, value)` equality comparisons of a pattern whose
/// comparisons and observations are all joined by `OR` (`[a = 'x' OR
/// b = 'y']`, `[a = 'x'] OR [b = 'y']`): each is an indicator on its own.
fn parse_pattern(pattern: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = pattern.trim();
    loop {
        rest = rest
            .strip_prefix('[')
            .ok_or("not a bracketed observation")?;
        rest = parse_observation(rest, &mut out)?.trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        rest = or_then(rest)?;
    }
}

/// The comparisons of one observation (after its `[`), up to its `]`;
/// what follows the `]`.
fn parse_observation<'a>(
    mut rest: &'a str,
    out: &mut Vec<(String, String)>,
) -> Result<&'a str, String> {
    loop {
        let (path, after) = rest.split_once('=').ok_or("a comparison other than =")?;
        let path = path.trim();
        if path.ends_with(['!', '<', '>']) || path.contains(char::is_whitespace) {
            return Err(format!("comparison {path:?} is not an equality"));
        }
        let (value, after) = quoted(after.trim_start()).ok_or("a value that is not quoted")?;
        out.push((path.to_string(), value));
        let after = after.trim_start();
        if let Some(after) = after.strip_prefix(']') {
            return Ok(after);
        }
        rest = or_then(after)?;
    }
}

/// What follows an `OR`, or why something else joins.
fn or_then(s: &str) -> Result<&str, String> {
    s.strip_prefix("OR ")
        .map(str::trim_start)
        .ok_or_else(|| format!("{:?}: only OR joins comparisons here", first_word(s)))
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

/// A single-quoted STIX string (`\'` and `\\` escaped) and what follows.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('\'')?.char_indices();
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            '\'' => return Some((value, &s[i + 2..])),
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_of_equalities_joined_by_or_become_indicators() {
        assert_eq!(
            parse_pattern("[ ipv4-addr:value = '10.0.0.0' ]").unwrap(),
            [("ipv4-addr:value".to_string(), "10.0.0.0".to_string())]
        );
        let many = parse_pattern(
            "[domain-name:value = 'www.example.com' OR ipv4-addr:value = '113.10.246.30']",
        )
        .unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(
            parse_pattern(
                "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'c2.example']"
            )
            .unwrap(),
            [
                ("ipv4-addr:value".to_string(), "198.51.100.7".to_string()),
                ("domain-name:value".to_string(), "c2.example".to_string()),
            ],
            "observations joined by OR"
        );
        assert!(
            parse_pattern("[ipv4-addr:value = '1.2.3.4'] AND [ipv4-addr:value = '1.2.3.5']")
                .unwrap_err()
                .contains("only OR")
        );
        assert!(parse_pattern("[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS").is_err());
        assert!(
            parse_pattern("[ipv4-addr:value = '1.2.3.4'").is_err(),
            "unclosed"
        );
        assert_eq!(
            parse_pattern(r"[file:name = 'it\'s.exe']").unwrap()[0].1,
            "it's.exe"
        );
        assert!(parse_pattern(
            "[x509-certificate:issuer = 'CN=A' AND x509-certificate:serial_number = '1']"
        )
        .unwrap_err()
        .contains("only OR"));
        assert!(parse_pattern("[email-message:subject MATCHES '^x']").is_err());
        assert!(parse_pattern("[ipv4-addr:value != '1.2.3.4']").is_err());
        assert_eq!(kind_of_path("file:hashes.'SHA-256'"), Some(Kind::Sha256));
        assert_eq!(kind_of_path("file:hashes.md5"), Some(Kind::Md5));
    }

    #[test]
    fn stix_times_read_as_nanoseconds() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_time("2016-04-06T20:03:48.123Z"),
            Some(1_459_973_028_123_000_000)
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn a_bundle_gives_its_indicators_and_names_what_it_skipped() {
        let bundle = r#"{"type": "bundle", "id": "bundle--1", "objects": [
          {"type": "indicator", "id": "indicator--a", "pattern_type": "stix",
           "pattern": "[ipv4-addr:value = '198.51.100.0/24']", "confidence": 85,
           "labels": ["c2"], "valid_from": "2026-11-01T00:00:00Z",
           "object_marking_refs": ["marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"]},
          {"type": "indicator", "id": "indicator--b", "pattern_type": "sigma", "pattern": "x"},
          {"type": "malware", "id": "malware--c", "name": "x"}
        ]}"#;
        let got = import_bundle(bundle, "test.json").unwrap();
        assert_eq!(got.indicators.len(), 1);
        let i = &got.indicators[0];
        assert_eq!(
            (i.kind, i.value.as_str(), i.confidence),
            (Kind::Ip, "198.51.100.0/24", 85)
        );
        assert_eq!(
            (i.tlp, i.labels.as_slice()),
            (Tlp::Red, &["c2".to_string()][..])
        );
        assert_eq!(
            got.skipped,
            ["indicator--b: pattern type \"sigma\" is not stix"]
        );
        assert!(import_bundle("{}", "x")
            .unwrap_err()
            .contains("not a STIX bundle"));
    }

    #[test]
    fn the_corpus_bundles_import() {
        let Some(dir) = watchfloor_testkit::corpus("STIX examples") else {
            return;
        };
        let dir = dir.join("intel/stix/examples");
        let read = |name: &str| {
            let text = std::fs::read_to_string(dir.join(name)).expect("read");
            import_bundle(&text, name).expect("bundle")
        };
        let apt1 = read("threat-reports/apt1.json");
        assert!(
            apt1.indicators.iter().any(|i| i.kind == Kind::Domain),
            "{:?}",
            apt1.skipped
        );
        assert!(apt1.indicators.iter().any(|i| i.kind == Kind::Md5));
        let email = read("malicious-email-indicator-with-attachment.json");
        assert!(!email.skipped.is_empty(), "MATCHES patterns are named");
    }
}
