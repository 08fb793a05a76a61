//! `GET /api/v1/alerts`: alerts of the caller's tenant with filters.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use watchfloor_model::{AlertKind, Severity};
use watchfloor_state::AlertFilter;

use super::common::{blocking, time_param, ApiError, Caller};
use super::Shared;
use crate::auth::Action;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertParams {
    rule: Option<String>,
    level: Option<String>,
    /// Only alerts of this detector: detection, correlation, check, metric, intel, anomaly, trap or signature.
    kind: Option<String>,
    host: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

pub(super) async fn list_alerts(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<AlertParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let min_level = p
        .level
        .as_deref()
        .map(|l| l.parse::<Severity>())
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("level: {e}")))?;
    let before_id = p
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("invalid cursor"))
        })
        .transpose()?;
    let limit = p.limit.unwrap_or(100).clamp(1, 10_000);
    let filter = AlertFilter {
        tenant: caller.tenant.clone(),
        rule: p.rule,
        min_level,
        kind: p
            .kind
            .as_deref()
            .map(|k| super::common::parse_one::<AlertKind>("kind", k))
            .transpose()?,
        host: p.host,
        from_ns: time_param("from", p.from.as_deref())?,
        to_ns: time_param("to", p.to.as_deref())?,
        limit,
        before_id,
    };
    let state = app.state.clone();
    let alerts = blocking(move || state.list_alerts(&filter)).await??;
    let next = (alerts.len() == limit)
        .then(|| alerts.last().map(|a| a.id.to_string()))
        .flatten();
    Ok(Json(json!({ "alerts": alerts, "next": next })).into_response())
}

/// A tenant's alert by id: the newest of the tenant's alerts below id + 1
/// is it, when it is the tenant's.
pub(crate) fn alert_by_id(
    store: &dyn watchfloor_state::AlertStore,
    tenant: &str,
    id: i64,
) -> Result<Option<watchfloor_model::Alert>, watchfloor_state::StateError> {
    Ok(store
        .list_alerts(&watchfloor_state::AlertFilter {
            tenant: tenant.to_string(),
            before_id: Some(id.saturating_add(1)),
            limit: 1,
            ..Default::default()
        })?
        .into_iter()
        .find(|a| a.id == id))
}
