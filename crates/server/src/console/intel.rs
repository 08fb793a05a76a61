//! The intel page: the indicators the tenant sees (filtered, paged), what
//! they say about a value, the sources they came from, imports (which
//! start retro-hunts) and the hunts' figures, and blocklist downloads. The
//! same domain calls as `/api/v1/intel/...`.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::Value;
use watchfloor_intel::{Kind, SHARED};
use watchfloor_model::now_ns;

use super::csrf_ok;
use super::session::{ConsoleError, Viewer};
use super::view::{self, Layout};
use crate::api::intel::{
    export_response, import_indicators, list_page, ExportParams, Format as ImportFormat,
    ImportParams, Scope,
};
use crate::api::Shared;
use crate::auth::{Action, Role};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/intel", get(page))
        .route("/intel/import", post(import))
        .route("/intel/export", get(export))
}

const PAGE: usize = 50;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Filters {
    kind: String,
    q: String,
    /// `tenant`, `shared` or empty (both).
    scope: String,
    live: String,
    offset: usize,
    /// A value to explain.
    value: String,
}

struct Row {
    kind: String,
    value: String,
    scope: String,
    source: String,
    confidence: String,
    score: String,
    tlp: String,
    labels: String,
    last_seen: String,
    sightings: String,
    live: bool,
}

struct SourceRow {
    scope: String,
    source: String,
    indicators: usize,
    sightings: u64,
    last_seen: String,
}

struct HuntRow {
    id: u64,
    state: String,
    scope: String,
    source: String,
    indicators: usize,
    events: u64,
    parsed: u64,
    alerts: usize,
    queued: String,
    error: String,
}

struct Explained {
    value: String,
    outcome: &'static str,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/intel.html")]
struct IntelPage {
    layout: Layout,
    flash: Option<String>,
    explained: Option<Explained>,
    rows: Vec<Row>,
    total: usize,
    prev: Option<String>,
    next: Option<String>,
    kinds: Vec<&'static str>,
    kind: String,
    q: String,
    scope: String,
    live: bool,
    value: String,
    sources: Vec<SourceRow>,
    feeds: Vec<crate::feeds::FeedStatus>,
    hunts: Vec<HuntRow>,
    may_import: bool,
    may_shared: bool,
}

impl IntelPage {
    fn kind(&self, f: &crate::feeds::FeedStatus) -> String {
        serde_json::to_value(f.kind)
            .map(|v| text(&v))
            .unwrap_or_default()
    }

    /// An RFC 3339 time as the console writes times.
    fn when(&self, t: &Option<String>) -> String {
        t.as_deref().map(console_time).unwrap_or_default()
    }
}

/// `2026-12-03T11:00:55.449458Z` as `2026-12-03 11:00:55`.
fn console_time(rfc3339: &str) -> String {
    rfc3339
        .replace('T', " ")
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn row(v: &Value) -> Row {
    Row {
        kind: text(&v["kind"]),
        value: text(&v["value"]),
        scope: text(&v["scope"]),
        source: text(&v["source"]),
        confidence: text(&v["confidence"]),
        score: text(&v["score"]),
        tlp: text(&v["tlp"]),
        labels: text(&v["labels"]),
        last_seen: console_time(&text(&v["last_seen"])),
        sightings: text(&v["sightings"]),
        live: v["live"] == true,
    }
}

fn scope_filter(scope: &str) -> Result<Option<Scope>, ConsoleError> {
    match scope {
        "" => Ok(None),
        "tenant" => Ok(Some(Scope::Tenant)),
        "shared" => Ok(Some(Scope::Shared)),
        other => Err(ConsoleError::BadRequest(format!(
            "scope {other:?}: tenant or shared"
        ))),
    }
}

fn explain(app: &Shared, tenant: &str, value: &str) -> Option<Explained> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let Some(kind) = watchfloor_intel::indicator::guess_kind(value) else {
        return Some(Explained {
            value: value.to_string(),
            outcome: "unknown",
            detail: "not an address, domain, URL, hash or e-mail address".into(),
        });
    };
    let ex = app.intel.explain(tenant, kind, value, now_ns());
    let detail = match (&ex.indicator, &ex.warninglist) {
        (_, Some(list)) => format!("held, but on the warninglist \"{list}\""),
        (Some(ind), None) => format!(
            "{} {} from {} (confidence {}, score {:.1}, TLP {})",
            ind.kind,
            ind.value,
            ind.source,
            ind.confidence,
            ex.score.unwrap_or_default(),
            ind.tlp
        ),
        (None, None) => format!("no {kind} indicator holds it"),
    };
    Some(Explained {
        value: value.to_string(),
        outcome: ex.outcome,
        detail,
    })
}

fn hunt_rows(app: &Shared, viewer: &Viewer) -> Vec<HuntRow> {
    let p = &viewer.principal;
    let mut scopes = vec![p.tenant.as_str()];
    if p.home_tenant == app.provider_tenant {
        scopes.push(SHARED);
    }
    app.retro
        .list(&scopes)
        .into_iter()
        .take(20)
        .map(|h| HuntRow {
            id: h.id,
            state: serde_json::to_value(h.state)
                .map(|v| text(&v))
                .unwrap_or_default(),
            scope: if h.scope == SHARED {
                "shared".into()
            } else {
                h.scope
            },
            source: h.source,
            indicators: h.report.indicators,
            events: h.report.events,
            parsed: h.report.parsed,
            alerts: h.report.alerts,
            queued: view::time(h.queued_ns),
            error: h.error.unwrap_or_default(),
        })
        .collect()
}

async fn page(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(f): Query<Filters>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    render(&app, &viewer, f, None).await
}

async fn render(
    app: &Shared,
    viewer: &Viewer,
    f: Filters,
    flash: Option<String>,
) -> Result<Response, ConsoleError> {
    let kind = (!f.kind.is_empty())
        .then(|| f.kind.parse::<Kind>())
        .transpose()
        .map_err(ConsoleError::BadRequest)?;
    let scope = scope_filter(&f.scope)?;
    let live = f.live == "true";
    let tenant = viewer.principal.tenant.clone();
    let (intel, q, offset) = (app.intel.clone(), f.q.clone(), f.offset);
    let (total, page, sources) = crate::api::common::blocking(move || {
        let (total, page) = list_page(&intel, &tenant, kind, Some(&q), scope, live, (offset, PAGE));
        (total, page, intel.sources(&tenant))
    })
    .await
    .map_err(|_| ConsoleError::Internal)?;
    let link = |offset: usize| {
        let offset = offset.to_string();
        let live = if live { "true" } else { "" };
        format!(
            "/intel{}",
            view::query_string(&[
                ("kind", &f.kind),
                ("q", &f.q),
                ("scope", &f.scope),
                ("live", live),
                ("offset", &offset)
            ])
        )
    };
    let p = &viewer.principal;
    view::render(&IntelPage {
        layout: Layout::new(viewer, "Threat intel", "/intel"),
        flash,
        explained: explain(app, &p.tenant, &f.value),
        rows: page.iter().map(row).collect(),
        total,
        prev: (f.offset > 0).then(|| link(f.offset.saturating_sub(PAGE))),
        next: (f.offset + PAGE < total).then(|| link(f.offset + PAGE)),
        kinds: Kind::ALL.iter().map(|k| k.as_str()).collect(),
        kind: f.kind,
        q: f.q,
        scope: f.scope,
        live,
        value: f.value,
        sources: sources
            .into_iter()
            .map(|s| SourceRow {
                scope: if s.scope == SHARED {
                    "shared".into()
                } else {
                    s.scope
                },
                source: s.source,
                indicators: s.indicators,
                sightings: s.sightings,
                last_seen: view::time(s.last_seen_ns),
            })
            .collect(),
        feeds: app.feeds.list(&p.tenant),
        hunts: hunt_rows(app, viewer),
        may_import: viewer.may(Action::ManageIntel),
        may_shared: p.role == Role::Admin && p.home_tenant == app.provider_tenant,
    })
}

#[derive(Deserialize)]
struct ImportForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    text: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    tlp: String,
    #[serde(default)]
    labels: String,
    #[serde(default)]
    confidence: String,
    #[serde(default)]
    valid_days: String,
    #[serde(default)]
    scope: String,
}

fn given(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn number<T: std::str::FromStr>(name: &str, s: &str) -> Result<Option<T>, ConsoleError> {
    given(s)
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| ConsoleError::BadRequest(format!("{name}: not a number: {v:?}")))
        })
        .transpose()
}

async fn import(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<ImportForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    viewer.require(Action::ManageIntel)?;
    let format = match f.format.as_str() {
        "" | "auto" => ImportFormat::Auto,
        "stix" => ImportFormat::Stix,
        "text" => ImportFormat::Text,
        other => {
            return Err(ConsoleError::BadRequest(format!(
                "format {other:?}: auto, stix or text"
            )))
        }
    };
    let scope = scope_filter(&f.scope)?.unwrap_or_default();
    let params = ImportParams {
        format: Some(format),
        source: Some(given(&f.source).unwrap_or_else(|| "console".into())),
        scope: Some(scope),
        kind: given(&f.kind),
        confidence: number("confidence", &f.confidence)?,
        tlp: given(&f.tlp),
        labels: given(&f.labels),
        valid_days: number("valid_days", &f.valid_days)?,
        ..ImportParams::default()
    };
    let key = scope.key(&app, &viewer.principal, true)?;
    let outcome = import_indicators(&app, &key, &params, &f.text).await?;
    let mut flash = format!(
        "Imported into {}: {} added, {} merged, {} refused.",
        outcome.scope, outcome.added, outcome.merged, outcome.refused
    );
    if let Some(first) = outcome.problems.first() {
        flash.push_str(&format!(" First refusal: {first}"));
    }
    if let Some(id) = outcome.retro_hunt {
        flash.push_str(&format!(" Retro-hunt #{id} queued over the stored events."));
    }
    render(&app, &viewer, Filters::default(), Some(flash)).await
}

#[derive(Deserialize)]
struct ExportForm {
    format: String,
}

/// A blocklist download, as `GET /api/v1/intel/export` gives it.
async fn export(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(f): Query<ExportForm>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let params = ExportParams {
        format: f.format,
        ..ExportParams::default()
    };
    Ok(export_response(&app, &viewer.principal.tenant, params).await?)
}
