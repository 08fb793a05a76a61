//! On-call and notifications over HTTP: `/api/v1/schedules` (with
//! overrides, "who is on call" and shifts), `/api/v1/oncall`,
//! `/api/v1/escalation-policies`, `/api/v1/teams`, `/api/v1/channels`,
//! `/api/v1/notifications`, and the acknowledge links in messages
//! (`/ack/{secret}`: a page with a button, so link previews do not
//! acknowledge anything).
//!
//! Schedules, policies, teams and channels are tenant documents: `PUT`
//! creates or replaces one (with `If-Match: <version>` it must still be at
//! that version, else 409), every problem answers 400 at once.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use watchfloor_incident::escalation::EscalationPolicy;
use watchfloor_incident::notify::{self, Channel, Team};
use watchfloor_incident::oncall::{Override, Schedule};
use watchfloor_model::format_rfc3339;
use watchfloor_state::{Document, NotificationRecord, StateError};

use crate::api::common::{blocking, time_param, ApiError, Body, Caller};
use crate::api::Shared;
use crate::auth::Action;

/// A kind of tenant document served under `/api/v1/<PATH>`.
trait Doc: DeserializeOwned + Serialize + Send + 'static {
    const KIND: &'static str;
    const PATH: &'static str;
    /// Reading needs this (channels hold webhook secrets).
    const READ: Action;
    /// Writing needs this.
    const WRITE: Action = Action::ManageOnCall;
    fn problems(&self) -> Vec<String>;
}

impl Doc for Schedule {
    const KIND: &'static str = notify::SCHEDULE;
    const PATH: &'static str = "schedules";
    const READ: Action = Action::Read;
    fn problems(&self) -> Vec<String> {
        Schedule::problems(self)
    }
}

impl Doc for EscalationPolicy {
    const KIND: &'static str = notify::POLICY;
    const PATH: &'static str = "escalation-policies";
    const READ: Action = Action::Read;
    fn problems(&self) -> Vec<String> {
        EscalationPolicy::problems(self)
    }
}

impl Doc for Team {
    const KIND: &'static str = notify::TEAM;
    const PATH: &'static str = "teams";
    const READ: Action = Action::Read;
    fn problems(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Doc for watchfloor_monitor::maintenance::MaintenanceWindow {
    const KIND: &'static str = crate::monitoring::MAINTENANCE_DOC;
    const PATH: &'static str = "maintenance";
    const READ: Action = Action::Read;
    const WRITE: Action = Action::ManageChecks;
    fn problems(&self) -> Vec<String> {
        watchfloor_monitor::maintenance::MaintenanceWindow::problems(self)
    }
}

impl Doc for Channel {
    const KIND: &'static str = notify::CHANNEL;
    const PATH: &'static str = "channels";
    const READ: Action = Action::ManageOnCall;
    fn problems(&self) -> Vec<String> {
        Channel::problems(self)
    }
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .merge(doc_routes::<Schedule>())
        .merge(doc_routes::<EscalationPolicy>())
        .merge(doc_routes::<Team>())
        .merge(doc_routes::<Channel>())
        .merge(doc_routes::<
            watchfloor_monitor::maintenance::MaintenanceWindow,
        >())
        .route("/api/v1/schedules/{name}/oncall", get(on_call))
        .route("/api/v1/schedules/{name}/shifts", get(shifts))
        .route("/api/v1/schedules/{name}/overrides", post(add_override))
        .route(
            "/api/v1/schedules/{name}/overrides/{id}",
            delete(remove_override),
        )
        .route("/api/v1/oncall", get(on_call_everywhere))
        .route("/api/v1/notifications", get(notifications))
        .route("/ack/{secret}", get(ack_page).post(acknowledge))
}

fn doc_routes<D: Doc>() -> Router<Shared> {
    Router::new()
        .route(&format!("/api/v1/{}", D::PATH), get(list_docs::<D>))
        .route(
            &format!("/api/v1/{}/{{name}}", D::PATH),
            get(get_doc::<D>).put(put_doc::<D>).delete(delete_doc::<D>),
        )
}

fn valid_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "name: 1 to 64 letters, digits, '-', '_' or '.'",
        ))
    }
}

/// The document as answered: its fields plus name, version and update time.
fn doc_json(d: &Document) -> Value {
    let mut out = d.body.clone();
    if let Some(o) = out.as_object_mut() {
        o.insert("name".into(), json!(d.name));
        o.insert("version".into(), json!(d.version));
        o.insert("updated".into(), json!(format_rfc3339(d.updated_ns)));
    }
    out
}

fn conflict_is_409(e: StateError) -> ApiError {
    match e {
        StateError::Conflict { expected, current } => ApiError::new(
            StatusCode::CONFLICT,
            format!("it is at version {current}, the write was based on version {expected}"),
        ),
        other => other.into(),
    }
}

fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    headers
        .get(header::IF_MATCH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().trim_matches('"').parse().ok())
                .ok_or_else(|| ApiError::bad_request("If-Match: a document version number"))
        })
        .transpose()
}

async fn load<D: Doc>(app: &Shared, tenant: &str, name: &str) -> Result<(Document, D), ApiError> {
    let (documents, t, n) = (app.documents.clone(), tenant.to_string(), name.to_string());
    let doc = blocking(move || documents.get_document(&t, D::KIND, &n))
        .await??
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no {} {name:?}", D::KIND)))?;
    let parsed = serde_json::from_value(doc.body.clone()).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("stored {} {name:?} does not read: {e}", D::KIND),
        )
    })?;
    Ok((doc, parsed))
}

async fn list_docs<D: Doc>(
    State(app): State<Shared>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(D::READ)?;
    let (documents, tenant) = (app.documents.clone(), caller.tenant.clone());
    let docs = blocking(move || documents.list_documents(&tenant, D::KIND)).await??;
    let items: Vec<Value> = docs.iter().map(doc_json).collect();
    Ok(Json(json!({ D::PATH: items })).into_response())
}

async fn get_doc<D: Doc>(
    State(app): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(D::READ)?;
    let (doc, _) = load::<D>(&app, &caller.tenant, &name).await?;
    Ok(Json(doc_json(&doc)).into_response())
}

async fn put_doc<D: Doc>(
    State(app): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(doc): Body<D>,
) -> Result<Response, ApiError> {
    caller.require(D::WRITE)?;
    valid_name(&name)?;
    let problems = doc.problems();
    if !problems.is_empty() {
        return Err(ApiError::bad_request(problems.join("; ")));
    }
    let expected = if_match(&headers)?;
    let body = serde_json::to_value(&doc)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let now = app.incidents.now();
    let (documents, tenant) = (app.documents.clone(), caller.tenant.clone());
    let stored = blocking(move || {
        documents
            .put_document(&tenant, D::KIND, &name, &body, expected, now)
            .and_then(|_| documents.get_document(&tenant, D::KIND, &name))
    })
    .await?
    .map_err(conflict_is_409)?
    .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "written but not found"))?;
    if D::KIND == crate::monitoring::MAINTENANCE_DOC {
        app.monitoring.reload_windows().await;
    }
    let status = if stored.version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(doc_json(&stored))).into_response())
}

async fn delete_doc<D: Doc>(
    State(app): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(D::WRITE)?;
    let (documents, tenant, n) = (app.documents.clone(), caller.tenant.clone(), name.clone());
    if blocking(move || documents.delete_document(&tenant, D::KIND, &n)).await?? {
        if D::KIND == crate::monitoring::MAINTENANCE_DOC {
            app.monitoring.reload_windows().await;
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no {} {name:?}", D::KIND),
        ))
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AtParams {
    at: Option<String>,
}

fn on_call_json(name: &str, s: &Schedule, at: i64) -> Value {
    let who = s.on_call_at(at);
    json!({
        "schedule": name,
        "at": format_rfc3339(at),
        "user": who.as_ref().map(|w| &w.user),
        "source": who.as_ref().map(|w| &w.source),
        "until": s.next_change_after(at).map(format_rfc3339),
    })
}

/// Who is on call in one schedule now (or `?at=`).
async fn on_call(
    State(app): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    Query(p): Query<AtParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let at = time_param("at", p.at.as_deref())?.unwrap_or_else(|| app.incidents.now());
    let (_, schedule) = load::<Schedule>(&app, &caller.tenant, &name).await?;
    Ok(Json(on_call_json(&name, &schedule, at)).into_response())
}

/// Who is on call in every schedule of the tenant.
async fn on_call_everywhere(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<AtParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let at = time_param("at", p.at.as_deref())?.unwrap_or_else(|| app.incidents.now());
    let (documents, tenant) = (app.documents.clone(), caller.tenant.clone());
    let docs = blocking(move || documents.list_documents(&tenant, notify::SCHEDULE)).await??;
    let rows: Vec<Value> = docs
        .iter()
        .filter_map(|d| {
            let s: Schedule = serde_json::from_value(d.body.clone()).ok()?;
            Some(on_call_json(&d.name, &s, at))
        })
        .collect();
    Ok(Json(json!({ "oncall": rows })).into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpanParams {
    from: Option<String>,
    to: Option<String>,
}

/// The shifts of a schedule from `from` (now) to `to` (a week later).
async fn shifts(
    State(app): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    Query(p): Query<SpanParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let from = time_param("from", p.from.as_deref())?.unwrap_or_else(|| app.incidents.now());
    let to = time_param("to", p.to.as_deref())?.unwrap_or(from + 7 * 86_400_000_000_000);
    if to <= from {
        return Err(ApiError::bad_request("to: must be after from"));
    }
    let (_, schedule) = load::<Schedule>(&app, &caller.tenant, &name).await?;
    Ok(Json(json!({ "schedule": name, "shifts": schedule.shifts(from, to) })).into_response())
}

/// Reads a schedule, changes it, writes it at the version read; retried
/// when someone else wrote in between.
async fn change_schedule<T: Send + 'static>(
    app: &Shared,
    tenant: &str,
    name: &str,
    f: impl Fn(&mut Schedule) -> Result<T, ApiError> + Send + Sync + Clone + 'static,
) -> Result<T, ApiError> {
    for _ in 0..8 {
        let (doc, mut schedule) = load::<Schedule>(app, tenant, name).await?;
        let out = f(&mut schedule)?;
        let body = serde_json::to_value(&schedule)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let now = app.incidents.now();
        let (documents, t, n) = (app.documents.clone(), tenant.to_string(), name.to_string());
        let written = blocking(move || {
            documents.put_document(&t, notify::SCHEDULE, &n, &body, Some(doc.version), now)
        })
        .await?;
        match written {
            Ok(_) => return Ok(out),
            Err(StateError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "the schedule is changing too fast; try again",
    ))
}

/// Someone takes (part of) a shift: analysts and engineers may.
async fn add_override(
    State(app): State<Shared>,
    caller: Caller,
    Path(name): Path<String>,
    Body(o): Body<Override>,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    if o.end <= o.start || o.user.trim().is_empty() {
        return Err(ApiError::bad_request(
            "an override needs a user and an end after its start",
        ));
    }
    let forget_before = app.incidents.now() - 90 * 86_400_000_000_000;
    let id = change_schedule(&app, &caller.tenant, &name, move |s| {
        s.forget_overrides_before(forget_before);
        Ok(s.add_override(o.clone()))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "schedule": name, "id": id })),
    )
        .into_response())
}

async fn remove_override(
    State(app): State<Shared>,
    caller: Caller,
    Path((name, id)): Path<(String, u32)>,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    change_schedule(&app, &caller.tenant, &name, move |s| {
        let before = s.overrides.len();
        s.overrides.retain(|o| o.id != id);
        if s.overrides.len() == before {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no override {id}"),
            ));
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotificationParams {
    incident: Option<i64>,
    limit: Option<usize>,
}

/// Replaces the secret of acknowledge links with `(redacted)`.
fn redact_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("/ack/wfa_") {
        out.push_str(&rest[..i + 5]);
        out.push_str("(redacted)");
        let after = &rest[i + 5..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// A queued message as readers see it: no link secrets, no webhook paths
/// or headers (they hold credentials).
fn public_notification(n: &NotificationRecord) -> Value {
    let m = &n.message;
    let target = if m.transport == "email" {
        m.target.clone()
    } else {
        m.target.split('/').take(3).collect::<Vec<_>>().join("/")
    };
    json!({
        "id": n.id, "incident_id": m.incident_id, "recipient": m.recipient,
        "transport": m.transport, "target": target, "subject": m.subject,
        "body": redact_links(&m.body), "state": n.state, "attempts": n.attempts,
        "last_error": n.last_error, "queued": format_rfc3339(m.created_ns),
        "sent": n.sent_ns.map(format_rfc3339),
    })
}

async fn notifications(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<NotificationParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let (outbox, tenant) = (app.outbox.clone(), caller.tenant.clone());
    let list = blocking(move || outbox.list_notifications(&tenant, p.incident, limit)).await??;
    let items: Vec<Value> = list.iter().map(public_notification).collect();
    Ok(Json(json!({ "notifications": items })).into_response())
}

pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\
         <h1>{title}</h1>{body}</body></html>"
    );
    (status, Html(html)).into_response()
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page an acknowledge link opens: what the incident is and a button.
async fn ack_page(State(app): State<Shared>, Path(secret): Path<String>) -> Response {
    let outbox = app.outbox.clone();
    let hash = notify::ack_hash(&secret);
    let link = blocking(move || outbox.find_ack_link(&hash)).await;
    let Ok(Ok(Some(link))) = link else {
        return page(
            StatusCode::NOT_FOUND,
            "Unknown link",
            "<p>This acknowledge link is not known here.</p>",
        );
    };
    let incidents = app.incidents.clone();
    let incident = blocking(move || incidents.get(&link.tenant, link.incident_id)).await;
    let Ok(Ok(i)) = incident else {
        return page(
            StatusCode::NOT_FOUND,
            "Unknown incident",
            "<p>The incident no longer exists.</p>",
        );
    };
    page(
        StatusCode::OK,
        &format!("Incident #{} (P{})", i.id, i.priority),
        &format!(
            "<p>{}</p><p>Status: {}</p><form method=\"post\"><button type=\"submit\" \
             style=\"font-size:1.3em\">Acknowledge</button></form>",
            escape(&i.title),
            i.status.as_str()
        ),
    )
}

/// Acknowledges the incident as the link's recipient. Answers HTML, or
/// JSON to clients that ask for it.
async fn acknowledge(
    State(app): State<Shared>,
    Path(secret): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let incidents = app.incidents.clone();
    let (incident, actor, changed) =
        match blocking(move || incidents.acknowledge_by_link(&secret)).await? {
            Ok(r) => r,
            Err(watchfloor_incident::IncidentError::Invalid(m)) => {
                return Err(ApiError::new(StatusCode::NOT_FOUND, m));
            }
            Err(e) => return Err(e.into()),
        };
    if wants_json {
        return Ok(Json(json!({
            "incident": incident.id, "status": incident.status.as_str(),
            "acknowledged_now": changed, "by": actor,
        }))
        .into_response());
    }
    let text = if changed {
        format!("<p>Acknowledged by {}.</p>", escape(&actor))
    } else {
        format!(
            "<p>Already {}; nothing changed.</p>",
            incident.status.as_str()
        )
    };
    Ok(page(
        StatusCode::OK,
        &format!("Incident #{}", incident.id),
        &text,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_secrets_are_redacted() {
        assert_eq!(
            redact_links("Acknowledge: http://h:1/ack/wfa_AbC-d_9\nmore /ack/wfa_x."),
            "Acknowledge: http://h:1/ack/(redacted)\nmore /ack/(redacted)."
        );
        assert_eq!(redact_links("nothing"), "nothing");
    }
}
