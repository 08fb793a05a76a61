//! Availability checks over HTTP: `/api/v1/checks` (list with state,
//! create), `/api/v1/checks/{name}` (one, delete), `/pause`, `/results`.
//! Checks of the configuration file are shown but changed only there.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use watchfloor_model::format_rfc3339;
use watchfloor_monitor::availability::Availability;
use watchfloor_monitor::MonitorSpec;

use crate::api::common::{blocking, time_param, ApiError, Body, Caller};
use crate::api::Shared;
use crate::auth::Action;
use crate::monitoring::{Live, CHECK_DOC};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/checks", get(list).post(create))
        .route("/api/v1/checks/{name}", get(show).delete(remove))
        .route("/api/v1/checks/{name}/pause", post(pause))
        .route("/api/v1/checks/{name}/results", get(results))
        .route("/api/v1/availability", get(availability))
        .route("/api/v1/topology", get(topology).put(put_topology))
}

fn live_json(l: &Live) -> Value {
    let m = &l.monitor;
    let state = l.state.as_ref().map(|s| {
        json!({
            "status": s.status, "hard_status": s.hard_status, "hard": s.hard,
            "attempt": s.attempt, "since": format_rfc3339(s.hard_since_ns),
            "last_check": (s.last_check_ns > 0).then(|| format_rfc3339(s.last_check_ns)),
            "output": s.output,
        })
    });
    json!({
        "name": m.name, "type": m.check.service().to_ascii_lowercase(), "target": m.check.describe(),
        "check": m.check, "interval_secs": m.interval.as_secs(), "retries": m.retries,
        "paused": m.paused, "node": m.host, "service": m.service,
        "defined_in": if l.from_config { "config" } else { "api" },
        "state": state, "latency_ms": l.last.as_ref().and_then(|o| o.latency_ms),
        "cert_days_left": l.last.as_ref().and_then(|o| o.cert_days_left),
    })
}

async fn list(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let checks: Vec<Value> = app
        .monitoring
        .of_tenant(&caller.tenant)
        .iter()
        .map(live_json)
        .collect();
    Ok(Json(json!({ "checks": checks })).into_response())
}

fn find(app: &Shared, tenant: &str, name: &str) -> Result<Live, ApiError> {
    app.monitoring
        .get(tenant, name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no check {name:?}")))
}

async fn show(
    State(app): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    Ok(Json(live_json(&find(&app, &caller.tenant, &name)?)).into_response())
}

/// Creates or replaces a check of the caller's tenant.
async fn create(
    State(app): State<Shared>,
    caller: Caller,
    Body(spec): Body<MonitorSpec>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageChecks)?;
    let (live, existed) = create_check(&app, &caller.tenant, spec).await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(live_json(&live))).into_response())
}

/// Validates, stores and starts a check (the API and the console); says
/// whether it replaced one.
pub(crate) async fn create_check(
    app: &Shared,
    tenant: &str,
    mut spec: MonitorSpec,
) -> Result<(Live, bool), ApiError> {
    spec.tenant = None;
    let problems = spec.problems();
    if !problems.is_empty() {
        return Err(ApiError::bad_request(problems.join("; ")));
    }
    if app
        .monitoring
        .get(tenant, &spec.name)
        .is_some_and(|l| l.from_config)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("check {:?} is defined in the configuration file", spec.name),
        ));
    }
    save(app, tenant, &spec).await?;
    let existed = app.monitoring.get(tenant, &spec.name).is_some();
    app.monitoring.upsert(spec.to_monitor(tenant), false).await;
    Ok((find(app, tenant, &spec.name)?, existed))
}

async fn save(app: &Shared, tenant: &str, spec: &MonitorSpec) -> Result<(), ApiError> {
    let body = serde_json::to_value(spec)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let (documents, t, n, now) = (
        app.documents.clone(),
        tenant.to_string(),
        spec.name.clone(),
        watchfloor_model::now_ns(),
    );
    blocking(move || documents.put_document(&t, CHECK_DOC, &n, &body, None, now)).await??;
    Ok(())
}

fn api_only(l: &Live) -> Result<(), ApiError> {
    if l.from_config {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this check is defined in the configuration file; change it there",
        ));
    }
    Ok(())
}

async fn remove(
    State(app): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageChecks)?;
    remove_check(&app, &caller.tenant, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Stops and forgets a check made through the API or the console.
pub(crate) async fn remove_check(app: &Shared, tenant: &str, name: &str) -> Result<(), ApiError> {
    api_only(&find(app, tenant, name)?)?;
    let (documents, t, n) = (app.documents.clone(), tenant.to_string(), name.to_string());
    blocking(move || documents.delete_document(&t, CHECK_DOC, &n)).await??;
    app.monitoring.remove(tenant, name).await;
    Ok(())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PauseRequest {
    paused: bool,
}

async fn pause(
    State(app): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    Body(p): Body<PauseRequest>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageChecks)?;
    let live = pause_check(&app, &caller.tenant, &name, p.paused).await?;
    Ok(Json(live_json(&live)).into_response())
}

/// Pauses or resumes a check made through the API or the console.
pub(crate) async fn pause_check(
    app: &Shared,
    tenant: &str,
    name: &str,
    paused: bool,
) -> Result<Live, ApiError> {
    api_only(&find(app, tenant, name)?)?;
    let (documents, t, n) = (app.documents.clone(), tenant.to_string(), name.to_string());
    let doc = blocking(move || documents.get_document(&t, CHECK_DOC, &n))
        .await??
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no check {name:?}")))?;
    let mut spec: MonitorSpec = serde_json::from_value(doc.body)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    spec.paused = paused;
    save(app, tenant, &spec).await?;
    app.monitoring.upsert(spec.to_monitor(tenant), false).await;
    find(app, tenant, name)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResultParams {
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    /// `hour`: the hourly rollups instead of raw results.
    rollup: Option<String>,
}

async fn results(
    State(app): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    Query(p): Query<ResultParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    find(&app, &caller.tenant, &name)?;
    let now = watchfloor_model::now_ns();
    let from = time_param("from", p.from.as_deref())?.unwrap_or(now - 86_400_000_000_000);
    let to = time_param("to", p.to.as_deref())?.unwrap_or(now + 1);
    let limit = p.limit.unwrap_or(1000).clamp(1, 100_000);
    let (app, tenant) = (app.clone(), caller.tenant.clone());
    match p.rollup.as_deref() {
        None => {
            let rows =
                blocking(move || check_results(&app, &tenant, &name, from, to, limit)).await??;
            let rows: Vec<Value> = rows
                .iter()
                .map(|s| {
                    json!({"time": format_rfc3339(s.time_ns), "status": s.status, "hard": s.hard,
                               "latency_ms": s.latency_ms, "cert_days_left": s.cert_days_left,
                               "maintenance": s.maintenance, "output": s.output})
                })
                .collect();
            Ok(Json(json!({ "results": rows })).into_response())
        }
        Some("hour") => {
            let rows = blocking(move || {
                check_results(&app, &tenant, &name, from, to, usize::MAX)
                    .map(|r| watchfloor_telemetry::checks::hourly(&r))
            })
            .await??;
            Ok(Json(json!({ "rollups": rows })).into_response())
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "rollup: {other:?}; only `hour`"
        ))),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AvailabilityParams {
    /// Start of the period (RFC 3339, epoch seconds or now-30d); 30 days ago by default.
    from: Option<String>,
    /// End of the period; now by default.
    to: Option<String>,
    /// One check only.
    check: Option<String>,
    /// `check` (the default), `node` (a host from its checks), `service`
    /// (the checks naming it) or `business` (business services of the
    /// topology, from their components).
    by: Option<String>,
}

fn observation(s: &watchfloor_state::CheckSample) -> watchfloor_monitor::availability::Observation {
    let status = match s.status {
        0 => watchfloor_monitor::Status::Ok,
        1 => watchfloor_monitor::Status::Warning,
        2 => watchfloor_monitor::Status::Critical,
        _ => watchfloor_monitor::Status::Unknown,
    };
    watchfloor_monitor::availability::Observation {
        time_ns: s.time_ns,
        status,
        hard: s.hard,
        maintenance: s.maintenance,
        output: s.output.clone(),
    }
}

/// Figures for one subject (check, node, service, business service).
fn figures_json(kind: &str, name: &str, a: &Availability) -> Value {
    let outages: Vec<Value> = a
        .outages
        .iter()
        .map(|o| {
            json!({"start": format_rfc3339(o.start_ns), "end": o.end_ns.map(format_rfc3339),
                       "duration_secs": o.duration_secs, "cause": o.cause})
        })
        .collect();
    json!({
        kind: name,
        "uptime_percent": a.uptime_percent, "up_secs": a.up_secs, "down_secs": a.down_secs,
        "unknown_secs": a.unknown_secs, "maintenance_secs": a.maintenance_secs,
        "no_data_secs": a.no_data_secs, "outages": outages,
        "mttr_secs": a.mttr_secs, "mtbf_secs": a.mtbf_secs,
    })
}

type Streams =
    std::collections::BTreeMap<String, Vec<watchfloor_monitor::availability::Observation>>;

/// Every check's observations over the period (and a day before it, for
/// the state at its start).
async fn observations(
    app: &Shared,
    tenant: &str,
    checks: &[Live],
    from: i64,
    to: i64,
) -> Result<Streams, ApiError> {
    let mut out = Streams::new();
    for l in checks {
        let (app, t, name) = (app.clone(), tenant.to_string(), l.monitor.name.clone());
        let samples = blocking(move || {
            check_results(&app, &t, &name, from - 86_400_000_000_000, to, usize::MAX)
        })
        .await??;
        out.insert(
            l.monitor.name.clone(),
            samples.iter().map(observation).collect(),
        );
    }
    Ok(out)
}

/// Groups the checks' streams by a key (node, service) and combines each group.
fn grouped(checks: &[Live], streams: &Streams, key: impl Fn(&Live) -> Option<String>) -> Streams {
    use watchfloor_monitor::availability::{combine, Combine};
    let mut groups: std::collections::BTreeMap<String, Vec<Vec<_>>> = Default::default();
    for l in checks {
        if let (Some(k), Some(s)) = (key(l), streams.get(&l.monitor.name)) {
            groups.entry(k).or_default().push(s.clone());
        }
    }
    groups
        .into_iter()
        .map(|(k, parts)| (k, combine(&parts, Combine::Worst)))
        .collect()
}

/// A check's results in `[from, to)` (the oldest `limit`): the series of
/// the metric store with the outputs of problem results from the state
/// store. Blocking.
pub(crate) fn check_results(
    app: &Shared,
    tenant: &str,
    check: &str,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<Vec<watchfloor_state::CheckSample>, ApiError> {
    let internal =
        |e: &dyn std::fmt::Display| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let store = app.metrics.tenant(tenant).map_err(|e| internal(&e))?;
    let results =
        watchfloor_telemetry::checks::read(store.as_ref(), tenant, check, from, to, limit)
            .map_err(|e| internal(&e))?;
    let outputs = app.checks.outputs(tenant, check, from, to)?;
    Ok(watchfloor_telemetry::checks::with_outputs(
        results, &outputs,
    ))
}

/// Uptime, outages, MTTR and MTBF per check, node, service or business
/// service over a period.
async fn availability(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<AvailabilityParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let now = watchfloor_model::now_ns();
    let from = time_param("from", p.from.as_deref())?.unwrap_or(now - 30 * 86_400_000_000_000);
    let to = time_param("to", p.to.as_deref())?.unwrap_or(now);
    let by = p.by.as_deref().unwrap_or("check");
    let (kind, subjects) =
        availability_report(&app, &caller.tenant, p.check.as_deref(), by, from, to).await?;
    let rows: Vec<Value> = subjects
        .iter()
        .map(|(name, a)| figures_json(kind, name, a))
        .collect();
    Ok(Json(
        json!({"from": format_rfc3339(from), "to": format_rfc3339(to), "by": by, "rows": rows}),
    )
    .into_response())
}

/// Availability figures per subject over `from..to`, grouped `by` check,
/// node, service or business service (the API and the console's report).
pub(crate) async fn availability_report(
    app: &Shared,
    tenant: &str,
    check: Option<&str>,
    by: &str,
    from: i64,
    to: i64,
) -> Result<(&'static str, Vec<(String, Availability)>), ApiError> {
    use watchfloor_monitor::availability::{availability as figures, combine, Combine};
    use watchfloor_monitor::topology::{NodeKind, Require};
    if to <= from {
        return Err(ApiError::bad_request("to: must be after from"));
    }
    let checks: Vec<Live> = match check {
        Some(name) => vec![find(app, tenant, name)?],
        None => app.monitoring.of_tenant(tenant),
    };
    let streams = observations(app, tenant, &checks, from, to).await?;
    let (kind, subjects): (&str, Streams) = match by {
        "check" => ("check", streams),
        "node" => (
            "node",
            grouped(&checks, &streams, |l| l.monitor.host.clone()),
        ),
        "service" => (
            "service",
            grouped(&checks, &streams, |l| l.monitor.service.clone()),
        ),
        "business" => {
            let nodes = grouped(&checks, &streams, |l| l.monitor.host.clone());
            let topology = app.monitoring.topology_of(tenant);
            let business = topology
                .nodes
                .iter()
                .filter(|n| n.kind == NodeKind::Business)
                .map(|n| {
                    let parts: Vec<_> = n
                        .components
                        .iter()
                        .map(|c| nodes.get(c).cloned().unwrap_or_default())
                        .collect();
                    let need = match n.require {
                        Require::All => parts.len(),
                        Require::Any => 1,
                        Require::AtLeast(k) => k,
                    };
                    (n.name.clone(), combine(&parts, Combine::AtLeast(need)))
                })
                .collect();
            ("business_service", business)
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "by: {other:?}; one of check, node, service, business"
            )))
        }
    };
    Ok((
        kind,
        subjects
            .iter()
            .map(|(name, obs)| (name.clone(), figures(obs, from, to)))
            .collect(),
    ))
}

/// The tenant's topology and every node's state now.
async fn topology(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let topology = app.monitoring.topology_of(&caller.tenant);
    let states = topology.evaluate(&app.monitoring.own_states(&caller.tenant));
    Ok(Json(json!({ "nodes": topology.nodes, "states": states })).into_response())
}

/// Replaces the tenant's topology; every problem answers 400 at once.
async fn put_topology(
    State(app): State<Shared>,
    caller: Caller,
    Body(t): Body<watchfloor_monitor::topology::Topology>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageChecks)?;
    let problems = t.problems();
    if !problems.is_empty() {
        return Err(ApiError::bad_request(problems.join("; ")));
    }
    let body = serde_json::to_value(&t)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let (documents, tenant, now) = (
        app.documents.clone(),
        caller.tenant.clone(),
        watchfloor_model::now_ns(),
    );
    blocking(move || {
        documents.put_document(
            &tenant,
            crate::monitoring::TOPOLOGY_DOC,
            crate::monitoring::TOPOLOGY_NAME,
            &body,
            None,
            now,
        )
    })
    .await??;
    app.monitoring.reload_topologies().await;
    Ok(Json(json!({ "nodes": t.nodes })).into_response())
}
