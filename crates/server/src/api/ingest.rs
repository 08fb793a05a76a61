//! `POST /api/v1/ingest`: NDJSON or JSON arrays (gzip too) into the log.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use watchfloor_ingest::http_body as ingest_body;
use watchfloor_ingest::{Kind, LsnRange, RawRecord, WalError};
use watchfloor_model::now_ns;

use super::common::{ApiError, Caller};
use super::Shared;
use crate::auth::Action;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IngestParams {
    /// Names the source, as `http:<name>`.
    source: Option<String>,
}

pub(super) async fn ingest(
    State(app): State<Shared>,
    caller: Caller,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::Ingest)?;
    let source = match params.source.as_deref() {
        Some(name) if valid_source_name(name) => format!("http:{name}"),
        Some(_) => {
            return Err(ApiError::bad_request(
                "source: use letters, digits, '.', '_', '-' and '/' (at most 64)",
            ))
        }
        None => "http".to_string(),
    };
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let limits = app.limits;
    let decoded = ingest_body::decode(&body, gzip, limits.max_decoded).map_err(|e| {
        app.ingest.reject(&source, "bad_body");
        match e {
            ingest_body::BodyError::TooLarge(_) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            other => ApiError::bad_request(other.to_string()),
        }
    })?;
    let split = ingest_body::split(&decoded, limits.max_event).map_err(|e| {
        app.ingest.reject(&source, "bad_body");
        ApiError::bad_request(e.to_string())
    })?;
    let truncated = split.events.iter().filter(|(_, cut)| *cut).count();
    let records = records(&caller, &source, Kind::Json, split.events);
    let accepted = records.len();
    if !split.rejected.is_empty() {
        app.ingest
            .rejected
            .get_or_create(&watchfloor_ingest::metrics::source_reason(
                &source,
                "not_an_event",
            ))
            .inc_by(split.rejected.len() as u64);
    }
    if accepted == 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("no event accepted: {}", first_errors(&split.rejected)),
        ));
    }
    let range = store(&app, &source, records, decoded.len() as u64)
        .await
        .map_err(StoreError::into_api)?;
    Ok(Json(json!({
        "accepted": accepted,
        "truncated": truncated,
        "rejected": split.rejected.len(),
        "errors": split.rejected.iter().take(100).collect::<Vec<_>>(),
        "first_id": range.first,
        "last_id": range.last,
    }))
    .into_response())
}

/// Why records were not stored.
#[derive(Debug)]
pub(super) enum StoreError {
    /// The log's queue is full: the sender should retry soon.
    Saturated,
    /// The log cannot take records (closed, failing disk).
    Unavailable(String),
}

impl StoreError {
    pub(super) const SATURATED: &'static str = "ingest is saturated; retry later";

    pub(super) fn into_api(self) -> ApiError {
        match self {
            StoreError::Saturated => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, Self::SATURATED).retry_after(1)
            }
            StoreError::Unavailable(why) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why),
        }
    }
}

/// Counts and appends one request's records and waits until they are
/// durable: only then may the sender be told they were accepted.
pub(super) async fn store(
    app: &Shared,
    source: &str,
    records: Vec<RawRecord>,
    bytes: u64,
) -> Result<LsnRange, StoreError> {
    let count = records.len() as u64;
    let truncated = records.iter().filter(|r| r.truncated).count() as u64;
    app.ingest.count_batch(source, count, bytes, truncated);
    let ack = match app.appender.try_append(records) {
        Ok(ack) => ack,
        Err(WalError::Full) => {
            app.ingest.drop_messages(source, "backpressure", count);
            return Err(StoreError::Saturated);
        }
        Err(e) => return Err(StoreError::Unavailable(e.to_string())),
    };
    ack.await
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

/// The records of one request from one source, as the log keeps them.
pub(super) fn records(
    caller: &Caller,
    source: &str,
    kind: Kind,
    bodies: impl IntoIterator<Item = (Vec<u8>, bool)>,
) -> Vec<RawRecord> {
    let received_ns = now_ns();
    bodies
        .into_iter()
        .map(|(body, truncated)| RawRecord {
            received_ns,
            kind,
            source: source.into(),
            tenant: caller.tenant.as_str().into(),
            peer: "".into(),
            truncated,
            body,
        })
        .collect()
}

fn valid_source_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
}

fn first_errors(rejected: &[ingest_body::Rejection]) -> String {
    let shown: Vec<String> = rejected
        .iter()
        .take(5)
        .map(|r| format!("line {}: {}", r.line, r.error))
        .collect();
    let more = rejected.len().saturating_sub(5);
    if more > 0 {
        format!("{} (and {more} more)", shown.join("; "))
    } else if shown.is_empty() {
        "empty body".into()
    } else {
        shown.join("; ")
    }
}
