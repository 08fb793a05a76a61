//! The audit log: every write through the API (any method but GET, HEAD
//! and OPTIONS under `/api/`), who made it, in which tenant, and how it
//! ended, including refused and unauthenticated attempts.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use watchfloor_model::now_ns;
use watchfloor_state::AuditRecord;

use crate::api::Shared;
use crate::auth::Principal;

/// Where the [`Caller`](crate::api::Caller) extractor leaves who called, for
/// the audit layer to read once the handler is done.
#[derive(Clone, Default)]
pub struct AuditSlot(Arc<Mutex<Option<(String, String)>>>);

impl AuditSlot {
    pub fn set(&self, p: &Principal) {
        self.set_actor(&p.actor, &p.tenant);
    }

    /// For handlers that identify the caller themselves (a login).
    pub fn set_actor(&self, actor: &str, tenant: &str) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((actor.to_string(), tenant.to_string()));
        }
    }

    fn take(&self) -> Option<(String, String)> {
        self.0.lock().ok().and_then(|mut s| s.take())
    }
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Axum middleware: records writes after they are answered.
pub async fn record(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    // Every write is recorded, the API's and the console's forms alike.
    if !is_write(req.method())
        || path == "/api/v1/ingest"
        || crate::api::prometheus::unaudited(&path)
    {
        // Ingest is data, not a change of state; its counters say enough.
        return next.run(req).await;
    }
    let slot = AuditSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().to_string();
    let remote = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let response = next.run(req).await;
    let (actor, tenant) = slot
        .take()
        .unwrap_or_else(|| ("anonymous".into(), String::new()));
    let record = AuditRecord {
        id: 0,
        time_ns: now_ns(),
        tenant,
        actor,
        method,
        path,
        status: response.status().as_u16(),
        remote,
    };
    let access = app.access.clone();
    let written = tokio::task::spawn_blocking(move || access.append_audit(&record)).await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::error!("audit log: a write could not be recorded");
    }
    response
}
