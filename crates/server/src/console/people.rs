//! The people pages: on-call (who is on call now in every schedule, the
//! schedules' rotations, escalation policies, teams and channels) and
//! admin (users, API tokens, tenants, the audit log; create a user,
//! revoke a token). Channel addresses and headers hold secrets: the page
//! shows a channel's name and transport only, and only to roles that
//! manage on-call.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use watchfloor_incident::escalation::{EscalationPolicy, Target};
use watchfloor_incident::notify::{self, Channel, Team};
use watchfloor_incident::oncall::Schedule;
use watchfloor_state::AuditFilter;

use super::queue::name;
use super::session::{ConsoleError, Viewer};
use super::view::{self, Layout};
use super::{csrf_ok, CsrfOnly};
use crate::api::access::{add_user, CreateUser};
use crate::api::common::{blocking, Caller};
use crate::api::tokens::{revoke_tenant_token, tenant_tokens};
use crate::api::Shared;
use crate::auth::Action;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/oncall", get(oncall_page))
        .route("/admin", get(admin_page))
        .route("/admin/users", post(create_user))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
}

pub struct OnCallRow {
    pub schedule: String,
    pub user: String,
    pub source: String,
    pub until: String,
    pub layers: Vec<String>,
}

pub struct PolicyRow {
    pub name: String,
    pub description: String,
    pub steps: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/oncall.html")]
struct OnCallPage {
    layout: Layout,
    now: Vec<OnCallRow>,
    policies: Vec<PolicyRow>,
    teams: Vec<(String, String, String)>,
    channels: Vec<(String, String)>,
    show_channels: bool,
}

fn target_text(t: &Target) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| {
            v.as_object().and_then(|o| {
                o.iter()
                    .next()
                    .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("")))
            })
        })
        .unwrap_or_default()
}

/// A tenant's documents of one kind, decoded; undecodable ones are skipped
/// (the API refuses to store them, so only a hand-edited database has any).
fn documents<T: serde::de::DeserializeOwned>(
    app: &Shared,
    tenant: &str,
    kind: &str,
) -> Result<Vec<(String, T)>, ConsoleError> {
    Ok(app
        .documents
        .list_documents(tenant, kind)?
        .into_iter()
        .filter_map(|d| Some((d.name.clone(), serde_json::from_value(d.body).ok()?)))
        .collect())
}

async fn oncall_page(State(app): State<Shared>, viewer: Viewer) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let tenant = viewer.principal.tenant.clone();
    let show_channels = viewer.may(Action::ManageOnCall);
    let now = app.incidents.now();
    let (schedules, policies, teams, channels) = blocking(move || -> Result<_, ConsoleError> {
        Ok((
            documents::<Schedule>(&app, &tenant, notify::SCHEDULE)?,
            documents::<EscalationPolicy>(&app, &tenant, notify::POLICY)?,
            documents::<Team>(&app, &tenant, notify::TEAM)?,
            documents::<Channel>(&app, &tenant, notify::CHANNEL)?,
        ))
    })
    .await
    .map_err(|_| ConsoleError::Internal)??;
    let rows = schedules
        .iter()
        .map(|(n, s)| {
            let who = s.on_call_at(now);
            OnCallRow {
                schedule: n.clone(),
                user: who
                    .as_ref()
                    .map(|w| w.user.clone())
                    .unwrap_or_else(|| "nobody".into()),
                source: who.map(|w| w.source).unwrap_or_default(),
                until: s.next_change_after(now).map(view::time).unwrap_or_default(),
                layers: s
                    .layers
                    .iter()
                    .map(|l| {
                        format!(
                            "{}: {} every {} h",
                            l.name,
                            l.users.join(", "),
                            l.shift_hours
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    view::render(&OnCallPage {
        layout: Layout::new(&viewer, "On-call", "/oncall"),
        now: rows,
        policies: policies
            .iter()
            .map(|(n, p)| PolicyRow {
                name: n.clone(),
                description: p.description.clone(),
                steps: p
                    .steps
                    .iter()
                    .map(|s| {
                        let targets: Vec<String> = s.targets.iter().map(target_text).collect();
                        format!(
                            "{} (then {} min)",
                            targets.join(", "),
                            s.escalate_after_minutes
                        )
                    })
                    .collect(),
            })
            .collect(),
        teams: teams
            .iter()
            .map(|(n, t)| (n.clone(), t.members.join(", "), t.channels.join(", ")))
            .collect(),
        channels: channels
            .iter()
            .map(|(n, c)| (n.clone(), name(&c.transport)))
            .collect(),
        show_channels,
    })
}

pub struct UserRow {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub tenant: String,
    pub also: String,
    pub disabled: bool,
    pub locked: bool,
}

pub struct AuditRow {
    pub time: String,
    pub actor: String,
    pub action: String,
    pub status: u16,
    pub remote: String,
}

#[derive(Template)]
#[template(path = "console/admin.html")]
struct AdminPage {
    layout: Layout,
    users: Vec<UserRow>,
    tokens: Vec<watchfloor_state::TokenRecord>,
    tenants: Vec<(String, String)>,
    audit: Vec<AuditRow>,
    roles: &'static [&'static str],
    flash: Option<String>,
}

impl AdminPage {
    fn created(&self, ns: &i64) -> String {
        view::time(*ns)
    }
}

async fn admin_page(State(app): State<Shared>, viewer: Viewer) -> Result<Response, ConsoleError> {
    render_admin(app, &viewer, None).await
}

async fn render_admin(
    app: Shared,
    viewer: &Viewer,
    flash: Option<String>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::ManageUsers)?;
    let tenant = viewer.principal.tenant.clone();
    let provider = viewer.principal.home_tenant == app.provider_tenant;
    let now = app.incidents.now();
    let (users, tokens, tenants, audit) = blocking(move || -> Result<_, ConsoleError> {
        let users = app.access.list_users(Some(&tenant))?;
        let tokens = tenant_tokens(app.access.as_ref(), &tenant)?;
        let tenants = if provider {
            app.access.list_tenants()?
        } else {
            Vec::new()
        };
        let audit = app.access.list_audit(&AuditFilter {
            tenant: tenant.clone(),
            limit: 100,
            ..Default::default()
        })?;
        Ok((users, tokens, tenants, audit))
    })
    .await
    .map_err(|_| ConsoleError::Internal)??;
    view::render(&AdminPage {
        layout: Layout::new(viewer, "Admin", "/admin"),
        users: users
            .into_iter()
            .map(|u| UserRow {
                locked: u.locked_until_ns.is_some_and(|t| t > now),
                also: u.tenants.join(", "),
                username: u.username,
                display_name: u.display_name,
                role: u.role,
                tenant: u.tenant,
                disabled: u.disabled,
            })
            .collect(),
        tokens,
        tenants: tenants
            .into_iter()
            .map(|t| (t.name, t.display_name))
            .collect(),
        audit: audit
            .into_iter()
            .map(|a| AuditRow {
                time: view::time(a.time_ns),
                actor: a.actor,
                action: format!("{} {}", a.method, a.path),
                status: a.status,
                remote: a.remote.unwrap_or_default(),
            })
            .collect(),
        roles: &crate::auth::Role::ALL,
        flash,
    })
}

#[derive(Deserialize)]
struct UserForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    username: String,
    password: String,
    role: String,
    #[serde(default)]
    display_name: String,
}

async fn create_user(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<UserForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    let caller = Caller(viewer.principal.clone());
    let new = CreateUser {
        username: f.username.clone(),
        password: f.password,
        role: f.role,
        display_name: (!f.display_name.is_empty()).then_some(f.display_name),
        email: None,
        tenant: None,
        tenants: Vec::new(),
    };
    let flash = match add_user(&app, &caller, new).await {
        Ok(u) => format!("User {} created.", u.username),
        Err(e) => {
            let (status, message) = e.parts();
            if status == axum::http::StatusCode::FORBIDDEN {
                return Err(ConsoleError::Forbidden(message));
            }
            format!("User not created: {message}")
        }
    };
    render_admin(app, &viewer, Some(flash)).await
}

async fn revoke_token(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    viewer.require(Action::ManageTokens)?;
    let tenant = viewer.principal.tenant.clone();
    let revoked = blocking(move || revoke_tenant_token(app.access.as_ref(), &tenant, id))
        .await
        .map_err(|_| ConsoleError::Internal)??;
    match revoked {
        None => Err(ConsoleError::NotFound(format!("token {id}"))),
        Some(_) => Ok(Redirect::to("/admin").into_response()),
    }
}
