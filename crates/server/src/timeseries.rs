//! The metric stores' background work: compaction, retention and
//! downsampling every minute; Watchfloor's own metrics recorded in the
//! provider tenant's store (self-monitoring); the scrape jobs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use watchfloor_telemetry::exposition::{self, Format};
use watchfloor_telemetry::scrape::Target;
use watchfloor_telemetry::ScrapeConfig;

use crate::api::Shared;
use crate::config::Config;

fn now_ms() -> i64 {
    watchfloor_model::now_ns() / 1_000_000
}

/// Starts the maintenance and self-monitoring loops.
pub fn spawn(app: Shared, cfg: &Config, stop: Arc<AtomicBool>) {
    let maintenance = app.clone();
    let stopping = stop.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(60));
        while !stopping.load(Ordering::Acquire) {
            ticker.tick().await;
            let app = maintenance.clone();
            let _ = tokio::task::spawn_blocking(move || {
                app.metrics.maintain(now_ms());
                app.tsdb_metrics.update(&app.metrics);
            })
            .await;
        }
    });
    if cfg.metrics.self_scrape_secs > 0 {
        let every = Duration::from_secs(cfg.metrics.self_scrape_secs);
        let job = ScrapeConfig {
            job: "watchfloor".into(),
            ..ScrapeConfig::default()
        };
        let mut target = Target::new(job, cfg.http.listen.clone(), cfg.tenant.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            while !stop.load(Ordering::Acquire) {
                ticker.tick().await;
                record_self(&app, &mut target).await;
            }
        });
    }
}

/// One self-scrape: the `/metrics` page, parsed as a scrape would be.
async fn record_self(app: &Shared, target: &mut Target) {
    let started = std::time::Instant::now();
    let text = crate::api::system::exposition(app).unwrap_or_default();
    let page = exposition::parse(&text, Format::OpenMetrics);
    app.metrics
        .record_metadata(&target.tenant, page.metadata.clone());
    let batch = target.batch(Some(&page), now_ms(), started.elapsed().as_secs_f64());
    let (stores, tenant) = (app.metrics.clone(), target.tenant.clone());
    match tokio::task::spawn_blocking(move || stores.append(&tenant, &batch)).await {
        Ok(Ok(report)) => app
            .tsdb_metrics
            .appended(report.appended, report.rejected()),
        Ok(Err(e)) => tracing::error!(error = %e, "self-monitoring: metric store"),
        Err(e) => tracing::error!(error = %e, "self-monitoring"),
    }
}
