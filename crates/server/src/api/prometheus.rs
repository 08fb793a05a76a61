//! The Prometheus HTTP API over the caller's tenant's metric store, so
//! Grafana's Prometheus data source (and promtool, and scripts) work against
//! `serve` unchanged: queries, series, labels, metadata, build info, targets,
//! and the remote-write receiver; plus a JSON push for scripts.
//!
//! Served twice: under `/api/v1/...` where the paths do not clash with
//! Watchfloor's own API, and whole under `/prometheus/api/v1/...` (the URL to
//! give Grafana: `http://host:port/prometheus`). Parameters come from the
//! query string or, for POST, a form body, as in Prometheus.

use axum::body::Bytes;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use watchfloor_tsdb::promql::{format_value, QueryError, QueryValue};
use watchfloor_tsdb::{parse_selector, Matcher, MetricStore};

use super::common::{blocking, Caller};
use super::Shared;
use crate::auth::Action;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/query_exemplars", get(exemplars).post(exemplars))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/write", post(remote_write))
        .route("/api/v1/metrics/push", post(push))
        .route("/prometheus/api/v1/query", get(query).post(query))
        .route(
            "/prometheus/api/v1/query_range",
            get(query_range).post(query_range),
        )
        .route("/prometheus/api/v1/series", get(series).post(series))
        .route("/prometheus/api/v1/labels", get(labels).post(labels))
        .route("/prometheus/api/v1/label/{name}/values", get(label_values))
        .route("/prometheus/api/v1/metadata", get(metadata))
        .route(
            "/prometheus/api/v1/query_exemplars",
            get(exemplars).post(exemplars),
        )
        .route("/prometheus/api/v1/status/buildinfo", get(buildinfo))
        .route("/prometheus/api/v1/targets", get(targets))
        .route("/prometheus/api/v1/rules", get(rules))
        .route("/prometheus/api/v1/alerts", get(alerts))
        .route("/prometheus/api/v1/write", post(remote_write))
}

/// Paths that read or carry data, not changes of state: the audit log
/// leaves them out (Grafana POSTs its queries; Prometheus remote-writes
/// every few seconds).
pub fn unaudited(path: &str) -> bool {
    let path = path.strip_prefix("/prometheus").unwrap_or(path);
    matches!(
        path,
        "/api/v1/query"
            | "/api/v1/query_range"
            | "/api/v1/series"
            | "/api/v1/labels"
            | "/api/v1/query_exemplars"
            | "/api/v1/write"
            | "/api/v1/metrics/push"
    )
}

/// The Prometheus version whose API (and PromQL) this answers as.
pub const PROMETHEUS_API_VERSION: &str = "2.42.0";

/// Most points one series of a range query may have (Prometheus's limit).
const MAX_POINTS: i64 = 11_000;

/// A Prometheus API error: `{"status":"error","errorType":..,"error":..}`.
pub struct PromError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

fn bad_data(message: impl Into<String>) -> PromError {
    PromError {
        status: StatusCode::BAD_REQUEST,
        kind: "bad_data",
        message: message.into(),
    }
}

impl From<QueryError> for PromError {
    fn from(e: QueryError) -> Self {
        let status = match e.api_type() {
            "bad_data" => StatusCode::BAD_REQUEST,
            "internal" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        PromError {
            status,
            kind: e.api_type(),
            message: e.to_string(),
        }
    }
}

impl From<super::ApiError> for PromError {
    fn from(e: super::ApiError) -> Self {
        PromError {
            status: e.status(),
            kind: if e.status() == StatusCode::FORBIDDEN {
                "forbidden"
            } else {
                "internal"
            },
            message: e.message().to_string(),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> PromError {
    PromError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        kind: "internal",
        message: e.to_string(),
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({"status": "error", "errorType": self.kind, "error": self.message})),
        )
            .into_response()
    }
}

fn success(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

/// The request's parameters: the query string, then a form body.
struct Params(Vec<(String, String)>);

impl Params {
    fn read(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Params {
        let mut pairs: Vec<(String, String)> =
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        Params(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A time: float seconds or RFC 3339; `default` when absent.
    fn time(&self, name: &str, default: i64) -> Result<i64, PromError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => parse_time(v).ok_or_else(|| {
                bad_data(format!(
                    "invalid parameter \"{name}\": cannot parse \"{v}\" to a valid timestamp"
                ))
            }),
        }
    }

    /// The `match[]` selectors, each a list of matchers.
    fn selectors(&self) -> Result<Vec<Vec<Matcher>>, PromError> {
        self.all("match[]")
            .into_iter()
            .map(|s| {
                parse_selector(s)
                    .map_err(|e| bad_data(format!("invalid parameter \"match[]\": {e}")))
            })
            .collect()
    }
}

fn now_ms() -> i64 {
    watchfloor_model::now_ns() / 1_000_000
}

/// Prometheus's `parseTime`: seconds (with a fraction) or RFC 3339, and the
/// boundary times clients send for "all".
fn parse_time(v: &str) -> Option<i64> {
    if let Ok(secs) = v.parse::<f64>() {
        return secs.is_finite().then(|| (secs * 1000.0).round() as i64);
    }
    match v {
        "-292273086-05-16T16:47:06Z" => return Some(i64::MIN / 2),
        "292277025-08-18T07:12:54.999999999Z" => return Some(i64::MAX / 2),
        _ => {}
    }
    watchfloor_model::parse_timestamp(v).map(|ns| ns.div_euclid(1_000_000))
}

/// A duration: float seconds or a Prometheus duration (`15s`, `1m30s`).
fn parse_duration(v: &str) -> Option<i64> {
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs < 9.2e15).then(|| (secs * 1000.0).round() as i64);
    }
    watchfloor_tsdb::promql::parse_duration_ms(v)
}

fn json_time(ms: i64) -> Value {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

fn point(t: i64, v: f64) -> Value {
    json!([json_time(t), format_value(v)])
}

fn result_json(value: QueryValue) -> Value {
    match value {
        QueryValue::Scalar { t, v } => json!({"resultType": "scalar", "result": point(t, v)}),
        QueryValue::String { t, v } => json!({"resultType": "string", "result": [json_time(t), v]}),
        QueryValue::Vector(samples) => json!({
            "resultType": "vector",
            "result": samples.into_iter().map(|s| json!({"metric": s.metric, "value": point(s.t, s.v)})).collect::<Vec<_>>(),
        }),
        QueryValue::Matrix(series) => json!({
            "resultType": "matrix",
            "result": series.into_iter().map(|s| json!({
                "metric": s.metric,
                "values": s.points.into_iter().map(|(t, v)| point(t, v)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }),
    }
}

fn reader(caller: &Caller) -> Result<(), PromError> {
    caller.require(Action::Read).map_err(PromError::from)
}

/// A read request of the Prometheus API: a caller who may read, its
/// parameters (the query string, and the form body of a POST) and its
/// tenant's store.
struct Reading {
    params: Params,
    store: Arc<watchfloor_tsdb::DiskStore>,
    tenant: String,
}

impl FromRequest<Shared> for Reading {
    type Rejection = PromError;

    async fn from_request(req: Request, app: &Shared) -> Result<Self, PromError> {
        let (mut parts, body) = req.into_parts();
        let caller = Caller::from_request_parts(&mut parts, app).await?;
        reader(&caller)?;
        let (query, headers) = (parts.uri.query().map(str::to_string), parts.headers.clone());
        let body = Bytes::from_request(Request::from_parts(parts, body), app)
            .await
            .map_err(|e| bad_data(e.body_text()))?;
        Ok(Reading {
            params: Params::read(query, &headers, &body),
            store: app.metrics.tenant(&caller.tenant).map_err(internal)?,
            tenant: caller.tenant.clone(),
        })
    }
}

impl Reading {
    fn query_text(&self) -> Result<String, PromError> {
        self.params
            .get("query")
            .map(str::to_string)
            .ok_or_else(|| bad_data("invalid parameter \"query\": query is missing"))
    }
}

async fn query(State(app): State<Shared>, r: Reading) -> Result<Response, PromError> {
    let text = r.query_text()?;
    let t = r.params.time("time", now_ms())?;
    let engine = app.metrics_engine.clone();
    let value = blocking(move || engine.instant(r.store.as_ref(), &text, t)).await??;
    Ok(success(result_json(value)))
}

async fn query_range(State(app): State<Shared>, r: Reading) -> Result<Response, PromError> {
    let text = r.query_text()?;
    let params = &r.params;
    let start = params.get("start").and_then(parse_time).ok_or_else(|| {
        bad_data("invalid parameter \"start\": cannot parse to a valid timestamp")
    })?;
    let end = params
        .get("end")
        .and_then(parse_time)
        .ok_or_else(|| bad_data("invalid parameter \"end\": cannot parse to a valid timestamp"))?;
    if end < start {
        return Err(bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = params
        .get("step")
        .and_then(parse_duration)
        .ok_or_else(|| bad_data("invalid parameter \"step\": cannot parse to a valid duration"))?;
    if step <= 0 {
        return Err(bad_data("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"));
    }
    if (end - start) / step > MAX_POINTS {
        return Err(bad_data("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"));
    }
    let engine = app.metrics_engine.clone();
    let value = blocking(move || engine.range(r.store.as_ref(), &text, start, end, step)).await??;
    Ok(success(result_json(value)))
}

/// The time range of a metadata request (all time by default).
fn range_of(params: &Params) -> Result<(i64, i64), PromError> {
    Ok((
        params.time("start", i64::MIN / 2)?,
        params.time("end", i64::MAX / 2)?,
    ))
}

async fn series(r: Reading) -> Result<Response, PromError> {
    let selectors = r.params.selectors()?;
    if selectors.is_empty() {
        return Err(bad_data("no match[] parameter provided"));
    }
    let (start, end) = range_of(&r.params)?;
    let store = r.store;
    let found = blocking(move || {
        let mut out = Vec::new();
        for m in &selectors {
            out.extend(store.series(m, start, end)?);
        }
        out.sort();
        out.dedup();
        Ok::<_, watchfloor_tsdb::StoreError>(out)
    })
    .await?
    .map_err(internal)?;
    Ok(success(json!(found)))
}

/// Label names (or one label's values) over the selectors, or all series.
async fn names_or_values(r: Reading, name: Option<String>) -> Result<Response, PromError> {
    let selectors = r.params.selectors()?;
    let (start, end) = range_of(&r.params)?;
    let store = r.store;
    let found = blocking(move || {
        let groups = if selectors.is_empty() {
            vec![Vec::new()]
        } else {
            selectors
        };
        let mut out = Vec::new();
        for m in &groups {
            out.extend(match &name {
                Some(n) => store.label_values(n, m, start, end)?,
                None => store.label_names(m, start, end)?,
            });
        }
        out.sort();
        out.dedup();
        Ok::<_, watchfloor_tsdb::StoreError>(out)
    })
    .await?
    .map_err(internal)?;
    Ok(success(json!(found)))
}

async fn labels(r: Reading) -> Result<Response, PromError> {
    names_or_values(r, None).await
}

async fn label_values(Path(name): Path<String>, r: Reading) -> Result<Response, PromError> {
    names_or_values(r, Some(name)).await
}

async fn metadata(State(app): State<Shared>, r: Reading) -> Result<Response, PromError> {
    let limit = r
        .params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|&l| l > 0)
        .unwrap_or(usize::MAX);
    let wanted = r.params.get("metric");
    let data: serde_json::Map<String, Value> = app
        .metrics
        .metadata(&r.tenant)
        .into_iter()
        .filter(|(name, _)| wanted.is_none_or(|w| w == name))
        .take(limit)
        .map(|(name, m)| (name, json!([m])))
        .collect();
    Ok(success(Value::Object(data)))
}

/// Exemplars are not stored; the answer is an empty list, as Prometheus
/// gives with exemplar storage off (Grafana asks on every query).
async fn exemplars(caller: Caller) -> Result<Response, PromError> {
    reader(&caller)?;
    Ok(success(json!([])))
}

async fn buildinfo(caller: Caller) -> Result<Response, PromError> {
    reader(&caller)?;
    Ok(success(json!({
        "version": PROMETHEUS_API_VERSION,
        "revision": format!("watchfloor-{}", env!("CARGO_PKG_VERSION")),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    })))
}

async fn targets(State(app): State<Shared>, caller: Caller) -> Result<Response, PromError> {
    reader(&caller)?;
    let health = app
        .scrape_health
        .lock()
        .map(|h| h.values().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    let active: Vec<Value> = health
        .into_iter()
        .filter(|t| t.tenant == caller.tenant)
        .map(|t| {
            json!({
                "discoveredLabels": {"__address__": t.instance, "job": t.job},
                "labels": {"instance": t.instance, "job": t.job},
                "scrapePool": t.job,
                "scrapeUrl": t.url,
                "lastError": t.last_error,
                "lastScrape": watchfloor_model::format_rfc3339(t.last_scrape_ms * 1_000_000),
                "lastScrapeDuration": t.last_scrape_duration_secs,
                "health": t.health,
                "scrapeSamples": t.samples,
                "badLines": t.bad_lines,
            })
        })
        .collect();
    Ok(success(
        json!({"activeTargets": active, "droppedTargets": []}),
    ))
}

fn alert_json(a: &watchfloor_telemetry::rules::ActiveAlert) -> Value {
    json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state,
        "activeAt": watchfloor_model::format_rfc3339(a.active_at * 1_000_000),
        "value": format_value(a.value),
    })
}

/// The metric rule groups of the caller's tenant with their state, in
/// Prometheus's shape (Watchfloor's own detection rules and alerts are at
/// `/api/v1/rules` and `/api/v1/alerts`).
async fn rules(State(app): State<Shared>, caller: Caller) -> Result<Response, PromError> {
    reader(&caller)?;
    let states = app.metric_rules.lock().map_err(internal)?;
    let groups: Vec<Value> = states
        .get(&caller.tenant)
        .into_iter()
        .flatten()
        .map(|g| {
            let rules: Vec<Value> = g
                .group
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let error = g.last_error.get(&i).cloned().unwrap_or_default();
                    let health = if error.is_empty() { "ok" } else { "err" };
                    match (&r.alert, &r.record) {
                        (Some(name), _) => json!({
                            "type": "alerting", "name": name, "query": r.expr,
                            "duration": r.for_.as_deref().and_then(watchfloor_tsdb::promql::parse_duration_ms).unwrap_or(0) / 1000,
                            "labels": r.labels, "annotations": r.annotations,
                            "alerts": g.alerts_of(i).iter().map(alert_json).collect::<Vec<_>>(),
                            "health": health, "lastError": error,
                        }),
                        (_, name) => json!({"type": "recording", "name": name, "query": r.expr, "labels": r.labels, "health": health, "lastError": error}),
                    }
                })
                .collect();
            json!({
                "name": g.group.name,
                "file": "",
                "interval": g.interval_ms as f64 / 1000.0,
                "rules": rules,
                "lastEvaluation": watchfloor_model::format_rfc3339(g.last_eval_ms * 1_000_000),
            })
        })
        .collect();
    Ok(success(json!({"groups": groups})))
}

async fn alerts(State(app): State<Shared>, caller: Caller) -> Result<Response, PromError> {
    reader(&caller)?;
    let states = app.metric_rules.lock().map_err(internal)?;
    let alerts: Vec<Value> = states
        .get(&caller.tenant)
        .into_iter()
        .flatten()
        .flat_map(|g| g.alerts())
        .map(|a| alert_json(&a))
        .collect();
    Ok(success(json!({"alerts": alerts})))
}

fn ingester(caller: &Caller) -> Result<(), PromError> {
    caller.require(Action::Ingest).map_err(PromError::from)
}

/// Appends a batch; refused samples answer 400 with the first reason
/// (the rest of the batch is stored), as Prometheus's receiver does.
async fn append(
    app: &Shared,
    caller: &Caller,
    batch: Vec<watchfloor_tsdb::SeriesSamples>,
) -> Result<Response, PromError> {
    let store = app.metrics.tenant(&caller.tenant).map_err(internal)?;
    let report = blocking(move || store.append(&batch))
        .await?
        .map_err(internal)?;
    app.tsdb_metrics
        .appended(report.appended, report.rejected());
    match report.first_error {
        Some(e) => Err(bad_data(e)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

async fn remote_write(
    State(app): State<Shared>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, PromError> {
    ingester(&caller)?;
    let request =
        watchfloor_telemetry::remote_write::decode(&body, app.limits.max_decoded as usize)
            .map_err(|e| {
                app.ingest.reject("remote_write", "malformed");
                bad_data(format!("remote write body: {e}"))
            })?;
    let metadata: Vec<(String, watchfloor_telemetry::exposition::Metadata)> = request
        .metadata
        .iter()
        .map(|m| {
            (
                m.metric_family_name.clone(),
                watchfloor_telemetry::exposition::Metadata {
                    kind: watchfloor_telemetry::remote_write::metadata_type_name(m.kind).into(),
                    help: m.help.clone(),
                    unit: m.unit.clone(),
                },
            )
        })
        .collect();
    app.metrics.record_metadata(&caller.tenant, metadata);
    append(&app, &caller, request.into_batch()).await
}

async fn push(
    State(app): State<Shared>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, PromError> {
    ingester(&caller)?;
    let batch = watchfloor_telemetry::push::parse(&body, now_ms()).map_err(|e| {
        app.ingest.reject("metrics_push", "malformed");
        bad_data(e)
    })?;
    append(&app, &caller, batch).await
}
