//! The live pipeline: follows the write-ahead log, decodes each record,
//! runs detection, writes events and alerts to the stores, and commits.
//!
//! Exactly once across crashes: events carry their log sequence number as
//! id and the event store ignores ids it has already committed; alerts
//! carry deterministic keys; the checkpoint (last committed LSN plus the
//! correlation state at that point) is written after the event commit. A
//! restart replays the log from the checkpoint and reaches the same state.

pub mod decode;
pub mod detect;
mod indexer;
pub mod metrics;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchfloor_ingest::{Wal, WalError};
use watchfloor_sigma::Limits;
use watchfloor_store::{Alert, EventStore, StateStore, StoreError};

pub use detect::{Detector, RuleSources, Rules, RulesError, TenantSnapshots, STARTER_RULES};
pub use metrics::PipelineMetrics;

pub(crate) const CHECKPOINT_KEY: &str = "pipeline.checkpoint";
pub(crate) const CORRELATION_KEY: &str = "pipeline.correlation";

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
        }
    }
}

/// Pipeline failures (storage; input problems never stop it).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

/// Where processing resumes: the last committed LSN and the correlation
/// state at that point.
pub fn load_checkpoint(state: &dyn StateStore) -> Result<(u64, TenantSnapshots), PipelineError> {
    let lsn = match state.get_meta(CHECKPOINT_KEY)? {
        Some(bytes) => {
            let raw: [u8; 8] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| PipelineError::Checkpoint("bad checkpoint record".into()))?;
            u64::from_le_bytes(raw)
        }
        None => 0,
    };
    let snapshots = match state.get_meta(CORRELATION_KEY)? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!("correlation state unreadable, starting empty: {e}");
            TenantSnapshots::new()
        }),
        None => TenantSnapshots::new(),
    };
    Ok((lsn, snapshots))
}

/// Everything the pipeline thread works with.
pub struct Pipeline {
    pub wal: Arc<Wal>,
    pub events: Arc<dyn EventStore>,
    pub state: Arc<dyn StateStore>,
    pub rules: Arc<Rules>,
    pub metrics: Arc<PipelineMetrics>,
    pub options: PipelineOptions,
    pub stop: Arc<AtomicBool>,
}

struct Progress {
    /// Records read from the log but not yet processed: a batch read just
    /// as the rule set changed waits for the new set.
    pending: Vec<(u64, watchfloor_ingest::RawRecord)>,
    /// Highest LSN handed to the stores.
    appended: u64,
    /// Highest LSN whose commit and checkpoint were requested.
    checkpoint: u64,
    since_commit: usize,
    last_commit: Instant,
    last_retention: Instant,
}

impl Pipeline {
    /// Runs until `stop` is set, then commits and returns.
    pub fn run(self) -> Result<(), PipelineError> {
        let (checkpoint, mut snapshots) = load_checkpoint(self.state.as_ref())?;
        let mut reader = self.wal.reader(checkpoint + 1);
        tracing::info!(
            from = checkpoint + 1,
            durable = self.wal.durable(),
            "pipeline: replaying the log from the checkpoint"
        );
        let mut indexer = indexer::Indexer::spawn(
            self.events.clone(),
            self.state.clone(),
            self.wal.clone(),
            self.metrics.clone(),
            // Room for a commit's worth of batches at tens of thousands of
            // events a second, so detection does not wait on a commit; at
            // most 64 x 1024 events wait here.
            64,
        )?;
        let mut progress = Progress {
            pending: Vec::new(),
            appended: checkpoint,
            checkpoint,
            since_commit: 0,
            last_commit: Instant::now(),
            last_retention: Instant::now() - self.options.retention_interval,
        };
        loop {
            let (generation, rules) = self.rules.current();
            self.metrics.set_rules(&rules);
            let mut detector = Detector::new(&rules, self.options.correlation_limits, &snapshots);
            let stopped = self.run_generation(
                generation,
                &mut detector,
                &mut reader,
                &mut progress,
                &mut indexer,
            );
            let stopped = match stopped {
                Ok(s) => s,
                Err(e) => {
                    // The indexer's own error, if it failed first, says more.
                    indexer.finish()?;
                    return Err(e);
                }
            };
            snapshots = detector.snapshot();
            if stopped {
                self.commit(&mut progress, &snapshots, &mut indexer)?;
                return indexer.finish();
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
        indexer: &mut indexer::Indexer,
    ) -> Result<bool, PipelineError> {
        let mut alerts = Vec::new();
        let mut docs = Vec::new();
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
            if !batch.is_empty() {
                self.process(&batch, detector, &mut docs, &mut alerts)?;
                indexer.send(indexer::Work::Docs(std::mem::take(&mut docs)))?;
                let last = batch.last().map_or(progress.appended, |(lsn, _)| *lsn);
                progress.appended = last;
                progress.since_commit += batch.len();
                self.wal.set_processed(last);
            }
            let due = progress.since_commit >= self.options.commit_events
                || (progress.since_commit > 0
                    && progress.last_commit.elapsed() >= self.options.commit_interval);
            if due {
                self.commit(progress, &detector.snapshot(), indexer)?;
                let (groups, evicted) = detector.correlation_state();
                self.metrics.correlation_groups.set(groups as i64);
                self.metrics.correlation_evicted.set(evicted as i64);
            }
            if progress.last_retention.elapsed() >= self.options.retention_interval {
                self.retention(progress);
            }
        }
    }

    fn process(
        &self,
        batch: &[(u64, watchfloor_ingest::RawRecord)],
        detector: &mut Detector<'_>,
        docs: &mut Vec<watchfloor_store::EventDoc>,
        alerts: &mut Vec<Alert>,
    ) -> Result<(), PipelineError> {
        docs.clear();
        alerts.clear();
        let started = Instant::now();
        let mut detect_time = Duration::ZERO;
        for (lsn, raw) in batch {
            let (event, issues) = decode::decode(*lsn, raw);
            for issue in &issues {
                self.metrics.decode_issue(&raw.source, issue.kind());
            }
            let t = Instant::now();
            detector.detect(*lsn, &event, raw.received_ns, alerts);
            detect_time += t.elapsed();
            docs.push(decode::to_doc(*lsn, raw, &event));
        }
        self.metrics
            .rule_eval_seconds
            .observe(detect_time.as_secs_f64() / batch.len().max(1) as f64);
        if !alerts.is_empty() {
            let stored = self.state.insert_alerts(alerts)?;
            self.metrics.count_alerts(&stored, batch);
        }
        self.metrics.events.inc_by(batch.len() as u64);
        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Asks the indexer to commit what was handed to it and to record the
    /// checkpoint with the correlation state as of now.
    fn commit(
        &self,
        progress: &mut Progress,
        snapshots: &TenantSnapshots,
        indexer: &mut indexer::Indexer,
    ) -> Result<(), PipelineError> {
        if progress.appended == progress.checkpoint {
            return Ok(());
        }
        let upto = progress.appended;
        let correlation = serde_json::to_vec(snapshots).unwrap_or_default();
        indexer.send(indexer::Work::Commit { upto, correlation })?;
        progress.checkpoint = upto;
        progress.since_commit = 0;
        progress.last_commit = Instant::now();
        Ok(())
    }

    fn retention(&self, progress: &mut Progress) {
        progress.last_retention = Instant::now();
        let now = watchfloor_ingest::now_ns();
        let age = self
            .options
            .retention_max_age
            .map(|d| d.as_nanos().min(i64::MAX as u128) as i64);
        match self
            .events
            .enforce_retention(now, age, self.options.retention_max_bytes)
        {
            Ok(r) if r.buckets_dropped > 0 => {
                self.metrics
                    .retention_dropped
                    .inc_by(r.buckets_dropped as u64);
                tracing::info!(
                    buckets = r.buckets_dropped,
                    bytes = r.bytes_freed,
                    "retention dropped old buckets"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!("retention: {e}"),
        }
        if let Ok(stats) = self.events.stats() {
            self.metrics.store_bytes.set(stats.bytes as i64);
            self.metrics.store_events.set(stats.events as i64);
            self.metrics.store_buckets.set(stats.buckets as i64);
        }
    }
}
