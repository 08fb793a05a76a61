//! `GET /api/v1/events`: search the event store; `GET
//! /api/v1/events/aggregate`: count what a search matches.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use watchfloor_search::{AggregateRequest, SearchRequest};

use super::common::{blocking, time_param, ApiError, Caller};
use super::Shared;
use crate::auth::Action;
use crate::timeparse::parse_duration;

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

/// Most events one aggregation counts (then it answers `complete: false`).
pub const MAX_AGGREGATED_EVENTS: u64 = 50_000_000;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AggregateParams {
    /// The query (Lucene syntax, as for search); empty matches everything.
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Histogram bucket width: `30s`, `1m`, `1h`, `1d`.
    histogram: Option<String>,
    /// Field whose most frequent values are counted.
    count_by: Option<String>,
    /// How many top values (1-1000, default 10).
    top: Option<usize>,
    /// Field whose distinct values are counted.
    distinct: Option<String>,
    /// Stop after this many matching events (default and most 50,000,000).
    max_events: Option<u64>,
}

/// `GET /api/v1/events/aggregate`: counts by time bucket, top values of a
/// field and a distinct count, over a query and a time range.
pub(super) async fn aggregate_events(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<AggregateParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let request = aggregate_request(p, &caller.tenant)?;
    let events = app.events.clone();
    let aggregation = blocking(move || events.aggregate(&request)).await??;
    Ok(Json(aggregation).into_response())
}

pub(crate) fn aggregate_request(
    p: AggregateParams,
    tenant: &str,
) -> Result<AggregateRequest, ApiError> {
    let interval_ns = p
        .histogram
        .as_deref()
        .map(|h| parse_duration(h).map_err(|e| ApiError::bad_request(format!("histogram: {e}"))))
        .transpose()?;
    let nothing_asked = interval_ns.is_none() && p.count_by.is_none() && p.distinct.is_none();
    if nothing_asked {
        return Err(ApiError::bad_request(
            "ask for at least one of histogram, count_by or distinct",
        ));
    }
    let from_ns = time_param("from", p.from.as_deref())?;
    let mut to_ns = time_param("to", p.to.as_deref())?;
    if interval_ns.is_some() && from_ns.is_some() && to_ns.is_none() {
        // A histogram from a time on runs to now, empty buckets included.
        to_ns = Some(watchfloor_model::now_ns());
    }
    let request = AggregateRequest {
        query: p.q.unwrap_or_default(),
        tenant: tenant.to_string(),
        from_ns,
        to_ns,
        interval_ns,
        top_field: p.count_by,
        top_size: p.top.unwrap_or(10),
        distinct_field: p.distinct,
        max_events: p
            .max_events
            .unwrap_or(MAX_AGGREGATED_EVENTS)
            .clamp(1, MAX_AGGREGATED_EVENTS),
    };
    request.validate().map_err(ApiError::bad_request)?;
    Ok(request)
}
