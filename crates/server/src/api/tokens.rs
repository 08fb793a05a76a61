//! `/api/v1/tokens`: API tokens (the secret is shown once, at creation).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use watchfloor_state::{AccessStore, StateError, TokenRecord};

use super::common::{ApiError, Caller};
use super::Shared;
use crate::auth::{self, Action, Role};

pub(super) async fn list_tokens(
    State(app): State<Shared>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageTokens)?;
    let tokens = tenant_tokens(app.access.as_ref(), &caller.tenant)?;
    Ok(Json(json!({ "tokens": tokens })).into_response())
}

/// A tenant's API tokens, revoked ones too (the API and the console).
pub(crate) fn tenant_tokens(
    access: &dyn AccessStore,
    tenant: &str,
) -> Result<Vec<TokenRecord>, StateError> {
    Ok(access
        .list_tokens()?
        .into_iter()
        .filter(|t| t.tenant == tenant)
        .collect())
}

/// Revokes a token of `tenant`: `None` when the tenant has no token with
/// this id, else whether it was still live.
pub(crate) fn revoke_tenant_token(
    access: &dyn AccessStore,
    tenant: &str,
    id: i64,
) -> Result<Option<bool>, StateError> {
    if !tenant_tokens(access, tenant)?.iter().any(|t| t.id == id) {
        return Ok(None);
    }
    Ok(Some(access.revoke_token(id)?))
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
    match revoke_tenant_token(app.access.as_ref(), &caller.tenant, id)? {
        Some(true) => Ok(StatusCode::NO_CONTENT.into_response()),
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "no such live token")),
    }
}
