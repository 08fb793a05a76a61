//! Samples pushed as JSON by scripts:
//! `[{"metric": {"__name__": "x", "k": "v"}, "value": 1.5, "timestamp": 1700000000000}]`
//! (or `{"samples": [...]}`); `timestamp` in milliseconds, now when absent;
//! `value` a number or `"NaN"`, `"+Inf"`, `"-Inf"`.

use std::collections::BTreeMap;

use serde::Deserialize;
use watchfloor_tsdb::{Labels, SeriesSamples};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushedSample {
    pub metric: BTreeMap<String, String>,
    pub value: PushedValue,
    pub timestamp: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PushedValue {
    Number(f64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Body {
    List(Vec<PushedSample>),
    Wrapped { samples: Vec<PushedSample> },
}

/// Parses a body into series to append; the error names the sample.
pub fn parse(body: &[u8], now_ms: i64) -> Result<Vec<SeriesSamples>, String> {
    let samples = match serde_json::from_slice::<Body>(body) {
        Ok(Body::List(s)) | Ok(Body::Wrapped { samples: s }) => s,
        Err(e) => return Err(format!("body: expected a JSON array of {{metric, value, timestamp}} objects (or {{\"samples\": [...]}}): {e}")),
    };
    let mut by_series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for (i, s) in samples.into_iter().enumerate() {
        let v = match &s.value {
            PushedValue::Number(v) => *v,
            PushedValue::Text(t) => {
                crate::exposition::parse_float(t).map_err(|e| format!("sample {}: {e}", i + 1))?
            }
        };
        let labels = Labels::from_pairs(s.metric);
        if !watchfloor_tsdb::valid_series(&labels) {
            return Err(format!(
                "sample {}: {labels} needs a valid __name__ and label names",
                i + 1
            ));
        }
        by_series
            .entry(labels)
            .or_default()
            .push((s.timestamp.unwrap_or(now_ms), v));
    }
    Ok(by_series
        .into_iter()
        .map(|(labels, mut samples)| {
            samples.sort_by_key(|&(t, _)| t);
            SeriesSamples { labels, samples }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_shapes_and_named_errors() {
        let batch = super::parse(br#"[{"metric":{"__name__":"x","a":"b"},"value":"+Inf"},{"metric":{"__name__":"x","a":"b"},"value":2,"timestamp":5}]"#, 10).expect("parses");
        assert_eq!(batch[0].samples, vec![(5, 2.0), (10, f64::INFINITY)]);
        assert!(super::parse(br#"{"samples":[]}"#, 0)
            .expect("parses")
            .is_empty());
        let e = super::parse(br#"[{"metric":{"a":"b"},"value":1}]"#, 0).unwrap_err();
        assert!(e.contains("sample 1"), "{e}");
    }
}
