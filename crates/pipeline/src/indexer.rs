//! The storage side of the pipeline, on a thread of its own: it appends
//! events to the event store and commits them, then writes the checkpoint.
//! Detection never waits for a commit (a commit serialises index segments
//! and took a few hundred milliseconds under load, which showed up as
//! alert latency when both ran on one thread). The queue between them is
//! bounded, so a slow store still pushes back on ingest.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use watchfloor_ingest::Wal;
use watchfloor_store::{EventDoc, EventStore, StateStore};

use crate::metrics::PipelineMetrics;
use crate::{PipelineError, CHECKPOINT_KEY, CORRELATION_KEY};

pub(crate) enum Work {
    Docs(Vec<EventDoc>),
    /// Commit everything up to `upto`, then record it as the checkpoint
    /// together with the correlation state taken at exactly that point.
    Commit {
        upto: u64,
        correlation: Vec<u8>,
    },
}

pub(crate) struct Indexer {
    tx: Option<SyncSender<Work>>,
    thread: Option<std::thread::JoinHandle<Result<(), PipelineError>>>,
}

struct Sink {
    events: Arc<dyn EventStore>,
    state: Arc<dyn StateStore>,
    wal: Arc<Wal>,
    metrics: Arc<PipelineMetrics>,
}

impl Indexer {
    pub(crate) fn spawn(
        events: Arc<dyn EventStore>,
        state: Arc<dyn StateStore>,
        wal: Arc<Wal>,
        metrics: Arc<PipelineMetrics>,
        depth: usize,
    ) -> Result<Indexer, PipelineError> {
        let (tx, rx) = sync_channel(depth.max(1));
        let sink = Sink {
            events,
            state,
            wal,
            metrics,
        };
        let thread = std::thread::Builder::new()
            .name("indexer".into())
            .spawn(move || sink.run(rx))
            .map_err(|e| PipelineError::Checkpoint(format!("indexer thread: {e}")))?;
        Ok(Indexer {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues work (waits while the queue is full). If the indexer has
    /// stopped on an error, that error is returned.
    pub(crate) fn send(&mut self, work: Work) -> Result<(), PipelineError> {
        let sent = self.tx.as_ref().map(|tx| tx.send(work).is_ok());
        if sent == Some(true) {
            return Ok(());
        }
        self.finish()?;
        Err(PipelineError::Checkpoint("the indexer stopped".into()))
    }

    /// Lets the queue drain and waits for the thread.
    pub(crate) fn finish(&mut self) -> Result<(), PipelineError> {
        self.tx = None;
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(PipelineError::Checkpoint(
                "the indexer thread panicked".into(),
            )),
            None => Ok(()),
        }
    }
}

impl Sink {
    fn run(self, rx: Receiver<Work>) -> Result<(), PipelineError> {
        for work in rx {
            match work {
                Work::Docs(docs) => self.events.append(&docs)?,
                Work::Commit { upto, correlation } => self.commit(upto, &correlation)?,
            }
        }
        Ok(())
    }

    fn commit(&self, upto: u64, correlation: &[u8]) -> Result<(), PipelineError> {
        let started = Instant::now();
        self.events.commit(upto)?;
        self.state.put_meta(&[
            (CHECKPOINT_KEY, &upto.to_le_bytes()),
            (CORRELATION_KEY, correlation),
        ])?;
        self.metrics.checkpoint.set(upto as i64);
        self.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = self.wal.remove_through(upto) {
            tracing::warn!("{e}");
        }
        Ok(())
    }
}
