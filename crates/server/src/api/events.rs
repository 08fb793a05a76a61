//! `GET /api/v1/events`: search the event store.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use watchfloor_search::SearchRequest;

use super::common::{blocking, time_param, ApiError, Caller};
use super::Shared;
use crate::auth::Action;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchParams {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

pub(super) async fn search_events(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<SearchParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let request = SearchRequest {
        query: p.q.unwrap_or_default(),
        tenant: caller.tenant.clone(),
        from_ns: time_param("from", p.from.as_deref())?,
        to_ns: time_param("to", p.to.as_deref())?,
        limit: p.limit.unwrap_or(100),
        cursor: p.cursor,
    };
    let events = app.events.clone();
    let page = blocking(move || events.search(&request)).await??;
    Ok(Json(page).into_response())
}
