//! The HTTP API: `/api/v1/...` behind bearer tokens, `/metrics` behind a
//! token too, and `/healthz` open.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::json;
use watchfloor_ingest::{Appender, IngestMetrics, Kind, RawRecord, Wal, WalError};
use watchfloor_model::now_ns;
use watchfloor_model::Severity;
use watchfloor_pipeline::Rules;
use watchfloor_search::{EventStore, SearchError, SearchRequest};
use watchfloor_state::{AlertFilter, StateError, StateStore, TokenRecord};

use crate::auth::{self, Action, Principal, Role};
use crate::ingest_body;
use crate::timeparse::parse_time;

/// What the handlers share.
pub struct AppState {
    pub events: Arc<dyn EventStore>,
    pub state: Arc<dyn StateStore>,
    pub access: Arc<dyn watchfloor_state::AccessStore>,
    /// Tenant documents (schedules, policies, teams, channels, checks,
    /// topologies, maintenance windows).
    pub documents: Arc<dyn watchfloor_state::DocumentStore>,
    /// The notification outbox.
    pub outbox: Arc<dyn watchfloor_state::OutboxStore>,
    pub checks: Arc<dyn watchfloor_state::CheckStore>,
    pub monitoring: crate::monitoring::Monitoring,
    /// The operator's own tenant: its admins manage every tenant (MSSP).
    pub provider_tenant: String,
    pub appender: Appender,
    pub wal: Arc<Wal>,
    pub rules: Arc<Rules>,
    pub registry: Registry,
    pub ingest: Arc<IngestMetrics>,
    pub gauges: crate::metrics::LiveGauges,
    pub limits: BodyLimits,
    pub incidents: Arc<watchfloor_incident::Incidents>,
    /// Set when the server runs on a hand-moved clock (tests only).
    pub test_clock: Option<Arc<watchfloor_incident::ManualClock>>,
}

#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_body: usize,
    pub max_decoded: u64,
    pub max_event: usize,
}

pub(crate) type Shared = Arc<AppState>;

/// An API error: a status and a message, sent as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl ApiError {
    /// A storage failure: logged whole, answered without its details.
    pub(crate) fn internal(what: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!("{what}: {error}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage error; see the server log",
        )
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Query(q) => ApiError::bad_request(q.to_string()),
            SearchError::BadCursor => ApiError::bad_request("invalid cursor"),
            SearchError::TooBroad(why) => ApiError::bad_request(why),
            other => ApiError::internal("event store", &other),
        }
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        ApiError::internal("state store", &e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// The authenticated caller: a [`Principal`] acting in one tenant.
pub struct Caller(pub Principal);

impl std::ops::Deref for Caller {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl Caller {
    pub(crate) fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.role.allows(action) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("the {} role may not do this", self.role.as_str()),
            ))
        }
    }
}

/// The tenant a request asks to act in.
pub const TENANT_HEADER: &str = "x-watchfloor-tenant";

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Self::Rejection> {
        let unauthorized = |why: &str| {
            app.ingest.reject("http", "unauthorized");
            ApiError::new(StatusCode::UNAUTHORIZED, why)
        };
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "missing bearer token (Authorization: Bearer <token>)",
            ));
        };
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| unauthorized("Authorization must be 'Bearer <token>'"))?
            .to_string();
        let tenant = match parts.headers.get(TENANT_HEADER) {
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| ApiError::bad_request("X-Watchfloor-Tenant: not text"))?
                    .to_string(),
            ),
            None => None,
        };
        let (state, access) = (app.state.clone(), app.access.clone());
        let principal = blocking(move || {
            auth::authenticate(
                state.as_ref(),
                access.as_ref(),
                &presented,
                tenant.as_deref(),
                now_ns(),
            )
        })
        .await?
        .map_err(|denied| match denied {
            auth::Denied::Unauthenticated(why) => unauthorized(why),
            auth::Denied::WrongTenant(t) => {
                ApiError::new(StatusCode::FORBIDDEN, format!("no access to tenant {t:?}"))
            }
        })?;
        if let Some(slot) = parts.extensions.get::<crate::audit::AuditSlot>() {
            slot.set(&principal);
        }
        Ok(Caller(principal))
    }
}

pub fn router(app: Shared) -> Router {
    let max_body = app.limits.max_body;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/ingest", post(ingest))
        .route("/api/v1/events", get(search_events))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/rules", get(rules_summary))
        .route("/api/v1/rules/reload", post(reload_rules))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .merge(crate::api_incidents::routes())
        .merge(crate::api_access::routes())
        .merge(crate::api_oncall::routes())
        .merge(crate::api_checks::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::audit::record,
        ))
        .with_state(app)
}

/// Unknown paths answer 404 only to callers with a token: the API's shape
/// is not shown to anonymous clients.
async fn not_found(_caller: Caller) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

/// The OpenAPI document; any valid credential may read it.
async fn openapi(_caller: Caller) -> Json<serde_json::Value> {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    Json(DOC.get_or_init(crate::openapi::document).clone())
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn metrics(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Metrics)?;
    app.gauges.update(&app.wal, &app.appender);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &app.registry)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IngestParams {
    /// Names the source, as `http:<name>`.
    source: Option<String>,
}

async fn ingest(
    State(app): State<Shared>,
    caller: Caller,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::Ingest)?;
    let source = match params.source.as_deref() {
        Some(name) if valid_source_name(name) => format!("http:{name}"),
        Some(_) => {
            return Err(ApiError::bad_request(
                "source: use letters, digits, '.', '_', '-' and '/' (at most 64)",
            ))
        }
        None => "http".to_string(),
    };
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let limits = app.limits;
    let decoded = ingest_body::decode(&body, gzip, limits.max_decoded).map_err(|e| {
        app.ingest.reject(&source, "bad_body");
        match e {
            ingest_body::BodyError::TooLarge(_) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            other => ApiError::bad_request(other.to_string()),
        }
    })?;
    let split = ingest_body::split(&decoded, limits.max_event).map_err(|e| {
        app.ingest.reject(&source, "bad_body");
        ApiError::bad_request(e.to_string())
    })?;
    let received_ns = now_ns();
    let truncated = split.events.iter().filter(|(_, cut)| *cut).count();
    let records: Vec<RawRecord> = split
        .events
        .iter()
        .map(|(text, cut)| RawRecord {
            received_ns,
            kind: Kind::Json,
            source: source.clone(),
            tenant: caller.tenant.clone(),
            peer: String::new(),
            truncated: *cut,
            body: text.to_vec(),
        })
        .collect();
    let accepted = records.len();
    if !split.rejected.is_empty() {
        app.ingest
            .rejected
            .get_or_create(&watchfloor_ingest::metrics::source_reason(
                &source,
                "not_an_event",
            ))
            .inc_by(split.rejected.len() as u64);
    }
    if accepted == 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("no event accepted: {}", first_errors(&split.rejected)),
        ));
    }
    app.ingest.count_batch(
        &source,
        accepted as u64,
        decoded.len() as u64,
        truncated as u64,
    );
    let ack = match app.appender.try_append(records) {
        Ok(ack) => ack,
        Err(WalError::Full) => {
            app.ingest
                .drop_messages(&source, "backpressure", accepted as u64);
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "ingest is saturated; retry later",
            );
            e.retry_after = Some(1);
            return Err(e);
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
            ))
        }
    };
    let range = ack
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Json(json!({
        "accepted": accepted,
        "truncated": truncated,
        "rejected": split.rejected.len(),
        "errors": split.rejected.iter().take(100).collect::<Vec<_>>(),
        "first_id": range.first,
        "last_id": range.last,
    }))
    .into_response())
}

fn valid_source_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
}

fn first_errors(rejected: &[ingest_body::Rejection]) -> String {
    let shown: Vec<String> = rejected
        .iter()
        .take(5)
        .map(|r| format!("line {}: {}", r.line, r.error))
        .collect();
    let more = rejected.len().saturating_sub(5);
    if more > 0 {
        format!("{} (and {more} more)", shown.join("; "))
    } else if shown.is_empty() {
        "empty body".into()
    } else {
        shown.join("; ")
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchParams {
    q: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Runs storage work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

pub(crate) fn time_param(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| parse_time(v, now_ns()).map_err(|e| ApiError::bad_request(format!("{name}: {e}"))))
        .transpose()
}

async fn search_events(
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

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertParams {
    rule: Option<String>,
    level: Option<String>,
    host: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_alerts(
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

fn report_json(r: &watchfloor_sigma::LoadReport) -> serde_json::Value {
    json!({
        "files": r.files,
        "rules": r.rules_loaded,
        "correlations": r.correlations_loaded,
        "filters": r.filters_loaded,
        "rejected": r.rejected.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
    })
}

async fn rules_summary(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let (generation, set) = app.rules.current();
    let mut body = report_json(set.report());
    body["generation"] = json!(generation);
    Ok(Json(body).into_response())
}

async fn reload_rules(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
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

async fn list_tokens(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
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

async fn create_token(
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

async fn revoke_token(
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
