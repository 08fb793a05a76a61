//! The response pages: the approval inbox (what waits for a decision,
//! exactly what it would do, and approve/deny for those who may), runs
//! with their steps, outputs and log (cancel, with or without undoing),
//! and playbooks with their steps, a dry run and a manual start. The same
//! responder calls as `/api/v1/approvals`, `/api/v1/runs` and
//! `/api/v1/playbooks`.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;
use watchfloor_respond::dry::DryStep;
use watchfloor_respond::run::Decision;
use watchfloor_respond::runner::RespondError;
use watchfloor_respond::summary::{self, StepRow};
use watchfloor_respond::StartRun;
use watchfloor_state::{RunFilter, RunRecord};

use super::csrf_ok;
use super::session::{ConsoleError, Viewer};
use super::view::{self, Layout};
use crate::api::common::blocking;
use crate::api::Shared;
use crate::auth::Action;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/approvals", get(approvals_page))
        .route("/runs", get(runs_page))
        .route("/runs/{id}", get(run_page))
        .route("/runs/{id}/answer", post(answer))
        .route("/runs/{id}/cancel", post(cancel))
        .route("/playbooks", get(playbooks_page))
        .route("/playbooks/{id}", get(playbook_page).post(start))
        .route("/phishing", get(phishing_page).post(report_phishing))
}

#[derive(Template)]
#[template(path = "console/phishing.html")]
struct PhishingPage {
    layout: Layout,
    error: Option<String>,
    reported: Option<crate::respond::Reported>,
}

async fn phishing_page(viewer: Viewer) -> Result<Response, ConsoleError> {
    viewer.require(Action::WorkIncidents)?;
    view::render(&PhishingPage {
        layout: Layout::new(&viewer, "Report phishing", "/approvals"),
        error: None,
        reported: None,
    })
}

/// The form's upload: the `.eml` (multipart), checked against the CSRF
/// token sent with it, filed as the API files it.
async fn report_phishing(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    mut form: axum::extract::Multipart,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::WorkIncidents)?;
    let (mut csrf, mut message) = (None, Vec::new());
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ConsoleError::BadRequest(format!("the upload: {e}")))?
    {
        match field.name() {
            Some("_csrf") => csrf = field.text().await.ok(),
            Some("message") => {
                message = field
                    .bytes()
                    .await
                    .map_err(|e| ConsoleError::BadRequest(format!("the message: {e}")))?
                    .to_vec()
            }
            _ => {}
        }
    }
    csrf_ok(&viewer, &headers, &csrf)?;
    let (app2, tenant, reporter) = (
        app.clone(),
        viewer.principal.tenant.clone(),
        viewer.principal.name.clone(),
    );
    let outcome =
        blocking(move || crate::respond::report_phishing(&app2, &tenant, &reporter, &message))
            .await
            .map_err(|_| ConsoleError::Internal)?;
    let (error, reported) = match outcome {
        Ok(r) => (None, Some(r)),
        Err(e) => (Some(e), None),
    };
    view::render(&PhishingPage {
        layout: Layout::new(&viewer, "Report phishing", "/approvals"),
        error,
        reported,
    })
}

impl From<RespondError> for ConsoleError {
    fn from(e: RespondError) -> Self {
        match e {
            RespondError::NoPlaybook(_) | RespondError::NoRun(_) => {
                ConsoleError::NotFound(e.to_string())
            }
            RespondError::NotManual(_) | RespondError::Refused(_) => {
                ConsoleError::Conflict(e.to_string())
            }
            RespondError::Corrupt { .. } | RespondError::State(_) => {
                tracing::error!("console: playbook runs: {e}");
                ConsoleError::Internal
            }
        }
    }
}

/// One open approval as the inbox shows it.
struct Pending {
    run: i64,
    playbook: String,
    incident: Option<i64>,
    message: String,
    shows: Vec<String>,
    deadline_ms: i64,
    deadline: String,
    answers: Vec<String>,
    needed: u32,
    may_answer: bool,
    why_not: String,
}

#[derive(Template)]
#[template(path = "console/approvals.html")]
struct ApprovalsPage {
    layout: Layout,
    pending: Vec<Pending>,
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn pending(app: &Shared, viewer: &Viewer) -> Result<Vec<Pending>, ConsoleError> {
    let who = crate::api::respond::answerer(app, &viewer.principal);
    let tenant = &viewer.principal.tenant;
    let runs = app.responder.list(&RunFilter {
        tenant: Some(tenant.clone()),
        status: Some("waiting_approval".into()),
        limit: 500,
        ..Default::default()
    })?;
    let mut out = Vec::new();
    for run in runs {
        let view = app.responder.view(tenant, run.id)?;
        let Some(approval) = view.approval else {
            continue;
        };
        let request = &approval["request"];
        let deadline_ns = request["deadline_ns"].as_i64().unwrap_or_default();
        let may = app.responder.may_answer(tenant, run.id, &who);
        out.push(Pending {
            run: run.id,
            playbook: run.playbook.clone(),
            incident: run.incident_id,
            message: text(&request["message"]),
            shows: request["shows"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect(),
            deadline_ms: view::epoch_ms(deadline_ns),
            deadline: view::time(deadline_ns),
            answers: approval["answers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| format!("{} ({})", text(&a["by"]), text(&a["decision"])))
                .collect(),
            needed: request["approvers"].as_u64().unwrap_or(1) as u32,
            may_answer: may.is_ok() && viewer.may(Action::WorkIncidents),
            why_not: may.err().unwrap_or_default(),
        });
    }
    Ok(out)
}

async fn approvals_page(
    State(app): State<Shared>,
    viewer: Viewer,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let (app2, v2) = (app.clone(), viewer.clone());
    let pending = blocking(move || pending(&app2, &v2))
        .await
        .map_err(|_| ConsoleError::Internal)??;
    view::render(&ApprovalsPage {
        layout: Layout::new(&viewer, "Approvals", "/approvals"),
        pending,
    })
}

struct RunLine {
    id: i64,
    playbook: String,
    incident: Option<i64>,
    status: String,
    class: &'static str,
    created: String,
    updated: String,
}

fn status_class(status: &str) -> &'static str {
    match status {
        "succeeded" | "approved" => "up",
        "failed" | "timed_out" | "denied" => "down",
        "waiting_approval" | "compensating" => "warn",
        _ => "",
    }
}

fn run_line(r: &RunRecord) -> RunLine {
    RunLine {
        id: r.id,
        playbook: r.playbook.clone(),
        incident: r.incident_id,
        status: r.status.clone(),
        class: status_class(&r.status),
        created: view::time(r.created_ns),
        updated: view::time(r.updated_ns),
    }
}

#[derive(Template)]
#[template(path = "console/runs.html")]
struct RunsPage {
    layout: Layout,
    status: String,
    statuses: Vec<&'static str>,
    runs: Vec<RunLine>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RunsParams {
    status: String,
    incident: Option<i64>,
}

const STATUSES: [&str; 9] = [
    "running",
    "waiting_approval",
    "waiting",
    "compensating",
    "succeeded",
    "failed",
    "denied",
    "timed_out",
    "cancelled",
];

async fn runs_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(p): Query<RunsParams>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let filter = RunFilter {
        tenant: Some(viewer.principal.tenant.clone()),
        incident_id: p.incident,
        status: (!p.status.is_empty()).then(|| p.status.clone()),
        unfinished: false,
        limit: 200,
    };
    let responder = app.responder.clone();
    let runs = blocking(move || responder.list(&filter))
        .await
        .map_err(|_| ConsoleError::Internal)??;
    view::render(&RunsPage {
        layout: Layout::new(&viewer, "Runs", "/approvals"),
        status: p.status,
        statuses: STATUSES.to_vec(),
        runs: runs.iter().map(run_line).collect(),
    })
}

struct LogLine {
    seq: i64,
    time: String,
    kind: String,
    json: String,
}

struct StepLine {
    row: StepRow,
    class: &'static str,
    started: String,
    inputs: String,
    output: String,
}

#[derive(Template)]
#[template(path = "console/run.html")]
struct RunPage {
    layout: Layout,
    run: RunLine,
    finished: bool,
    error: Option<String>,
    pending: Option<Pending>,
    steps: Vec<StepLine>,
    log: Vec<LogLine>,
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

async fn run_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let (app2, v2) = (app.clone(), viewer.clone());
    let (view, pending) = blocking(move || -> Result<_, ConsoleError> {
        let view = app2.responder.view(&v2.principal.tenant, id)?;
        let pending = pending(&app2, &v2)?.into_iter().find(|p| p.run == id);
        Ok((view, pending))
    })
    .await
    .map_err(|_| ConsoleError::Internal)??;
    let steps = summary::steps(&view.log)
        .into_iter()
        .map(|row| StepLine {
            class: status_class(&row.status),
            started: view::time(row.started_ns),
            inputs: if row.inputs.is_empty() {
                String::new()
            } else {
                pretty(&Value::Array(row.inputs.clone()))
            },
            output: row.output.as_ref().map(pretty).unwrap_or_default(),
            row,
        })
        .collect();
    let log = view
        .log
        .iter()
        .map(|e| LogLine {
            seq: e.seq,
            time: view::time(e.time_ns),
            kind: text(&e.body["type"]),
            json: pretty(&e.body),
        })
        .collect();
    view::render(&RunPage {
        layout: Layout::new(&viewer, format!("Run {id}"), "/approvals"),
        run: run_line(&view.record),
        finished: view.record.finished,
        error: view.error.clone(),
        pending,
        steps,
        log,
    })
}

#[derive(Deserialize)]
struct AnswerForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    decision: Decision,
    #[serde(default)]
    comment: String,
    /// Where to go after: the inbox or the run's page.
    #[serde(default)]
    back: String,
}

async fn answer(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<AnswerForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    viewer.require(Action::WorkIncidents)?;
    let app2 = app.clone();
    let v2 = viewer.clone();
    blocking(move || {
        let who = crate::api::respond::answerer(&app2, &v2.principal);
        app2.responder.answer(
            &v2.principal.tenant,
            id,
            &who,
            f.decision,
            &f.comment,
            "console",
        )
    })
    .await
    .map_err(|_| ConsoleError::Internal)??;
    let back = if f.back == "run" {
        format!("/runs/{id}")
    } else {
        "/approvals".to_string()
    };
    Ok(Redirect::to(&back).into_response())
}

#[derive(Deserialize)]
struct CancelForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    #[serde(default)]
    compensate: bool,
}

async fn cancel(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<CancelForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    viewer.require(Action::WorkIncidents)?;
    let (responder, tenant, by) = (
        app.responder.clone(),
        viewer.principal.tenant.clone(),
        viewer.principal.name.clone(),
    );
    blocking(move || responder.cancel(&tenant, id, &by, f.compensate))
        .await
        .map_err(|_| ConsoleError::Internal)??;
    Ok(Redirect::to(&format!("/runs/{id}")).into_response())
}

struct PlaybookLine {
    id: String,
    title: String,
    trigger: String,
    steps: usize,
    source: String,
}

#[derive(Template)]
#[template(path = "console/playbooks.html")]
struct PlaybooksPage {
    layout: Layout,
    playbooks: Vec<PlaybookLine>,
    rejected: Vec<(String, Vec<String>)>,
}

fn trigger_text(p: &watchfloor_respond::Playbook) -> String {
    let t = &p.trigger;
    let mut parts: Vec<String> = Vec::new();
    parts.extend(
        t.incident_types
            .iter()
            .map(|k| format!("incident type {k}")),
    );
    parts.extend(t.rules.iter().map(|r| format!("rule {r}")));
    parts.extend(t.tags.iter().map(|g| format!("tag {g}")));
    if t.manual {
        parts.push("by hand".into());
    }
    parts.join(", ")
}

async fn playbooks_page(
    State(app): State<Shared>,
    viewer: Viewer,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let library = app.responder.library();
    let playbooks = library
        .visible(&viewer.principal.tenant)
        .into_iter()
        .map(|(p, source)| PlaybookLine {
            id: p.id.clone(),
            title: p.title.clone(),
            trigger: trigger_text(p),
            steps: p.steps.len(),
            source,
        })
        .collect();
    let own = format!("api:{}/", viewer.principal.tenant);
    let rejected = library
        .rejected
        .iter()
        .filter(|r| !r.source.starts_with("api:") || r.source.starts_with(&own))
        .map(|r| (r.source.clone(), r.problems.clone()))
        .collect();
    view::render(&PlaybooksPage {
        layout: Layout::new(&viewer, "Playbooks", "/approvals"),
        playbooks,
        rejected,
    })
}

struct StepSpec {
    id: String,
    kind: String,
    what: String,
    flow: String,
}

#[derive(Template)]
#[template(path = "console/playbook.html")]
struct PlaybookPage {
    layout: Layout,
    id: String,
    title: String,
    description: String,
    trigger: String,
    manual: bool,
    steps: Vec<StepSpec>,
    incident: String,
    params: String,
    dry: Option<Vec<DryStep>>,
    error: Option<String>,
    document: String,
}

fn step_spec(s: &watchfloor_respond::playbook::Step) -> StepSpec {
    let (kind, what) = match (&s.action, &s.approval, &s.wait) {
        (Some(a), _, _) => ("action", a.clone()),
        (_, Some(a), _) => (
            "approval",
            format!(
                "{} of {}{}",
                a.approvers,
                if a.roles.is_empty() {
                    "any working role".into()
                } else {
                    a.roles.join(", ")
                },
                if a.teams.is_empty() {
                    String::new()
                } else {
                    format!(" in {}", a.teams.join(", "))
                }
            ),
        ),
        (_, _, Some(w)) => ("wait", w.clone()),
        _ => ("?", String::new()),
    };
    let mut flow = Vec::new();
    for (label, target) in [
        ("next", &s.next),
        ("approved", &s.approved),
        ("denied", &s.denied),
        ("on error", &s.on_error),
        ("undo", &s.compensate),
    ] {
        if let Some(t) = target {
            flow.push(format!("{label} → {t}"));
        }
    }
    if let Some(c) = &s.condition {
        flow.push(format!("if {c}"));
    }
    if let Some(f) = &s.for_each {
        flow.push(format!("for each {f}"));
    }
    StepSpec {
        id: s.id.clone(),
        kind: kind.into(),
        what,
        flow: flow.join(" · "),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DryParams {
    incident: String,
    params: String,
    dry: Option<String>,
}

/// `NAME=VALUE` lines (values read as YAML scalars).
fn parse_params(text: &str) -> Result<serde_json::Map<String, Value>, String> {
    let mut out = serde_json::Map::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("{line:?}: write parameters as NAME=VALUE, one a line"))?;
        let typed = serde_yaml::from_str::<Value>(v.trim())
            .ok()
            .filter(|t| !t.is_object() && !t.is_array())
            .unwrap_or_else(|| Value::String(v.trim().into()));
        out.insert(k.trim().to_string(), typed);
    }
    Ok(out)
}

fn parse_incident(text: &str) -> Result<Option<i64>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse()
        .map(Some)
        .map_err(|_| format!("incident {t:?}: a number"))
}

/// What a run of the form's values starts with (incident context included).
fn start_for(
    app: &Shared,
    viewer: &Viewer,
    id: &str,
    incident: &str,
    params: &str,
) -> Result<StartRun, String> {
    let incident_id = parse_incident(incident)?;
    let params = parse_params(params)?;
    let tenant = &viewer.principal.tenant;
    let context = match incident_id {
        None => serde_json::json!({}),
        Some(i) => {
            let incident = app.incidents.get(tenant, i).map_err(|e| e.to_string())?;
            crate::respond::incident_context(app.state.as_ref(), &incident)
        }
    };
    Ok(StartRun {
        tenant: tenant.clone(),
        playbook: id.to_string(),
        incident_id,
        trigger: "manual".into(),
        started_by: viewer.principal.name.clone(),
        context,
        params,
        dedup_key: None,
    })
}

async fn playbook_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(p): Query<DryParams>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let library = app.responder.library();
    let playbook = library
        .get(&viewer.principal.tenant, &id)
        .ok_or_else(|| ConsoleError::NotFound(format!("no playbook {id:?}")))?
        .clone();
    let (mut dry, mut error) = (None, None);
    if p.dry.is_some() {
        let (app2, v2, id2) = (app.clone(), viewer.clone(), id.clone());
        let (incident, params) = (p.incident.clone(), p.params.clone());
        let result = blocking(move || {
            let start = start_for(&app2, &v2, &id2, &incident, &params)?;
            app2.responder
                .dry_run(&id2, &start)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|_| ConsoleError::Internal)?;
        match result {
            Ok(steps) => dry = Some(steps),
            Err(e) => error = Some(e),
        }
    }
    view::render(&PlaybookPage {
        layout: Layout::new(&viewer, format!("Playbook {id}"), "/approvals"),
        title: playbook.title.clone(),
        description: playbook.description.clone(),
        trigger: trigger_text(&playbook),
        manual: playbook.trigger.manual,
        steps: playbook.steps.iter().map(step_spec).collect(),
        incident: p.incident,
        params: p.params,
        dry,
        error,
        document: serde_yaml::to_string(&playbook).unwrap_or_default(),
        id,
    })
}

#[derive(Deserialize)]
struct StartForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    #[serde(default)]
    incident: String,
    #[serde(default)]
    params: String,
}

async fn start(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<StartForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    viewer.require(Action::WorkIncidents)?;
    let (app2, v2) = (app.clone(), viewer.clone());
    let run = blocking(move || -> Result<i64, ConsoleError> {
        let start =
            start_for(&app2, &v2, &id, &f.incident, &f.params).map_err(ConsoleError::BadRequest)?;
        Ok(app2.responder.start(start)?.0)
    })
    .await
    .map_err(|_| ConsoleError::Internal)??;
    Ok(Redirect::to(&format!("/runs/{run}")).into_response())
}
