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

/// Starts the maintenance, self-monitoring and rule evaluation loops.
pub fn spawn(app: Shared, cfg: &Config, stop: Arc<AtomicBool>) {
    spawn_rules(app.clone(), cfg, stop.clone());
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

/// Evaluates the metric rule groups for every tenant with a metric store,
/// each group at its interval: recorded series go back into the store,
/// alerts that start firing go to the incident queue.
fn spawn_rules(app: Shared, cfg: &Config, stop: Arc<AtomicBool>) {
    let groups = match watchfloor_telemetry::rules::load(
        &cfg.telemetry.rule_files,
        cfg.telemetry.shipped_rules,
    ) {
        Ok(g) => g,
        Err(problems) => {
            // The configuration check read them already; a file changed since.
            for p in problems {
                tracing::error!("metric rules: {p}");
            }
            return;
        }
    };
    if groups.is_empty() {
        return;
    }
    let default_interval = cfg.telemetry.evaluation_interval_secs.max(1) as i64 * 1000;
    let provider = cfg.tenant.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        while !stop.load(Ordering::Acquire) {
            ticker.tick().await;
            let (app, groups, provider) = (app.clone(), groups.clone(), provider.clone());
            let _ = tokio::task::spawn_blocking(move || {
                evaluate_due(&app, &groups, default_interval, &provider)
            })
            .await;
        }
    });
}

fn evaluate_due(
    app: &Shared,
    groups: &[watchfloor_telemetry::rules::RuleGroup],
    default_interval: i64,
    provider: &str,
) {
    let now = now_ms();
    let mut tenants: Vec<String> = app.metrics.tenants().into_iter().map(|(t, _)| t).collect();
    if !tenants.iter().any(|t| t == provider) {
        tenants.push(provider.to_string());
    }
    let mut states = app.metric_rules.lock().unwrap_or_else(|p| p.into_inner());
    for tenant in tenants {
        let Ok(store) = app.metrics.tenant(&tenant) else {
            continue;
        };
        let tenant_states = states.entry(tenant.clone()).or_insert_with(|| {
            groups
                .iter()
                .map(|g| watchfloor_telemetry::rules::GroupState::new(g.clone(), default_interval))
                .collect()
        });
        for state in tenant_states
            .iter_mut()
            .filter(|s| now - s.last_eval_ms >= s.interval_ms)
        {
            let evaluation = state.evaluate(&app.metrics_engine, store.as_ref(), &tenant, now);
            if !evaluation.recorded.is_empty() {
                match watchfloor_tsdb::MetricStore::append(store.as_ref(), &evaluation.recorded) {
                    Ok(r) => app.tsdb_metrics.appended(r.appended, r.rejected()),
                    Err(e) => tracing::error!(tenant, error = %e, "recording rules"),
                }
            }
            if !evaluation.fired.is_empty() {
                if let Err(e) = app.state.insert_alerts(&evaluation.fired) {
                    tracing::error!(tenant, error = %e, "metric alerts");
                }
            }
            for (name, labels) in evaluation.resolved {
                tracing::info!(tenant, alert = name, %labels, "metric alert resolved");
            }
        }
    }
}
