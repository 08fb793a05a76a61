//! Health, Prometheus metrics, the OpenAPI document and unknown paths.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::common::{ApiError, Caller};
use super::Shared;
use crate::auth::Action;

/// Unknown paths answer 404 only to callers with a token: the API's shape
/// is not shown to anonymous clients.
pub(super) async fn not_found(_caller: Caller) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// The OpenAPI document; any valid credential may read it.
pub(super) async fn openapi(_caller: Caller) -> Json<serde_json::Value> {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    Json(DOC.get_or_init(crate::openapi::document).clone())
}

pub(super) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Watchfloor's own metrics in OpenMetrics text (also what self-monitoring
/// records in the metric store).
pub(crate) fn exposition(app: &Shared) -> Result<String, std::fmt::Error> {
    app.gauges.update(&app.wal, &app.appender);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &app.registry)?;
    Ok(text)
}

pub(super) async fn metrics(
    State(app): State<Shared>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Action::Metrics)?;
    let text = exposition(&app)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
