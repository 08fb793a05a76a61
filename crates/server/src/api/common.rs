//! What every handler shares: errors as JSON, the authenticated caller,
//! JSON bodies with located errors, blocking work, time and list parameters.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::json;
use watchfloor_model::now_ns;
use watchfloor_search::SearchError;
use watchfloor_state::StateError;

use crate::api::Shared;
use crate::auth::{self, Action, Principal};
use crate::timeparse::parse_time;

/// An API error: a status and a message, sent as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

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

    /// The status and message (for the console, which answers pages).
    pub(crate) fn parts(self) -> (StatusCode, String) {
        (self.status, self.message)
    }

    /// Adds `Retry-After` (seconds) to the answer.
    pub(crate) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
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
            .and_then(presented_token)
            .ok_or_else(|| {
                unauthorized(
                    "Authorization must be 'Bearer <token>' (or, for log shippers, \
                     'ApiKey', 'Basic' with the token as password, or 'Splunk')",
                )
            })?;
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

/// The token in an `Authorization` header. Besides `Bearer`, the schemes
/// log shippers are built to send carry the same API token:
/// Elasticsearch's `ApiKey` (base64 of `id:key`, or the token as is),
/// `Basic` with the token as password (Beats, rsyslog, syslog-ng), and
/// Splunk HEC's `Splunk <token>`.
pub(crate) fn presented_token(value: &str) -> Option<String> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    let decoded = || {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        text.split_once(':').map(|(_, secret)| secret.to_string())
    };
    let token = match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "splunk" => rest.to_string(),
        "apikey" => decoded().unwrap_or_else(|| rest.to_string()),
        "basic" => decoded()?,
        _ => return None,
    };
    (!token.is_empty()).then_some(token)
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

/// A JSON body whose problems (syntax, unknown or missing fields, wrong
/// types) answer 400 with serde's description, which names the field.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Shared> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Shared) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| ApiError::bad_request(format!("body: {e}")))
    }
}

pub(crate) fn parse_one<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, ApiError> {
    serde_json::from_value(json!(text))
        .map_err(|_| ApiError::bad_request(format!("{what}: unknown value {text:?}")))
}

pub(crate) fn parse_list<T: DeserializeOwned>(what: &str, text: &str) -> Result<Vec<T>, ApiError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| parse_one(what, s))
        .collect()
}
