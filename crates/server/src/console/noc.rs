//! The NOC's pages: checks (a status table with latency sparklines, a
//! check's page with its latency chart and state history, create, pause
//! and delete), the topology drawn as a graph coloured by state with the
//! root cause of an outage marked, and the availability report with a CSV
//! export.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use watchfloor_model::CheckSample;
use watchfloor_monitor::topology::{NodeKind, NodeState, Topology};
use watchfloor_monitor::MonitorSpec;

use super::session::{ConsoleError, Viewer};
use super::view::{self, Layout};
use super::{csrf_ok, CsrfOnly};
use crate::api::checks::{
    availability_report, check_results, create_check, pause_check, remove_check,
};
use crate::api::common::blocking;
use crate::api::Shared;
use crate::auth::Action;
use crate::monitoring::Live;
use crate::timeparse::parse_time;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/checks", get(checks_page).post(create))
        .route("/checks/{name}", get(check_page))
        .route("/checks/{name}/pause", post(pause))
        .route("/checks/{name}/delete", post(delete))
        .route("/topology", get(topology_page))
        .route("/availability", get(availability_page))
        .route("/availability.csv", get(availability_csv))
}

const PAGE: usize = 100;
const HOUR_NS: i64 = 3_600_000_000_000;

fn status_name(code: u8) -> &'static str {
    match code {
        0 => "ok",
        1 => "warning",
        2 => "critical",
        _ => "unknown",
    }
}

fn status_class(s: watchfloor_monitor::Status) -> &'static str {
    match s {
        watchfloor_monitor::Status::Ok => "up",
        watchfloor_monitor::Status::Critical => "down",
        _ => "degraded",
    }
}

pub struct CheckRow {
    pub name: String,
    pub kind: String,
    pub target: String,
    pub status: String,
    pub class: &'static str,
    pub since: String,
    pub latency: String,
    pub spark: String,
    pub paused: bool,
    pub from_config: bool,
    pub output: String,
}

fn check_row(l: &Live, samples: &[CheckSample]) -> CheckRow {
    let m = &l.monitor;
    let (status, class, since, output) = match &l.state {
        Some(s) if !m.paused => (
            format!("{:?}", s.hard_status).to_lowercase(),
            status_class(s.hard_status),
            view::time(s.hard_since_ns),
            s.output.clone(),
        ),
        _ if m.paused => ("paused".into(), "paused", String::new(), String::new()),
        _ => ("pending".into(), "unknown", String::new(), String::new()),
    };
    let latencies: Vec<f64> = samples.iter().rev().filter_map(|s| s.latency_ms).collect();
    CheckRow {
        name: m.name.clone(),
        kind: m.check.service().to_ascii_lowercase(),
        target: m.check.describe(),
        status,
        class,
        since,
        latency: l
            .last
            .as_ref()
            .and_then(|o| o.latency_ms)
            .map(|ms| format!("{ms:.1} ms"))
            .unwrap_or_default(),
        spark: view::sparkline(&latencies, 120.0, 24.0),
        paused: m.paused,
        from_config: l.from_config,
        output,
    }
}

#[derive(Deserialize, Default)]
struct ChecksParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: usize,
}

#[derive(Template)]
#[template(path = "console/checks.html")]
struct ChecksPage {
    layout: Layout,
    rows: Vec<CheckRow>,
    total: usize,
    status: String,
    q: String,
    prev: Option<String>,
    next: Option<String>,
    error: Option<String>,
}

fn matches_filter(l: &Live, p: &ChecksParams) -> bool {
    let status_ok = match p.status.as_str() {
        "" => true,
        "down" => l
            .state
            .as_ref()
            .is_some_and(|s| s.hard_status == watchfloor_monitor::Status::Critical),
        "up" => l
            .state
            .as_ref()
            .is_some_and(|s| s.hard_status == watchfloor_monitor::Status::Ok),
        "paused" => l.monitor.paused,
        _ => true,
    };
    status_ok
        && (p.q.is_empty()
            || l.monitor.name.contains(&p.q)
            || l.monitor.check.describe().contains(&p.q))
}

async fn checks_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(p): Query<ChecksParams>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    render_checks(app, &viewer, p, None).await
}

async fn render_checks(
    app: Shared,
    viewer: &Viewer,
    p: ChecksParams,
    error: Option<String>,
) -> Result<Response, ConsoleError> {
    let tenant = viewer.principal.tenant.clone();
    let all: Vec<Live> = app
        .monitoring
        .of_tenant(&tenant)
        .into_iter()
        .filter(|l| matches_filter(l, &p))
        .collect();
    let total = all.len();
    let shown: Vec<Live> = all.into_iter().skip(p.page * PAGE).take(PAGE).collect();
    let now = watchfloor_model::now_ns();
    let rows = blocking(move || {
        shown
            .iter()
            .map(|l| {
                // The sparkline: the last 30 results or so.
                let span = (l.monitor.interval.as_nanos() as i64 * 31).clamp(1, 6 * HOUR_NS);
                let results = check_results(
                    &app,
                    &tenant,
                    &l.monitor.name,
                    now - span,
                    now + 1,
                    usize::MAX,
                )
                .unwrap_or_default();
                check_row(l, &results[results.len().saturating_sub(30)..])
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|_| ConsoleError::Internal)?;
    let link = |page: usize| {
        format!(
            "/checks{}",
            view::query_string(&[
                ("status", &p.status),
                ("q", &p.q),
                ("page", &page.to_string())
            ])
        )
    };
    view::render(&ChecksPage {
        layout: Layout::new(viewer, "Checks", "/checks"),
        rows,
        total,
        prev: (p.page > 0).then(|| link(p.page - 1)),
        next: ((p.page + 1) * PAGE < total).then(|| link(p.page + 1)),
        status: p.status,
        q: p.q,
        error,
    })
}

#[derive(Deserialize)]
struct NewCheck {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    name: String,
    kind: String,
    /// host, host:port or URL, by kind.
    target: String,
    #[serde(default)]
    interval_secs: String,
    #[serde(default)]
    node: String,
}

/// The check a form describes, as the API would take it.
fn spec_of(f: &NewCheck) -> Result<MonitorSpec, String> {
    let mut body = serde_json::json!({ "name": f.name.trim(), "type": f.kind });
    let target = f.target.trim();
    match f.kind.as_str() {
        "http" => body["url"] = target.into(),
        "icmp" => body["host"] = target.into(),
        "tcp" | "tls" => {
            let (host, port) = target
                .rsplit_once(':')
                .ok_or_else(|| "target: host:port".to_string())?;
            let port: u16 = port.parse().map_err(|_| format!("target: port {port:?}"))?;
            body["host"] = host.trim_matches(['[', ']']).into();
            body["port"] = port.into();
        }
        other => {
            return Err(format!(
                "type {other:?}: icmp, tcp, tls or http (others through the API)"
            ))
        }
    }
    if !f.interval_secs.trim().is_empty() {
        let secs: u64 = f
            .interval_secs
            .trim()
            .parse()
            .map_err(|_| "interval: seconds".to_string())?;
        body["interval_secs"] = secs.into();
    }
    if !f.node.trim().is_empty() {
        body["node"] = f.node.trim().into();
    }
    serde_json::from_value(body).map_err(|e| e.to_string())
}

async fn create(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<NewCheck>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    viewer.require(Action::ManageChecks)?;
    let spec = match spec_of(&f) {
        Ok(s) => s,
        Err(e) => return render_checks(app, &viewer, ChecksParams::default(), Some(e)).await,
    };
    match create_check(&app, &viewer.principal.tenant, spec).await {
        Ok((live, _)) => Ok(Redirect::to(&format!(
            "/checks/{}",
            view::url_encode(&live.monitor.name)
        ))
        .into_response()),
        Err(e) => {
            let (_, message) = e.parts();
            render_checks(app, &viewer, ChecksParams::default(), Some(message)).await
        }
    }
}

pub struct HistoryLine {
    pub time: String,
    pub status: &'static str,
    pub hard: bool,
    pub output: String,
}

#[derive(Template)]
#[template(path = "console/check.html")]
struct CheckPage {
    layout: Layout,
    c: CheckRow,
    chart: String,
    history: Vec<HistoryLine>,
    uptime: String,
}

async fn check_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let tenant = viewer.principal.tenant.clone();
    let live = app
        .monitoring
        .get(&tenant, &name)
        .ok_or_else(|| ConsoleError::NotFound(format!("no check {name:?}")))?;
    let now = watchfloor_model::now_ns();
    let (a, t, n) = (app.clone(), tenant.clone(), name.clone());
    // The chart: the latest 5,000 results of the day.
    let samples = blocking(move || {
        check_results(&a, &t, &n, now - 24 * HOUR_NS, now + 1, usize::MAX)
            .map(|r| r[r.len().saturating_sub(5_000)..].to_vec())
    })
    .await
    .map_err(|_| ConsoleError::Internal)??;
    let (_, figures) =
        availability_report(&app, &tenant, Some(&name), "check", now - 24 * HOUR_NS, now).await?;
    let mut ordered = samples.clone();
    ordered.sort_by_key(|s| s.time_ns);
    let chart = serde_json::json!({
        "range": [(now - 24 * HOUR_NS) / 1_000_000_000, now / 1_000_000_000],
        "x": ordered.iter().map(|s| s.time_ns / 1_000_000_000).collect::<Vec<_>>(),
        "series": [{"label": "latency ms", "values": ordered.iter().map(|s| s.latency_ms).collect::<Vec<_>>()}],
    });
    view::render(&CheckPage {
        layout: Layout::new(&viewer, format!("Check {name}"), "/checks"),
        c: check_row(&live, &samples),
        chart: chart.to_string(),
        history: state_changes(&ordered),
        uptime: figures
            .first()
            .and_then(|(_, a)| a.uptime_percent)
            .map(|u| format!("{u:.3} %"))
            .unwrap_or_else(|| "no data".into()),
    })
}

/// The results where the status changed, newest first (at most 200).
fn state_changes(ordered: &[CheckSample]) -> Vec<HistoryLine> {
    let mut out = Vec::new();
    let mut last: Option<(u8, bool)> = None;
    for s in ordered {
        if last != Some((s.status, s.hard)) {
            out.push(HistoryLine {
                time: view::time(s.time_ns),
                status: status_name(s.status),
                hard: s.hard,
                output: s.output.clone().unwrap_or_default(),
            });
            last = Some((s.status, s.hard));
        }
    }
    out.reverse();
    out.truncate(200);
    out
}

#[derive(Deserialize)]
struct PauseForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    paused: bool,
}

async fn pause(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(f): Form<PauseForm>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    viewer.require(Action::ManageChecks)?;
    pause_check(&app, &viewer.principal.tenant, &name, f.paused).await?;
    Ok(Redirect::to(&format!("/checks/{}", view::url_encode(&name))).into_response())
}

async fn delete(
    State(app): State<Shared>,
    viewer: Viewer,
    headers: HeaderMap,
    Path(name): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, ConsoleError> {
    csrf_ok(&viewer, &headers, &f.csrf)?;
    viewer.require(Action::ManageChecks)?;
    remove_check(&app, &viewer.principal.tenant, &name).await?;
    Ok(Redirect::to("/checks").into_response())
}

/// One node placed on the drawing.
pub struct Placed {
    pub name: String,
    pub x: u32,
    pub y: u32,
    pub state: &'static str,
    pub root: bool,
    pub kind: &'static str,
}

pub struct Edge {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
}

#[derive(Template)]
#[template(path = "console/topology.html")]
struct TopologyPage {
    layout: Layout,
    nodes: Vec<Placed>,
    edges: Vec<Edge>,
    width: u32,
    height: u32,
    roots: Vec<String>,
}

/// Each node's layer: 0 without parents, else one below its deepest
/// parent (business services below their components).
fn layers(t: &Topology) -> BTreeMap<String, usize> {
    fn depth(t: &Topology, name: &str, memo: &mut HashMap<String, usize>, guard: usize) -> usize {
        if let Some(d) = memo.get(name) {
            return *d;
        }
        let Some(node) = t.nodes.iter().find(|n| n.name == name) else {
            return 0;
        };
        let above: Vec<String> = node
            .parents
            .iter()
            .chain(&node.components)
            .cloned()
            .collect();
        let d = if above.is_empty() || guard > t.nodes.len() {
            0
        } else {
            1 + above
                .iter()
                .map(|p| depth(t, p, memo, guard + 1))
                .max()
                .unwrap_or(0)
        };
        memo.insert(name.to_string(), d);
        d
    }
    let mut memo = HashMap::new();
    t.nodes
        .iter()
        .map(|n| (n.name.clone(), depth(t, &n.name, &mut memo, 0)))
        .collect()
}

fn layout_topology(
    t: &Topology,
    states: &BTreeMap<String, watchfloor_monitor::topology::Evaluated>,
) -> (Vec<Placed>, Vec<Edge>, u32, u32) {
    const DX: u32 = 170;
    const DY: u32 = 110;
    let layer_of = layers(t);
    let mut rows: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for n in &t.nodes {
        rows.entry(layer_of[&n.name]).or_default().push(&n.name);
    }
    let widest = rows.values().map(Vec::len).max().unwrap_or(1) as u32;
    let width = (widest * DX).max(400);
    let mut at: HashMap<&str, (u32, u32)> = HashMap::new();
    for (layer, names) in &rows {
        let step = width / (names.len() as u32 + 1);
        for (i, name) in names.iter().enumerate() {
            at.insert(name, (step * (i as u32 + 1), 50 + *layer as u32 * DY));
        }
    }
    let roots: std::collections::BTreeSet<&String> =
        states.values().flat_map(|e| e.root_causes.iter()).collect();
    let nodes = t
        .nodes
        .iter()
        .map(|n| {
            let (x, y) = at[n.name.as_str()];
            let state = match states.get(&n.name).map(|e| e.state) {
                Some(NodeState::Up) => "up",
                Some(NodeState::Down) => "down",
                Some(NodeState::Unreachable) => "unreachable",
                None => "nodata",
            };
            Placed {
                name: n.name.clone(),
                x,
                y,
                state,
                root: roots.contains(&n.name),
                kind: match n.kind {
                    NodeKind::Host => "host",
                    NodeKind::Service => "service",
                    NodeKind::Link => "link",
                    NodeKind::Business => "business",
                },
            }
        })
        .collect();
    let edges = t
        .nodes
        .iter()
        .flat_map(|n| {
            n.parents
                .iter()
                .chain(&n.components)
                .map(move |p| (p, &n.name))
        })
        .filter_map(|(from, to)| {
            let (a, b) = (at.get(from.as_str())?, at.get(to.as_str())?);
            Some(Edge {
                x1: a.0,
                y1: a.1,
                x2: b.0,
                y2: b.1,
            })
        })
        .collect();
    let height = 100 + rows.len() as u32 * DY;
    (nodes, edges, width, height)
}

async fn topology_page(
    State(app): State<Shared>,
    viewer: Viewer,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let tenant = &viewer.principal.tenant;
    let topology = app.monitoring.topology_of(tenant);
    let states = topology.evaluate(&app.monitoring.own_states(tenant));
    let (nodes, edges, width, height) = layout_topology(&topology, &states);
    let roots = nodes
        .iter()
        .filter(|n| n.root)
        .map(|n| n.name.clone())
        .collect();
    view::render(&TopologyPage {
        layout: Layout::new(&viewer, "Topology", "/topology"),
        nodes,
        edges,
        width,
        height,
        roots,
    })
}

#[derive(Deserialize, Default)]
struct AvailabilityParams {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    by: String,
}

pub struct AvailabilityRow {
    pub name: String,
    pub uptime: String,
    pub down: String,
    pub outages: usize,
    pub mttr: String,
    pub mtbf: String,
    pub maintenance: String,
}

#[derive(Template)]
#[template(path = "console/availability.html")]
struct AvailabilityPage {
    layout: Layout,
    rows: Vec<AvailabilityRow>,
    from: String,
    to: String,
    by: String,
    csv: String,
    error: Option<String>,
}

type Report = (
    &'static str,
    Vec<(String, watchfloor_monitor::availability::Availability)>,
);

async fn report(
    app: &Shared,
    viewer: &Viewer,
    p: &AvailabilityParams,
) -> Result<Report, ConsoleError> {
    viewer.require(Action::Read)?;
    let now = watchfloor_model::now_ns();
    let from = if p.from.is_empty() {
        "now-30d"
    } else {
        &p.from
    };
    let from = parse_time(from, now).map_err(|e| ConsoleError::BadRequest(format!("from: {e}")))?;
    let to = if p.to.is_empty() {
        now
    } else {
        parse_time(&p.to, now).map_err(|e| ConsoleError::BadRequest(format!("to: {e}")))?
    };
    let by = if p.by.is_empty() { "check" } else { &p.by };
    Ok(availability_report(app, &viewer.principal.tenant, None, by, from, to).await?)
}

fn secs(s: Option<f64>) -> String {
    s.map(|s| view::span((s * 1e9) as i64))
        .unwrap_or_else(|| "—".into())
}

async fn availability_page(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(p): Query<AvailabilityParams>,
) -> Result<Response, ConsoleError> {
    let (rows, error) = match report(&app, &viewer, &p).await {
        Ok((_, rows)) => (rows, None),
        Err(ConsoleError::BadRequest(e)) => (Vec::new(), Some(e)),
        Err(e) => return Err(e),
    };
    view::render(&AvailabilityPage {
        layout: Layout::new(&viewer, "Availability", "/availability"),
        rows: rows
            .iter()
            .map(|(name, a)| AvailabilityRow {
                name: name.clone(),
                uptime: a
                    .uptime_percent
                    .map(|u| format!("{u:.3} %"))
                    .unwrap_or_else(|| "no data".into()),
                down: view::span(a.down_secs as i64 * 1_000_000_000),
                outages: a.outages.len(),
                mttr: secs(a.mttr_secs),
                mtbf: secs(a.mtbf_secs),
                maintenance: view::span(a.maintenance_secs as i64 * 1_000_000_000),
            })
            .collect(),
        csv: format!(
            "/availability.csv{}",
            view::query_string(&[("from", &p.from), ("to", &p.to), ("by", &p.by)])
        ),
        from: p.from,
        to: p.to,
        by: p.by,
        error,
    })
}

/// A CSV field, quoted when it must be (RFC 4180); a leading `=`, `+`,
/// `-` or `@` is prefixed with `'` so spreadsheets do not run it.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

async fn availability_csv(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(p): Query<AvailabilityParams>,
) -> Result<Response, ConsoleError> {
    let (kind, rows) = report(&app, &viewer, &p).await?;
    let mut out = format!("{kind},uptime_percent,up_secs,down_secs,unknown_secs,maintenance_secs,no_data_secs,outages,mttr_secs,mtbf_secs\n");
    let num = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_default();
    for (name, a) in &rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            csv_field(name),
            num(a.uptime_percent),
            a.up_secs,
            a.down_secs,
            a.unknown_secs,
            a.maintenance_secs,
            a.no_data_secs,
            a.outages.len(),
            num(a.mttr_secs),
            num(a.mtbf_secs),
        ));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"availability.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchfloor_monitor::topology::Node;

    #[test]
    fn forms_become_checks() {
        let form = |kind: &str, target: &str| NewCheck {
            csrf: None,
            name: "web".into(),
            kind: kind.into(),
            target: target.into(),
            interval_secs: "30".into(),
            node: String::new(),
        };
        assert!(spec_of(&form("tcp", "127.0.0.1:22")).is_ok());
        assert!(spec_of(&form("http", "http://127.0.0.1/")).is_ok());
        assert!(spec_of(&form("tcp", "no-port"))
            .unwrap_err()
            .contains("host:port"));
        assert!(spec_of(&form("smtp", "x"))
            .unwrap_err()
            .contains("through the API"));
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("web"), "web");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }

    #[test]
    fn children_sit_below_parents() {
        let node = |name: &str, parents: &[&str]| Node {
            name: name.into(),
            kind: NodeKind::Host,
            parents: parents.iter().map(|p| p.to_string()).collect(),
            components: Vec::new(),
            require: Default::default(),
        };
        let t = Topology {
            nodes: vec![
                node("router", &[]),
                node("web", &["router"]),
                node("db", &["web"]),
            ],
        };
        let l = layers(&t);
        assert_eq!((l["router"], l["web"], l["db"]), (0, 1, 2));
    }
}
