//! `GET /live`: server-sent events that tell an open page its data changed.
//! Every two seconds the stream takes a fingerprint of the tenant's
//! incidents, alerts and checks (three small reads) and sends `changed`
//! when it moved; it sends `tick` every ten seconds for the rates on the
//! wallboard. Pages re-fetch only their live fragment (htmx), so nothing
//! reloads and a selection survives. A stream ends after an hour (the
//! browser reconnects) so that none lives forever.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use watchfloor_state::{AlertFilter, IncidentFilter, IncidentSort};

use super::session::Viewer;
use crate::api::Shared;

const POLL: Duration = Duration::from_secs(2);
const TICK_EVERY: u32 = 5;
const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// What changes when anything on a live page should.
fn fingerprint(app: &Shared, tenant: &str) -> (i64, i64, u64) {
    let newest_incident = app
        .incidents
        .list(&IncidentFilter {
            tenant: tenant.to_string(),
            sort: IncidentSort::UpdatedDesc,
            limit: 1,
            ..Default::default()
        })
        .ok()
        .and_then(|l| l.first().map(|i| i.updated_ns))
        .unwrap_or(0);
    let newest_alert = app
        .state
        .list_alerts(&AlertFilter {
            tenant: tenant.to_string(),
            limit: 1,
            ..Default::default()
        })
        .ok()
        .and_then(|l| l.first().map(|a| a.id))
        .unwrap_or(0);
    let checks = app.monitoring.fingerprint(tenant);
    (newest_incident, newest_alert, checks)
}

struct Polling {
    app: Shared,
    tenant: String,
    last: Option<(i64, i64, u64)>,
    polls: u32,
    started: tokio::time::Instant,
}

pub async fn stream(
    State(app): State<Shared>,
    viewer: Viewer,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let start = Polling {
        app,
        tenant: viewer.principal.tenant,
        last: None,
        polls: 0,
        started: tokio::time::Instant::now(),
    };
    let events = stream::unfold(start, |mut p| async move {
        loop {
            if p.started.elapsed() > MAX_LIFETIME {
                return None;
            }
            if p.last.is_some() {
                tokio::time::sleep(POLL).await;
            }
            p.polls += 1;
            let (app, tenant) = (p.app.clone(), p.tenant.clone());
            let now = tokio::task::spawn_blocking(move || fingerprint(&app, &tenant))
                .await
                .ok()?;
            let changed = p.last.is_some_and(|last| last != now);
            p.last = Some(now);
            if changed {
                return Some((Ok(Event::default().event("changed").data("1")), p));
            }
            if p.polls % TICK_EVERY == 0 {
                return Some((Ok(Event::default().event("tick").data("1")), p));
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
