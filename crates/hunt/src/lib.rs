//! Hunting: a compiled rule set over files and directories on all cores.
//! Files are decoded and evaluated in parallel, one file per worker;
//! findings stream in batches through a bounded channel to one sink, so
//! memory stays bounded whatever the input size. The inputs of correlations
//! (only the few fields they need, for the rules they reference) are
//! gathered and run in time order at the end, since files are not read in
//! time order.
//!
//! The `watchfloor hunt` command is this plus arguments, a progress bar and
//! output formats; the same code can hunt the past from `serve`.

mod inputs;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crossbeam_channel::bounded;
use rayon::prelude::*;
use watchfloor_formats::parsers::Parsers;
use watchfloor_formats::{read_path, ReadOptions, Record};
use watchfloor_intel::live::{Match, Reader};
use watchfloor_intel::Intel;
use watchfloor_model::{AlertKind, Event, Severity};
use watchfloor_sigma::{
    CorrelationEngine, Finding, Hit, Limits, RuleRef, RuleSet, Scratch, Source,
};

pub use inputs::{collect_inputs, Input, LOG_EXTENSIONS};

/// The scope a hunt's indicators are imported into and matched in.
pub const INTEL_SCOPE: &str = "hunt";

/// Why a hunt stopped.
#[derive(Debug, thiserror::Error)]
pub enum HuntError {
    #[error("{path}: cannot read: {error}")]
    Input { path: String, error: std::io::Error },
    #[error("worker threads: {0}")]
    Threads(String),
    /// The sink refused a finding (an output error).
    #[error("output: {0}")]
    Output(std::io::Error),
}

/// How to hunt.
#[derive(Debug, Clone)]
pub struct HuntOptions {
    /// Parsers of common sources to ECS fields, run on every record that is
    /// not a Windows event, as `serve` does (so rules and indicators see
    /// `source.ip`, `user.name`, ... in syslog files too).
    pub parsers: Option<std::sync::Arc<Parsers>>,
    /// Indicators every event is matched against besides the rules (the
    /// scope [`INTEL_SCOPE`]); intel matches are findings of kind intel.
    pub intel: Option<std::sync::Arc<Intel>>,
    /// Report only detections at or above this level.
    pub min_level: Severity,
    /// Worker threads.
    pub threads: usize,
    /// A format forced on every input, instead of detecting it.
    pub format: Option<watchfloor_formats::Format>,
}

/// What a hunt tells while it runs: bytes done, and what it could not read.
pub trait Progress: Sync {
    fn advance(&self, bytes: u64);
    /// An input that could not be read at all.
    fn unreadable(&self, error: &dyn std::fmt::Display);
    /// One record that could not be decoded (always counted).
    fn bad_record(&self, error: &dyn std::fmt::Display);
}

/// The figures of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HuntReport {
    pub files: u64,
    pub files_unreadable: u64,
    pub events: u64,
    pub bytes: u64,
    pub parse_errors: u64,
    pub detections: u64,
    pub correlations_fired: u64,
    /// Of the detections, indicator matches.
    pub intel_matches: u64,
}

/// Shared counters of a run.
#[derive(Default)]
struct Counters {
    files: AtomicU64,
    unreadable: AtomicU64,
    events: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    intel_matches: AtomicU64,
}

/// Findings per batch sent to the sink: one channel operation (and at most
/// one thread wake-up) per batch rather than per finding.
const BATCH: usize = 256;

/// Runs `rules` over `inputs`, handing every finding (detections as they
/// come, then correlations in time order) to `sink` on one thread.
pub fn hunt(
    rules: &RuleSet,
    inputs: &[Input],
    options: &HuntOptions,
    progress: &dyn Progress,
    sink: &mut (dyn FnMut(&Finding) -> std::io::Result<()> + Send),
) -> Result<HuntReport, HuntError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.max(1))
        .build()
        .map_err(|e| HuntError::Threads(e.to_string()))?;
    let read_options = ReadOptions {
        format: options.format,
        evtx_threads: if inputs.len() == 1 {
            options.threads.max(1)
        } else {
            1
        },
    };
    let counters = Counters::default();
    let hits = Mutex::new(Vec::new());
    let mut detections = 0u64;
    let (tx, rx) = bounded::<Vec<Finding>>(64);
    std::thread::scope(|s| -> Result<(), HuntError> {
        let writer = s.spawn(|| -> std::io::Result<u64> {
            let mut n = 0;
            for batch in rx {
                for f in &batch {
                    sink(f)?;
                    n += 1;
                }
            }
            Ok(n)
        });
        pool.install(|| {
            let job = FileJob {
                rules,
                read_options: &read_options,
                min_level: options.min_level,
                intel: options.intel.as_deref(),
                parsers: options.parsers.as_deref(),
                now_ns: watchfloor_model::now_ns(),
                counters: &counters,
                hits: &hits,
                progress,
            };
            inputs
                .par_iter()
                .for_each_with(tx, |tx, input| job.run(&input.path, tx));
        });
        detections = writer
            .join()
            .map_err(|_| HuntError::Threads("the output thread failed".into()))?
            .map_err(HuntError::Output)?;
        Ok(())
    })?;
    let hits = hits.into_inner().unwrap_or_else(|p| p.into_inner());
    let (correlations, fired) = run_correlations(rules, hits, options.min_level);
    for f in &correlations {
        sink(f).map_err(HuntError::Output)?;
    }
    Ok(HuntReport {
        files: counters.files.into_inner(),
        files_unreadable: counters.unreadable.into_inner(),
        events: counters.events.into_inner(),
        bytes: counters.bytes.into_inner(),
        parse_errors: counters.errors.into_inner(),
        detections: detections + correlations.len() as u64,
        correlations_fired: fired,
        intel_matches: counters.intel_matches.into_inner(),
    })
}

/// Everything a worker needs to hunt through one file.
struct FileJob<'a> {
    rules: &'a RuleSet,
    read_options: &'a ReadOptions,
    min_level: Severity,
    intel: Option<&'a Intel>,
    parsers: Option<&'a Parsers>,
    /// Indicators match as they are now, whatever the logs' age.
    now_ns: i64,
    counters: &'a Counters,
    hits: &'a Mutex<Vec<Hit>>,
    progress: &'a dyn Progress,
}

impl FileJob<'_> {
    fn run(&self, path: &Path, tx: &mut crossbeam_channel::Sender<Vec<Finding>>) {
        let mut scratch = Scratch::default();
        let mut matched = Vec::new();
        let mut local_hits = Vec::new();
        let mut batch = Vec::with_capacity(BATCH);
        let mut events = 0u64;
        let intel = self.intel.map(Intel::reader);
        let intel = intel.as_ref().filter(|r| !r.is_empty());
        let mut intel_matches = Vec::new();
        let mut on_record = |record: Record| {
            let mut event = match record {
                Ok(e) => e,
                Err(e) => {
                    self.progress.bad_record(&e);
                    return ControlFlow::Continue(());
                }
            };
            events += 1;
            if let Some(parsers) = self.parsers.filter(|_| !event.core.windows) {
                parsers.apply(&mut event);
            }
            matched.clear();
            self.rules.evaluate(&event, &mut scratch, &mut matched);
            for &r in &matched {
                if let (Some(fields), Some(ts)) =
                    (self.rules.correlation_fields(r), event.core.timestamp)
                {
                    local_hits.push(Hit::from_event(Source::Rule(r), ts, &event, fields));
                }
                let rule = &self.rules.rules()[r];
                if rule.emit && rule.level() >= self.min_level {
                    batch.push(Finding::from_match(self.rules, r, &event));
                }
            }
            if let Some(intel) = intel {
                self.match_intel(intel, &event, &mut intel_matches, &mut batch);
            }
            // The sink only goes away on an output error, reported by its thread.
            if batch.len() >= BATCH && tx.send(std::mem::take(&mut batch)).is_err() {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        };
        let c = self.counters;
        c.files.fetch_add(1, Ordering::Relaxed);
        match read_path(path, self.read_options, &mut on_record) {
            Ok(stats) => {
                c.bytes.fetch_add(stats.bytes, Ordering::Relaxed);
                c.errors.fetch_add(stats.errors, Ordering::Relaxed);
                self.progress.advance(stats.bytes);
            }
            Err(e) => {
                c.unreadable.fetch_add(1, Ordering::Relaxed);
                self.progress.unreadable(&e);
            }
        }
        c.events.fetch_add(events, Ordering::Relaxed);
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        if !local_hits.is_empty() {
            if let Ok(mut h) = self.hits.lock() {
                h.extend(local_hits);
            }
        }
    }
}

impl FileJob<'_> {
    /// Adds the indicator matches of `event` at or above the minimum level
    /// to `batch`.
    fn match_intel(
        &self,
        intel: &Reader<'_>,
        event: &Event,
        scratch: &mut Vec<Match>,
        batch: &mut Vec<Finding>,
    ) {
        scratch.clear();
        intel.match_event(INTEL_SCOPE, event, self.now_ns, scratch);
        for m in scratch.drain(..) {
            if m.level() >= self.min_level {
                self.counters.intel_matches.fetch_add(1, Ordering::Relaxed);
                batch.push(intel_finding(&m, event));
            }
        }
    }
}

/// The finding of one indicator match: named by the indicator, its context
/// in `intel.*` fields, like the intel alerts of `serve`.
fn intel_finding(m: &Match, event: &Event) -> Finding {
    let rule = RuleRef {
        id: Some(m.rule_id()),
        title: m.title(false),
        level: m.level(),
        tags: m.tags(),
        kind: AlertKind::Intel,
    };
    Finding::of_event(rule, event, m.fields(false))
}

/// Runs the correlations over the gathered hits in time order; returns
/// the findings at or above `min_level` and how many correlations fired.
fn run_correlations(
    rules: &RuleSet,
    mut hits: Vec<Hit>,
    min_level: Severity,
) -> (Vec<Finding>, u64) {
    if rules.correlations().is_empty() {
        return (Vec::new(), 0);
    }
    hits.sort_by_key(|h| h.timestamp);
    let mut engine = CorrelationEngine::new(rules.correlations(), Limits::default());
    let mut out = Vec::new();
    for h in &hits {
        for m in engine.process(h) {
            let c = &rules.correlations()[m.correlation];
            if c.emit && c.meta.level.unwrap_or(Severity::Medium) >= min_level {
                out.push(Finding::from_correlation(rules, &m));
            }
        }
    }
    (out, engine.stats.fired)
}

/// Paths joined for a message.
pub fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
