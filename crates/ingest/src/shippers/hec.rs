//! Splunk's HTTP Event Collector as shippers speak it (Fluent Bit's and
//! Vector's `splunk_hec` outputs, the OpenTelemetry Collector's
//! `splunkhec` exporter, NXLog's `om_http`).
//!
//! `/services/collector/event` takes concatenated JSON objects, each with an
//! `event` (an object, or a string that becomes `message`) and optional
//! `time`, `host`, `source`, `sourcetype`, `index` and `fields`; the
//! metadata is kept under `hec.*`, `fields` at the top level as Splunk
//! indexes them. A bad object refuses the whole request with its number
//! (Splunk's `invalid-event-number`), so a shipper never believes a batch
//! half-stored. `/services/collector/raw` takes lines.

use serde_json::{Map, Value as Json};

use watchfloor_model::format_rfc3339;

/// Splunk's error codes, which shippers read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HecError {
    #[error("No data")]
    NoData,
    #[error("Invalid data format")]
    InvalidFormat { event: usize },
    #[error("Event field is required")]
    EventRequired { event: usize },
    #[error("Event field cannot be blank")]
    EventBlank { event: usize },
}

impl HecError {
    /// Splunk's numeric `code`.
    pub fn code(&self) -> u32 {
        match self {
            HecError::NoData => 5,
            HecError::InvalidFormat { .. } => 6,
            HecError::EventRequired { .. } => 12,
            HecError::EventBlank { .. } => 13,
        }
    }

    /// The event (from 0, as Splunk counts) that was refused.
    pub fn event(&self) -> Option<usize> {
        match self {
            HecError::NoData => None,
            HecError::InvalidFormat { event }
            | HecError::EventRequired { event }
            | HecError::EventBlank { event } => Some(*event),
        }
    }
}

/// The events of an `/event` body, each as the JSON text of the document
/// to store.
pub fn parse_events(body: &[u8]) -> Result<Vec<Vec<u8>>, HecError> {
    let mut docs = Vec::new();
    let stream = serde_json::Deserializer::from_slice(body).into_iter::<Json>();
    for (n, item) in stream.enumerate() {
        let Ok(Json::Object(envelope)) = item else {
            return Err(HecError::InvalidFormat { event: n });
        };
        let doc = document(envelope, n)?;
        docs.push(serde_json::to_vec(&doc).unwrap_or_default());
    }
    if docs.is_empty() {
        return Err(HecError::NoData);
    }
    Ok(docs)
}

fn document(mut envelope: Map<String, Json>, n: usize) -> Result<Json, HecError> {
    let mut doc = match envelope.remove("event") {
        None => return Err(HecError::EventRequired { event: n }),
        Some(Json::Null) => return Err(HecError::EventBlank { event: n }),
        Some(Json::String(s)) if s.is_empty() => return Err(HecError::EventBlank { event: n }),
        Some(Json::Object(fields)) => fields,
        Some(Json::String(text)) => Map::from_iter([("message".to_string(), Json::String(text))]),
        Some(other) => Map::from_iter([("message".to_string(), Json::String(other.to_string()))]),
    };
    if let Some(Json::Object(fields)) = envelope.remove("fields") {
        for (k, v) in fields {
            doc.entry(k).or_insert(v);
        }
    }
    if let Some(ts) = envelope.remove("time").as_ref().and_then(epoch_seconds) {
        doc.entry("@timestamp")
            .or_insert_with(|| Json::String(format_rfc3339(ts)));
    }
    if let Some(host) = envelope.remove("host") {
        doc.entry("host").or_insert(host);
    }
    let meta: Map<String, Json> = ["source", "sourcetype", "index"]
        .into_iter()
        .filter_map(|k| envelope.remove(k).map(|v| (k.to_string(), v)))
        .collect();
    if !meta.is_empty() {
        doc.insert("hec".into(), Json::Object(meta));
    }
    Ok(Json::Object(doc))
}

/// HEC's `time`: epoch seconds with a fraction, as a number or a string.
fn epoch_seconds(v: &Json) -> Option<i64> {
    let secs = match v {
        Json::Number(n) => n.as_f64()?,
        Json::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (secs.is_finite() && (0.0..1e11).contains(&secs)).then(|| (secs * 1e9).round() as i64)
}

/// The lines of a `/raw` body (blank ones skipped).
pub fn raw_lines(body: &[u8]) -> Vec<&[u8]> {
    body.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn docs(body: &str) -> Vec<Json> {
        parse_events(body.as_bytes())
            .unwrap()
            .iter()
            .map(|d| serde_json::from_slice(d).unwrap())
            .collect()
    }

    #[test]
    fn object_and_string_events_keep_their_metadata() {
        let got = docs(concat!(
            r#"{"time": 1700000000.5, "host": "web-1", "sourcetype": "access_combined", "index": "main","#,
            r#" "fields": {"env": "prod"}, "event": {"message": "GET /", "status": 200}}"#,
            "\n",
            r#"{"event": "plain text line", "source": "/var/log/x"}{"event": 42}"#,
        ));
        assert_eq!(got.len(), 3);
        assert_eq!(got[0]["message"], "GET /");
        assert_eq!(got[0]["env"], "prod");
        assert_eq!(got[0]["host"], "web-1");
        assert_eq!(got[0]["@timestamp"], "2023-11-14T22:13:20.500000Z");
        assert_eq!(
            got[0]["hec"],
            json!({"sourcetype": "access_combined", "index": "main"})
        );
        assert_eq!(got[1]["message"], "plain text line");
        assert_eq!(got[1]["hec"]["source"], "/var/log/x");
        assert_eq!(got[2]["message"], "42");
    }

    #[test]
    fn bad_events_are_refused_with_their_number_and_code() {
        let cases = [
            ("", HecError::NoData),
            (
                r#"{"event": "a"} not json"#,
                HecError::InvalidFormat { event: 1 },
            ),
            (
                r#"{"event": "a"}{"time": 1}"#,
                HecError::EventRequired { event: 1 },
            ),
            (r#"{"event": ""}"#, HecError::EventBlank { event: 0 }),
            ("[1]", HecError::InvalidFormat { event: 0 }),
        ];
        for (body, want) in cases {
            let got = parse_events(body.as_bytes()).unwrap_err();
            assert_eq!(got, want, "{body:?}");
            assert!(got.code() > 0);
        }
    }

    #[test]
    fn raw_bodies_are_lines() {
        assert_eq!(
            raw_lines(b"one\r\n\n  \ntwo"),
            vec![b"one".as_slice(), b"two".as_slice()]
        );
    }
}
