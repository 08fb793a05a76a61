//! Who is looking at the console: the session cookie, the tenant chosen in
//! the switcher, and the CSRF token every state-changing form carries.
//!
//! The console signs in with the same password login as the API (same
//! lockout after failed attempts) and keeps the session token in a cookie
//! that scripts cannot read (HttpOnly) and other sites cannot send
//! (SameSite=Strict; Secure over HTTPS). The CSRF token is derived from the
//! session secret (SHA-256 of a label and the secret), so it needs no
//! storage, differs per session, and cannot be computed without the
//! cookie. POSTs also have their `Origin`, when sent, checked against
//! `Host`.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::{header, request::Parts, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use watchfloor_model::now_ns;

use crate::api::common::blocking;
use crate::api::Shared;
use crate::auth::{self, Action, Principal, Role};

pub const SESSION_COOKIE: &str = "wf_session";
pub const TENANT_COOKIE: &str = "wf_tenant";
pub const CSRF_FIELD: &str = "_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The signed-in console user.
#[derive(Clone)]
pub struct Viewer {
    pub principal: Principal,
    /// For the hidden `_csrf` field and the `X-CSRF-Token` header.
    pub csrf: String,
    /// Tenants the user may switch to (home first).
    pub tenants: Vec<String>,
}

impl Viewer {
    pub fn may(&self, action: Action) -> bool {
        self.principal.role.allows(action)
    }

    pub fn require(&self, action: Action) -> Result<(), ConsoleError> {
        if self.may(action) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden(format!(
                "the {} role may not do this",
                self.principal.role.as_str()
            )))
        }
    }
}

/// The CSRF token of a session secret.
pub fn csrf_token(session_secret: &str) -> String {
    use base64::Engine as _;
    let digest = Sha256::new()
        .chain_update(b"watchfloor console csrf\0")
        .chain_update(session_secret.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..24])
}

/// Compares without leaking where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie's value from the request headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Errors a console handler answers with: a page, not JSON.
#[derive(Debug)]
pub enum ConsoleError {
    /// Not signed in: to the login page (or 401 for htmx and POSTs).
    SignIn {
        next: String,
        fragment: bool,
    },
    Forbidden(String),
    BadRequest(String),
    NotFound(String),
    Conflict(String),
    Internal,
}

impl From<crate::api::ApiError> for ConsoleError {
    fn from(e: crate::api::ApiError) -> Self {
        let (status, message) = e.parts();
        match status {
            StatusCode::BAD_REQUEST => ConsoleError::BadRequest(message),
            StatusCode::FORBIDDEN => ConsoleError::Forbidden(message),
            StatusCode::NOT_FOUND => ConsoleError::NotFound(message),
            StatusCode::CONFLICT => ConsoleError::Conflict(message),
            _ => ConsoleError::Internal,
        }
    }
}

impl From<watchfloor_state::StateError> for ConsoleError {
    fn from(e: watchfloor_state::StateError) -> Self {
        crate::api::ApiError::from(e).into()
    }
}

impl From<watchfloor_incident::IncidentError> for ConsoleError {
    fn from(e: watchfloor_incident::IncidentError) -> Self {
        crate::api::ApiError::from(e).into()
    }
}

impl From<watchfloor_search::SearchError> for ConsoleError {
    fn from(e: watchfloor_search::SearchError) -> Self {
        crate::api::ApiError::from(e).into()
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ConsoleError::SignIn { next, fragment } => {
                if fragment {
                    // htmx follows HX-Redirect with a full navigation.
                    let mut r = StatusCode::UNAUTHORIZED.into_response();
                    if let Ok(v) = header::HeaderValue::from_str("/login") {
                        r.headers_mut().insert("hx-redirect", v);
                    }
                    return r;
                }
                let target = format!("/login?next={}", super::view::url_encode(&next));
                return Redirect::to(&target).into_response();
            }
            ConsoleError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ConsoleError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ConsoleError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ConsoleError::Conflict(m) => (StatusCode::CONFLICT, m),
            ConsoleError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage error; see the server log".to_string(),
            ),
        };
        (status, super::view::error_page(status, &message)).into_response()
    }
}

fn is_fragment(parts: &Parts) -> bool {
    parts.headers.contains_key("hx-request") || parts.method != Method::GET
}

/// The session secret from the cookie, if it has the session form.
fn session_secret(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
        .filter(|s| s.starts_with(auth::SESSION_PREFIX) && s.len() <= 128)
        .map(str::to_string)
}

async fn resolve(parts: &Parts, app: &Shared) -> Result<Option<Viewer>, ConsoleError> {
    let Some(secret) = session_secret(&parts.headers) else {
        return Ok(None);
    };
    let tenant = cookie(&parts.headers, TENANT_COOKIE).map(str::to_string);
    let access = app.access.clone();
    let s = secret.clone();
    let resolved = blocking(move || {
        let now = now_ns();
        let principal = match auth::authenticate(
            access.as_ref(),
            access.as_ref(),
            &s,
            tenant.as_deref(),
            now,
        ) {
            // A tenant cookie the user may no longer use: back home.
            Err(auth::Denied::WrongTenant(_)) => {
                auth::authenticate(access.as_ref(), access.as_ref(), &s, None, now)
            }
            other => other,
        };
        let principal = principal.ok()?;
        let mut tenants = vec![principal.home_tenant.clone()];
        if let Some(id) = principal.user_id {
            if let Ok(Some(user)) = access.get_user(id) {
                tenants.extend(user.tenants.into_iter().filter(|t| *t != user.tenant));
            }
        }
        Some((principal, tenants))
    })
    .await
    .map_err(|_| ConsoleError::Internal)?;
    Ok(resolved.map(|(principal, tenants)| Viewer {
        principal,
        csrf: csrf_token(&secret),
        tenants,
    }))
}

impl FromRequestParts<Shared> for Viewer {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, Self::Rejection> {
        let viewer = resolve(parts, app)
            .await?
            .ok_or_else(|| ConsoleError::SignIn {
                next: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into()),
                fragment: is_fragment(parts),
            })?;
        if viewer.principal.role == Role::Ingest {
            return Err(ConsoleError::Forbidden(
                "the ingest role only sends events".into(),
            ));
        }
        if parts.method != Method::GET && parts.method != Method::HEAD {
            check_origin(&parts.headers)?;
        }
        if let Some(slot) = parts.extensions.get::<crate::audit::AuditSlot>() {
            slot.set(&viewer.principal);
        }
        Ok(viewer)
    }
}

impl OptionalFromRequestParts<Shared> for Viewer {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Shared,
    ) -> Result<Option<Self>, Self::Rejection> {
        resolve(parts, app).await
    }
}

/// A cross-site POST names another origin; a same-site one names ours.
pub fn check_origin(headers: &HeaderMap) -> Result<(), ConsoleError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(origin);
    if origin == "null" || origin_host != host {
        return Err(ConsoleError::Forbidden(format!(
            "cross-origin request from {origin} refused"
        )));
    }
    Ok(())
}

/// Checks the CSRF token of a state-changing request: the form field, or
/// the header htmx sends.
pub fn check_csrf(
    viewer: &Viewer,
    headers: &HeaderMap,
    field: Option<&str>,
) -> Result<(), ConsoleError> {
    let presented = field.or_else(|| headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()));
    match presented {
        Some(token) if same(token, &viewer.csrf) => Ok(()),
        _ => Err(ConsoleError::Forbidden(
            "missing or wrong CSRF token; reload the page".into(),
        )),
    }
}

/// `Set-Cookie` for the session: HttpOnly, SameSite=Strict, Secure on HTTPS.
pub fn session_cookie(secret: &str, secure: bool, max_age_secs: i64) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    )
}

/// `Set-Cookie` for the chosen tenant (not secret, but only read here).
pub fn tenant_cookie(tenant: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{TENANT_COOKIE}={tenant}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let a = csrf_token("wfs_a");
        assert_ne!(a, csrf_token("wfs_b"));
        assert_eq!(a, csrf_token("wfs_a"));
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &a[1..]));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; wf_session=wfs_x; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("wfs_x"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn origin_must_be_ours() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(check_origin(&h).is_ok(), "no Origin: same-origin form");
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(check_origin(&h).is_ok());
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(check_origin(&h).is_err());
    }
}
