//! The live pipeline: follows the write-ahead log, decodes each record,
//! runs detection, writes events and alerts to the stores, and commits.
//!
//! Detection and indexing each read the log at their own pace (see
//! [`indexer`]), so alerts never wait for the index.
//!
//! Exactly once across crashes: events carry their log sequence number as
//! id and the event store ignores ids it has already committed; alerts
//! carry deterministic keys. Each side keeps its own checkpoint: the index
//! checkpoint (last committed LSN) is written after the event commit; the
//! detection checkpoint (last LSN whose alerts are stored, plus the
//! correlation state at that point) after the alerts. A restart replays
//! the log from each and reaches the same state.

pub mod config;
pub mod decode;
pub mod detect;
mod indexer;
pub mod metrics;
pub mod retro;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use watchfloor_formats::parsers::Parsers;

use watchfloor_ingest::{Wal, WalError};
use watchfloor_intel::Intel;
use watchfloor_model::{Alert, AlertKind};
use watchfloor_search::{EventStore, SearchError};
use watchfloor_sigma::Limits;
use watchfloor_state::{StateError, StateStore};

pub use config::{PipelineConfig, RulesConfig};
pub use detect::{Detector, RuleSources, Rules, RulesError, TenantSnapshots, STARTER_RULES};
pub use metrics::PipelineMetrics;

/// The detection checkpoint (before indexing had its own, the only one).
pub(crate) const CHECKPOINT_KEY: &str = "pipeline.checkpoint";
pub(crate) const CORRELATION_KEY: &str = "pipeline.correlation";
pub(crate) const INDEX_CHECKPOINT_KEY: &str = "pipeline.index_checkpoint";

/// Pipeline tuning.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Events become searchable (and the checkpoint advances) this often.
    pub commit_interval: Duration,
    /// ...or after this many events, whichever comes first.
    pub commit_events: usize,
    /// Records taken from the log at once.
    pub batch: usize,
    pub correlation_limits: Limits,
    pub retention_max_age: Option<Duration>,
    pub retention_max_bytes: Option<u64>,
    pub retention_interval: Duration,
    /// Parsers of common sources to ECS fields (shipped, plus the user's).
    pub parsers: Arc<Parsers>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            commit_interval: Duration::from_secs(1),
            commit_events: 200_000,
            batch: 1024,
            correlation_limits: Limits::default(),
            retention_max_age: Some(Duration::from_secs(30 * 86_400)),
            retention_max_bytes: None,
            retention_interval: Duration::from_secs(60),
            parsers: Arc::new(Parsers::shipped()),
        }
    }
}

/// Pipeline failures (storage; input problems never stop it).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Events(#[from] SearchError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("cannot start a thread: {0}")]
    Thread(String),
}

fn get_lsn(state: &dyn StateStore, key: &str) -> Result<Option<u64>, PipelineError> {
    match state.get_checkpoint(key)? {
        Some(bytes) => {
            let raw: [u8; 8] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| PipelineError::Checkpoint(format!("bad {key} record")))?;
            Ok(Some(u64::from_le_bytes(raw)))
        }
        None => Ok(None),
    }
}

/// Where detection resumes: its last checkpointed LSN and the correlation
/// state at that point.
fn detection_checkpoint(state: &dyn StateStore) -> Result<(u64, TenantSnapshots), PipelineError> {
    let lsn = get_lsn(state, CHECKPOINT_KEY)?.unwrap_or(0);
    let snapshots = match state.get_checkpoint(CORRELATION_KEY)? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!("correlation state unreadable, starting empty: {e}");
            TenantSnapshots::new()
        }),
        None => TenantSnapshots::new(),
    };
    Ok((lsn, snapshots))
}

/// Where indexing resumes (the detection checkpoint for data written
/// before indexing had its own).
fn index_checkpoint(state: &dyn StateStore) -> Result<u64, PipelineError> {
    match get_lsn(state, INDEX_CHECKPOINT_KEY)? {
        Some(lsn) => Ok(lsn),
        None => Ok(get_lsn(state, CHECKPOINT_KEY)?.unwrap_or(0)),
    }
}

/// Where indexing resumes, recorded before either side runs: the
/// fallback of [`index_checkpoint`] is for data written before indexing
/// had its own checkpoint, and must not apply to a fresh start whose
/// detection checkpoints before the first index commit (a crash then
/// would skip the events detection had seen but the index never stored).
fn settle_index_checkpoint(state: &dyn StateStore) -> Result<u64, PipelineError> {
    if let Some(lsn) = get_lsn(state, INDEX_CHECKPOINT_KEY)? {
        return Ok(lsn);
    }
    let lsn = index_checkpoint(state)?;
    state.put_checkpoints(&[(INDEX_CHECKPOINT_KEY, &lsn.to_le_bytes())])?;
    Ok(lsn)
}

/// The highest LSN either side has checkpointed (new records of the log
/// must be numbered after it), and detection's correlation state.
pub fn load_checkpoint(state: &dyn StateStore) -> Result<(u64, TenantSnapshots), PipelineError> {
    let (detected, snapshots) = detection_checkpoint(state)?;
    Ok((detected.max(index_checkpoint(state)?), snapshots))
}

/// Everything the pipeline thread works with.
pub struct Pipeline {
    pub wal: Arc<Wal>,
    pub events: Arc<dyn EventStore>,
    pub state: Arc<dyn StateStore>,
    pub rules: Arc<Rules>,
    /// Indicators every event is matched against (`None`: intel off).
    pub intel: Option<Arc<Intel>>,
    pub metrics: Arc<PipelineMetrics>,
    pub options: PipelineOptions,
    pub stop: Arc<AtomicBool>,
}

struct Progress {
    /// Records read from the log but not yet processed: a batch read just
    /// as the rule set changed waits for the new set.
    pending: Vec<(u64, watchfloor_ingest::RawRecord)>,
    /// Highest LSN processed.
    processed: u64,
    /// Highest LSN checkpointed.
    checkpoint: u64,
    since_checkpoint: usize,
    last_checkpoint: Instant,
}

impl Pipeline {
    /// Runs until `stop` is set, then checkpoints and returns.
    pub fn run(self) -> Result<(), PipelineError> {
        let (checkpoint, mut snapshots) = detection_checkpoint(self.state.as_ref())?;
        let indexed = settle_index_checkpoint(self.state.as_ref())?;
        let mut reader = self.wal.reader(checkpoint + 1);
        tracing::info!(
            detection_from = checkpoint + 1,
            index_from = indexed + 1,
            durable = self.wal.durable(),
            "pipeline: replaying the log from the checkpoints"
        );
        let positions = Arc::new(indexer::Positions::default());
        for (at, lsn) in [
            (&positions.detected, checkpoint),
            (&positions.detection_saved, checkpoint),
            (&positions.indexed, indexed),
            (&positions.index_saved, indexed),
        ] {
            at.store(lsn, Ordering::Release);
        }
        positions.truncate(&self.wal, &self.metrics);
        let indexer = indexer::Indexer {
            wal: self.wal.clone(),
            events: self.events.clone(),
            state: self.state.clone(),
            metrics: self.metrics.clone(),
            options: self.options.clone(),
            stop: self.stop.clone(),
            positions: positions.clone(),
        }
        .spawn(indexed)?;
        let detected =
            self.detect_until_stopped(&mut reader, &positions, &mut snapshots, checkpoint);
        // The indexer sees the same stop flag; an error of its own says more.
        self.stop.store(true, Ordering::Release);
        let indexed = match indexer.join() {
            Ok(result) => result,
            Err(_) => Err(PipelineError::Checkpoint(
                "the indexer thread panicked".into(),
            )),
        };
        indexed.and(detected)
    }

    fn detect_until_stopped(
        &self,
        reader: &mut watchfloor_ingest::WalReader,
        positions: &indexer::Positions,
        snapshots: &mut TenantSnapshots,
        checkpoint: u64,
    ) -> Result<(), PipelineError> {
        let mut progress = Progress {
            pending: Vec::new(),
            processed: checkpoint,
            checkpoint,
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
        };
        loop {
            let (generation, rules) = self.rules.current();
            self.metrics.set_rules(&rules);
            let mut detector = Detector::new(&rules, self.options.correlation_limits, snapshots);
            let stopped =
                self.run_generation(generation, &mut detector, reader, &mut progress, positions)?;
            *snapshots = detector.snapshot();
            if stopped {
                return self.checkpoint(&mut progress, snapshots, positions);
            }
        }
    }

    /// Processes until the rule set changes (false) or a stop (true).
    fn run_generation(
        &self,
        generation: u64,
        detector: &mut Detector<'_>,
        reader: &mut watchfloor_ingest::WalReader,
        progress: &mut Progress,
        positions: &indexer::Positions,
    ) -> Result<bool, PipelineError> {
        let mut alerts = Vec::new();
        loop {
            if self.stop.load(Ordering::Acquire) {
                return Ok(true);
            }
            if self.rules.generation() != generation {
                return Ok(false);
            }
            let batch = match std::mem::take(&mut progress.pending) {
                pending if !pending.is_empty() => Ok(pending),
                _ => reader.next_batch(self.options.batch, Duration::from_millis(100)),
            };
            // Records that became durable after a reload get the new rules.
            if self.rules.generation() != generation {
                if let Ok(b) = batch {
                    progress.pending = b;
                }
                return Ok(false);
            }
            let batch = match batch {
                Ok(b) => b,
                Err(WalError::Corrupt {
                    path,
                    offset,
                    reason,
                }) => {
                    let resumed = reader.skip_segment()?;
                    self.metrics.wal_corrupt.inc();
                    tracing::error!(
                        "{path}: corrupt at byte {offset} ({reason}); resuming at LSN {resumed}"
                    );
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if let Some((last, _)) = batch.last() {
                self.process(&batch, detector, &mut alerts)?;
                progress.processed = *last;
                progress.since_checkpoint += batch.len();
                positions.detected.store(*last, Ordering::Release);
                self.metrics.detected.set(*last as i64);
                positions.free_room(&self.wal);
            }
            let due = progress.since_checkpoint >= self.options.commit_events
                || (progress.since_checkpoint > 0
                    && progress.last_checkpoint.elapsed() >= self.options.commit_interval);
            if due {
                self.checkpoint(progress, &detector.snapshot(), positions)?;
                let (groups, evicted) = detector.correlation_state();
                self.metrics.correlation_groups.set(groups as i64);
                self.metrics.correlation_evicted.set(evicted as i64);
            }
        }
    }

    fn process(
        &self,
        batch: &[(u64, watchfloor_ingest::RawRecord)],
        detector: &mut Detector<'_>,
        alerts: &mut Vec<Alert>,
    ) -> Result<(), PipelineError> {
        alerts.clear();
        let started = Instant::now();
        let mut detect_time = Duration::ZERO;
        let mut tally = metrics::ParseTally::default();
        let mut intel_tally = watchfloor_intel::live::MatchTally::default();
        let reader = self.intel.as_deref().map(Intel::reader);
        let intel = reader.as_ref().filter(|r| !r.is_empty());
        // One event decoded into again and again: its room is kept.
        let mut event = watchfloor_model::Event::default();
        for (lsn, raw) in batch {
            let issues = decode::decode_into(&mut event, *lsn, raw, &self.options.parsers);
            for issue in &issues {
                self.metrics.decode_issue(&raw.source, issue.kind());
            }
            tally.add(&event);
            let t = Instant::now();
            detector.detect(*lsn, &event, raw.received_ns, alerts);
            if let Some(intel) = intel {
                let found = detector.match_intel(intel, *lsn, &event, raw.received_ns, alerts);
                intel_tally.hits += found.hits;
                intel_tally.warned += found.warned;
            }
            detect_time += t.elapsed();
        }
        // Sightings take the write lock.
        drop(reader);
        self.metrics.count_parsed(&tally);
        self.metrics.count_intel(intel_tally);
        self.metrics
            .rule_eval_seconds
            .observe(detect_time.as_secs_f64() / batch.len().max(1) as f64);
        if !alerts.is_empty() {
            let stored = self.state.insert_alerts(alerts)?;
            self.metrics.count_alerts(&stored, batch);
            if let Some(intel) = &self.intel {
                record_sightings(intel, self.state.as_ref(), &stored)?;
            }
        }
        self.metrics.events.inc_by(batch.len() as u64);
        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Records the detection checkpoint: everything up to `processed` has
    /// its alerts stored, and the correlation state as of now.
    fn checkpoint(
        &self,
        progress: &mut Progress,
        snapshots: &TenantSnapshots,
        positions: &indexer::Positions,
    ) -> Result<(), PipelineError> {
        progress.since_checkpoint = 0;
        progress.last_checkpoint = Instant::now();
        if progress.processed == progress.checkpoint {
            return Ok(());
        }
        let upto = progress.processed;
        let correlation = serde_json::to_vec(snapshots).unwrap_or_default();
        self.state.put_checkpoints(&[
            (CHECKPOINT_KEY, &upto.to_le_bytes()),
            (CORRELATION_KEY, &correlation),
        ])?;
        progress.checkpoint = upto;
        positions.detection_saved.store(upto, Ordering::Release);
        positions.truncate(&self.wal, &self.metrics);
        Ok(())
    }
}

/// One sighting per stored intel alert (a replayed alert is not stored
/// again, so it is not counted twice), kept in the state store: one write
/// per scope, each indicator once.
pub(crate) fn record_sightings(
    intel: &Intel,
    state: &dyn StateStore,
    stored: &[Alert],
) -> Result<(), PipelineError> {
    let mut changed: std::collections::BTreeMap<(&str, String), watchfloor_model::Indicator> =
        Default::default();
    for alert in stored.iter().filter(|a| a.kind == AlertKind::Intel) {
        let field = |name: &str| alert.fields.get(name).and_then(|v| v.as_str());
        let (Some(scope), Some(kind), Some(value)) = (
            field("intel.scope"),
            field("intel.kind").and_then(|k| k.parse().ok()),
            field("intel.indicator"),
        ) else {
            continue;
        };
        if let Some(ind) = intel.sighted(scope, kind, value, alert.time_ns) {
            changed.insert((scope, format!("{kind}:{value}")), ind);
        }
    }
    let mut scopes: Vec<&str> = changed.keys().map(|(scope, _)| *scope).collect();
    scopes.dedup();
    for scope in scopes {
        let of_scope: Vec<_> = changed
            .iter()
            .filter(|((s, _), _)| *s == scope)
            .map(|(_, ind)| ind.clone())
            .collect();
        state.put_indicators(scope, &of_scope)?;
    }
    Ok(())
}

/// Drops event buckets past the retention limits and refreshes the store
/// gauges.
pub(crate) fn retention(
    events: &dyn EventStore,
    options: &PipelineOptions,
    metrics: &PipelineMetrics,
) {
    let now = watchfloor_model::now_ns();
    let age = options
        .retention_max_age
        .map(|d| d.as_nanos().min(i64::MAX as u128) as i64);
    match events.enforce_retention(now, age, options.retention_max_bytes) {
        Ok(r) if r.buckets_dropped > 0 => {
            metrics.retention_dropped.inc_by(r.buckets_dropped as u64);
            tracing::info!(
                buckets = r.buckets_dropped,
                bytes = r.bytes_freed,
                "retention dropped old buckets"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::error!("retention: {e}"),
    }
    if let Ok(stats) = events.stats() {
        metrics.store_bytes.set(stats.bytes as i64);
        metrics.store_events.set(stats.events as i64);
        metrics.store_buckets.set(stats.buckets as i64);
    }
}
