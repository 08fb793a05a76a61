//! Prometheus remote write 1.0: a snappy-compressed (block format)
//! protobuf `WriteRequest`, decoded into samples for the store.

use prost::Message;
use watchfloor_tsdb::{Labels, SeriesSamples};

#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    /// 0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gaugehistogram,
    /// 5 summary, 6 info, 7 stateset.
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

pub fn metadata_type_name(kind: i32) -> &'static str {
    match kind {
        1 => "counter",
        2 => "gauge",
        3 => "histogram",
        4 => "gaugehistogram",
        5 => "summary",
        6 => "info",
        7 => "stateset",
        _ => "unknown",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("snappy: {0}")]
    Snappy(String),
    #[error("protobuf: {0}")]
    Protobuf(String),
    #[error("decompressed body is larger than {0} bytes")]
    TooLarge(usize),
}

/// Decodes a request body (at most `max_decoded` bytes once decompressed).
pub fn decode(body: &[u8], max_decoded: usize) -> Result<WriteRequest, DecodeError> {
    let len = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if len > max_decoded {
        return Err(DecodeError::TooLarge(max_decoded));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| DecodeError::Protobuf(e.to_string()))
}

/// Encodes a request (for tests, benchmarks and forwarding).
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    let raw = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

impl WriteRequest {
    /// The series to append, samples sorted by time.
    pub fn into_batch(self) -> Vec<SeriesSamples> {
        self.timeseries
            .into_iter()
            .map(|ts| {
                let mut samples: Vec<(i64, f64)> = ts
                    .samples
                    .into_iter()
                    .map(|s| (s.timestamp, s.value))
                    .collect();
                samples.sort_by_key(|&(t, _)| t);
                SeriesSamples {
                    labels: Labels::from_pairs(ts.labels.into_iter().map(|l| (l.name, l.value))),
                    samples,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label {
                    name: "__name__".into(),
                    value: "up".into(),
                }],
                samples: vec![
                    Sample {
                        value: 1.0,
                        timestamp: 2000,
                    },
                    Sample {
                        value: 0.0,
                        timestamp: 1000,
                    },
                ],
            }],
            metadata: Vec::new(),
        };
        let body = encode(&req);
        let batch = decode(&body, 1 << 20).expect("decodes").into_batch();
        assert_eq!(batch[0].samples, vec![(1000, 0.0), (2000, 1.0)]);
        assert!(decode(b"not snappy at all", 1 << 20).is_err());
        assert!(matches!(decode(&body, 4), Err(DecodeError::TooLarge(4))));
    }
}
