//! Playbooks and their runs over HTTP: `/api/v1/playbooks` (list, one,
//! validate, reload, dry run, start by hand), `/api/v1/runs` (list, one
//! with its log, answer an approval, cancel with or without undoing) and
//! `/api/v1/approvals` (what waits for the caller's answer).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use watchfloor_respond::run::{Answerer, Decision};
use watchfloor_respond::runner::RespondError;
use watchfloor_respond::StartRun;
use watchfloor_state::RunFilter;

use super::common::{blocking, ApiError, Body, Caller};
use super::Shared;
use crate::auth::Action;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/playbooks", get(list_playbooks))
        .route("/api/v1/playbooks/validate", post(validate))
        .route("/api/v1/playbooks/reload", post(reload))
        .route(
            "/api/v1/playbooks/{id}",
            get(get_playbook).put(put_playbook).delete(delete_playbook),
        )
        .route("/api/v1/playbooks/{id}/dry-run", post(dry_run))
        .route("/api/v1/playbooks/{id}/runs", post(start_run))
        .route("/api/v1/runs", get(list_runs))
        .route("/api/v1/runs/{id}", get(get_run))
        .route("/api/v1/runs/{id}/answer", post(answer))
        .route("/api/v1/runs/{id}/cancel", post(cancel))
        .route("/api/v1/approvals", get(approvals))
        .route("/approve/{token}", get(link_page).post(link_answer))
}

/// The approval an answer link is for, if the link is good and the run
/// still waits at that step: (the claims, the approval's message and what
/// it will do).
fn link_approval(
    app: &Shared,
    token: &str,
) -> Result<(watchfloor_respond::links::Claims, String, Vec<String>), String> {
    let now = watchfloor_model::now_ns();
    let claims = watchfloor_respond::links::verify(&app.respond_link_key, token, now)?;
    let view = app
        .responder
        .view(&claims.tenant, claims.run)
        .map_err(|e| e.to_string())?;
    let approval = view
        .approval
        .filter(|a| a["step"] == claims.step.as_str())
        .ok_or("this approval has been decided; nothing waits for an answer")?;
    let request = &approval["request"];
    let shows = request["shows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect();
    Ok((
        claims,
        request["message"].as_str().unwrap_or_default().to_string(),
        shows,
    ))
}

/// An answer link's page: what waits, and the two buttons (a POST: link
/// previews and scanners that fetch the link answer nothing).
async fn link_page(State(app): State<Shared>, Path(token): Path<String>) -> Response {
    use super::oncall::{escape, page};
    let found = blocking(move || link_approval(&app, &token)).await;
    match found {
        Ok(Ok((claims, message, shows))) => {
            let items: String = shows
                .iter()
                .map(|s| format!("<li><code>{}</code></li>", escape(s)))
                .collect();
            page(
                StatusCode::OK,
                &format!("Run {} needs your answer, {}", claims.run, escape(&claims.user)),
                &format!(
                    "<p>{}</p><p>It will:</p><ul>{items}</ul>\
                     <form method=\"post\"><button type=\"submit\" name=\"decision\" value=\"approve\" style=\"font-size:1.3em\">Approve</button> \
                     <button type=\"submit\" name=\"decision\" value=\"deny\" style=\"font-size:1.3em\">Deny</button></form>",
                    escape(&message)
                ),
            )
        }
        Ok(Err(why)) => page(
            StatusCode::NOT_FOUND,
            "Nothing to answer",
            &format!("<p>{}</p>", escape(&why)),
        ),
        Err(_) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            "<p>Try again.</p>",
        ),
    }
}

#[derive(Deserialize)]
struct LinkAnswer {
    decision: Decision,
}

/// Answers as the link's approver: their role and teams apply as if they
/// had answered in the console.
async fn link_answer(
    State(app): State<Shared>,
    Path(token): Path<String>,
    axum::extract::Form(form): axum::extract::Form<LinkAnswer>,
) -> Response {
    use super::oncall::{escape, page};
    let outcome = blocking(move || -> Result<String, (StatusCode, String)> {
        let (claims, _, _) = link_approval(&app, &token).map_err(|e| (StatusCode::NOT_FOUND, e))?;
        let user = app
            .access
            .find_login(&claims.user)
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map(|(u, _)| u)
            .filter(|u| !u.disabled && u.can_act_in(&claims.tenant))
            .ok_or((
                StatusCode::FORBIDDEN,
                format!("{} may not act here", claims.user),
            ))?;
        let role = crate::auth::Role::parse(&user.role).ok_or((
            StatusCode::FORBIDDEN,
            format!("{} has no working role", claims.user),
        ))?;
        if !role.allows(Action::WorkIncidents) {
            return Err((
                StatusCode::FORBIDDEN,
                format!("the {} role may not answer", role.as_str()),
            ));
        }
        let principal = crate::auth::Principal {
            actor: format!("user:{}", user.username),
            name: user.username.clone(),
            role,
            tenant: claims.tenant.clone(),
            home_tenant: user.tenant.clone(),
            user_id: Some(user.id),
        };
        let who = answerer(&app, &principal);
        app.responder
            .answer(&claims.tenant, claims.run, &who, form.decision, "", "link")
            .map_err(|e| (StatusCode::CONFLICT, e.to_string()))?;
        Ok(format!(
            "Recorded: {} by {}.",
            match form.decision {
                Decision::Approve => "approved",
                Decision::Deny => "denied",
            },
            user.username
        ))
    })
    .await;
    match outcome {
        Ok(Ok(text)) => page(
            StatusCode::OK,
            "Thank you",
            &format!("<p>{}</p>", escape(&text)),
        ),
        Ok(Err((status, why))) => page(status, "Not recorded", &format!("<p>{}</p>", escape(&why))),
        Err(_) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            "<p>Try again.</p>",
        ),
    }
}

impl From<RespondError> for ApiError {
    fn from(e: RespondError) -> Self {
        let status = match &e {
            RespondError::NoPlaybook(_) | RespondError::NoRun(_) => StatusCode::NOT_FOUND,
            RespondError::NotManual(_) | RespondError::Refused(_) => StatusCode::CONFLICT,
            RespondError::Corrupt { .. } | RespondError::State(_) => {
                return ApiError::internal("playbook runs", &e)
            }
        };
        ApiError::new(status, e.to_string())
    }
}

/// A JSON body that may be left out (then every field takes its default).
fn optional_body<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("body: {e}")))
}

fn summary(p: &watchfloor_respond::Playbook, source: &str) -> Value {
    json!({
        "id": p.id, "title": p.title, "description": p.description,
        "trigger": p.trigger, "steps": p.steps.len(), "source": source,
    })
}

async fn list_playbooks(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let library = app.responder.library();
    let playbooks: Vec<Value> = library
        .visible(&caller.tenant)
        .into_iter()
        .map(|(p, source)| summary(p, &source))
        .collect();
    let rejected: Vec<&watchfloor_respond::playbook::Rejection> = library
        .rejected
        .iter()
        .filter(|r| {
            !r.source.starts_with("api:")
                || r.source.starts_with(&format!("api:{}/", caller.tenant))
        })
        .collect();
    Ok(Json(json!({"playbooks": playbooks, "rejected": rejected})).into_response())
}

async fn get_playbook(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let library = app.responder.library();
    let (playbook, source) = library
        .visible(&caller.tenant)
        .into_iter()
        .find(|(p, _)| p.id == id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no playbook {id:?}")))?;
    Ok(Json(json!({"playbook": playbook, "source": source})).into_response())
}

/// Stores a tenant's own playbook (YAML body; its `id` must be the path's)
/// after checking it; it takes the place of a shared one of that id for
/// this tenant. Every problem answers 400 at once.
async fn put_playbook(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    text: String,
) -> Result<Response, ApiError> {
    caller.require(Action::ReloadRules)?;
    let playbook = watchfloor_respond::playbook::parse(&text)
        .map_err(|problems| ApiError::bad_request(problems.join("; ")))?;
    if playbook.id != id {
        return Err(ApiError::bad_request(format!(
            "the document's id {:?} is not the path's {id:?}",
            playbook.id
        )));
    }
    let (app2, tenant) = (app.clone(), caller.tenant.clone());
    let body = json!({ "yaml": text });
    let version = blocking(move || {
        app2.documents.put_document(
            &tenant,
            watchfloor_respond::playbook::DOCUMENT_KIND,
            &id,
            &body,
            None,
            watchfloor_model::now_ns(),
        )
    })
    .await??;
    let tenant = caller.tenant.clone();
    app.responder
        .edit_library(|l| l.add_tenant(&tenant, &text))
        .map_err(|problems| ApiError::bad_request(problems.join("; ")))?;
    Ok(
        Json(json!({"id": playbook.id, "version": version, "source": format!("api:{tenant}")}))
            .into_response(),
    )
}

async fn delete_playbook(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Action::ReloadRules)?;
    let (app2, tenant, name) = (app.clone(), caller.tenant.clone(), id.clone());
    let removed = blocking(move || {
        app2.documents
            .delete_document(&tenant, watchfloor_respond::playbook::DOCUMENT_KIND, &name)
    })
    .await??;
    if !removed {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no playbook {id:?} of this tenant (shared ones are changed in their files)"),
        ));
    }
    let tenant = caller.tenant.clone();
    app.responder
        .edit_library(|l| l.remove_tenant(&tenant, &id));
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Checks a playbook document (YAML in the body) without loading it.
async fn validate(caller: Caller, text: String) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let answer = match watchfloor_respond::playbook::parse(&text) {
        Ok(p) => json!({"valid": true, "id": p.id, "problems": []}),
        Err(problems) => json!({"valid": false, "problems": problems}),
    };
    Ok(Json(answer).into_response())
}

/// Reads the playbook directory again (running runs keep the playbook
/// they started with).
async fn reload(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::ReloadRules)?;
    let (dir, app2) = (app.respond_dir.clone(), app.clone());
    let library = blocking(move || {
        crate::respond::load_library(dir.as_deref(), &app2.provider_tenant, app2.state.as_ref())
    })
    .await?;
    let body = json!({"playbooks": library.playbooks.len(), "rejected": library.rejected});
    app.responder.set_library(library);
    Ok(Json(body).into_response())
}

#[derive(Deserialize, schemars::JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    /// The incident the run works on (its alerts and fields are the
    /// context of the expressions).
    incident_id: Option<i64>,
    /// Values for the playbook's `params`.
    #[serde(default)]
    params: serde_json::Map<String, Value>,
}

async fn start_request(
    app: &Shared,
    caller: &Caller,
    id: &str,
    r: RunRequest,
) -> Result<StartRun, ApiError> {
    let context = match r.incident_id {
        None => json!({}),
        Some(incident_id) => {
            let (app2, tenant) = (app.clone(), caller.tenant.clone());
            blocking(move || -> Result<Value, ApiError> {
                let incident = app2.incidents.get(&tenant, incident_id)?;
                Ok(crate::respond::incident_context(
                    app2.state.as_ref(),
                    &incident,
                ))
            })
            .await??
        }
    };
    Ok(StartRun {
        tenant: caller.tenant.clone(),
        playbook: id.to_string(),
        incident_id: r.incident_id,
        trigger: "manual".into(),
        started_by: caller.name.clone(),
        context,
        params: r.params,
        dedup_key: None,
    })
}

async fn dry_run(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let start = start_request(&app, &caller, &id, optional_body(&body)?).await?;
    let steps = app.responder.dry_run(&id, &start)?;
    Ok(Json(json!({"playbook": id, "steps": steps})).into_response())
}

async fn start_run(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    if !app.responder.enabled() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "playbooks are off ([respond] enabled = false)",
        ));
    }
    let start = start_request(&app, &caller, &id, optional_body(&body)?).await?;
    let responder = app.responder.clone();
    let (run, _) = blocking(move || responder.start(start)).await??;
    let view = app.responder.view(&caller.tenant, run)?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunsParams {
    incident: Option<i64>,
    /// `running`, `waiting_approval`, `waiting`, `compensating`,
    /// `succeeded`, `failed`, `denied`, `timed_out`, `cancelled`.
    status: Option<String>,
    limit: Option<usize>,
}

async fn list_runs(
    State(app): State<Shared>,
    caller: Caller,
    Query(p): Query<RunsParams>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let filter = RunFilter {
        tenant: Some(caller.tenant.clone()),
        incident_id: p.incident,
        status: p.status,
        unfinished: false,
        limit: p.limit.unwrap_or(100).clamp(1, 1000),
    };
    let responder = app.responder.clone();
    let runs = blocking(move || responder.list(&filter)).await??;
    Ok(Json(json!({ "runs": runs })).into_response())
}

async fn get_run(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let (responder, tenant) = (app.responder.clone(), caller.tenant.clone());
    let view = blocking(move || responder.view(&tenant, id)).await??;
    Ok(Json(view).into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnswerRequest {
    /// `approve` or `deny`.
    decision: Decision,
    #[serde(default)]
    comment: String,
}

/// Who the caller is to an approval: name, role and the teams whose
/// team document lists them.
pub(crate) fn answerer(app: &Shared, caller: &crate::auth::Principal) -> Answerer {
    let directory =
        watchfloor_incident::notify::Directory::load(app.documents.as_ref(), &caller.tenant)
            .unwrap_or_default();
    let teams = directory
        .teams
        .iter()
        .filter(|(_, t)| t.members.iter().any(|m| m == &caller.name))
        .map(|(name, _)| name.clone())
        .collect();
    Answerer {
        user: caller.name.clone(),
        role: caller.role.as_str().to_string(),
        teams,
        defined_teams: directory.teams.keys().cloned().collect(),
    }
}

async fn answer(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(a): Body<AnswerRequest>,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    let (app2, tenant) = (app.clone(), caller.tenant.clone());
    let who = blocking(move || answerer(&app2, &caller)).await?;
    let responder = app.responder.clone();
    let record =
        blocking(move || responder.answer(&tenant, id, &who, a.decision, &a.comment, "api"))
            .await??;
    Ok(Json(record).into_response())
}

#[derive(Deserialize, schemars::JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct CancelRequest {
    /// Undo what the run did (its steps' `compensate`) before stopping.
    #[serde(default)]
    compensate: bool,
}

async fn cancel(
    State(app): State<Shared>,
    caller: Caller,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    caller.require(Action::WorkIncidents)?;
    let compensate = optional_body::<CancelRequest>(&body)?.compensate;
    let (responder, tenant, by) = (
        app.responder.clone(),
        caller.tenant.clone(),
        caller.name.clone(),
    );
    let record = blocking(move || responder.cancel(&tenant, id, &by, compensate)).await??;
    Ok(Json(record).into_response())
}

/// Runs of the caller's tenant waiting for an approval, each with what it
/// would do and whether the caller may answer.
async fn approvals(State(app): State<Shared>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Action::Read)?;
    let app2 = app.clone();
    let list = blocking(move || -> Result<Vec<Value>, ApiError> {
        let who = answerer(&app2, &caller);
        let runs = app2.responder.list(&RunFilter {
            tenant: Some(caller.tenant.clone()),
            status: Some("waiting_approval".into()),
            limit: 500,
            ..Default::default()
        })?;
        let mut out = Vec::new();
        for run in runs {
            let view = app2.responder.view(&caller.tenant, run.id)?;
            let may = app2.responder.may_answer(&caller.tenant, run.id, &who);
            out.push(json!({
                "run": run, "approval": view.approval,
                "may_answer": may.is_ok() && caller.role.allows(Action::WorkIncidents),
                "why_not": may.err(),
            }));
        }
        Ok(out)
    })
    .await??;
    Ok(Json(json!({ "approvals": list })).into_response())
}
