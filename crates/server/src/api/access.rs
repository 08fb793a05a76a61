//! Logins and who may log in: `/api/v1/session` (password login and
//! logout), `/api/v1/me`, `/api/v1/users`, `/api/v1/tenants` and
//! `/api/v1/audit`.
//!
//! An admin manages the users of the tenant it acts in; an admin of the
//! provider tenant (the server's `tenant`, an MSSP's own) also creates
//! tenants and gives users access to several of them.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::json;
use watchfloor_model::now_ns;
use watchfloor_state::{AuditFilter, NewUser, StateError, UserRecord};

use crate::api::common::{blocking, time_param, ApiError, Body, Caller};
use crate::api::Shared;
use crate::audit::AuditSlot;
use crate::auth::{self, Action, LoginError, Role};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/session", post(login).delete(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{id}", patch(update_user))
        .route("/api/v1/tenants", get(list_tenants).post(create_tenant))
        .route("/api/v1/audit", get(list_audit))
}

fn duplicate_is_conflict(e: StateError) -> ApiError {
    match e {
        StateError::Duplicate(what) => {
            ApiError::new(StatusCode::CONFLICT, format!("{what} already exists"))
        }
        other => other.into(),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    username: String,
    password: String,
}

/// Password login: answers a session token (`wfs_...`, 12 hours) to send as
/// `Authorization: Bearer`. Every failure is the same 401.
async fn login(
    State(app): State<Shared>,
    slot: Option<Extension<AuditSlot>>,
    Body(l): Body<LoginRequest>,
) -> Result<Response, ApiError> {
    let slot = slot.map(|Extension(s)| s);
    if let Some(slot) = &slot {
        slot.set_actor(&format!("user:{}", l.username), "");
    }
    let access = app.access.clone();
    let result =
        blocking(move || auth::login(access.as_ref(), &l.username, &l.password, now_ns())).await?;
    match result {
        Ok((secret, user)) => {
            if let Some(slot) = &slot {
                slot.set_actor(&format!("user:{}", user.username), &user.tenant);
            }
            Ok(Json(json!({
                "token": secret,
                "expires_in_secs": auth::SESSION_LIFETIME_NS / 1_000_000_000,
                "user": user,
            }))
            .into_response())
        }
        Err(LoginError::Store(e)) => {
            tracing::error!("login: {e}");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage error; see the server log",
            ))
        }
        Err(LoginError::Refused | LoginError::Locked { .. }) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong username or password, or the account is locked for a while",
        )),
    }
}

async fn logout(
    State(app): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if caller.user_id.is_none() {
        return Err(ApiError::bad_request(
            "API tokens do not log out; revoke them",
        ));
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim().to_string()))
        .unwrap_or_default();
    let access = app.access.clone();
    blocking(move || access.delete_session(&auth::hash(&presented))).await??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn me(caller: Caller) -> Json<serde_json::Value> {
    Json(json!({
        "actor": caller.actor,
        "name": caller.name,
        "role": caller.role.as_str(),
        "tenant": caller.tenant,
        "home_tenant": caller.home_tenant,
    }))
}

fn is_provider_admin(app: &Shared, caller: &Caller) -> bool {
    caller.role == Role::Admin && caller.home_tenant == app.provider_tenant
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserParams {
    /// Every tenant's users (provider admins only).
    all: Option<bool>,
}

async fn list_users(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<UserParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageUsers)?;
    let all = p.all.unwrap_or(false);
    if all && !is_provider_admin(&app, &caller) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only admins of the provider tenant see every tenant's users",
        ));
    }
    let tenant = (!all).then(|| caller.tenant.clone());
    let access = app.access.clone();
    let users = blocking(move || access.list_users(tenant.as_deref())).await??;
    Ok(Json(json!({ "users": users })).into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) role: String,
    pub(crate) display_name: Option<String>,
    pub(crate) email: Option<String>,
    /// Home tenant; the caller's tenant by default.
    pub(crate) tenant: Option<String>,
    /// Further tenants the user may act in.
    #[serde(default)]
    pub(crate) tenants: Vec<String>,
}

fn valid_name(what: &str, name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what}: 1 to 64 letters, digits, '-', '_', '.' or '@'"
        )))
    }
}

/// Checks that the caller may place a user in these tenants.
fn check_tenants(
    app: &Shared,
    caller: &Caller,
    home: &str,
    extra: &[String],
) -> Result<(), ApiError> {
    let foreign = std::iter::once(home)
        .chain(extra.iter().map(String::as_str))
        .any(|t| t != caller.tenant);
    if foreign && !is_provider_admin(app, caller) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only admins of the provider tenant place users in other tenants",
        ));
    }
    for t in std::iter::once(home).chain(extra.iter().map(String::as_str)) {
        valid_name("tenant", t)?;
    }
    Ok(())
}

async fn create_user(
    State(app): State<Shared>,
    caller: Caller,
    Body(u): Body<CreateUser>,
) -> Result<Response, ApiError> {
    let user = add_user(&app, &caller, u).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// Creates a user as `caller` may (the API and the console's admin page).
pub(crate) async fn add_user(
    app: &Shared,
    caller: &Caller,
    u: CreateUser,
) -> Result<UserRecord, ApiError> {
    caller.require(Action::ManageUsers)?;
    valid_name("username", &u.username)?;
    if Role::parse(&u.role).is_none() {
        return Err(ApiError::bad_request(format!(
            "role: one of {}",
            Role::ALL.join(", ")
        )));
    }
    let home = u.tenant.clone().unwrap_or_else(|| caller.tenant.clone());
    check_tenants(app, caller, &home, &u.tenants)?;
    let access = app.access.clone();
    blocking(move || {
        let password_hash = auth::hash_password(&u.password).map_err(ApiError::bad_request)?;
        access
            .create_user(&NewUser {
                display_name: u.display_name.unwrap_or_else(|| u.username.clone()),
                username: u.username,
                email: u.email,
                role: u.role,
                tenant: home,
                tenants: u.tenants,
                password_hash,
            })
            .map_err(duplicate_is_conflict)
    })
    .await?
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateUser {
    role: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    tenants: Option<Vec<String>>,
    disabled: Option<bool>,
    password: Option<String>,
    /// Lifts a lock after failed logins.
    unlock: Option<bool>,
}

async fn update_user(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(u): Body<UpdateUser>,
) -> Result<Response, ApiError> {
    let own = caller.user_id == Some(id);
    // Anyone may change their own password; everything else is an admin's.
    let only_password = u.password.is_some()
        && u.role.is_none()
        && u.tenants.is_none()
        && u.disabled.is_none()
        && u.unlock.is_none();
    if !(own && only_password) {
        caller.require(Action::ManageUsers)?;
    }
    if let Some(r) = &u.role {
        if Role::parse(r).is_none() {
            return Err(ApiError::bad_request(format!(
                "role: one of {}",
                Role::ALL.join(", ")
            )));
        }
    }
    let access = app.access.clone();
    let mut user = blocking(move || access.get_user(id))
        .await??
        .filter(|user| user.tenant == caller.tenant || is_provider_admin(&app, &caller))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("user {id} not found")))?;
    if let Some(t) = &u.tenants {
        check_tenants(&app, &caller, &user.tenant, t)?;
    }
    apply_user_changes(&mut user, &u);
    let access = app.access.clone();
    let password = u.password.clone();
    let end_sessions = u.disabled == Some(true) || password.is_some();
    let user = blocking(move || -> Result<UserRecord, ApiError> {
        if let Some(p) = password {
            let hash = auth::hash_password(&p).map_err(ApiError::bad_request)?;
            access.set_password(user.id, &hash)?;
        }
        access.update_user(&user)?;
        if end_sessions {
            access.delete_sessions_of(user.id)?;
        }
        Ok(user)
    })
    .await??;
    Ok(Json(user).into_response())
}

fn apply_user_changes(user: &mut UserRecord, u: &UpdateUser) {
    if let Some(r) = &u.role {
        user.role.clone_from(r);
    }
    if let Some(d) = &u.display_name {
        user.display_name.clone_from(d);
    }
    if let Some(e) = &u.email {
        user.email = (!e.is_empty()).then(|| e.clone());
    }
    if let Some(t) = &u.tenants {
        user.tenants.clone_from(t);
    }
    if let Some(d) = u.disabled {
        user.disabled = d;
    }
    if u.unlock == Some(true) {
        user.failed_logins = 0;
        user.locked_until_ns = None;
    }
}

async fn list_tenants(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::ManageUsers)?;
    let access = app.access.clone();
    let mut tenants = blocking(move || access.list_tenants()).await??;
    if !is_provider_admin(&app, &caller) {
        tenants.retain(|t| t.name == caller.tenant);
    }
    Ok(Json(json!({ "provider": app.provider_tenant, "tenants": tenants })).into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenant {
    name: String,
    display_name: Option<String>,
}

async fn create_tenant(
    State(app): State<Shared>,
    caller: Caller,
    Body(t): Body<CreateTenant>,
) -> Result<Response, ApiError> {
    if !is_provider_admin(&app, &caller) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only admins of the provider tenant create tenants",
        ));
    }
    valid_name("name", &t.name)?;
    let access = app.access.clone();
    let record = blocking(move || {
        let display = t.display_name.unwrap_or_else(|| t.name.clone());
        access
            .create_tenant(&t.name, &display)
            .map_err(duplicate_is_conflict)
    })
    .await??;
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditParams {
    actor: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_audit(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::ManageUsers)?;
    let limit = p.limit.unwrap_or(100).clamp(1, 10_000);
    let filter = AuditFilter {
        tenant: caller.tenant.clone(),
        actor: p.actor,
        since_ns: time_param("since", p.since.as_deref())?,
        limit,
        before_id: p
            .cursor
            .map(|c| {
                c.parse()
                    .map_err(|_| ApiError::bad_request("invalid cursor"))
            })
            .transpose()?,
    };
    let access = app.access.clone();
    let records = blocking(move || access.list_audit(&filter)).await??;
    let next = (records.len() == limit)
        .then(|| records.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(json!({ "audit": records, "next": next })).into_response())
}
