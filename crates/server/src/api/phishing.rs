//! `POST /api/v1/phishing/reports`: a reported message (the `.eml` as the
//! body, or a report that wraps it) becomes the SOC's phishing alert and
//! incident; the answer has what was read and judged.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::common::{blocking, ApiError, Caller};
use super::Shared;
use crate::auth::Action;

pub(super) fn routes() -> Router<Shared> {
    Router::new().route("/api/v1/phishing/reports", post(report))
}

async fn report(
    State(app): State<Shared>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !caller.role.allows(Action::WorkIncidents) && !caller.role.allows(Action::Ingest) {
        caller.require(Action::WorkIncidents)?;
    }
    let (app2, tenant, reporter) = (app.clone(), caller.tenant.clone(), caller.name.clone());
    let reported =
        blocking(move || crate::respond::report_phishing(&app2, &tenant, &reporter, &body))
            .await?
            .map_err(|e| {
                let status = if e.contains("reported already") {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                };
                ApiError::new(status, e)
            })?;
    Ok((StatusCode::CREATED, Json(reported)).into_response())
}
