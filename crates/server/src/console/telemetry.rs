//! The telemetry pages: a metric explorer (PromQL over the tenant's store,
//! charted with uPlot), the flows' top talkers of the last minutes, and the
//! SNMP devices with their interfaces. The same engine and store as
//! `/api/v1/query_range`.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use watchfloor_tsdb::promql::{format_value, QueryValue, RangeSeries};
use watchfloor_tsdb::Labels;

use super::session::{ConsoleError, Viewer};
use super::view::{self, Layout};
use crate::api::common::blocking;
use crate::api::Shared;
use crate::auth::Action;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/telemetry", get(page))
        .route("/telemetry/device", get(device))
}

/// Ranges the explorer offers: (name, seconds).
const RANGES: &[(&str, i64)] = &[
    ("15m", 900),
    ("1h", 3600),
    ("6h", 21_600),
    ("24h", 86_400),
    ("7d", 604_800),
];
/// Series drawn at most (the table lists them all).
const CHART_SERIES: usize = 12;

#[derive(Deserialize, Default)]
#[serde(default)]
struct ExplorerParams {
    q: String,
    range: String,
}

struct SeriesRow {
    labels: String,
    last: String,
}

struct Talker {
    key: String,
    bytes: String,
    packets: String,
}

struct DeviceRow {
    job: String,
    instance: String,
    health: String,
    interfaces: usize,
    last_error: String,
    last_poll: String,
    link: String,
}

#[derive(Template)]
#[template(path = "console/telemetry.html")]
struct TelemetryPage {
    layout: Layout,
    q: String,
    range: String,
    ranges: Vec<&'static str>,
    error: Option<String>,
    chart: Option<String>,
    shown: usize,
    rows: Vec<SeriesRow>,
    talkers: Vec<(String, Vec<Talker>)>,
    devices: Vec<DeviceRow>,
    targets: usize,
}

fn now_ms() -> i64 {
    watchfloor_model::now_ns() / 1_000_000
}

/// The uPlot spec of a matrix: one x axis of the steps, a value (or a gap)
/// per series and step.
pub(crate) fn chart_spec(
    series: &[RangeSeries],
    start: i64,
    end: i64,
    step: i64,
    limit: usize,
) -> String {
    let steps: Vec<i64> = (0..=((end - start) / step))
        .map(|i| start + i * step)
        .collect();
    let lines: Vec<serde_json::Value> = series
        .iter()
        .take(limit)
        .map(|s| {
            let mut values: Vec<Option<f64>> = vec![None; steps.len()];
            for &(t, v) in &s.points {
                if let Some(slot) = values.get_mut(((t - start) / step) as usize) {
                    *slot = v.is_finite().then_some(v);
                }
            }
            serde_json::json!({"label": short_labels(&s.metric), "values": values})
        })
        .collect();
    serde_json::json!({
        "x": steps.iter().map(|t| *t as f64 / 1000.0).collect::<Vec<_>>(),
        "series": lines,
        "range": [start as f64 / 1000.0, end as f64 / 1000.0],
    })
    .to_string()
}

fn short_labels(l: &Labels) -> String {
    let text = l.to_string();
    if text.len() > 80 {
        format!(
            "{}…",
            &text[..text.char_indices().nth(79).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

/// Runs the explorer's query: the chart spec and the table, or the error.
fn explore(
    app: &Shared,
    tenant: &str,
    q: &str,
    range_secs: i64,
) -> Result<(String, usize, Vec<SeriesRow>), String> {
    let store = app.metrics.tenant(tenant).map_err(|e| e.to_string())?;
    let end = now_ms() / 1000 * 1000;
    let start = end - range_secs * 1000;
    // About 240 points a series, never under 15 s.
    let step = ((range_secs * 1000) / 240).max(15_000) / 1000 * 1000;
    let value = app
        .metrics_engine
        .range(store.as_ref(), q, start, end, step)
        .map_err(|e| e.to_string())?;
    let QueryValue::Matrix(series) = value else {
        return Err("the query gave no series".into());
    };
    let rows = series
        .iter()
        .map(|s| SeriesRow {
            labels: s.metric.to_string(),
            last: s
                .points
                .last()
                .map_or_else(String::new, |(_, v)| format_value(*v)),
        })
        .collect();
    Ok((
        chart_spec(&series, start, end, step, CHART_SERIES),
        series.len().min(CHART_SERIES),
        rows,
    ))
}

/// The flows' top talkers of the latest closed minute, per dimension.
fn talkers(app: &Shared, tenant: &str) -> Vec<(String, Vec<Talker>)> {
    let Ok(store) = app.metrics.tenant(tenant) else {
        return Vec::new();
    };
    let at = now_ms();
    let get = |q: &str| match app.metrics_engine.instant(store.as_ref(), q, at) {
        Ok(QueryValue::Vector(v)) => v,
        _ => Vec::new(),
    };
    let packets: BTreeMap<(String, String), f64> = get("flow_top_packets")
        .into_iter()
        .map(|s| {
            (
                (
                    s.metric.value("dimension").to_string(),
                    s.metric.value("key").to_string(),
                ),
                s.v,
            )
        })
        .collect();
    let mut by_dim: BTreeMap<String, Vec<(f64, Talker)>> = BTreeMap::new();
    for s in get("flow_top_bytes") {
        let (dim, key) = (
            s.metric.value("dimension").to_string(),
            s.metric.value("key").to_string(),
        );
        let p = packets
            .get(&(dim.clone(), key.clone()))
            .copied()
            .unwrap_or(0.0);
        by_dim.entry(dim).or_default().push((
            s.v,
            Talker {
                key,
                bytes: human_bytes(s.v),
                packets: format!("{p:.0}"),
            },
        ));
    }
    by_dim
        .into_iter()
        .map(|(dim, mut list)| {
            list.sort_by(|a, b| b.0.total_cmp(&a.0));
            (
                dimension_name(&dim).to_string(),
                list.into_iter().map(|(_, t)| t).collect(),
            )
        })
        .collect()
}

fn dimension_name(d: &str) -> &str {
    match d {
        "src" => "Sources",
        "dst" => "Destinations",
        "dst_port" => "Services (protocol/port)",
        "proto" => "Protocols",
        other => other,
    }
}

fn human_bytes(v: f64) -> String {
    let (scaled, unit) = [(1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
        .iter()
        .find(|(s, _)| v >= *s)
        .map_or((v, "B"), |(s, u)| (v / s, *u));
    format!("{scaled:.1} {unit}")
}

fn human_bits(v: f64) -> String {
    let (scaled, unit) = [(1e9, "Gb/s"), (1e6, "Mb/s"), (1e3, "kb/s")]
        .iter()
        .find(|(s, _)| v >= *s)
        .map_or((v, "b/s"), |(s, u)| (v / s, *u));
    format!("{scaled:.1} {unit}")
}

fn devices(app: &Shared, tenant: &str) -> (Vec<DeviceRow>, usize) {
    let health = app
        .scrape_health
        .lock()
        .map(|h| h.values().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    let mine: Vec<_> = health.into_iter().filter(|t| t.tenant == tenant).collect();
    let targets = mine.len();
    let rows = mine
        .into_iter()
        .filter(|t| t.url.starts_with("snmp://"))
        .map(|t| DeviceRow {
            link: format!(
                "/telemetry/device{}",
                view::query_string(&[("job", &t.job), ("instance", &t.instance)])
            ),
            job: t.job,
            instance: t.instance,
            health: t.health,
            interfaces: t.samples,
            last_error: t.last_error,
            last_poll: if t.last_scrape_ms > 0 {
                view::time(t.last_scrape_ms * 1_000_000)
            } else {
                "never".into()
            },
        })
        .collect();
    (rows, targets)
}

async fn page(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(p): Query<ExplorerParams>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let range = if RANGES.iter().any(|(n, _)| *n == p.range) {
        p.range.clone()
    } else {
        "1h".into()
    };
    let secs = RANGES
        .iter()
        .find(|(n, _)| *n == range)
        .map_or(3600, |(_, s)| *s);
    let tenant = viewer.principal.tenant.clone();
    let (app2, q) = (app.clone(), p.q.trim().to_string());
    let (explored, talkers, (devices, targets)) = blocking(move || {
        let explored = (!q.is_empty()).then(|| explore(&app2, &tenant, &q, secs));
        (explored, talkers(&app2, &tenant), devices(&app2, &tenant))
    })
    .await
    .map_err(|_| ConsoleError::Internal)?;
    let (chart, shown, rows, error) = match explored {
        Some(Ok((c, shown, rows))) => (Some(c), shown, rows, None),
        Some(Err(e)) => (None, 0, Vec::new(), Some(e)),
        None => (None, 0, Vec::new(), None),
    };
    view::render(&TelemetryPage {
        layout: Layout::new(&viewer, "Telemetry", "/telemetry"),
        q: p.q,
        range,
        ranges: RANGES.iter().map(|(n, _)| *n).collect(),
        error,
        chart,
        shown,
        rows,
        talkers,
        devices,
        targets,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DeviceParams {
    job: String,
    instance: String,
}

struct InterfaceRow {
    index: String,
    name: String,
    alias: String,
    oper: String,
    admin: String,
    speed: String,
    inbound: String,
    outbound: String,
    utilisation: String,
    busy: bool,
}

#[derive(Template)]
#[template(path = "console/telemetry_device.html")]
struct DevicePage {
    layout: Layout,
    instance: String,
    job: String,
    interfaces: Vec<InterfaceRow>,
    chart: Option<String>,
}

/// PromQL string literal for a label value.
fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn status_name(v: Option<f64>) -> String {
    match v.map(|v| v as i64) {
        Some(1) => "up".into(),
        Some(2) => "down".into(),
        Some(3) => "testing".into(),
        Some(5) => "dormant".into(),
        Some(7) => "lower layer down".into(),
        Some(n) => n.to_string(),
        None => String::new(),
    }
}

async fn device(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(p): Query<DeviceParams>,
) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let tenant = viewer.principal.tenant.clone();
    let (app2, instance, job) = (app.clone(), p.instance.clone(), p.job.clone());
    let (interfaces, chart) = blocking(move || device_view(&app2, &tenant, &job, &instance))
        .await
        .map_err(|_| ConsoleError::Internal)?;
    view::render(&DevicePage {
        layout: Layout::new(&viewer, format!("Device {}", p.instance), "/telemetry"),
        instance: p.instance,
        job: p.job,
        interfaces,
        chart,
    })
}

fn device_view(
    app: &Shared,
    tenant: &str,
    job: &str,
    instance: &str,
) -> (Vec<InterfaceRow>, Option<String>) {
    let Ok(store) = app.metrics.tenant(tenant) else {
        return (Vec::new(), None);
    };
    let selector = format!("{{job={},instance={}}}", quoted(job), quoted(instance));
    let at = now_ms();
    let column = |metric: &str| -> BTreeMap<String, (Labels, f64)> {
        match app
            .metrics_engine
            .instant(store.as_ref(), &format!("{metric}{selector}"), at)
        {
            Ok(QueryValue::Vector(v)) => v
                .into_iter()
                .map(|s| {
                    (
                        s.metric.value("ifIndex").to_string(),
                        (s.metric.clone(), s.v),
                    )
                })
                .collect(),
            _ => BTreeMap::new(),
        }
    };
    let oper = column("ifOperStatus");
    let (admin, speed, inbound, outbound, util) = (
        column("ifAdminStatus"),
        column("ifHighSpeed"),
        column("if_in_bits_per_second"),
        column("if_out_bits_per_second"),
        column("if_utilisation_ratio"),
    );
    let value = |m: &BTreeMap<String, (Labels, f64)>, i: &str| m.get(i).map(|(_, v)| *v);
    let mut rows: Vec<InterfaceRow> = oper
        .iter()
        .map(|(index, (labels, status))| {
            let u = value(&util, index);
            InterfaceRow {
                index: index.clone(),
                name: labels.value("ifName").to_string(),
                alias: labels.value("ifAlias").to_string(),
                oper: status_name(Some(*status)),
                admin: status_name(value(&admin, index)),
                speed: value(&speed, index).map_or_else(String::new, |mbps| human_bits(mbps * 1e6)),
                inbound: value(&inbound, index).map_or_else(String::new, human_bits),
                outbound: value(&outbound, index).map_or_else(String::new, human_bits),
                utilisation: u.map_or_else(String::new, |u| format!("{:.1}%", u * 100.0)),
                busy: u.is_some_and(|u| u >= 0.9),
            }
        })
        .collect();
    rows.sort_by_key(|r| r.index.parse::<u64>().unwrap_or(u64::MAX));
    // The chart: the five busiest interfaces' inbound bits over an hour.
    let mut busiest: Vec<(&String, f64)> = inbound.iter().map(|(i, (_, v))| (i, *v)).collect();
    busiest.sort_by(|a, b| b.1.total_cmp(&a.1));
    let indexes: Vec<&str> = busiest.iter().take(5).map(|(i, _)| i.as_str()).collect();
    let chart = (!indexes.is_empty()).then(|| {
        let q = format!(
            "if_in_bits_per_second{{job={},instance={},ifIndex=~\"{}\"}}",
            quoted(job),
            quoted(instance),
            indexes.join("|")
        );
        let end = at / 1000 * 1000;
        let start = end - 3_600_000;
        match app
            .metrics_engine
            .range(store.as_ref(), &q, start, end, 15_000)
        {
            Ok(QueryValue::Matrix(series)) => Some(chart_spec(&series, start, end, 15_000, 5)),
            _ => None,
        }
    });
    (rows, chart.flatten())
}
