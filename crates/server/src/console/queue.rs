//! The incident queue and the incident page: list, filter, sort and page
//! on the server; live rows (server-sent events re-fetch them, and the
//! browser keeps the selection and the scroll); bulk acknowledge and
//! assign; and on one incident: status and phase, priority from impact
//! and urgency, RACI tasks, alerts with links to their events,
//! observables, comments, the timeline with its hash-chain check,
//! compliance clocks and report drafts, merge and split.

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use watchfloor_incident::report::{known_report, report_markdown};
use watchfloor_incident::{IncidentPatch, NewObservable, NewTask, TaskPatch};
use watchfloor_model::incident::{
    Domain, Grade, Incident, Phase, Regime, Status, TaskStatus, TimelineEntry,
};
use watchfloor_state::{IncidentFilter, IncidentSort};

use super::csrf_ok;
use super::session::{ConsoleError, Viewer};
use super::view::{self, Layout};
use crate::api::common::blocking;
use crate::api::Shared;
use crate::auth::Action;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/incidents", get(queue_page))
        .route("/incidents/rows", get(queue_rows))
        .route("/incidents/bulk", post(bulk))
        .route("/incidents/{id}", get(incident_page))
        .route("/incidents/{id}/update", post(update))
        .route("/incidents/{id}/comment", post(comment))
        .route("/incidents/{id}/tasks", post(add_task))
        .route("/incidents/{id}/tasks/{task}", post(task_status))
        .route("/incidents/{id}/observables", post(add_observable))
        .route("/incidents/{id}/review", post(review))
        .route(
            "/incidents/{id}/observables/{observable}",
            post(classify_observable),
        )
        .route("/incidents/{id}/merge", post(merge))
        .route("/incidents/{id}/split", post(split))
        .route("/incidents/{id}/reports/{regime}/{report}", get(report))
}

pub const STATUSES: [&str; 6] = [
    "new",
    "acknowledged",
    "in_progress",
    "on_hold",
    "resolved",
    "closed",
];
const PAGE: usize = 50;

/// A serde name (`in_progress`, `amber_strict`) of an enum value.
pub fn name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn parse<T: for<'de> Deserialize<'de>>(what: &str, text: &str) -> Result<T, ConsoleError> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| ConsoleError::BadRequest(format!("{what}: unknown value {text:?}")))
}

/// An optional form value: empty means unchanged.
fn parse_opt<T: for<'de> Deserialize<'de>>(
    what: &str,
    text: &str,
) -> Result<Option<T>, ConsoleError> {
    (!text.is_empty()).then(|| parse(what, text)).transpose()
}

#[derive(Deserialize, Default, Clone)]
pub struct QueueParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: usize,
}

impl QueueParams {
    fn query(&self, page: usize) -> String {
        view::query_string(&[
            ("status", &self.status),
            ("domain", &self.domain),
            ("priority", &self.priority),
            ("assignee", &self.assignee),
            ("sort", &self.sort),
            (
                "page",
                &if page > 0 {
                    page.to_string()
                } else {
                    String::new()
                },
            ),
        ])
    }

    fn filter(&self, tenant: &str) -> Result<IncidentFilter, ConsoleError> {
        let mut filter = IncidentFilter {
            tenant: tenant.to_string(),
            sort: match self.sort.as_str() {
                "" => IncidentSort::Priority,
                s => IncidentSort::parse(s).ok_or_else(|| {
                    ConsoleError::BadRequest(
                        "sort: -updated, updated, -created, created or priority".into(),
                    )
                })?,
            },
            limit: PAGE + 1,
            offset: self.page * PAGE,
            ..Default::default()
        };
        match self.status.as_str() {
            "" | "open" => filter.open_only = true,
            "all" => {}
            s => filter.statuses = vec![parse::<Status>("status", s)?],
        }
        if !self.domain.is_empty() {
            filter.domain = Some(parse::<Domain>("domain", &self.domain)?);
        }
        if !self.priority.is_empty() {
            let p: u8 = self
                .priority
                .parse()
                .ok()
                .filter(|p| (1..=5).contains(p))
                .ok_or_else(|| ConsoleError::BadRequest("priority: 1 to 5".into()))?;
            filter.max_priority = Some(p);
        }
        if !self.assignee.is_empty() {
            filter.assignee = Some(self.assignee.clone());
        }
        Ok(filter)
    }
}

/// One queue row.
pub struct Row {
    pub id: i64,
    pub title: String,
    pub priority: u8,
    pub severity: String,
    pub status: String,
    pub domain: String,
    pub kind: String,
    pub assignee: String,
    pub alerts: usize,
    pub updated: String,
    pub sla: Option<(i64, String, bool)>,
}

fn row(i: &Incident, now: i64) -> Row {
    let due = i
        .next_sla_target()
        .filter(|_| i.status.is_open())
        .map(|(_, due)| due);
    Row {
        id: i.id,
        title: i.title.clone(),
        priority: i.priority,
        severity: name(&i.severity),
        status: i.status.as_str().to_string(),
        domain: i.domain.as_str().to_string(),
        kind: i.kind.clone(),
        assignee: i.assignee.clone().unwrap_or_default(),
        alerts: i.alerts.len(),
        updated: view::time(i.updated_ns),
        sla: due.map(|d| (view::epoch_ms(d), view::span(d - now), d < now)),
    }
}

#[derive(Template)]
#[template(path = "console/queue.html")]
struct QueuePage {
    layout: Layout,
    rows: Vec<Row>,
    params: QueueParams,
    rows_url: String,
    back: String,
    may_work: bool,
    prev: Option<String>,
    next: Option<String>,
    statuses: &'static [&'static str],
    flash: Option<String>,
}

#[derive(Template)]
#[template(path = "console/queue_rows.html")]
struct QueueRows {
    rows: Vec<Row>,
    may_work: bool,
}

async fn load_rows(
    app: &Shared,
    viewer: &Viewer,
    p: &QueueParams,
) -> Result<(Vec<Row>, bool), ConsoleError> {
    viewer.require(Action::Read)?;
    let filter = p.filter(&viewer.principal.tenant)?;
    let app = app.clone();
    let (list, now) = blocking(move || (app.incidents.list(&filter), app.incidents.now()))
        .await
        .map_err(|_| ConsoleError::Internal)?;
    let mut list = list?;
    let more = list.len() > PAGE;
    list.truncate(PAGE);
    Ok((list.iter().map(|i| row(i, now)).collect(), more))
}

async fn queue_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(p): Query<QueueParams>,
) -> Result<Response, ConsoleError> {
    let (rows, more) = load_rows(&app, &viewer, &p).await?;
    let page = QueuePage {
        layout: Layout::new(&viewer, "Incidents", "/incidents"),
        rows,
        rows_url: format!("/incidents/rows{}", p.query(p.page)),
        back: format!("/incidents{}", p.query(p.page)),
        may_work: viewer.may(Action::WorkIncidents),
        prev: (p.page > 0).then(|| format!("/incidents{}", p.query(p.page - 1))),
        next: more.then(|| format!("/incidents{}", p.query(p.page + 1))),
        params: p,
        statuses: &STATUSES,
        flash: None,
    };
    view::render(&page)
}

async fn queue_rows(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(p): Query<QueueParams>,
) -> Result<Response, ConsoleError> {
    let (rows, _) = load_rows(&app, &viewer, &p).await?;
    view::render(&QueueRows {
        rows,
        may_work: viewer.may(Action::WorkIncidents),
    })
}

/// Bulk actions post the selected ids as repeated `ids` fields, which a
/// form decoder into a struct cannot take; they are read by hand.
async fn bulk(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ConsoleError> {
    let pairs = form_pairs(&body);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    csrf_ok(&viewer, &headers, &get("_csrf"))?;
    viewer.require(Action::WorkIncidents)?;
    let ids: Vec<i64> = pairs
        .iter()
        .filter(|(n, _)| n == "ids")
        .map(|(_, v)| {
            v.parse()
                .map_err(|_| ConsoleError::BadRequest(format!("ids: {v:?}")))
        })
        .collect::<Result<_, _>>()?;
    if ids.is_empty() {
        return Err(ConsoleError::BadRequest(
            "select at least one incident".into(),
        ));
    }
    let action = get("action").unwrap_or_default();
    let assignee = get("assignee").unwrap_or_default();
    let (tenant, actor) = (
        viewer.principal.tenant.clone(),
        viewer.principal.actor.clone(),
    );
    blocking(move || {
        for id in ids {
            let current = app.incidents.get(&tenant, id)?;
            let mut patch = IncidentPatch {
                version: current.version,
                ..Default::default()
            };
            match action.as_str() {
                "acknowledge" if current.status == Status::New => {
                    patch.status = Some(Status::Acknowledged)
                }
                "acknowledge" => continue,
                "assign" if !assignee.is_empty() => patch.assignee = Some(assignee.clone()),
                other => {
                    return Err(ConsoleError::BadRequest(format!(
                        "action {other:?}: acknowledge, or assign with an assignee"
                    )))
                }
            }
            app.incidents.update(&tenant, id, &actor, patch)?;
        }
        Ok(())
    })
    .await
    .map_err(|_| ConsoleError::Internal)??;
    Ok(Redirect::to(
        &get("back")
            .filter(|b| b.starts_with("/incidents"))
            .unwrap_or_else(|| "/incidents".into()),
    )
    .into_response())
}

fn form_pairs(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub struct TimelineLine {
    pub seq: i64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

pub struct DeadlineLine {
    pub regime: String,
    pub report: String,
    pub due: Option<(i64, String, bool)>,
    pub basis: String,
    pub submitted: Option<String>,
}

#[derive(Template)]
#[template(path = "console/incident.html")]
struct IncidentPage {
    layout: Layout,
    i: Incident,
    severity: String,
    created: String,
    updated: String,
    timeline: Vec<TimelineLine>,
    chain: Result<usize, String>,
    deadlines: Vec<DeadlineLine>,
    statuses: &'static [&'static str],
    phases: Vec<&'static str>,
    grades: Vec<&'static str>,
    current_phase: String,
    impact: String,
    urgency: String,
    may_compliance: bool,
    tasks_open: usize,
    defense: watchfloor_incident::defense::Defense,
    /// For a DDoS: the victim's traffic and the attack's sources.
    flow_view: Option<FlowView>,
}

/// An incident's flow view: what its DDoS signature alert saw, and the
/// victim's traffic charted from the flow metrics.
pub(crate) struct FlowView {
    victim: String,
    signature: String,
    rates: String,
    chart: Option<String>,
    attackers: Vec<(String, String)>,
    protocols: Vec<(String, String)>,
}

/// The flow view of the incident's first DDoS signature alert, if any.
fn flow_view(app: &Shared, i: &Incident, now_ns: i64) -> Option<FlowView> {
    let first = i
        .alerts
        .iter()
        .find(|a| a.rule.starts_with("DDoS on") || a.dedup_key.contains("signature:ddos"))?;
    let alert =
        crate::api::alerts::alert_by_id(app.state.as_ref(), &i.tenant, first.alert_id).ok()??;
    let text = |k: &str| {
        alert
            .fields
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let list = |k: &str, name: &str, n: &str| -> Vec<(String, String)> {
        alert
            .fields
            .get(k)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .map(|o| {
                (
                    o[name].as_str().unwrap_or_default().to_string(),
                    o[n].to_string(),
                )
            })
            .collect()
    };
    let number = |k: &str| alert.fields.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
    let query = text("chart.query");
    let chart = (!query.is_empty()).then(|| {
        // Ten minutes before the attack to now, in some 240 steps (an
        // attack of seconds keeps its shape; a long one its trend).
        let (from, to) = (
            first.first_ns / 1_000_000 - 600_000,
            first.last_ns.max(now_ns) / 1_000_000,
        );
        let step = ((to - from) / 240 / 1000 * 1000).clamp(1_000, 300_000);
        let start = from / step * step;
        let end = (to / step + 1) * step;
        let store = app.metrics.tenant(&i.tenant).ok()?;
        match app
            .metrics_engine
            .range(store.as_ref(), &query, start, end, step)
        {
            Ok(watchfloor_tsdb::promql::QueryValue::Matrix(series)) if !series.is_empty() => {
                Some(super::telemetry::chart_spec(&series, start, end, step, 3))
            }
            _ => None,
        }
    });
    Some(FlowView {
        victim: text("victim"),
        signature: text("signature"),
        rates: format!(
            "{:.0} packets/s, {:.1} Mb/s, {} sources",
            number("packets_per_second"),
            number("bits_per_second") / 1e6,
            number("sources")
        ),
        chart: chart.flatten(),
        attackers: list("attacker_weight", "ip", "count"),
        protocols: list("protocols", "protocol", "bytes"),
    })
}

impl IncidentPage {
    fn task_status(&self, s: &TaskStatus) -> String {
        name(s)
    }
    fn tlp(&self, o: &watchfloor_model::incident::Observable) -> String {
        name(&o.tlp)
    }
    fn pap(&self, o: &watchfloor_model::incident::Observable) -> String {
        name(&o.pap)
    }
    fn level(&self, a: &watchfloor_model::incident::IncidentAlert) -> String {
        name(&a.level)
    }
    fn when(&self, ns: &i64) -> String {
        view::time(*ns)
    }
    /// The search that shows an alert's events around its time.
    fn evidence(&self, a: &watchfloor_model::incident::IncidentAlert) -> String {
        format!("/alerts/{}", a.alert_id)
    }
}

async fn incident_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let tenant = viewer.principal.tenant.clone();
    let (i, entries, chain, now, flows) = blocking(move || {
        let i = app.incidents.get(&tenant, id)?;
        let entries = app.incidents.timeline(&tenant, id)?;
        let chain = app.incidents.verify(&tenant, id)?;
        let now = app.incidents.now();
        let flows = flow_view(&app, &i, now);
        Ok::<_, watchfloor_incident::IncidentError>((i, entries, chain, now, flows))
    })
    .await
    .map_err(|_| ConsoleError::Internal)??;
    let page = IncidentPage {
        layout: Layout::new(&viewer, format!("#{} {}", i.id, i.title), "/incidents"),
        severity: name(&i.severity),
        created: view::time(i.created_ns),
        updated: view::time(i.updated_ns),
        timeline: entries.iter().rev().map(timeline_line).collect(),
        chain: chain.map_err(|b| format!("broken at entry {}: {}", b.seq, b.reason)),
        deadlines: i
            .compliance
            .deadlines
            .iter()
            .map(|d| DeadlineLine {
                regime: name(&d.regime),
                report: d.report.clone(),
                due: d
                    .due_ns
                    .map(|due| (view::epoch_ms(due), view::span(due - now), due < now)),
                basis: d.basis.clone(),
                submitted: d.submitted_ns.map(view::time),
            })
            .collect(),
        statuses: &STATUSES,
        phases: Phase::ALL.iter().map(|p| p.as_str()).collect(),
        grades: Grade::ALL.iter().map(|g| g.as_str()).collect(),
        current_phase: i.phase.map(|p| p.as_str().to_string()).unwrap_or_default(),
        impact: i.impact.as_str().to_string(),
        urgency: i.urgency.as_str().to_string(),
        may_compliance: viewer.may(Action::Compliance),
        tasks_open: i
            .tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Open)
            .count(),
        flow_view: flows,
        defense: watchfloor_incident::defense::defense(&i),
        i,
    };
    view::render(&page)
}

fn timeline_line(e: &TimelineEntry) -> TimelineLine {
    let detail = match &e.detail {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Object(m) if m.is_empty() => String::new(),
        other => other.to_string(),
    };
    TimelineLine {
        seq: e.seq,
        time: view::time(e.time_ns),
        actor: e.actor.clone(),
        action: e.action.clone(),
        detail: detail.chars().take(400).collect(),
    }
}

/// Runs a change on one incident as the viewer, then back to its page.
async fn change(
    app: Shared,
    viewer: &Viewer,
    action: Action,
    f: impl FnOnce(&Shared, &str, &str) -> watchfloor_incident::Result<Incident> + Send + 'static,
) -> Result<Response, ConsoleError> {
    viewer.require(action)?;
    let (tenant, actor) = (
        viewer.principal.tenant.clone(),
        viewer.principal.actor.clone(),
    );
    let result = blocking(move || f(&app, &tenant, &actor))
        .await
        .map_err(|_| ConsoleError::Internal)?;
    let i = result?;
    Ok(Redirect::to(&format!("/incidents/{}", i.id)).into_response())
}

#[derive(Deserialize)]
struct UpdateForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    version: i64,
    #[serde(default)]
    status: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    impact: String,
    #[serde(default)]
    urgency: String,
}

async fn update(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<UpdateForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    let patch = IncidentPatch {
        version: f.version,
        status: parse_opt("status", &f.status)?,
        phase: parse_opt("phase", &f.phase)?,
        assignee: f.assignee.filter(|a| !a.is_empty()),
        impact: parse_opt("impact", &f.impact)?,
        urgency: parse_opt("urgency", &f.urgency)?,
        ..Default::default()
    };
    change(
        app,
        &viewer,
        Action::WorkIncidents,
        move |app, tenant, actor| {
            let current = app.incidents.get(tenant, id)?;
            app.incidents
                .update(tenant, id, actor, only_changes(&current, patch))
        },
    )
    .await
}

/// The form posts every field; the incident service refuses a move to the
/// phase it is in, and the timeline should record only real changes.
fn only_changes(current: &Incident, mut p: IncidentPatch) -> IncidentPatch {
    p.status = p.status.filter(|s| *s != current.status);
    p.phase = p.phase.filter(|ph| Some(*ph) != current.phase);
    p.impact = p.impact.filter(|g| *g != current.impact);
    p.urgency = p.urgency.filter(|g| *g != current.urgency);
    p.assignee = p.assignee.filter(|a| Some(a) != current.assignee.as_ref());
    p
}

#[derive(Deserialize)]
struct TextForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    text: String,
}

async fn comment(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<TextForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    change(
        app,
        &viewer,
        Action::WorkIncidents,
        move |app, tenant, actor| app.incidents.comment(tenant, id, actor, &f.text),
    )
    .await
}

#[derive(Deserialize)]
struct TaskForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    title: String,
    team: String,
    #[serde(default)]
    assignee: String,
}

async fn add_task(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<TaskForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    let task = NewTask {
        title: f.title,
        team: f.team,
        assignee: (!f.assignee.is_empty()).then_some(f.assignee),
    };
    change(
        app,
        &viewer,
        Action::WorkIncidents,
        move |app, tenant, actor| app.incidents.add_task(tenant, id, actor, task),
    )
    .await
}

#[derive(Deserialize)]
struct TaskStatusForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    status: String,
}

async fn task_status(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((id, task)): Path<(i64, u32)>,
    Form(f): Form<TaskStatusForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    let patch = TaskPatch {
        status: Some(parse("status", &f.status)?),
        assignee: None,
    };
    change(
        app,
        &viewer,
        Action::WorkIncidents,
        move |app, tenant, actor| app.incidents.update_task(tenant, id, task, actor, patch),
    )
    .await
}

#[derive(Deserialize)]
struct ObservableForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    kind: String,
    value: String,
    tlp: String,
    pap: String,
}

async fn add_observable(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<ObservableForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    let new: NewObservable = serde_json::from_value(serde_json::json!({
        "kind": f.kind, "value": f.value, "tlp": f.tlp, "pap": f.pap,
    }))
    .map_err(|e| ConsoleError::BadRequest(format!("observable: {e}")))?;
    change(
        app,
        &viewer,
        Action::WorkIncidents,
        move |app, tenant, actor| app.incidents.add_observable(tenant, id, actor, new),
    )
    .await
}

#[derive(Deserialize)]
struct ClassifyForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    tlp: String,
    pap: String,
    /// Present (`true`) when the box is ticked.
    #[serde(default)]
    ioc: Option<String>,
}

/// An observable's TLP, PAP and IOC flag, set from its row.
async fn classify_observable(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((id, observable)): Path<(i64, u32)>,
    Form(f): Form<ClassifyForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    let patch: watchfloor_incident::ObservablePatch = serde_json::from_value(serde_json::json!({
        "tlp": f.tlp, "pap": f.pap, "ioc": f.ioc.is_some(),
    }))
    .map_err(|e| ConsoleError::BadRequest(format!("observable: {e}")))?;
    change(
        app,
        &viewer,
        Action::WorkIncidents,
        move |app, tenant, actor| {
            app.incidents
                .classify_observable(tenant, id, observable, actor, patch)
        },
    )
    .await
}

#[derive(Deserialize)]
struct ReviewForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    version: i64,
    /// `lessons`, `add` (a control) or `done` (control `index`).
    action: String,
    #[serde(default)]
    lessons_learned: String,
    #[serde(default)]
    control: String,
    #[serde(default)]
    mitigation: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    due: String,
    #[serde(default)]
    index: usize,
}

/// The review as the form changes it.
fn reviewed(
    mut review: watchfloor_model::incident::Review,
    f: ReviewForm,
) -> Result<watchfloor_model::incident::Review, ConsoleError> {
    let given = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    match f.action.as_str() {
        "lessons" => review.lessons_learned = f.lessons_learned.trim().to_string(),
        "add" => review
            .controls
            .push(watchfloor_model::incident::ReviewControl {
                control: f.control.trim().to_string(),
                mitigation: given(f.mitigation),
                owner: given(f.owner),
                due: given(f.due),
                done: false,
            }),
        "done" => match review.controls.get_mut(f.index) {
            Some(c) => c.done = true,
            None => return Err(ConsoleError::BadRequest(format!("no control {}", f.index))),
        },
        other => return Err(ConsoleError::BadRequest(format!("review action {other:?}"))),
    }
    Ok(review)
}

/// The post-incident review: lessons learned, controls added and done.
async fn review(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<ReviewForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    let tenant = viewer.principal.tenant.clone();
    let shared = app.clone();
    let current = blocking(move || shared.incidents.get(&tenant, id))
        .await
        .map_err(|_| ConsoleError::Internal)??;
    let patch = IncidentPatch {
        version: f.version,
        review: Some(reviewed(current.review, f)?),
        ..Default::default()
    };
    change(
        app,
        &viewer,
        Action::WorkIncidents,
        move |app, tenant, actor| app.incidents.update(tenant, id, actor, patch),
    )
    .await
}

#[derive(Deserialize)]
struct MergeForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    into: i64,
    reason: String,
}

async fn merge(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<MergeForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    change(
        app,
        &viewer,
        Action::WorkIncidents,
        move |app, tenant, actor| app.incidents.merge(tenant, id, f.into, actor, &f.reason),
    )
    .await
}

#[derive(Deserialize)]
struct SplitForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    /// Alert ids, separated by commas or spaces.
    alerts: String,
    reason: String,
}

async fn split(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<SplitForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    let alerts: Vec<i64> = f
        .alerts
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| ConsoleError::BadRequest(format!("alerts: {s:?} is not an id")))
        })
        .collect::<Result<_, _>>()?;
    change(
        app,
        &viewer,
        Action::WorkIncidents,
        move |app, tenant, actor| app.incidents.split(tenant, id, &alerts, actor, &f.reason),
    )
    .await
}

/// A report draft as Markdown, to download.
async fn report(
    State(app): State<Shared>,
    viewer: Viewer,
    Path((id, regime, report)): Path<(i64, String, String)>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let r: Regime = parse("regime", &regime)?;
    if !known_report(r, &report) {
        return Err(ConsoleError::NotFound(format!(
            "{regime} has no report {report:?}"
        )));
    }
    let tenant = viewer.principal.tenant.clone();
    let (i, entries) = blocking(move || {
        Ok::<_, watchfloor_incident::IncidentError>((
            app.incidents.get(&tenant, id)?,
            app.incidents.timeline(&tenant, id)?,
        ))
    })
    .await
    .map_err(|_| ConsoleError::Internal)??;
    if !i.compliance.regimes.contains(&r) {
        return Err(ConsoleError::Conflict(format!(
            "incident {id} is not flagged {regime}"
        )));
    }
    let text = report_markdown(&i, r, &report, &entries);
    let disposition = format!("attachment; filename=\"incident-{id}-{regime}-{report}.md\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/markdown; charset=utf-8".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_keep_repeated_fields() {
        let pairs = form_pairs("ids=1&ids=2&assignee=a+b%40c");
        assert_eq!(pairs[0], ("ids".into(), "1".into()));
        assert_eq!(pairs[1], ("ids".into(), "2".into()));
        assert_eq!(pairs[2], ("assignee".into(), "a b@c".into()));
    }
}
