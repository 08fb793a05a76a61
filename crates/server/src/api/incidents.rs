//! `/api/v1/incidents` and what hangs off it: the HTTP face of the
//! `incident` crate. Every handler checks the caller's role, works inside
//! the caller's tenant, and maps refusals to 409 and bad requests to 400.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use watchfloor_incident::report::{known_report, report_json, report_markdown};
use watchfloor_incident::{
    IncidentError, IncidentPatch, NewIncident, NewObservable, NewTask, TaskPatch,
};
use watchfloor_model::incident::{Domain, Regime, Status};
use watchfloor_state::{IncidentFilter, IncidentSort};

use crate::api::common::{blocking, parse_list, parse_one, time_param, ApiError, Body, Caller};
use crate::api::Shared;
use crate::auth::Action;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/incidents", get(list).post(open))
        .route("/api/v1/incidents/{id}", get(show).patch(update))
        .route("/api/v1/incidents/{id}/timeline", get(timeline))
        .route("/api/v1/incidents/{id}/timeline/verify", get(verify))
        .route("/api/v1/incidents/{id}/comments", post(comment))
        .route("/api/v1/incidents/{id}/tasks", post(add_task))
        .route("/api/v1/incidents/{id}/tasks/{task}", patch(update_task))
        .route("/api/v1/incidents/{id}/observables", post(add_observable))
        .route(
            "/api/v1/incidents/{id}/observables/{observable}",
            patch(classify_observable),
        )
        .route("/api/v1/incidents/{id}/merge", post(merge))
        .route("/api/v1/incidents/{id}/split", post(split))
        .route("/api/v1/incidents/{id}/compliance", post(flag))
        .route("/api/v1/incidents/{id}/clocks", get(clocks))
        .route("/api/v1/incidents/{id}/attack", get(attack))
        .route(
            "/api/v1/incidents/{id}/reports/{regime}/{report}",
            get(report),
        )
        .route(
            "/api/v1/incidents/{id}/reports/{regime}/{report}/submit",
            post(submit),
        )
        .route("/api/v1/incident-types", get(types))
        .route("/api/v1/sla-policies", get(sla_policies))
        .route("/api/v1/test/clock", post(move_clock))
}

impl From<IncidentError> for ApiError {
    fn from(e: IncidentError) -> Self {
        match e {
            IncidentError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            IncidentError::Stale { .. } | IncidentError::Refused(_) => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            IncidentError::Invalid(m) => ApiError::bad_request(m),
            IncidentError::Store(s) => s.into(),
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    status: Option<String>,
    open: Option<bool>,
    domain: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    priority: Option<u8>,
    assignee: Option<String>,
    team: Option<String>,
    updated_since: Option<String>,
    sort: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let sort = match p.sort.as_deref() {
        None => IncidentSort::default(),
        Some(s) => IncidentSort::parse(s).ok_or_else(|| {
            ApiError::bad_request("sort: one of -updated, updated, -created, created, priority")
        })?,
    };
    let offset = match p.cursor.as_deref() {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("invalid cursor"))?,
    };
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let filter = IncidentFilter {
        tenant: caller.tenant.clone(),
        statuses: parse_list::<Status>("status", p.status.as_deref().unwrap_or(""))?,
        open_only: p.open.unwrap_or(false),
        domain: p
            .domain
            .as_deref()
            .map(|d| parse_one::<Domain>("domain", d))
            .transpose()?,
        kind: p.kind,
        max_priority: p.priority,
        assignee: p.assignee,
        team: p.team,
        updated_since: time_param("updated_since", p.updated_since.as_deref())?,
        sort,
        limit,
        offset,
    };
    let incidents = app.incidents.clone();
    let list = blocking(move || incidents.list(&filter)).await??;
    let next = (list.len() == limit).then(|| (offset + limit).to_string());
    Ok(Json(json!({ "incidents": list, "next": next })).into_response())
}

/// Runs an incident operation off the async threads and answers with the
/// incident it returns.
async fn answer(
    status: StatusCode,
    f: impl FnOnce() -> watchfloor_incident::Result<watchfloor_model::incident::Incident>
        + Send
        + 'static,
) -> Result<Response, ApiError> {
    let incident = blocking(f).await??;
    Ok((status, Json(incident)).into_response())
}

async fn open(
    State(app): State<Shared>,
    caller: Caller,
    Body(new): Body<NewIncident>,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    answer(StatusCode::CREATED, move || {
        app.incidents.open(&caller.tenant, &caller.actor, new)
    })
    .await
}

async fn show(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    answer(StatusCode::OK, move || {
        app.incidents.get(&caller.tenant, id)
    })
    .await
}

async fn update(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(p): Body<IncidentPatch>,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    answer(StatusCode::OK, move || {
        app.incidents.update(&caller.tenant, id, &caller.actor, p)
    })
    .await
}

async fn timeline(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let entries = blocking(move || app.incidents.timeline(&caller.tenant, id)).await??;
    Ok(Json(json!({ "timeline": entries })).into_response())
}

async fn verify(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let result = blocking(move || app.incidents.verify(&caller.tenant, id)).await??;
    Ok(Json(match result {
        Ok(entries) => json!({ "valid": true, "entries": entries }),
        Err(b) => json!({ "valid": false, "broken_at": b.seq, "reason": b.reason }),
    })
    .into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewComment {
    text: String,
}

async fn comment(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(c): Body<NewComment>,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    answer(StatusCode::CREATED, move || {
        app.incidents
            .comment(&caller.tenant, id, &caller.actor, &c.text)
    })
    .await
}

async fn add_task(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(t): Body<NewTask>,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    answer(StatusCode::CREATED, move || {
        app.incidents.add_task(&caller.tenant, id, &caller.actor, t)
    })
    .await
}

async fn update_task(
    State(app): State<Shared>,
    caller: Caller,
    Path((id, task)): Path<(i64, u32)>,
    Body(t): Body<TaskPatch>,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    answer(StatusCode::OK, move || {
        app.incidents
            .update_task(&caller.tenant, id, task, &caller.actor, t)
    })
    .await
}

async fn classify_observable(
    State(app): State<Shared>,
    caller: Caller,
    Path((id, observable)): Path<(i64, u32)>,
    Body(p): Body<watchfloor_incident::ObservablePatch>,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    answer(StatusCode::OK, move || {
        app.incidents
            .classify_observable(&caller.tenant, id, observable, &caller.actor, p)
    })
    .await
}

async fn add_observable(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(o): Body<NewObservable>,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    answer(StatusCode::CREATED, move || {
        app.incidents
            .add_observable(&caller.tenant, id, &caller.actor, o)
    })
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MergeRequest {
    into: i64,
    reason: String,
}

async fn merge(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(m): Body<MergeRequest>,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    answer(StatusCode::OK, move || {
        app.incidents
            .merge(&caller.tenant, id, m.into, &caller.actor, &m.reason)
    })
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SplitRequest {
    alerts: Vec<i64>,
    reason: String,
}

async fn split(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(s): Body<SplitRequest>,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    answer(StatusCode::CREATED, move || {
        app.incidents
            .split(&caller.tenant, id, &s.alerts, &caller.actor, &s.reason)
    })
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlagRequest {
    regimes: Vec<Regime>,
    /// When the organisation became aware (RFC 3339 or relative, e.g. `-2h`).
    aware: Option<String>,
    /// When it was classified significant / major / a breach.
    classified: Option<String>,
}

async fn flag(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(f): Body<FlagRequest>,
) -> Result<Response, ApiError> {
    caller.require(Action::Compliance)?;
    let aware = time_param("aware", f.aware.as_deref())?;
    let classified = time_param("classified", f.classified.as_deref())?;
    answer(StatusCode::OK, move || {
        app.incidents.flag(
            &caller.tenant,
            id,
            &caller.actor,
            &f.regimes,
            aware,
            classified,
        )
    })
    .await
}

/// The incident's ATT&CK techniques by name and tactic, and the
/// mitigations that address them, ranked.
async fn attack(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let incident = blocking(move || app.incidents.get(&caller.tenant, id)).await??;
    Ok(Json(watchfloor_incident::defense::defense(&incident)).into_response())
}

async fn clocks(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let incident = blocking(move || app.incidents.get(&caller.tenant, id)).await??;
    Ok(Json(json!({
        "regimes": incident.compliance.regimes,
        "aware_ns": incident.compliance.aware_ns,
        "classified_ns": incident.compliance.classified_ns,
        "deadlines": incident.compliance.deadlines,
    }))
    .into_response())
}

fn regime_and_report(regime: &str, report: &str) -> Result<Regime, ApiError> {
    let r: Regime = serde_json::from_value(json!(regime))
        .map_err(|_| ApiError::bad_request("regime: one of nis2, dora, gdpr"))?;
    if !known_report(r, report) {
        return Err(ApiError::bad_request(format!(
            "{regime} has no report {report:?}; reports: {}",
            watchfloor_incident::clocks::reports(r).join(", ")
        )));
    }
    Ok(r)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportParams {
    format: Option<String>,
}

async fn report(
    State(app): State<Shared>,
    caller: Caller,
    Path((id, regime, name)): Path<(i64, String, String)>,
    Query(p): Query<ReportParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let r = regime_and_report(&regime, &name)?;
    let markdown = match p.format.as_deref() {
        None | Some("json") => false,
        Some("md" | "markdown") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format: json or md, not {other:?}"
            )))
        }
    };
    let tenant = caller.tenant.clone();
    let (incident, entries) = blocking(move || {
        let i = app.incidents.get(&tenant, id)?;
        let t = app.incidents.timeline(&tenant, id)?;
        Ok::<_, IncidentError>((i, t))
    })
    .await??;
    if !incident.compliance.regimes.contains(&r) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("incident {id} is not flagged {regime}"),
        ));
    }
    if markdown {
        let text = report_markdown(&incident, r, &name, &entries);
        return Ok((
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            text,
        )
            .into_response());
    }
    Ok(Json(report_json(&incident, r, &name, &entries)).into_response())
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitRequest {
    late_reason: Option<String>,
}

async fn submit(
    State(app): State<Shared>,
    caller: Caller,
    Path((id, regime, name)): Path<(i64, String, String)>,
    Body(s): Body<SubmitRequest>,
) -> Result<Response, ApiError> {
    caller.require(Action::Compliance)?;
    let r = regime_and_report(&regime, &name)?;
    answer(StatusCode::OK, move || {
        app.incidents.submit_report(
            &caller.tenant,
            id,
            &caller.actor,
            r,
            &name,
            s.late_reason.as_deref(),
        )
    })
    .await
}

async fn types(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    Ok(Json(json!({ "types": app.incidents.config().catalog.types })).into_response())
}

async fn sla_policies(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let c = app.incidents.config();
    Ok(Json(json!({
        "sla": c.sla,
        "priority_matrix": {
            "rows": "impact: high, medium, low",
            "columns": "urgency: high, medium, low",
            "cells": c.priority.cells,
        },
        "grouping": c.grouping,
    }))
    .into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClockMove {
    advance_secs: Option<i64>,
    set: Option<String>,
}

/// Tests move time and get the SLA timers run at once. Answers 404 unless
/// the server was started with `WATCHFLOOR_TEST_CLOCK`.
async fn move_clock(
    State(app): State<Shared>,
    caller: Caller,
    Body(m): Body<ClockMove>,
) -> Result<Response, ApiError> {
    let Some(clock) = app.test_clock.clone() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no such endpoint"));
    };
    caller.require(Action::Clock)?;
    if let Some(t) = m.set.as_deref() {
        let ns = watchfloor_model::parse_timestamp(t)
            .ok_or_else(|| ApiError::bad_request("set: an RFC 3339 time"))?;
        clock.set(ns);
    }
    if let Some(s) = m.advance_secs {
        clock.advance(s.saturating_mul(1_000_000_000));
    }
    let incidents = app.incidents.clone();
    let events = blocking(move || incidents.tick()).await??;
    let now = watchfloor_incident::Clock::now_ns(clock.as_ref());
    Ok(Json(json!({
        "now": watchfloor_model::format_rfc3339(now),
        "sla_events": events.iter().map(|(id, ev)| json!({"incident": id, "event": ev})).collect::<Vec<_>>(),
    }))
    .into_response())
}
