//! Prometheus-style scraping: each target's page every interval, with the
//! `up`, `scrape_duration_seconds` and `scrape_samples_scraped` series, and
//! staleness markers for series that disappear (or for all of them when the
//! target goes down), as Prometheus writes them.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use watchfloor_tsdb::{stale_nan, Labels, SeriesSamples};

use crate::exposition::{self, Format, Page};
use crate::{ScrapeConfig, Stores};

const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// How a target is doing, for the API and the console.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TargetHealth {
    pub job: String,
    pub instance: String,
    pub url: String,
    pub tenant: String,
    /// "up", "down" or "unknown" (not scraped yet).
    pub health: String,
    pub last_error: String,
    /// Milliseconds since the epoch.
    pub last_scrape_ms: i64,
    pub last_scrape_duration_secs: f64,
    pub samples: usize,
    /// Lines of the last page that did not parse.
    pub bad_lines: usize,
}

pub type Health = Arc<Mutex<BTreeMap<(String, String), TargetHealth>>>;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What one target needs between scrapes.
pub struct Target {
    pub job: ScrapeConfig,
    pub instance: String,
    pub tenant: String,
    /// Series of the last scrape (for staleness markers).
    last_series: HashSet<Labels>,
}

impl Target {
    pub fn new(job: ScrapeConfig, instance: String, tenant: String) -> Self {
        Target {
            job,
            instance,
            tenant,
            last_series: HashSet::new(),
        }
    }

    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.job.scheme, self.instance, self.job.metrics_path
        )
    }

    /// The samples of a page (or of a failed scrape when `page` is None),
    /// with the scrape's own series and staleness markers.
    pub fn batch(&mut self, page: Option<&Page>, t: i64, duration_secs: f64) -> Vec<SeriesSamples> {
        let target = target_labels(&self.job.labels, &self.job.job, &self.instance);
        let mut out: Vec<SeriesSamples> = Vec::new();
        let mut current = HashSet::new();
        for s in page.map(|p| p.samples.as_slice()).unwrap_or_default() {
            let mut labels = s.labels.clone();
            for (name, value) in &target {
                if let Some(own) = labels.get(name).map(str::to_string) {
                    if self.job.honor_labels {
                        continue;
                    }
                    labels.set(&format!("exported_{name}"), &own);
                }
                labels.set(name, value);
            }
            current.insert(labels.clone());
            out.push(SeriesSamples {
                labels,
                samples: vec![(s.t.unwrap_or(t), s.v)],
            });
        }
        mark_vanished(&mut self.last_series, current, t, &mut out);
        let scraped = page.map_or(0, |p| p.samples.len());
        let up = if page.is_some() { 1.0 } else { 0.0 };
        own_series(
            &target,
            &[
                ("up", up),
                ("scrape_duration_seconds", duration_secs),
                ("scrape_samples_scraped", scraped as f64),
            ],
            t,
            &mut out,
        );
        out
    }
}

/// A target's labels: the job's own, then `job` and `instance`.
pub fn target_labels(
    labels: &BTreeMap<String, String>,
    job: &str,
    instance: &str,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.push(("job".into(), job.to_string()));
    out.push(("instance".into(), instance.to_string()));
    out
}

/// Staleness markers at `t` for the series of the last round that this
/// round (`current`) lacks; `current` becomes the last round.
pub fn mark_vanished(
    last: &mut HashSet<Labels>,
    current: HashSet<Labels>,
    t: i64,
    out: &mut Vec<SeriesSamples>,
) {
    for gone in last.difference(&current) {
        out.push(SeriesSamples {
            labels: gone.clone(),
            samples: vec![(t, stale_nan())],
        });
    }
    *last = current;
}

/// The collector's own series about a target (`up`, how long it took, ...).
pub fn own_series(
    target: &[(String, String)],
    values: &[(&str, f64)],
    t: i64,
    out: &mut Vec<SeriesSamples>,
) {
    for &(name, v) in values {
        let mut pairs = target.to_vec();
        pairs.push(("__name__".into(), name.into()));
        out.push(SeriesSamples {
            labels: Labels::from_pairs(pairs),
            samples: vec![(t, v)],
        });
    }
}

/// Fetches one page.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Page, String> {
    let mut request = client.get(url).header("Accept", ACCEPT).timeout(timeout);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("server returned HTTP status {}", response.status()));
    }
    let format = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map_or(Format::Text, Format::from_content_type);
    let text = response.text().await.map_err(|e| e.to_string())?;
    Ok(exposition::parse(&text, format))
}

/// Scrapes `target` once and stores the result.
pub async fn scrape_once(
    client: &reqwest::Client,
    target: &mut Target,
    stores: &Arc<Stores>,
    health: &Health,
) {
    let token = target
        .job
        .bearer_token_file
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.trim().to_string());
    let started = Instant::now();
    let t = now_ms();
    let url = target.url();
    let result = fetch(
        client,
        &url,
        token.as_deref(),
        Duration::from_secs(target.job.timeout_secs),
    )
    .await;
    let duration = started.elapsed().as_secs_f64();
    let (batch, error, bad_lines, samples) = match &result {
        Ok(page) => {
            stores.record_metadata(&target.tenant, page.metadata.clone());
            (
                target.batch(Some(page), t, duration),
                String::new(),
                page.errors.len(),
                page.samples.len(),
            )
        }
        Err(e) => (target.batch(None, t, duration), e.clone(), 0, 0),
    };
    let tenant = target.tenant.clone();
    let stores2 = stores.clone();
    let stored = tokio::task::spawn_blocking(move || stores2.append(&tenant, &batch)).await;
    let store_error = match stored {
        Ok(Ok(report)) if report.rejected() > 0 => report.first_error.unwrap_or_default(),
        Ok(Ok(_)) => String::new(),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    let entry = TargetHealth {
        job: target.job.job.clone(),
        instance: target.instance.clone(),
        url,
        tenant: target.tenant.clone(),
        health: if result.is_ok() { "up" } else { "down" }.into(),
        last_error: if error.is_empty() { store_error } else { error },
        last_scrape_ms: t,
        last_scrape_duration_secs: duration,
        samples,
        bad_lines,
    };
    if !entry.last_error.is_empty() {
        tracing::warn!(job = %entry.job, instance = %entry.instance, error = %entry.last_error, "scrape");
    }
    if let Ok(mut h) = health.lock() {
        h.insert((entry.job.clone(), entry.instance.clone()), entry);
    }
}

/// Starts one task per target; they run until the runtime stops.
pub fn spawn(jobs: &[ScrapeConfig], default_tenant: &str, stores: Arc<Stores>) -> Health {
    let health: Health = Arc::default();
    let client = reqwest::Client::builder().build().unwrap_or_default();
    for job in jobs {
        for instance in &job.targets {
            let tenant = job
                .tenant
                .clone()
                .unwrap_or_else(|| default_tenant.to_string());
            let mut target = Target::new(job.clone(), instance.clone(), tenant.clone());
            if let Ok(mut h) = health.lock() {
                h.insert(
                    (job.job.clone(), instance.clone()),
                    TargetHealth {
                        job: job.job.clone(),
                        instance: instance.clone(),
                        url: target.url(),
                        tenant,
                        health: "unknown".into(),
                        ..TargetHealth::default()
                    },
                );
            }
            let (client, stores, health) = (client.clone(), stores.clone(), health.clone());
            let every = Duration::from_secs(job.interval_secs.max(1));
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(every);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticker.tick().await;
                    scrape_once(&client, &mut target, &stores, &health).await;
                }
            });
        }
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> ScrapeConfig {
        ScrapeConfig {
            job: "node".into(),
            targets: vec!["h:9100".into()],
            ..ScrapeConfig::default()
        }
    }

    #[test]
    fn target_labels_win_and_vanished_series_go_stale() {
        let mut target = Target::new(job(), "h:9100".into(), "t".into());
        let page = exposition::parse("a{job=\"mine\"} 1\nb 2\n", Format::Text);
        let batch = target.batch(Some(&page), 1000, 0.01);
        let names: Vec<String> = batch.iter().map(|s| s.labels.to_string()).collect();
        assert_eq!(
            names[0],
            r#"a{exported_job="mine", instance="h:9100", job="node"}"#
        );
        assert!(names
            .iter()
            .any(|n| n == r#"up{instance="h:9100", job="node"}"#));
        let page = exposition::parse("b 3\n", Format::Text);
        let batch = target.batch(Some(&page), 2000, 0.01);
        let stale: Vec<&SeriesSamples> = batch
            .iter()
            .filter(|s| watchfloor_tsdb::is_stale(s.samples[0].1))
            .collect();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].labels.metric_name(), Some("a"));
        let down = target.batch(None, 3000, 0.01);
        assert!(down
            .iter()
            .any(|s| s.labels.metric_name() == Some("b")
                && watchfloor_tsdb::is_stale(s.samples[0].1)));
        assert!(down
            .iter()
            .any(|s| s.labels.metric_name() == Some("up") && s.samples[0].1 == 0.0));
    }
}
