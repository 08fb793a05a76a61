//! OTLP logs over HTTP (`POST /v1/logs`), in both encodings the
//! specification gives: binary protobuf and JSON. Both are read into the
//! same messages (the few of `opentelemetry/proto/logs/v1` and `common/v1`
//! that logs use, declared here with prost), then each log record becomes
//! one document:
//!
//! - `@timestamp` from `time_unix_nano` (else `observed_time_unix_nano`),
//! - `message` from a text body (a map body is kept as `body`),
//! - `log.level` and `severity_number`, `trace.id` and `span.id` in hex,
//! - the record's attributes at the top level under their own names (the
//!   semantic conventions' `user.name`, `client.address`, ...),
//! - the resource's attributes under `resource.attributes`, with
//!   `host.name` and `service.name` also at the top level,
//! - the scope as `scope.name` and `scope.version`.

use prost::Message;
use serde_json::{json, Map, Value as Json};

use watchfloor_model::format_rfc3339;

use super::ShipperError;

#[derive(Clone, PartialEq, Message)]
pub struct ExportLogsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_logs: Vec<ResourceLogs>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ResourceLogs {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_logs: Vec<ScopeLogs>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScopeLogs {
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    #[prost(message, repeated, tag = "2")]
    pub log_records: Vec<LogRecord>,
}

#[derive(Clone, PartialEq, Message)]
pub struct InstrumentationScope {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct LogRecord {
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    #[prost(fixed64, tag = "11")]
    pub observed_time_unix_nano: u64,
    #[prost(int32, tag = "2")]
    pub severity_number: i32,
    #[prost(string, tag = "3")]
    pub severity_text: String,
    #[prost(message, optional, tag = "5")]
    pub body: Option<AnyValue>,
    #[prost(message, repeated, tag = "6")]
    pub attributes: Vec<KeyValue>,
    #[prost(bytes = "vec", tag = "9")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "10")]
    pub span_id: Vec<u8>,
    #[prost(string, tag = "12")]
    pub event_name: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    #[prost(oneof = "Any", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<Any>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Any {
    #[prost(string, tag = "1")]
    String(String),
    #[prost(bool, tag = "2")]
    Bool(bool),
    #[prost(int64, tag = "3")]
    Int(i64),
    #[prost(double, tag = "4")]
    Double(f64),
    #[prost(message, tag = "5")]
    Array(ArrayValue),
    #[prost(message, tag = "6")]
    KvList(KeyValueList),
    #[prost(bytes = "vec", tag = "7")]
    Bytes(Vec<u8>),
}

#[derive(Clone, PartialEq, Message)]
pub struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct KeyValueList {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// The two encodings of an export request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From the request's `Content-Type` (the specification's two).
    pub fn from_content_type(content_type: &str) -> Option<Encoding> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }

    /// The (empty) `ExportLogsServiceResponse`: everything was accepted.
    pub fn success_body(self) -> Vec<u8> {
        match self {
            Encoding::Protobuf => Vec::new(),
            Encoding::Json => b"{}".to_vec(),
        }
    }
}

/// Reads an export request.
pub fn decode(body: &[u8], encoding: Encoding) -> Result<ExportLogsServiceRequest, ShipperError> {
    match encoding {
        Encoding::Protobuf => ExportLogsServiceRequest::decode(body)
            .map_err(|e| ShipperError::Malformed(format!("OTLP protobuf: {e}"))),
        Encoding::Json => {
            let doc: Json = serde_json::from_slice(body)
                .map_err(|e| ShipperError::Malformed(format!("OTLP JSON: {e}")))?;
            from_json::request(&doc).map_err(|e| ShipperError::Malformed(format!("OTLP JSON: {e}")))
        }
    }
}

/// One document per log record, in order.
pub fn documents(request: &ExportLogsServiceRequest) -> Vec<Json> {
    let mut out = Vec::new();
    for resource_logs in &request.resource_logs {
        let resource = resource_logs
            .resource
            .as_ref()
            .map(|r| attributes_object(&r.attributes))
            .unwrap_or_default();
        for scope_logs in &resource_logs.scope_logs {
            for record in &scope_logs.log_records {
                out.push(document(record, &resource, scope_logs.scope.as_ref()));
            }
        }
    }
    out
}

fn document(
    record: &LogRecord,
    resource: &Map<String, Json>,
    scope: Option<&InstrumentationScope>,
) -> Json {
    let mut doc = Map::new();
    let time = [record.time_unix_nano, record.observed_time_unix_nano]
        .into_iter()
        .find(|t| *t > 0 && *t <= i64::MAX as u64);
    if let Some(t) = time {
        doc.insert("@timestamp".into(), json!(format_rfc3339(t as i64)));
    }
    match record.body.as_ref().map(any_to_json) {
        Some(Json::String(text)) => {
            doc.insert("message".into(), Json::String(text));
        }
        Some(Json::Null) | None => {}
        Some(object @ Json::Object(_)) => {
            doc.insert("body".into(), object);
        }
        Some(other) => {
            doc.insert("message".into(), Json::String(other.to_string()));
        }
    }
    let mut put = |key: &str, value: Json| {
        doc.insert(key.to_string(), value);
    };
    if !record.severity_text.is_empty() {
        put("log.level", json!(record.severity_text));
    }
    if record.severity_number != 0 {
        put("severity_number", json!(record.severity_number));
    }
    if !record.event_name.is_empty() {
        put("event.name", json!(record.event_name));
    }
    if !record.trace_id.is_empty() {
        put("trace.id", json!(hex(&record.trace_id)));
    }
    if !record.span_id.is_empty() {
        put("span.id", json!(hex(&record.span_id)));
    }
    if let Some(scope) = scope.filter(|s| !s.name.is_empty()) {
        put("scope.name", json!(scope.name));
        if !scope.version.is_empty() {
            put("scope.version", json!(scope.version));
        }
    }
    for key in ["host.name", "service.name"] {
        if let Some(v) = resource.get(key) {
            put(key, v.clone());
        }
    }
    if !resource.is_empty() {
        put("resource", json!({ "attributes": resource }));
    }
    // The record's own attributes never replace what was set above.
    for (k, v) in attributes_object(&record.attributes) {
        doc.entry(k).or_insert(v);
    }
    Json::Object(doc)
}

fn attributes_object(attributes: &[KeyValue]) -> Map<String, Json> {
    attributes
        .iter()
        .map(|kv| {
            let value = kv.value.as_ref().map(any_to_json).unwrap_or(Json::Null);
            (kv.key.clone(), value)
        })
        .collect()
}

fn any_to_json(v: &AnyValue) -> Json {
    match &v.value {
        None => Json::Null,
        Some(Any::String(s)) => json!(s),
        Some(Any::Bool(b)) => json!(b),
        Some(Any::Int(i)) => json!(i),
        Some(Any::Double(d)) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Some(Any::Array(a)) => Json::Array(a.values.iter().map(any_to_json).collect()),
        Some(Any::KvList(l)) => Json::Object(attributes_object(&l.values)),
        Some(Any::Bytes(b)) => json!(hex(b)),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// OTLP/JSON: protobuf's JSON mapping with OTLP's exceptions (trace and
/// span ids in hex, enums as integers). Field names are accepted in
/// lowerCamelCase and as written in the .proto, as the specification asks
/// of receivers; 64-bit integers as numbers or strings.
mod from_json {
    use super::*;

    pub(super) fn request(doc: &Json) -> Result<ExportLogsServiceRequest, String> {
        Ok(ExportLogsServiceRequest {
            resource_logs: list(doc, "resourceLogs", "resource_logs", resource_logs)?,
        })
    }

    fn field<'a>(doc: &'a Json, camel: &str, snake: &str) -> Option<&'a Json> {
        doc.get(camel).or_else(|| doc.get(snake))
    }

    fn list<T>(
        doc: &Json,
        camel: &str,
        snake: &str,
        each: fn(&Json) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        match field(doc, camel, snake) {
            None | Some(Json::Null) => Ok(Vec::new()),
            Some(Json::Array(items)) => items.iter().map(each).collect(),
            Some(_) => Err(format!("{camel} must be an array")),
        }
    }

    fn text(doc: &Json, camel: &str, snake: &str) -> Result<String, String> {
        match field(doc, camel, snake) {
            None | Some(Json::Null) => Ok(String::new()),
            Some(Json::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("{camel} must be a string")),
        }
    }

    fn integer(doc: &Json, camel: &str, snake: &str) -> Result<i128, String> {
        match field(doc, camel, snake) {
            None | Some(Json::Null) => Ok(0),
            Some(Json::Number(n)) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .ok_or_else(|| format!("{camel} must be an integer")),
            Some(Json::String(s)) => s
                .parse::<i128>()
                .map_err(|_| format!("{camel}: {s:?} is not an integer")),
            Some(_) => Err(format!("{camel} must be an integer")),
        }
    }

    fn unsigned(doc: &Json, camel: &str, snake: &str) -> Result<u64, String> {
        u64::try_from(integer(doc, camel, snake)?).map_err(|_| format!("{camel} is out of range"))
    }

    fn hex_bytes(doc: &Json, camel: &str, snake: &str) -> Result<Vec<u8>, String> {
        let s = text(doc, camel, snake)?;
        if s.len() % 2 != 0 {
            return Err(format!("{camel}: odd number of hex digits"));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| {
                s.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| format!("{camel}: not hex"))
            })
            .collect()
    }

    fn resource_logs(doc: &Json) -> Result<ResourceLogs, String> {
        let resource = match field(doc, "resource", "resource") {
            None | Some(Json::Null) => None,
            Some(r) => Some(Resource {
                attributes: list(r, "attributes", "attributes", key_value)?,
            }),
        };
        Ok(ResourceLogs {
            resource,
            scope_logs: list(doc, "scopeLogs", "scope_logs", scope_logs)?,
        })
    }

    fn scope_logs(doc: &Json) -> Result<ScopeLogs, String> {
        let scope = match field(doc, "scope", "scope") {
            None | Some(Json::Null) => None,
            Some(s) => Some(InstrumentationScope {
                name: text(s, "name", "name")?,
                version: text(s, "version", "version")?,
            }),
        };
        Ok(ScopeLogs {
            scope,
            log_records: list(doc, "logRecords", "log_records", log_record)?,
        })
    }

    fn log_record(doc: &Json) -> Result<LogRecord, String> {
        let severity = integer(doc, "severityNumber", "severity_number")?;
        Ok(LogRecord {
            time_unix_nano: unsigned(doc, "timeUnixNano", "time_unix_nano")?,
            observed_time_unix_nano: unsigned(
                doc,
                "observedTimeUnixNano",
                "observed_time_unix_nano",
            )?,
            severity_number: i32::try_from(severity)
                .map_err(|_| "severityNumber is out of range".to_string())?,
            severity_text: text(doc, "severityText", "severity_text")?,
            body: match field(doc, "body", "body") {
                None | Some(Json::Null) => None,
                Some(b) => Some(any_value(b)?),
            },
            attributes: list(doc, "attributes", "attributes", key_value)?,
            trace_id: hex_bytes(doc, "traceId", "trace_id")?,
            span_id: hex_bytes(doc, "spanId", "span_id")?,
            event_name: text(doc, "eventName", "event_name")?,
        })
    }

    fn key_value(doc: &Json) -> Result<KeyValue, String> {
        Ok(KeyValue {
            key: text(doc, "key", "key")?,
            value: match field(doc, "value", "value") {
                None | Some(Json::Null) => None,
                Some(v) => Some(any_value(v)?),
            },
        })
    }

    fn any_value(doc: &Json) -> Result<AnyValue, String> {
        let Json::Object(map) = doc else {
            return Err("an AnyValue must be an object".into());
        };
        let Some((name, v)) = map.iter().next() else {
            return Ok(AnyValue { value: None });
        };
        let value = match name.as_str() {
            "stringValue" | "string_value" => Any::String(text(doc, name, name)?),
            "boolValue" | "bool_value" => {
                Any::Bool(v.as_bool().ok_or("boolValue must be true or false")?)
            }
            "intValue" | "int_value" => Any::Int(
                i64::try_from(integer(doc, name, name)?)
                    .map_err(|_| "intValue is out of range".to_string())?,
            ),
            "doubleValue" | "double_value" => Any::Double(match v {
                Json::Number(n) => n.as_f64().unwrap_or(0.0),
                Json::String(s) => s.parse().map_err(|_| "doubleValue is not a number")?,
                _ => return Err("doubleValue must be a number".into()),
            }),
            "arrayValue" | "array_value" => Any::Array(ArrayValue {
                values: list(v, "values", "values", any_value)?,
            }),
            "kvlistValue" | "kvlist_value" => Any::KvList(KeyValueList {
                values: list(v, "values", "values", key_value)?,
            }),
            "bytesValue" | "bytes_value" => Any::Bytes(text(doc, name, name)?.into_bytes()),
            other => return Err(format!("unknown AnyValue kind {other:?}")),
        };
        Ok(AnyValue { value: Some(value) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: Any) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
        }
    }

    fn sample() -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", Any::String("auth".into())),
                        kv("host.name", Any::String("web-1".into())),
                    ],
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "app.login".into(),
                        version: "1.0".into(),
                    }),
                    log_records: vec![LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000,
                        severity_number: 13,
                        severity_text: "WARN".into(),
                        body: Some(AnyValue {
                            value: Some(Any::String("login failed".into())),
                        }),
                        attributes: vec![
                            kv("user.name", Any::String("alice".into())),
                            kv("client.address", Any::String("203.0.113.9".into())),
                            kv("attempts", Any::Int(3)),
                        ],
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        ..Default::default()
                    }],
                }],
            }],
        }
    }

    #[test]
    fn protobuf_records_become_documents_with_their_attributes() {
        let bytes = sample().encode_to_vec();
        let request = decode(&bytes, Encoding::Protobuf).unwrap();
        let docs = documents(&request);
        assert_eq!(docs.len(), 1);
        let d = &docs[0];
        assert_eq!(d["message"], "login failed");
        assert_eq!(d["@timestamp"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(d["log.level"], "WARN");
        assert_eq!(d["user.name"], "alice");
        assert_eq!(d["client.address"], "203.0.113.9");
        assert_eq!(d["attempts"], 3);
        assert_eq!(d["host.name"], "web-1");
        assert_eq!(d["resource"]["attributes"]["service.name"], "auth");
        assert_eq!(d["scope.name"], "app.login");
        assert_eq!(d["trace.id"], "ab".repeat(16));
    }

    #[test]
    fn json_encoding_reads_the_same_as_protobuf() {
        let text = r#"{"resourceLogs": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "auth"}},
            {"key": "host.name", "value": {"stringValue": "web-1"}}]},
          "scopeLogs": [{"scope": {"name": "app.login", "version": "1.0"},
            "logRecords": [{"timeUnixNano": "1700000000000000000", "severityNumber": 13,
              "severityText": "WARN", "body": {"stringValue": "login failed"},
              "traceId": "abababababababababababababababab", "spanId": "0101010101010101",
              "attributes": [{"key": "user.name", "value": {"stringValue": "alice"}},
                {"key": "client.address", "value": {"stringValue": "203.0.113.9"}},
                {"key": "attempts", "value": {"intValue": "3"}}]}]}]}]}"#;
        let from_json = decode(text.as_bytes(), Encoding::Json).unwrap();
        assert_eq!(from_json, sample());
    }

    #[test]
    fn map_bodies_are_kept_and_bad_requests_named() {
        let text = r#"{"resource_logs": [{"scope_logs": [{"log_records": [
            {"body": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": true}}]}}}]}]}]}"#;
        let docs = documents(&decode(text.as_bytes(), Encoding::Json).unwrap());
        assert_eq!(docs[0]["body"], json!({"k": true}));
        for (bad, needle) in [
            ("{", "OTLP JSON"),
            (r#"{"resourceLogs": 1}"#, "resourceLogs must be an array"),
            (
                r#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}"#,
                "traceId: not hex",
            ),
            (
                r#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"oddValue": 1}}]}]}]}"#,
                "unknown AnyValue kind",
            ),
        ] {
            let err = decode(bad.as_bytes(), Encoding::Json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
        let err = decode(b"\xff\xff\xff", Encoding::Protobuf).unwrap_err();
        assert!(err.to_string().contains("OTLP protobuf"));
    }

    #[test]
    fn content_types_select_the_encoding() {
        assert_eq!(
            Encoding::from_content_type("application/x-protobuf"),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            Encoding::from_content_type("application/json; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(Encoding::from_content_type("text/plain"), None);
    }
}
