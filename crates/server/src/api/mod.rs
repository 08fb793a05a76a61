//! The HTTP API: `/api/v1/...` behind bearer tokens or sessions, `/metrics`
//! behind a token too, and `/healthz` open. One module per resource; what
//! they share (errors, the caller, bodies) is in [`common`].

pub mod access;
pub mod alerts;
pub mod checks;
pub mod common;
pub mod events;
pub mod incidents;
pub mod ingest;
pub mod intel;
pub mod oncall;
pub mod phishing;
pub mod prometheus;
pub mod respond;
pub mod rules;
pub mod shippers;
pub mod system;
pub mod taxii;
pub mod tokens;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use prometheus_client::registry::Registry;
use watchfloor_ingest::{Appender, IngestMetrics, Wal};
use watchfloor_pipeline::Rules;
use watchfloor_search::EventStore;
use watchfloor_state::StateStore;

pub use common::{ApiError, Body, Caller, TENANT_HEADER};

/// What the handlers share.
pub struct AppState {
    pub events: Arc<dyn EventStore>,
    pub state: Arc<dyn StateStore>,
    pub access: Arc<dyn watchfloor_state::AccessStore>,
    /// Tenant documents (schedules, policies, teams, channels, checks,
    /// topologies, maintenance windows).
    pub documents: Arc<dyn watchfloor_state::DocumentStore>,
    /// The notification outbox.
    pub outbox: Arc<dyn watchfloor_state::OutboxStore>,
    pub checks: Arc<dyn watchfloor_state::CheckStore>,
    pub monitoring: crate::monitoring::Monitoring,
    /// The operator's own tenant: its admins manage every tenant (MSSP).
    pub provider_tenant: String,
    pub appender: Appender,
    pub wal: Arc<Wal>,
    pub rules: Arc<Rules>,
    /// The indicators, shared with the pipeline's live matching.
    pub intel: Arc<watchfloor_intel::Intel>,
    /// Retro-hunts of imported indicators over the stored events.
    pub retro: Arc<watchfloor_pipeline::retro::RetroHunts>,
    /// The feeds of `[[intel.feeds]]` and their last pulls.
    pub feeds: Arc<crate::feeds::Feeds>,
    /// How far back a retro-hunt looks (0: none).
    pub retro_window_ns: i64,
    pub pipeline_metrics: Arc<watchfloor_pipeline::PipelineMetrics>,
    pub registry: Registry,
    pub ingest: Arc<IngestMetrics>,
    pub gauges: crate::metrics::LiveGauges,
    pub limits: BodyLimits,
    pub incidents: Arc<watchfloor_incident::Incidents>,
    /// One metric store per tenant, and the PromQL engine over them.
    pub metrics: Arc<watchfloor_telemetry::Stores>,
    pub metrics_engine: Arc<watchfloor_tsdb::promql::Engine>,
    pub tsdb_metrics: crate::metrics::TsdbMetrics,
    /// Every tenant's metric rule groups and their alerts.
    pub metric_rules: watchfloor_telemetry::rules::RuleStates,
    /// The scrape targets' health.
    pub scrape_health: watchfloor_telemetry::scrape::Health,
    /// Set when the server runs on a hand-moved clock (tests only).
    pub test_clock: Option<Arc<watchfloor_incident::ManualClock>>,
    /// Playbooks and their runs.
    pub responder: Arc<watchfloor_respond::Responder>,
    /// Signs and checks approvers' answer links (`/approve/{token}`).
    pub respond_link_key: Vec<u8>,
    /// `[respond] playbooks`, read again on reload.
    pub respond_dir: Option<std::path::PathBuf>,
    /// The console's cookies get `Secure` (the listener speaks HTTPS).
    pub console_secure: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_body: usize,
    pub max_decoded: u64,
    pub max_event: usize,
}

pub(crate) type Shared = Arc<AppState>;

/// `/` is the console for a browser, and the Elasticsearch product check
/// for a log shipper: shippers send an `Authorization` header, a browser
/// signs in with a cookie and sends none.
async fn root(
    axum::extract::State(app): axum::extract::State<Shared>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::extract::FromRequestParts;
    use axum::response::IntoResponse;
    let (mut parts, _) = request.into_parts();
    if parts
        .headers
        .contains_key(axum::http::header::AUTHORIZATION)
    {
        return match Caller::from_request_parts(&mut parts, &app).await {
            Ok(caller) => shippers::es_info(&app, &caller).await,
            Err(e) => e.into_response(),
        };
    }
    let viewer = Option::<crate::console::session::Viewer>::from_request_parts(&mut parts, &app)
        .await
        .unwrap_or(None);
    crate::console::home(viewer).await.into_response()
}

pub fn router(app: Shared) -> Router {
    let max_body = app.limits.max_body;
    Router::new()
        .route("/", get(root))
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .route("/api/v1/openapi.json", get(system::openapi))
        .route("/api/v1/ingest", post(ingest::ingest))
        .route("/api/v1/events", get(events::search_events))
        .route("/api/v1/events/aggregate", get(events::aggregate_events))
        .route("/api/v1/alerts", get(alerts::list_alerts))
        .route("/api/v1/rules", get(rules::rules_summary))
        .route("/api/v1/rules/reload", post(rules::reload_rules))
        .route("/api/v1/rules/coverage", get(rules::coverage))
        .route(
            "/api/v1/tokens",
            get(tokens::list_tokens).post(tokens::create_token),
        )
        .route("/api/v1/tokens/{id}", delete(tokens::revoke_token))
        .merge(incidents::routes())
        .merge(access::routes())
        .merge(oncall::routes())
        .merge(checks::routes())
        .merge(intel::routes())
        .merge(taxii::routes())
        .merge(prometheus::routes())
        .merge(respond::routes())
        .merge(phishing::routes())
        .merge(shippers::routes())
        .merge(crate::console::routes())
        .fallback(system::not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::audit::record,
        ))
        .with_state(app)
}
