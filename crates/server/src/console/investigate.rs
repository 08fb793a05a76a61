//! The analyst's pages: alerts (with the events that triggered them),
//! search (query bar, time range, histogram, top values, expandable
//! events), one event, and the rules (loaded, rejected with reasons,
//! reload).

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use watchfloor_model::{Alert, Severity};
use watchfloor_search::{AggregateRequest, Aggregation, EventDoc, SearchRequest};
use watchfloor_state::AlertFilter;

use super::queue::name;
use super::session::{ConsoleError, Viewer};
use super::view::{self, Layout};
use super::{csrf_ok, CsrfOnly};
use crate::api::common::blocking;
use crate::api::Shared;
use crate::auth::Action;
use crate::timeparse::parse_time;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/alerts", get(alerts_page))
        .route("/alerts/{id}", get(alert_page))
        .route("/search", get(search_page))
        .route("/search/counts", get(search_counts))
        .route("/events/{id}", get(event_page))
        .route("/rules", get(rules_page))
        .route("/rules/reload", post(reload_rules))
        .route("/rules/navigator-layer.json", get(coverage_layer))
}

const HOUR_NS: i64 = 3_600_000_000_000;
/// How far before an alert its events are looked for (correlation windows).
const EVIDENCE_WINDOW_NS: i64 = 24 * HOUR_NS;

pub struct AlertRow {
    pub id: i64,
    pub time: String,
    pub level: String,
    pub rule: String,
    pub kind: String,
    pub domain: String,
    pub host: String,
    pub user: String,
    pub events: usize,
}

fn alert_row(a: &Alert) -> AlertRow {
    AlertRow {
        id: a.id,
        time: view::time(a.time_ns),
        level: a.level.as_str().to_string(),
        rule: a.rule_title.clone(),
        kind: name(&a.kind),
        domain: a.domain.as_str().to_string(),
        host: a.host.clone().unwrap_or_default(),
        user: a.user.clone().unwrap_or_default(),
        events: a.event_ids.len(),
    }
}

#[derive(Deserialize, Default)]
struct AlertParams {
    #[serde(default)]
    rule: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    host: String,
    /// The id the page starts below (paging).
    before: Option<i64>,
}

#[derive(Template)]
#[template(path = "console/alerts.html")]
struct AlertsPage {
    layout: Layout,
    rows: Vec<AlertRow>,
    rule: String,
    level: String,
    host: String,
    levels: Vec<&'static str>,
    next: Option<String>,
}

async fn alerts_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(p): Query<AlertParams>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    const PAGE: usize = 100;
    let min_level = (!p.level.is_empty())
        .then(|| p.level.parse::<Severity>())
        .transpose()
        .map_err(|e| ConsoleError::BadRequest(format!("level: {e}")))?;
    let filter = AlertFilter {
        tenant: viewer.principal.tenant.clone(),
        rule: (!p.rule.is_empty()).then(|| p.rule.clone()),
        min_level,
        host: (!p.host.is_empty()).then(|| p.host.clone()),
        limit: PAGE,
        before_id: p.before,
        ..Default::default()
    };
    let state = app.state.clone();
    let alerts = blocking(move || state.list_alerts(&filter))
        .await
        .map_err(|_| ConsoleError::Internal)??;
    let next = (alerts.len() == PAGE).then(|| {
        let last = alerts.last().map(|a| a.id).unwrap_or(0).to_string();
        format!(
            "/alerts{}",
            view::query_string(&[
                ("rule", &p.rule),
                ("level", &p.level),
                ("host", &p.host),
                ("before", &last)
            ])
        )
    });
    view::render(&AlertsPage {
        layout: Layout::new(&viewer, "Alerts", "/alerts"),
        rows: alerts.iter().map(alert_row).collect(),
        levels: Severity::ALL.iter().map(|s| s.as_str()).collect(),
        rule: p.rule,
        level: p.level,
        host: p.host,
        next,
    })
}

/// An event as the pages show it: time, where from, and its fields as
/// pretty JSON for the expandable view.
pub struct EventView {
    pub id: u64,
    pub time: String,
    pub host: String,
    pub source: String,
    pub summary: String,
    pub json: String,
}

fn event_view(e: &EventDoc) -> EventView {
    let summary = e
        .fields
        .get("message")
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| serde_json::Value::Object(e.fields.clone()).to_string());
    EventView {
        id: e.id,
        time: view::time(e.time_ns),
        host: e.host.clone().unwrap_or_default(),
        source: e.source.clone(),
        summary: summary.chars().take(300).collect(),
        json: serde_json::to_string_pretty(e).unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "console/alert.html")]
struct AlertPage {
    layout: Layout,
    a: AlertRow,
    tags: Vec<String>,
    ips: Vec<String>,
    fields: String,
    events: Vec<EventView>,
    missing: usize,
}

async fn alert_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let tenant = viewer.principal.tenant.clone();
    let (alert, events) = blocking(move || -> Result<_, ConsoleError> {
        let alert = crate::api::alerts::alert_by_id(app.state.as_ref(), &tenant, id)?
            .ok_or_else(|| ConsoleError::NotFound(format!("alert {id}")))?;
        let (from, to) = (alert.time_ns - EVIDENCE_WINDOW_NS, alert.time_ns + 1);
        let mut events = Vec::new();
        for eid in alert.event_ids.iter().take(50) {
            if let Some(e) = app.events.event_by_id(&tenant, *eid, from, to)? {
                events.push(e);
            }
        }
        Ok((alert, events))
    })
    .await
    .map_err(|_| ConsoleError::Internal)??;
    let shown = alert.event_ids.len().min(50);
    view::render(&AlertPage {
        layout: Layout::new(&viewer, format!("Alert {}", alert.id), "/alerts"),
        a: alert_row(&alert),
        tags: alert.tags.clone(),
        ips: alert.ips.clone(),
        fields: serde_json::to_string_pretty(&alert.fields).unwrap_or_default(),
        missing: shown - events.len(),
        events: events.iter().map(event_view).collect(),
    })
}

#[derive(Template)]
#[template(path = "console/event.html")]
struct EventPage {
    layout: Layout,
    e: EventView,
}

#[derive(Deserialize)]
struct EventParams {
    /// The event's time (ns), which narrows the lookup.
    at: Option<i64>,
}

async fn event_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<u64>,
    Query(p): Query<EventParams>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let tenant = viewer.principal.tenant.clone();
    let (from, to) = match p.at {
        Some(at) => (at, at.saturating_add(1)),
        None => (i64::MIN, i64::MAX),
    };
    let event = blocking(move || app.events.event_by_id(&tenant, id, from, to))
        .await
        .map_err(|_| ConsoleError::Internal)??
        .ok_or_else(|| ConsoleError::NotFound(format!("event {id}")))?;
    view::render(&EventPage {
        layout: Layout::new(&viewer, format!("Event {id}"), "/search"),
        e: event_view(&event),
    })
}

#[derive(Deserialize, Default)]
struct SearchParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    field: String,
    cursor: Option<String>,
}

pub struct Bar {
    pub start: String,
    pub count: u64,
    pub step: u64,
}

#[derive(Template)]
#[template(path = "console/search.html")]
struct SearchPage {
    layout: Layout,
    q: String,
    from: String,
    to: String,
    field: String,
    ranges: &'static [(&'static str, &'static str)],
    error: Option<String>,
    events: Vec<EventView>,
    next: Option<String>,
    counts_url: String,
}

/// The histogram and top values: a fragment the search page loads after
/// it shows the events, so that the newest matches are on screen at once
/// while every match of the range is counted.
#[derive(Template)]
#[template(path = "console/search_counts.html")]
struct SearchCounts {
    from: String,
    to: String,
    field: String,
    error: Option<String>,
    matched: u64,
    complete: bool,
    interval: String,
    bars: Vec<Bar>,
    chart: String,
    top: Vec<(String, u64, u64, String)>,
    top_missing: u64,
}

const RANGES: &[(&str, &str)] = &[
    ("now-15m", "15 minutes"),
    ("now-1h", "1 hour"),
    ("now-24h", "24 hours"),
    ("now-7d", "7 days"),
    ("now-30d", "30 days"),
];

/// A histogram width that gives 30 to 120 bars over the range.
fn interval_for(span_ns: i64) -> i64 {
    const S: i64 = 1_000_000_000;
    const WIDTHS: [i64; 10] = [
        S,
        10 * S,
        30 * S,
        60 * S,
        300 * S,
        600 * S,
        1800 * S,
        3600 * S,
        3 * 3600 * S,
        86_400 * S,
    ];
    WIDTHS
        .iter()
        .copied()
        .find(|w| span_ns / w <= 120)
        .unwrap_or(86_400 * S)
}

impl SearchParams {
    /// `from` as typed, or the default last hour.
    fn range_start(&self) -> String {
        if self.from.is_empty() {
            "now-1h".to_string()
        } else {
            self.from.clone()
        }
    }

    /// The range in ns, or what is wrong with it.
    fn range(&self, now: i64) -> Result<(i64, i64), String> {
        let from = parse_time(&self.range_start(), now).map_err(|e| format!("time range: {e}"))?;
        let to = if self.to.is_empty() {
            now
        } else {
            parse_time(&self.to, now).map_err(|e| format!("time range: {e}"))?
        };
        if from >= to {
            return Err("the range ends before it starts".into());
        }
        Ok((from, to))
    }

    fn link(&self, path: &str, cursor: &str) -> String {
        format!(
            "{path}{}",
            view::query_string(&[
                ("q", &self.q),
                ("from", &self.range_start()),
                ("to", &self.to),
                ("field", &self.field),
                ("cursor", cursor),
            ])
        )
    }
}

fn search_error(e: watchfloor_search::SearchError) -> Result<String, ConsoleError> {
    match e {
        watchfloor_search::SearchError::Query(e) => Ok(e.to_string()),
        watchfloor_search::SearchError::TooBroad(e) => Ok(e),
        e => Err(e.into()),
    }
}

async fn search_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(p): Query<SearchParams>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let mut page = SearchPage {
        layout: Layout::new(&viewer, "Search", "/search"),
        q: p.q.clone(),
        from: p.range_start(),
        to: p.to.clone(),
        field: p.field.clone(),
        ranges: RANGES,
        error: None,
        events: Vec::new(),
        next: None,
        counts_url: p.link("/search/counts", ""),
    };
    let (from_ns, to_ns) = match p.range(watchfloor_model::now_ns()) {
        Ok(r) => r,
        Err(e) => {
            page.error = Some(e);
            return view::render(&page);
        }
    };
    let search = SearchRequest {
        query: p.q.clone(),
        tenant: viewer.principal.tenant.clone(),
        from_ns: Some(from_ns),
        to_ns: Some(to_ns),
        limit: 50,
        cursor: p.cursor.clone(),
    };
    let events = app.events.clone();
    let found = blocking(move || events.search(&search))
        .await
        .map_err(|_| ConsoleError::Internal)?;
    match found {
        Ok(found) => {
            page.events = found.events.iter().map(event_view).collect();
            page.next = found.next.map(|c| p.link("/search", &c));
        }
        Err(e) => page.error = Some(search_error(e)?),
    }
    view::render(&page)
}

async fn search_counts(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(p): Query<SearchParams>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let mut counts = SearchCounts {
        from: p.range_start(),
        to: p.to.clone(),
        field: p.field.clone(),
        error: None,
        matched: 0,
        complete: true,
        interval: String::new(),
        bars: Vec::new(),
        chart: String::new(),
        top: Vec::new(),
        top_missing: 0,
    };
    let (from_ns, to_ns) = match p.range(watchfloor_model::now_ns()) {
        Ok(r) => r,
        Err(e) => {
            counts.error = Some(e);
            return view::render(&counts);
        }
    };
    let interval = interval_for(to_ns - from_ns);
    let request = AggregateRequest {
        query: p.q.clone(),
        tenant: viewer.principal.tenant.clone(),
        from_ns: Some(from_ns),
        to_ns: Some(to_ns),
        interval_ns: Some(interval),
        top_field: (!p.field.is_empty()).then(|| p.field.clone()),
        top_size: 10,
        max_events: 5_000_000,
        ..Default::default()
    };
    let events = app.events.clone();
    let counted = blocking(move || events.aggregate(&request))
        .await
        .map_err(|_| ConsoleError::Internal)?;
    match counted {
        Ok(a) => fill_counts(&mut counts, &a, interval, (from_ns, to_ns)),
        Err(e) => counts.error = Some(search_error(e)?),
    }
    view::render(&counts)
}

fn fill_counts(c: &mut SearchCounts, a: &Aggregation, interval: i64, range: (i64, i64)) {
    c.matched = a.matched;
    c.complete = a.complete;
    c.interval = view::span(interval);
    let peak = a
        .histogram
        .iter()
        .map(|b| b.count)
        .max()
        .unwrap_or(0)
        .max(1);
    c.bars = a
        .histogram
        .iter()
        .map(|b| Bar {
            start: view::time(b.start_ns),
            count: b.count,
            step: (b.count * 20).div_ceil(peak),
        })
        .collect();
    let chart = serde_json::json!({
        "bars": true,
        "range": [range.0 / 1_000_000_000, range.1 / 1_000_000_000],
        "x": a.histogram.iter().map(|b| b.start_ns / 1_000_000_000).collect::<Vec<_>>(),
        "series": [{"label": "events", "values": a.histogram.iter().map(|b| b.count).collect::<Vec<_>>()}],
    });
    c.chart = chart.to_string();
    if let Some(top) = &a.top {
        let total = a.matched.max(1);
        c.top = top
            .values
            .iter()
            .map(|v| {
                let escaped = v.value.replace('\\', "\\\\").replace('"', "\\\"");
                let q = format!("{}:\"{escaped}\"", top.field);
                (v.value.clone(), v.count, (v.count * 20).div_ceil(total), q)
            })
            .collect();
        c.top_missing = top.missing;
    }
}

/// One loaded rule as the rules page lists it.
pub struct RuleRow {
    pub title: String,
    pub kind: &'static str,
    pub level: String,
    pub logsource: String,
    pub tags: String,
    pub path: String,
}

#[derive(Deserialize, Default)]
struct RulesParams {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: usize,
}

const RULES_PAGE: usize = 100;

/// The loaded rules and correlations whose title, tags or path contain
/// `q` (any case), in load order.
fn rule_rows(set: &watchfloor_sigma::RuleSet, q: &str) -> Vec<RuleRow> {
    let q = q.to_lowercase();
    let row = |meta: &watchfloor_sigma::rule::RuleMeta, kind, logsource: String| RuleRow {
        title: meta.title.clone(),
        kind,
        level: meta
            .level
            .map(|l| l.as_str().to_string())
            .unwrap_or_default(),
        logsource,
        tags: meta.tags.join(" "),
        path: meta.path.clone(),
    };
    let detections = set.rules().iter().filter(|r| r.emit).map(|r| {
        let l = &r.logsource;
        let parts: Vec<&str> = [&l.product, &l.category, &l.service]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .collect();
        row(&r.meta, "detection", parts.join("/"))
    });
    let correlations = set
        .correlations()
        .iter()
        .map(|c| row(&c.meta, "correlation", String::new()));
    detections
        .chain(correlations)
        .filter(|r| {
            q.is_empty()
                || r.title.to_lowercase().contains(&q)
                || r.tags.to_lowercase().contains(&q)
                || r.path.to_lowercase().contains(&q)
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/rules.html")]
struct RulesPage {
    layout: Layout,
    rows: Vec<RuleRow>,
    matching: usize,
    q: String,
    prev: Option<String>,
    next: Option<String>,
    generation: u64,
    files: usize,
    rules: usize,
    correlations: usize,
    filters: usize,
    rejected: Vec<String>,
    flash: Option<String>,
    /// ATT&CK coverage: per tactic (name, covered, total, meter step 0-20).
    tactics: Vec<(String, usize, usize, usize)>,
    techniques_covered: usize,
    techniques_unknown: usize,
}

async fn rules_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(p): Query<RulesParams>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    render_rules(&app, &viewer, p, None)
}

fn render_rules(
    app: &Shared,
    viewer: &Viewer,
    p: RulesParams,
    flash: Option<String>,
) -> Result<Response, ConsoleError> {
    let (generation, set) = app.rules.current();
    let r = set.report();
    let coverage = crate::api::rules::rule_coverage(&set);
    let all = rule_rows(&set, &p.q);
    let matching = all.len();
    let link = |page: usize| {
        let page = page.to_string();
        format!(
            "/rules{}",
            view::query_string(&[("q", &p.q), ("page", &page)])
        )
    };
    view::render(&RulesPage {
        layout: Layout::new(viewer, "Rules", "/rules"),
        rows: all
            .into_iter()
            .skip(p.page * RULES_PAGE)
            .take(RULES_PAGE)
            .collect(),
        matching,
        prev: (p.page > 0).then(|| link(p.page - 1)),
        next: ((p.page + 1) * RULES_PAGE < matching).then(|| link(p.page + 1)),
        q: p.q.clone(),
        generation,
        files: r.files,
        rules: r.rules_loaded,
        correlations: r.correlations_loaded,
        filters: r.filters_loaded,
        rejected: r.rejected.iter().map(|x| x.to_string()).collect(),
        flash,
        tactics: watchfloor_intel::attack::shipped()
            .tactic_coverage(&coverage)
            .into_iter()
            .map(|t| {
                // Any coverage shows as at least one step.
                let step = (t.covered * 20).div_ceil(t.total.max(1));
                (t.tactic.name.clone(), t.covered, t.total, step)
            })
            .collect(),
        techniques_covered: coverage.techniques.len(),
        techniques_unknown: coverage.unresolved.len(),
    })
}

/// The loaded rules' ATT&CK coverage as a Navigator layer file.
async fn coverage_layer(
    State(app): State<Shared>,
    viewer: Viewer,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let (generation, set) = app.rules.current();
    Ok(crate::api::rules::navigator_download(
        &crate::api::rules::rule_coverage(&set),
        generation,
    ))
}

async fn reload_rules(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    viewer.require(Action::ReloadRules)?;
    let rules = app.rules.clone();
    let outcome = blocking(move || rules.reload())
        .await
        .map_err(|_| ConsoleError::Internal)?;
    let flash = match outcome {
        Ok(r) => format!(
            "Reloaded: {} rules, {} rejected.",
            r.rules_loaded,
            r.rejected.len()
        ),
        Err(e) => format!("Reload refused, current rules kept: {e}"),
    };
    render_rules(&app, &viewer, RulesParams::default(), Some(flash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_widths_give_readable_bars() {
        let s = 1_000_000_000;
        assert_eq!(interval_for(15 * 60 * s), 10 * s);
        assert_eq!(interval_for(3600 * s), 30 * s);
        assert_eq!(interval_for(86_400 * s), 1800 * s);
        assert_eq!(interval_for(30 * 86_400 * s), 86_400 * s);
    }
}
