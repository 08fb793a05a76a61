//! The intel feeds of `[[intel.feeds]]`, pulled on their schedule (or when
//! asked) by one task each: pages imported as they come (re-pulled values
//! merge), the position saved in the checkpoint store so the next pull
//! resumes, the new indicators retro-hunted, and each feed's last pull kept
//! for the API and the console.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use watchfloor_intel::feeds::{pull, FeedConfig, FeedKind, Position, Pulled};
use watchfloor_intel::{Indicator, SHARED};
use watchfloor_model::{format_rfc3339, now_ns};

use crate::api::intel::{start_retro_hunt, store_import};
use crate::api::Shared;

/// One feed as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FeedStatus {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FeedKind,
    pub url: String,
    /// The tenant the indicators go to, or `shared`.
    pub scope: String,
    pub interval_minutes: u64,
    /// `idle` (never pulled yet), `pulling`, `ok` or `failed`.
    pub state: &'static str,
    pub last_pull: Option<String>,
    pub last_success: Option<String>,
    pub pulled: Pulled,
    pub added: usize,
    pub merged: usize,
    pub retro_hunt: Option<u64>,
    pub error: Option<String>,
}

/// The feeds of this server and their tasks.
#[derive(Default)]
pub struct Feeds {
    statuses: Mutex<Vec<FeedStatus>>,
    /// Per feed, what wakes its task for a pull now.
    wake: Vec<(String, Arc<Notify>)>,
}

fn checkpoint_key(name: &str) -> String {
    format!("intel.feed.{name}")
}

fn scope_of(feed: &FeedConfig) -> String {
    feed.tenant.clone().unwrap_or_else(|| SHARED.to_string())
}

impl Feeds {
    /// The feeds of the configuration, not yet running.
    pub fn new(configs: &[FeedConfig]) -> Feeds {
        let statuses = configs
            .iter()
            .map(|f| FeedStatus {
                name: f.name.clone(),
                kind: f.kind,
                url: f.url.clone(),
                scope: f.tenant.clone().unwrap_or_else(|| "shared".into()),
                interval_minutes: f.interval_minutes,
                state: "idle",
                last_pull: None,
                last_success: None,
                pulled: Pulled::default(),
                added: 0,
                merged: 0,
                retro_hunt: None,
                error: None,
            })
            .collect();
        Feeds {
            statuses: Mutex::new(statuses),
            wake: configs
                .iter()
                .map(|f| (f.name.clone(), Arc::new(Notify::new())))
                .collect(),
        }
    }

    fn update(&self, name: &str, f: impl FnOnce(&mut FeedStatus)) {
        let mut statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = statuses.iter_mut().find(|s| s.name == name) {
            f(s);
        }
    }

    /// The feeds `tenant` may see: its own and the shared ones.
    pub fn list(&self, tenant: &str) -> Vec<FeedStatus> {
        let statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        statuses
            .iter()
            .filter(|s| s.scope == tenant || s.scope == "shared")
            .cloned()
            .collect()
    }

    /// Wakes a feed's task for a pull now; false for no such feed.
    pub fn pull_now(&self, name: &str) -> bool {
        match self.wake.iter().find(|(n, _)| n == name) {
            Some((_, notify)) => {
                notify.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Starts one task per feed on the current runtime.
pub fn spawn(app: Shared, configs: Vec<FeedConfig>) {
    for feed in configs {
        let Some(notify) = app
            .feeds
            .wake
            .iter()
            .find(|(n, _)| *n == feed.name)
            .map(|(_, n)| n.clone())
        else {
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                pull_once(&app, &feed).await;
                let every = Duration::from_secs(feed.interval_minutes.max(1) * 60);
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = notify.notified() => {}
                }
            }
        });
    }
}

/// One pull of a feed, its outcome recorded.
async fn pull_once(app: &Shared, feed: &FeedConfig) {
    app.feeds.update(&feed.name, |s| {
        s.state = "pulling";
        s.last_pull = Some(format_rfc3339(now_ns()));
    });
    let outcome = pull_and_import(app, feed).await;
    let now = format_rfc3339(now_ns());
    app.feeds.update(&feed.name, |s| match outcome {
        Ok((pulled, added, merged, retro_hunt)) => {
            tracing::info!(feed = feed.name, added, merged, "intel feed pulled");
            s.state = "ok";
            s.last_success = Some(now);
            s.pulled = pulled;
            (s.added, s.merged, s.retro_hunt, s.error) = (added, merged, retro_hunt, None);
        }
        Err(e) => {
            tracing::warn!(feed = feed.name, "intel feed pull failed: {e}");
            s.state = "failed";
            s.error = Some(e);
        }
    });
}

/// Pulls from the saved position, imports page by page, saves the new
/// position; `(pulled, added, merged, retro hunt)`.
async fn pull_and_import(
    app: &Shared,
    feed: &FeedConfig,
) -> Result<(Pulled, usize, usize, Option<u64>), String> {
    let scope = scope_of(feed);
    let position: Position = app
        .state
        .get_checkpoint(&checkpoint_key(&feed.name))
        .map_err(|e| e.to_string())?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let (mut added, mut merged) = (0, 0);
    let mut fresh: Vec<Indicator> = Vec::new();
    let mut page = |imported: watchfloor_intel::stix::Imported| {
        // Storing is blocking work: off the runtime's async threads.
        let report = tokio::task::block_in_place(|| store_import(app, &scope, imported.indicators))
            .map_err(|e| e.to_string())?;
        added += report.added;
        merged += report.merged;
        fresh.extend(report.fresh);
        Ok(())
    };
    let (pulled, position) = pull(feed, &position, &mut page).await?;
    let bytes = serde_json::to_vec(&position).map_err(|e| e.to_string())?;
    let key = checkpoint_key(&feed.name);
    tokio::task::block_in_place(|| app.state.put_checkpoints(&[(key.as_str(), &bytes)]))
        .map_err(|e| e.to_string())?;
    let retro = start_retro_hunt(app, &scope, &feed.name, fresh);
    Ok((pulled, added, merged, retro))
}
