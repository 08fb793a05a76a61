//! `POST /api/v1/ingest`: NDJSON or JSON arrays (gzip too) into the log.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use watchfloor_ingest::http_body as ingest_body;
use watchfloor_ingest::{Kind, RawRecord, WalError};
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
    let received_ns = now_ns();
    let truncated = split.events.iter().filter(|(_, cut)| *cut).count();
    let records: Vec<RawRecord> = split
        .events
        .into_iter()
        .map(|(text, cut)| RawRecord {
            received_ns,
            kind: Kind::Json,
            source: source.clone(),
            tenant: caller.tenant.clone(),
            peer: String::new(),
            truncated: cut,
            body: text,
        })
        .collect();
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
    app.ingest.count_batch(
        &source,
        accepted as u64,
        decoded.len() as u64,
        truncated as u64,
    );
    let ack = match app.appender.try_append(records) {
        Ok(ack) => ack,
        Err(WalError::Full) => {
            app.ingest
                .drop_messages(&source, "backpressure", accepted as u64);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "ingest is saturated; retry later",
            )
            .retry_after(1));
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
            ))
        }
    };
    let range = ack
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
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
