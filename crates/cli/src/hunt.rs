//! `watchfloor hunt`: runs a rule set over files and directories on all
//! cores. Files are decoded and evaluated in parallel; findings stream
//! through a bounded channel to one writer, so memory stays bounded
//! whatever the input size. Correlation inputs (only the few fields that
//! correlations need, for the rules they reference) are gathered and run in
//! time order at the end.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use crossbeam_channel::bounded;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use watchfloor_formats::{read_path, Format, ReadOptions};
use watchfloor_sigma::{
    CorrelationEngine, Finding, Hit, Limits, RuleSet, RuleSetBuilder, Scratch, Severity, Source,
};

use crate::output::{writer, FindingWriter, OutputFormat};
use crate::{severity_arg, RuleOptions};

#[derive(Args)]
pub struct HuntArgs {
    /// Files or directories to hunt through (directories recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Rule file or directory (repeatable).
    #[arg(long, short, required = true, value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// Report only detections at or above this level.
    #[arg(long, value_parser = severity_arg(), default_value = "informational")]
    min_level: Severity,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Write detections to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write the run's figures as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    summary_json: Option<PathBuf>,
    /// Exit with status 1 when there is at least one detection.
    #[arg(long)]
    fail_on_detection: bool,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j')]
    threads: Option<usize>,
    /// Decode every input as this format instead of detecting it (evtx, json, syslog, cef).
    #[arg(long, value_name = "FORMAT")]
    input_format: Option<String>,
    /// Never draw a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Print each unreadable record to standard error (they are always counted).
    #[arg(long)]
    show_errors: bool,
    #[command(flatten)]
    rule_options: RuleOptions,
}

/// The figures of one run (`--summary-json`).
#[derive(Serialize, Default)]
pub struct Summary {
    files: u64,
    files_unreadable: u64,
    events: u64,
    bytes: u64,
    parse_errors: u64,
    detections: u64,
    detections_by_level: BTreeMap<&'static str, u64>,
    correlations_fired: u64,
    rules_loaded: usize,
    correlations_loaded: usize,
    rules_rejected: usize,
    seconds: f64,
    events_per_second: f64,
    megabytes_per_second: f64,
}

/// Extensions picked up when walking directories; named files are always read.
const LOG_EXTENSIONS: [&str; 10] = [
    "evtx", "json", "jsonl", "ndjson", "log", "txt", "syslog", "cef", "eve", "gz",
];

fn collect_inputs(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("{}: cannot read", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push((p.clone(), meta.len()));
        }
    }
    // Largest first, so that one big file does not start last.
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read directory", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let p = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            walk(&p, out)?;
        } else if ft.is_file() && has_log_extension(&p) {
            out.push((p, entry.metadata()?.len()));
        }
    }
    Ok(())
}

fn has_log_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| LOG_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn progress_bar(total: u64, hidden: bool) -> ProgressBar {
    if hidden || !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    }
    let pb = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb
}

/// Shared counters of a run.
#[derive(Default)]
struct Counters {
    files: AtomicU64,
    unreadable: AtomicU64,
    events: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

pub fn run(args: HuntArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    let forced =
        match &args.input_format {
            Some(name) => Some(Format::from_name(name).with_context(|| {
                format!("unknown input format '{name}' (evtx, json, syslog, cef)")
            })?),
            None => None,
        };
    let rules = load_rules(&args)?;
    let inputs = collect_inputs(&args.paths)?;
    if inputs.is_empty() {
        bail!("no log files found under {}", display_paths(&args.paths));
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let total_bytes: u64 = inputs.iter().map(|(_, n)| n).sum();
    let pb = progress_bar(total_bytes, args.no_progress);
    let min_level = args.min_level;
    let counters = Counters::default();
    let hits = Mutex::new(Vec::new());
    let read_options = ReadOptions {
        format: forced,
        evtx_threads: if inputs.len() == 1 { threads } else { 1 },
    };

    let out: Box<dyn std::io::Write + Send> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    // Findings travel in batches: one channel operation (and at most one
    // thread wake-up) per batch rather than per finding.
    let (tx, rx) = bounded::<Vec<Finding>>(64);
    let mut tally = Tally::new(writer(args.format, out));
    std::thread::scope(|s| -> anyhow::Result<()> {
        let write_thread = s.spawn(|| -> std::io::Result<()> {
            for batch in rx {
                for f in &batch {
                    tally.write(f)?;
                }
            }
            Ok(())
        });
        pool.install(|| {
            let job = FileJob {
                rules: &rules,
                read_options: &read_options,
                min_level,
                counters: &counters,
                hits: &hits,
                progress: &pb,
                show_errors: args.show_errors,
            };
            inputs
                .par_iter()
                .for_each_with(tx, |tx, (path, _)| job.run(path, tx));
        });
        write_thread
            .join()
            .map_err(|_| anyhow::anyhow!("output thread failed"))??;
        Ok(())
    })?;
    pb.finish_and_clear();

    let (corr_findings, fired) =
        run_correlations(&rules, hits.into_inner().unwrap_or_default(), min_level);
    for f in &corr_findings {
        tally.write(f)?;
    }
    tally.sink.finish()?;

    let summary = summarize(&rules, &counters, &tally, started, fired);
    if let Some(p) = &args.summary_json {
        std::fs::write(p, serde_json::to_vec_pretty(&summary)?)
            .with_context(|| format!("{}: cannot write", p.display()))?;
    }
    eprintln!(
        "{} files, {} events, {} parse errors, {} detections in {:.2}s",
        summary.files, summary.events, summary.parse_errors, summary.detections, summary.seconds
    );
    if summary.files_unreadable == summary.files {
        bail!("none of the {} input files could be read", summary.files);
    }
    Ok(if args.fail_on_detection && summary.detections > 0 {
        1
    } else {
        0
    })
}

/// The writer and what went through it.
struct Tally {
    sink: Box<dyn FindingWriter>,
    detections: u64,
    by_level: BTreeMap<&'static str, u64>,
}

impl Tally {
    fn new(sink: Box<dyn FindingWriter>) -> Self {
        let by_level = Severity::ALL.iter().map(|l| (l.as_str(), 0)).collect();
        Tally {
            sink,
            detections: 0,
            by_level,
        }
    }

    fn write(&mut self, f: &Finding) -> std::io::Result<()> {
        self.detections += 1;
        *self.by_level.entry(f.rule.level.as_str()).or_default() += 1;
        self.sink.write(f)
    }
}

/// Everything a worker needs to hunt through one file.
struct FileJob<'a> {
    rules: &'a RuleSet,
    read_options: &'a ReadOptions,
    min_level: Severity,
    counters: &'a Counters,
    hits: &'a Mutex<Vec<Hit>>,
    progress: &'a ProgressBar,
    show_errors: bool,
}

/// Findings per batch sent to the writer.
const BATCH: usize = 256;

impl FileJob<'_> {
    fn run(&self, path: &Path, tx: &mut crossbeam_channel::Sender<Vec<Finding>>) {
        let mut scratch = Scratch::default();
        let mut matched = Vec::new();
        let mut local_hits = Vec::new();
        let mut batch = Vec::with_capacity(BATCH);
        let mut events = 0u64;
        let mut on_record = |record: watchfloor_formats::Record| {
            let event = match record {
                Ok(e) => e,
                Err(e) => {
                    if self.show_errors {
                        eprintln!("unreadable record: {e}");
                    }
                    return ControlFlow::Continue(());
                }
            };
            events += 1;
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
            // The writer only goes away on an output error, reported by its thread.
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
                self.progress.inc(stats.bytes);
            }
            Err(e) => {
                c.unreadable.fetch_add(1, Ordering::Relaxed);
                self.progress.suspend(|| eprintln!("unreadable input: {e}"));
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

/// Runs the correlations over the gathered hits in time order.
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

fn summarize(
    rules: &RuleSet,
    c: &Counters,
    tally: &Tally,
    started: Instant,
    fired: u64,
) -> Summary {
    let seconds = started.elapsed().as_secs_f64();
    let events = c.events.load(Ordering::Relaxed);
    let bytes = c.bytes.load(Ordering::Relaxed);
    let r = rules.report();
    Summary {
        files: c.files.load(Ordering::Relaxed),
        files_unreadable: c.unreadable.load(Ordering::Relaxed),
        events,
        bytes,
        parse_errors: c.errors.load(Ordering::Relaxed),
        detections: tally.detections,
        detections_by_level: tally.by_level.clone(),
        correlations_fired: fired,
        rules_loaded: r.rules_loaded,
        correlations_loaded: r.correlations_loaded,
        rules_rejected: r.rejected.len(),
        seconds,
        events_per_second: events as f64 / seconds.max(1e-9),
        megabytes_per_second: bytes as f64 / 1e6 / seconds.max(1e-9),
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn load_rules(args: &HuntArgs) -> anyhow::Result<RuleSet> {
    let mut b = RuleSetBuilder::new(args.rule_options.load()?);
    for p in &args.rules {
        anyhow::ensure!(
            p.exists(),
            "{}: no such rule file or directory",
            p.display()
        );
        b.add_path(p)
            .with_context(|| format!("{}: cannot read rules", p.display()))?;
    }
    let set = b.build();
    let r = set.report();
    for rej in &r.rejected {
        eprintln!("rule rejected: {rej}");
    }
    if r.rules_loaded == 0 {
        bail!("no usable rule in {}", display_paths(&args.rules));
    }
    eprintln!(
        "{} rules and {} correlations loaded, {} rejected",
        r.rules_loaded,
        r.correlations_loaded,
        r.rejected.len()
    );
    Ok(set)
}
