//! The wallboard: the floor's big screen. Open incidents by priority and
//! domain, SLA timers counting down and breaches, checks up and down, the
//! tenant's event rate, alerts per minute and the top rules of the last
//! hour. The panel is one fragment that the page re-fetches on every
//! server-sent `changed` or `tick`, with no reload.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use watchfloor_model::incident::Domain;
use watchfloor_search::AggregateRequest;

use super::session::{ConsoleError, Viewer};
use super::view::{self, Layout};
use crate::api::common::blocking;
use crate::api::Shared;
use crate::auth::Action;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/wallboard", get(page))
        .route("/wallboard/panel", get(panel))
}

/// Down checks named on the board; the rest are counted.
const MAX_DOWN_NAMED: usize = 12;
const MINUTE_NS: i64 = 60_000_000_000;

pub struct Timer {
    pub id: i64,
    pub title: String,
    pub priority: u8,
    pub what: &'static str,
    pub due_ms: i64,
    pub due_text: String,
    pub breached: bool,
}

pub struct Board {
    pub by_priority: Vec<(u8, usize)>,
    pub security: usize,
    pub operations: usize,
    pub open: usize,
    pub breaches: usize,
    pub timers: Vec<Timer>,
    pub checks_up: usize,
    pub checks_down: usize,
    pub checks_other: usize,
    pub down: Vec<String>,
    pub more_down: usize,
    pub events_per_min: String,
    pub alerts_last_hour: usize,
    /// Alerts per minute over the last hour, oldest first, with the bar's
    /// height in 5 % steps.
    pub alert_bars: Vec<(u32, u32)>,
    pub top_rules: Vec<(String, usize, u32)>,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "console/wallboard.html")]
struct Page {
    layout: Layout,
    board: Board,
}

#[derive(Template)]
#[template(path = "console/wallboard_panel.html")]
struct Panel {
    board: Board,
}

async fn page(State(app): State<Shared>, viewer: Viewer) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let board = load(app, viewer.principal.tenant.clone()).await?;
    view::render(&Page {
        layout: Layout::new(&viewer, "Wallboard", "/wallboard"),
        board,
    })
}

async fn panel(State(app): State<Shared>, viewer: Viewer) -> Result<Response, ConsoleError> {
    viewer.require(Action::Read)?;
    let board = load(app, viewer.principal.tenant.clone()).await?;
    view::render(&Panel { board })
}

async fn load(app: Shared, tenant: String) -> Result<Board, ConsoleError> {
    let now = app.incidents.now();
    blocking(move || board(&app, &tenant, now))
        .await
        .map_err(|_| ConsoleError::Internal)?
}

fn board(app: &Shared, tenant: &str, now: i64) -> Result<Board, ConsoleError> {
    let open = app.incidents.open_summary(tenant, 12)?;
    let alerts = app
        .state
        .alert_activity(tenant, now - 60 * MINUTE_NS, MINUTE_NS, 5)?;
    let count = |keep: &dyn Fn(u8, Domain) -> bool| -> u64 {
        open.counts
            .iter()
            .filter(|(p, d, _)| keep(*p, *d))
            .map(|c| c.2)
            .sum()
    };
    let mut b = Board {
        by_priority: (1..=5u8)
            .map(|p| (p, count(&|q, _| q == p) as usize))
            .collect(),
        security: count(&|_, d| d != Domain::Operations) as usize,
        operations: count(&|_, d| d != Domain::Security) as usize,
        open: count(&|_, _| true) as usize,
        breaches: open.breached as usize,
        timers: open
            .deadlines
            .iter()
            .map(|d| Timer {
                id: d.id,
                title: d.title.clone(),
                priority: d.priority,
                what: d.what,
                due_ms: view::epoch_ms(d.due_ns),
                due_text: view::span(d.due_ns - now),
                breached: d.due_ns < now,
            })
            .collect(),
        checks_up: 0,
        checks_down: 0,
        checks_other: 0,
        down: Vec::new(),
        more_down: 0,
        events_per_min: events_per_minute(app, tenant, now),
        alerts_last_hour: alerts.total as usize,
        alert_bars: steps(per_minute(&alerts.buckets)),
        top_rules: top_rules(&alerts.top_rules),
        updated: view::time(now),
    };
    let checks = app.monitoring.state_counts(tenant, MAX_DOWN_NAMED);
    b.checks_up = checks.up;
    b.checks_down = checks.down;
    b.checks_other = checks.other;
    b.more_down = checks.down - checks.down_names.len();
    b.down = checks.down_names;
    Ok(b)
}

/// Counts per minute of the last hour, oldest first, from the store's
/// buckets (minute 0 is an hour ago).
fn per_minute(buckets: &[(i64, u64)]) -> Vec<u32> {
    let mut bars = vec![0u32; 60];
    for &(minute, n) in buckets {
        if let Some(bar) = usize::try_from(minute).ok().and_then(|m| bars.get_mut(m)) {
            *bar = n as u32;
        }
    }
    bars
}

/// Each count with its bar size in 5 % steps of the largest (0..=20).
fn steps(counts: Vec<u32>) -> Vec<(u32, u32)> {
    let peak = counts.iter().copied().max().unwrap_or(0).max(1);
    counts
        .into_iter()
        .map(|n| (n, (n * 20).div_ceil(peak)))
        .collect()
}

/// The rules with most alerts, with a bar width in 5 % steps.
fn top_rules(rules: &[(String, u64)]) -> Vec<(String, usize, u32)> {
    let peak = rules.first().map(|r| r.1).unwrap_or(1).max(1);
    rules
        .iter()
        .map(|(t, n)| (t.clone(), *n as usize, (n * 20).div_ceil(peak) as u32))
        .collect()
}

/// The tenant's events in the last full minute, from the event store.
fn events_per_minute(app: &Shared, tenant: &str, now: i64) -> String {
    const CAP: u64 = 2_000_000;
    let request = AggregateRequest {
        tenant: tenant.to_string(),
        from_ns: Some(now - MINUTE_NS),
        to_ns: Some(now),
        max_events: CAP,
        interval_ns: Some(MINUTE_NS),
        ..Default::default()
    };
    match app.events.aggregate(&request) {
        Ok(a) if a.complete => a.matched.to_string(),
        Ok(a) => format!("≥{}", a.matched),
        Err(e) => {
            tracing::warn!("wallboard event rate: {e}");
            "?".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_and_rules_are_counted() {
        let bars = per_minute(&[(0, 3), (59, 2), (60, 9), (-1, 9)]);
        assert_eq!((bars[0], bars[59], bars.iter().sum::<u32>()), (3, 2, 5));
        let top = top_rules(&[("a".to_string(), 2), ("b".to_string(), 1)]);
        assert_eq!(top[0], ("a".to_string(), 2, 20));
        assert_eq!(top[1], ("b".to_string(), 1, 10));
        assert_eq!(steps(vec![0, 1, 4]), vec![(0, 0), (1, 5), (4, 20)]);
    }
}
