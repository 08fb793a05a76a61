//! The web console, served by `serve` at `/` beside the API: server-rendered
//! HTML (askama templates under `templates/console/`), htmx for partial
//! updates, server-sent events for live ones, uPlot for time-series
//! charts; every asset embedded ([`assets`]).
//!
//! Same users, sessions, roles and tenants as the API: a page calls the
//! same domain functions as the API handler for the same data, in the
//! signed-in user's tenant, and shows only the controls the role allows;
//! every state-changing request checks the role again and the CSRF token.

pub mod assets;
mod intel;
mod investigate;
mod live;
mod noc;
mod people;
mod queue;
mod respond;
pub mod session;
pub(crate) mod telemetry;
pub mod view;
mod wallboard;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use watchfloor_model::now_ns;

use crate::api::common::blocking;
use crate::api::Shared;
use crate::audit::AuditSlot;
use crate::auth::{self, LoginError};
use session::{check_csrf, ConsoleError, Viewer};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/tenant", post(switch_tenant))
        .route("/assets/{name}", get(assets::serve))
        .route("/live", get(live::stream))
        .merge(wallboard::routes())
        .merge(queue::routes())
        .merge(investigate::routes())
        .merge(intel::routes())
        .merge(noc::routes())
        .merge(telemetry::routes())
        .merge(respond::routes())
        .merge(people::routes())
        .layer(axum::middleware::map_response(security_headers))
}

/// Headers on every console answer: a strict Content-Security-Policy (no
/// inline script, nothing from elsewhere), no framing, no sniffing, no
/// referrer, and pages never cached (they hold tenant data).
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    // same-origin, not no-referrer: with no-referrer the browser sends
    // `Origin: null` on our own form posts, which the Origin check refuses.
    set(h, "referrer-policy", "same-origin");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    response
}

/// `/` for a browser (routed by [`crate::api`], which also answers log
/// shippers there).
pub(crate) async fn home(viewer: Option<Viewer>) -> Redirect {
    match viewer {
        Some(_) => Redirect::to("/wallboard"),
        None => Redirect::to("/login"),
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    assets: &'static assets::Urls,
    next: &'a str,
    error: Option<&'a str>,
    username: &'a str,
}

#[derive(Deserialize)]
struct NextParam {
    next: Option<String>,
}

/// Only a path on this site (not `//evil.example`) is followed after login.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/wallboard",
    }
}

async fn login_page(Query(p): Query<NextParam>) -> Result<Response, ConsoleError> {
    view::render(&LoginPage {
        assets: assets::urls(),
        next: safe_next(p.next.as_deref()),
        error: None,
        username: "",
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

/// Password login: the same check and lockout as `POST /api/v1/session`;
/// the session goes into an HttpOnly, SameSite=Strict cookie.
async fn login(
    State(app): State<Shared>,
    slot: Option<Extension<AuditSlot>>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, ConsoleError> {
    session::check_origin(&headers)?;
    if let Some(Extension(slot)) = &slot {
        slot.set_actor(&format!("user:{}", f.username), "");
    }
    let access = app.access.clone();
    let (username, password) = (f.username.clone(), f.password);
    let result = blocking(move || auth::login(access.as_ref(), &username, &password, now_ns()))
        .await
        .map_err(|_| ConsoleError::Internal)?;
    let next = safe_next(f.next.as_deref()).to_string();
    match result {
        Ok((secret, user)) => {
            if let Some(Extension(slot)) = &slot {
                slot.set_actor(&format!("user:{}", user.username), &user.tenant);
            }
            let cookie = session::session_cookie(
                &secret,
                app.console_secure,
                auth::SESSION_LIFETIME_NS / 1_000_000_000,
            );
            let mut r = Redirect::to(&next).into_response();
            append_cookie(&mut r, &cookie);
            append_cookie(
                &mut r,
                &session::tenant_cookie(&user.tenant, app.console_secure),
            );
            Ok(r)
        }
        Err(LoginError::Store(e)) => {
            tracing::error!("login: {e}");
            Err(ConsoleError::Internal)
        }
        Err(LoginError::Refused | LoginError::Locked { .. }) => {
            let page = LoginPage {
                assets: assets::urls(),
                next: &next,
                error: Some("Wrong username or password, or the account is locked for a while."),
                username: &f.username,
            };
            let mut r = view::render(&page)?;
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            Ok(r)
        }
    }
}

fn append_cookie(r: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A form whose only field is the CSRF token (buttons that do one thing).
#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(rename = "_csrf")]
    pub(crate) csrf: Option<String>,
}

async fn logout(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    check_csrf(&viewer, &headers, f.csrf.as_deref())?;
    if let Some(secret) = session::cookie(&headers, session::SESSION_COOKIE) {
        let hash = auth::hash(secret);
        let access = app.access.clone();
        blocking(move || access.delete_session(&hash))
            .await
            .map_err(|_| ConsoleError::Internal)??;
    }
    let mut r = Redirect::to("/login").into_response();
    append_cookie(&mut r, &session::session_cookie("", app.console_secure, 0));
    Ok(r)
}

#[derive(Deserialize)]
struct TenantForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    tenant: String,
}

/// The tenant switcher (MSSP operators): only tenants the user may act in.
async fn switch_tenant(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<TenantForm>,
) -> Result<Response, ConsoleError> {
    check_csrf(&viewer, &headers, f.csrf.as_deref())?;
    if !viewer.tenants.contains(&f.tenant) {
        return Err(ConsoleError::Forbidden(format!(
            "no access to tenant {:?}",
            f.tenant
        )));
    }
    let mut r = Redirect::to("/wallboard").into_response();
    append_cookie(
        &mut r,
        &session::tenant_cookie(&f.tenant, app.console_secure),
    );
    Ok(r)
}

/// A form that changes state: its CSRF token is checked before anything.
pub(crate) fn csrf_ok(
    viewer: &Viewer,
    headers: &HeaderMap,
    field: &Option<String>,
) -> Result<(), ConsoleError> {
    check_csrf(viewer, headers, field.as_deref())
}
