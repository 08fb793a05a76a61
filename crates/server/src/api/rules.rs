//! `GET /api/v1/rules` and `POST /api/v1/rules/reload`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::common::{blocking, ApiError, Caller};
use super::Shared;
use crate::auth::Action;

fn report_json(r: &watchfloor_sigma::LoadReport) -> serde_json::Value {
    json!({
        "files": r.files,
        "rules": r.rules_loaded,
        "correlations": r.correlations_loaded,
        "filters": r.filters_loaded,
        "rejected": r.rejected.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
    })
}

pub(super) async fn rules_summary(
    State(app): State<Shared>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let (generation, set) = app.rules.current();
    let mut body = report_json(set.report());
    body["generation"] = json!(generation);
    Ok(Json(body).into_response())
}

pub(super) async fn reload_rules(
    State(app): State<Shared>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Action::ReloadRules)?;
    let rules = app.rules.clone();
    let report = blocking(move || rules.reload()).await?.map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("reload refused, current rules kept: {e}"),
        )
    })?;
    let mut body = report_json(&report);
    body["generation"] = json!(app.rules.generation());
    Ok(Json(body).into_response())
}
