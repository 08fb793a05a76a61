//! `/api/v1/tokens`: API tokens (the secret is shown once, at creation).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use watchfloor_state::TokenRecord;

use super::common::{ApiError, Caller};
use super::Shared;
use crate::auth::{self, Action, Role};

pub(super) async fn list_tokens(
    State(app): State<Shared>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageTokens)?;
    let tokens: Vec<TokenRecord> = app
        .state
        .list_tokens()?
        .into_iter()
        .filter(|t| t.tenant == caller.tenant)
        .collect();
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    name: String,
    role: String,
}

pub(super) async fn create_token(
    State(app): State<Shared>,
    caller: Caller,
    Json(req): Json<NewToken>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageTokens)?;
    if Role::parse(&req.role).is_none() {
        return Err(ApiError::bad_request(format!(
            "role: one of {}",
            Role::ALL.join(", ")
        )));
    }
    if req.name.trim().is_empty() || req.name.len() > 128 {
        return Err(ApiError::bad_request("name: 1 to 128 characters"));
    }
    let (secret, record) =
        auth::create_token(app.state.as_ref(), &req.name, &req.role, &caller.tenant)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": secret, "record": record })),
    )
        .into_response())
}

pub(super) async fn revoke_token(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageTokens)?;
    let owned = app
        .state
        .list_tokens()?
        .into_iter()
        .any(|t| t.id == id && t.tenant == caller.tenant);
    if !owned || !app.state.revoke_token(id)? {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such live token"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
