//! The storage side of the pipeline, on a thread of its own with its own
//! reader of the log: it decodes records into stored documents, appends
//! them to the event store, commits, and records how far it got (the
//! index checkpoint).
//!
//! Detection reads the log on another thread and never waits for
//! indexing: the log on disk is the buffer between them, so a slow
//! commit or a segment merge shows up as search freshness, not as alert
//! latency. Both positions bound the log's backlog, which is what pushes
//! back on ingest when either falls behind.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchfloor_ingest::{Wal, WalError, WalReader};
use watchfloor_search::EventStore;
use watchfloor_state::StateStore;

use crate::metrics::PipelineMetrics;
use crate::{decode, PipelineError, PipelineOptions, INDEX_CHECKPOINT_KEY};

/// How far each side has got, shared between the two threads.
#[derive(Default)]
pub(crate) struct Positions {
    /// Highest LSN detection has processed (alerts stored).
    pub(crate) detected: AtomicU64,
    /// Highest LSN appended to the event store.
    pub(crate) indexed: AtomicU64,
    /// Saved checkpoints: replay starts after them.
    pub(crate) detection_saved: AtomicU64,
    pub(crate) index_saved: AtomicU64,
}

impl Positions {
    /// Frees log room up to what both sides have processed.
    pub(crate) fn free_room(&self, wal: &Wal) {
        let processed = self
            .detected
            .load(Ordering::Acquire)
            .min(self.indexed.load(Ordering::Acquire));
        wal.set_processed(processed);
    }

    /// After a checkpoint: removes the log segments both checkpoints have
    /// passed.
    pub(crate) fn truncate(&self, wal: &Wal, metrics: &PipelineMetrics) {
        let saved = self
            .detection_saved
            .load(Ordering::Acquire)
            .min(self.index_saved.load(Ordering::Acquire));
        metrics.checkpoint.set(saved as i64);
        if let Err(e) = wal.remove_through(saved) {
            tracing::warn!("{e}");
        }
    }
}

pub(crate) struct Indexer {
    pub(crate) wal: Arc<Wal>,
    pub(crate) events: Arc<dyn EventStore>,
    pub(crate) state: Arc<dyn StateStore>,
    pub(crate) metrics: Arc<PipelineMetrics>,
    pub(crate) options: PipelineOptions,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) positions: Arc<Positions>,
}

struct Cursor {
    appended: u64,
    committed: u64,
    last_commit: Instant,
    last_retention: Instant,
    /// The last read filled a batch: the indexer is catching up.
    behind: bool,
}

/// While catching up, the indexer commits this many times less often:
/// what it indexes is late already, and every commit writes a segment
/// that merges pay for again (committing every 250,000 events instead of
/// 50,000 saved 7% of the store's CPU).
const BEHIND_COMMIT_FACTOR: u32 = 5;

impl Cursor {
    fn commit_due(&self, options: &crate::PipelineOptions) -> bool {
        let factor = if self.behind { BEHIND_COMMIT_FACTOR } else { 1 };
        let pending = self.appended - self.committed;
        pending >= options.commit_events as u64 * u64::from(factor)
            || (pending > 0 && self.last_commit.elapsed() >= options.commit_interval * factor)
    }
}

impl Indexer {
    /// Starts the thread at the LSN after `from`.
    pub(crate) fn spawn(
        self,
        from: u64,
    ) -> Result<std::thread::JoinHandle<Result<(), PipelineError>>, PipelineError> {
        std::thread::Builder::new()
            .name("indexer".into())
            .spawn(move || {
                lower_thread_priority();
                self.run(from)
            })
            .map_err(|e| PipelineError::Checkpoint(format!("indexer thread: {e}")))
    }

    fn run(self, from: u64) -> Result<(), PipelineError> {
        let mut reader = self.wal.reader(from + 1);
        let mut cursor = Cursor {
            appended: from,
            committed: from,
            last_commit: Instant::now(),
            last_retention: Instant::now() - self.options.retention_interval,
            behind: false,
        };
        let mut decoded = Vec::new();
        while !self.stop.load(Ordering::Acquire) {
            if !self.index_batch(&mut reader, &mut decoded, &mut cursor)? {
                continue;
            }
            if cursor.commit_due(&self.options) {
                self.commit(&mut cursor)?;
            }
            if cursor.last_retention.elapsed() >= self.options.retention_interval {
                cursor.last_retention = Instant::now();
                crate::retention(self.events.as_ref(), &self.options, &self.metrics);
            }
        }
        self.commit(&mut cursor)
    }

    /// Reads and appends one batch (none when the log has nothing new);
    /// false after skipping a corrupt stretch.
    fn index_batch(
        &self,
        reader: &mut WalReader,
        decoded: &mut Vec<watchfloor_model::Event>,
        cursor: &mut Cursor,
    ) -> Result<bool, PipelineError> {
        let batch = match reader.next_batch(self.options.batch, Duration::from_millis(100)) {
            Ok(b) => b,
            // Detection counts and reports a corrupt stretch; both skip it.
            Err(WalError::Corrupt { .. }) => {
                reader.skip_segment()?;
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        cursor.behind = batch.len() >= self.options.batch;
        let Some((last, _)) = batch.last() else {
            return Ok(true);
        };
        // The events of the last batch are decoded into again (their room kept).
        decoded.resize_with(batch.len(), Default::default);
        for (event, (lsn, raw)) in decoded.iter_mut().zip(&batch) {
            decode::decode_into(event, *lsn, raw, &self.options.parsers);
        }
        let events: Vec<_> = batch
            .iter()
            .zip(decoded.iter())
            .map(|((lsn, raw), event)| decode::new_event(*lsn, raw, event))
            .collect();
        self.events.append_new(&events)?;
        cursor.appended = *last;
        self.positions.indexed.store(*last, Ordering::Release);
        self.positions.free_room(&self.wal);
        Ok(true)
    }

    fn commit(&self, cursor: &mut Cursor) -> Result<(), PipelineError> {
        cursor.last_commit = Instant::now();
        if cursor.appended == cursor.committed {
            return Ok(());
        }
        let started = Instant::now();
        self.events.commit(cursor.appended)?;
        self.state
            .put_checkpoints(&[(INDEX_CHECKPOINT_KEY, &cursor.appended.to_le_bytes())])?;
        cursor.committed = cursor.appended;
        self.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        self.positions
            .index_saved
            .store(cursor.committed, Ordering::Release);
        self.positions.truncate(&self.wal, &self.metrics);
        Ok(())
    }
}

/// Lowers this thread's CPU priority (nice 10). tantivy's indexing,
/// merging and compressing threads are started from this thread and
/// inherit it, so on a busy machine detection (alert latency) and ingest
/// (acknowledged writes) get the CPU first and indexing takes the rest.
/// Only Linux gives each thread its own nice value; elsewhere this does
/// nothing.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id.
        let ok = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 10) == 0
        };
        if !ok {
            tracing::debug!("could not lower the indexer's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(pending: u64, since_commit: Duration, behind: bool) -> Cursor {
        Cursor {
            appended: 10 + pending,
            committed: 10,
            last_commit: Instant::now() - since_commit,
            last_retention: Instant::now(),
            behind,
        }
    }

    #[test]
    fn commits_come_less_often_while_catching_up() {
        let options = crate::PipelineOptions::default();
        let second = options.commit_interval;
        assert!(cursor(5, second * 2, false).commit_due(&options));
        assert!(!cursor(5, second * 2, true).commit_due(&options));
        assert!(cursor(5, second * 6, true).commit_due(&options));
        assert!(!cursor(0, second * 6, true).commit_due(&options));
        let many = options.commit_events as u64;
        assert!(cursor(many, Duration::ZERO, false).commit_due(&options));
        assert!(!cursor(many, Duration::ZERO, true).commit_due(&options));
        assert!(cursor(many * 5, Duration::ZERO, true).commit_due(&options));
    }
}
