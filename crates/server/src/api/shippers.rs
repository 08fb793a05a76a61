//! The ingest APIs log shippers already speak, each answering in its own
//! protocol's shapes so the shipper's retry logic works unchanged:
//!
//! - Elasticsearch: `GET /` (the product check and version), `POST /_bulk`
//!   and `POST /{index}/_bulk`;
//! - Splunk HEC: `POST /services/collector/event` (and `/services/collector`),
//!   `POST /services/collector/raw`, `GET /services/collector/health`;
//! - OTLP/HTTP logs: `POST /v1/logs`, protobuf or JSON.
//!
//! The same tokens as the API, with the `ingest` permission, in whichever
//! `Authorization` scheme the shipper sends ([`super::common::presented_token`]).
//! Everything is appended to the write-ahead log and acknowledged only once
//! durable, like `POST /api/v1/ingest`.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value as JsonValue};
use watchfloor_ingest::http_body;
use watchfloor_ingest::shippers::{es_bulk, hec, otlp};
use watchfloor_ingest::Kind;

use super::common::{ApiError, Caller};
use super::ingest::{records, store, StoreError};
use super::Shared;
use crate::auth::Action;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_bulk", post(es_bulk_all).put(es_bulk_all))
        .route("/_cat/health", get(es_health))
        .route("/{index}/_bulk", post(es_bulk_index).put(es_bulk_index))
        .route("/services/collector", post(hec_event))
        .route("/services/collector/event", post(hec_event))
        .route("/services/collector/event/1.0", post(hec_event))
        .route("/services/collector/raw", post(hec_raw))
        .route("/services/collector/raw/1.0", post(hec_raw))
        .route("/services/collector/health", get(hec_health))
        .route("/services/collector/health/1.0", get(hec_health))
        .route("/v1/logs", post(otlp_logs))
}

/// The version reported to Elasticsearch clients: the last 8.x, which
/// Beats 8, Fluent Bit, Vector, rsyslog and the Python client all accept.
const ES_VERSION: &str = "8.19.0";

/// Elasticsearch clients (8 and later) refuse any answer without it.
fn es_product(mut response: Response) -> Response {
    response.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

fn es_error(status: StatusCode, kind: &str, reason: &str) -> Response {
    let body = json!({
        "error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
        "status": status.as_u16(),
    });
    es_product((status, Json(body)).into_response())
}

/// `GET /` for an Elasticsearch client (the console answers browsers).
pub(crate) async fn es_info(app: &Shared, caller: &Caller) -> Response {
    if let Err(e) = caller.require(Action::Ingest) {
        let (status, message) = e.parts();
        return es_error(status, "security_exception", &message);
    }
    let body = json!({
        "name": "watchfloor",
        "cluster_name": "watchfloor",
        "cluster_uuid": app.provider_tenant,
        "version": {
            "number": ES_VERSION,
            "build_flavor": "default",
            "build_type": "watchfloor",
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
    });
    es_product(Json(body).into_response())
}

/// `GET /_cat/health`, which rsyslog's omelasticsearch asks before sending.
async fn es_health(caller: Caller) -> Response {
    if let Err(e) = caller.require(Action::Ingest) {
        let (status, message) = e.parts();
        return es_error(status, "security_exception", &message);
    }
    let now = watchfloor_model::now_ns() / 1_000_000_000;
    let line = format!("{now} watchfloor green 1 1 0 0 0 0 0 0 - 100.0%\n");
    es_product(line.into_response())
}

async fn es_bulk_all(
    State(app): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    es_bulk(app, caller, None, headers, body).await
}

async fn es_bulk_index(
    State(app): State<Shared>,
    caller: Caller,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    es_bulk(app, caller, Some(index), headers, body).await
}

async fn es_bulk(
    app: Shared,
    caller: Caller,
    path_index: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    const SOURCE: &str = "elasticsearch";
    if let Err(e) = caller.require(Action::Ingest) {
        let (status, message) = e.parts();
        return es_error(status, "security_exception", &message);
    }
    let decoded = match decode_body(&app, SOURCE, &headers, &body) {
        Ok(d) => d,
        Err((status, why)) => return es_error(status, "parse_exception", &why),
    };
    let items = match es_bulk::parse(&decoded, path_index.as_deref(), app.limits.max_event) {
        Ok(items) => items,
        Err(e) => {
            app.ingest.reject(SOURCE, "bad_body");
            return es_error(
                StatusCode::BAD_REQUEST,
                "illegal_argument_exception",
                &e.to_string(),
            );
        }
    };
    let refused = items
        .iter()
        .filter(|i| matches!(i.outcome, es_bulk::Outcome::Refused { .. }))
        .count();
    if refused > 0 {
        app.ingest
            .rejected
            .get_or_create(&watchfloor_ingest::metrics::source_reason(
                SOURCE,
                "not_an_event",
            ))
            .inc_by(refused as u64);
    }
    let bodies = items.iter().filter_map(|item| match &item.outcome {
        es_bulk::Outcome::Accepted { doc, truncated } => Some((doc.clone(), *truncated)),
        es_bulk::Outcome::Refused { .. } => None,
    });
    let records = records(&caller, SOURCE, Kind::Json, bodies);
    let took = || started.elapsed().as_millis() as u64;
    if records.is_empty() {
        return es_product(Json(es_bulk::response(&items, 0, took())).into_response());
    }
    match store(&app, SOURCE, records, decoded.len() as u64).await {
        Ok(range) => {
            es_product(Json(es_bulk::response(&items, range.first, took())).into_response())
        }
        Err(StoreError::Saturated) => es_product(
            (
                StatusCode::TOO_MANY_REQUESTS,
                Json(es_bulk::response_all_refused(
                    &items,
                    429,
                    StoreError::SATURATED,
                    took(),
                )),
            )
                .into_response(),
        ),
        Err(StoreError::Unavailable(why)) => es_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable_shards_exception",
            &why,
        ),
    }
}

/// Gunzips (when the shipper says so) within the decoded-size limit.
fn decode_body<'a>(
    app: &Shared,
    source: &str,
    headers: &HeaderMap,
    body: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, (StatusCode, String)> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    http_body::decode(body, gzip, app.limits.max_decoded).map_err(|e| {
        app.ingest.reject(source, "bad_body");
        let status = match e {
            http_body::BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, e.to_string())
    })
}

/// An event cut at the size limit, flagged, as every source keeps long
/// events.
fn cut_to(mut event: Vec<u8>, max: usize) -> (Vec<u8>, bool) {
    let cut = event.len() > max;
    event.truncate(max);
    (event, cut)
}

/// HEC's answer shape: `{"text": ..., "code": n}`.
fn hec_answer(
    status: StatusCode,
    text: &str,
    code: u32,
    extra: Option<(&str, JsonValue)>,
) -> Response {
    let mut body = json!({"text": text, "code": code});
    if let Some((k, v)) = extra {
        body[k] = v;
    }
    (status, Json(body)).into_response()
}

fn hec_store_error(e: StoreError) -> Response {
    match e {
        // Splunk's "server is busy" (code 9), which shippers retry.
        StoreError::Saturated => {
            hec_answer(StatusCode::SERVICE_UNAVAILABLE, "Server is busy", 9, None)
        }
        StoreError::Unavailable(why) => hec_answer(StatusCode::SERVICE_UNAVAILABLE, &why, 8, None),
    }
}

async fn hec_health() -> Response {
    hec_answer(StatusCode::OK, "HEC is healthy", 17, None)
}

async fn hec_event(
    State(app): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const SOURCE: &str = "hec";
    let read = |decoded: &[u8]| {
        hec::parse_events(decoded).map_err(|e| {
            app.ingest.reject(SOURCE, "bad_body");
            let extra = e.event().map(|n| ("invalid-event-number", json!(n)));
            Box::new(hec_answer(
                StatusCode::BAD_REQUEST,
                &e.to_string(),
                e.code(),
                extra,
            ))
        })
    };
    hec_ingest(&app, &caller, SOURCE, Kind::Json, &headers, &body, read).await
}

async fn hec_raw(
    State(app): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let read = |decoded: &[u8]| {
        let lines: Vec<Vec<u8>> = hec::raw_lines(decoded)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        if lines.is_empty() {
            return Err(Box::new(hec_answer(
                StatusCode::BAD_REQUEST,
                "No data",
                5,
                None,
            )));
        }
        Ok(lines)
    };
    hec_ingest(
        &app,
        &caller,
        "hec-raw",
        Kind::Syslog,
        &headers,
        &body,
        read,
    )
    .await
}

/// What both HEC endpoints do: check the role, decode the body, `read` it
/// into events (or Splunk's refusal), and store them.
async fn hec_ingest(
    app: &Shared,
    caller: &Caller,
    source: &'static str,
    kind: Kind,
    headers: &HeaderMap,
    body: &[u8],
    read: impl FnOnce(&[u8]) -> Result<Vec<Vec<u8>>, Box<Response>>,
) -> Response {
    if let Err(e) = caller.require(Action::Ingest) {
        return hec_answer(StatusCode::FORBIDDEN, &e.parts().1, 4, None);
    }
    let decoded = match decode_body(app, source, headers, body) {
        Ok(d) => d,
        Err((status, why)) => return hec_answer(status, &why, 6, None),
    };
    let events = match read(&decoded) {
        Ok(events) => events,
        Err(refusal) => return *refusal,
    };
    let max = app.limits.max_event;
    let records = records(
        caller,
        source,
        kind,
        events.into_iter().map(|e| cut_to(e, max)),
    );
    match store(app, source, records, decoded.len() as u64).await {
        Ok(_) => hec_answer(StatusCode::OK, "Success", 0, None),
        Err(e) => hec_store_error(e),
    }
}

async fn otlp_logs(
    State(app): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    const SOURCE: &str = "otlp";
    caller.require(Action::Ingest)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(encoding) = otlp::Encoding::from_content_type(content_type) else {
        app.ingest.reject(SOURCE, "bad_body");
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {content_type:?}: OTLP/HTTP takes application/x-protobuf or application/json"
            ),
        ));
    };
    let decoded = decode_body(&app, SOURCE, &headers, &body)
        .map_err(|(status, why)| ApiError::new(status, why))?;
    let request = otlp::decode(&decoded, encoding).map_err(|e| {
        app.ingest.reject(SOURCE, "bad_body");
        ApiError::bad_request(e.to_string())
    })?;
    let max = app.limits.max_event;
    let bodies: Vec<(Vec<u8>, bool)> = otlp::documents(&request)
        .iter()
        .map(|doc| cut_to(serde_json::to_vec(doc).unwrap_or_default(), max))
        .collect();
    if !bodies.is_empty() {
        let records = records(&caller, SOURCE, Kind::Json, bodies);
        store(&app, SOURCE, records, decoded.len() as u64)
            .await
            .map_err(StoreError::into_api)?;
    }
    let mut response = encoding.success_body().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    Ok(response)
}
