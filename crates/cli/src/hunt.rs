//! `watchfloor hunt`: arguments, the progress bar, output formats and the
//! run's summary around the `hunt` crate, which does the work (files in
//! parallel, findings to one writer, correlations in time order at the end).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use watchfloor_formats::parsers::Parsers;
use watchfloor_formats::Format;
use watchfloor_hunt::{
    collect_inputs, display_paths, hunt, HuntOptions, HuntReport, Progress, INTEL_SCOPE,
};
use watchfloor_intel::lists::read_indicator_file;
use watchfloor_intel::{DecayModel, Intel, Warninglists};
use watchfloor_sigma::{Finding, RuleSet, RuleSetBuilder, Severity};

use crate::output::{writer, FindingWriter, OutputFormat};
use crate::{severity_arg, RuleOptions};

#[derive(Args)]
pub struct HuntArgs {
    /// Files or directories to hunt through (directories recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Rule file or directory (repeatable).
    #[arg(long, short, required_unless_present = "intel", value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// Indicator file (repeatable): a STIX 2.1 bundle, or one value a line
    /// (addresses, networks, domains, URLs, hashes, e-mail addresses).
    /// Every event is matched against them too; they match as given (no
    /// decay drops them; older ones rate lower).
    #[arg(long, value_name = "FILE")]
    intel: Vec<PathBuf>,
    /// A directory of MISP warninglists: values on them never match.
    #[arg(long, value_name = "DIR", requires = "intel")]
    warninglists: Option<PathBuf>,
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
    intel_matches: u64,
    indicators_loaded: usize,
    rules_loaded: usize,
    correlations_loaded: usize,
    rules_rejected: usize,
    seconds: f64,
    events_per_second: f64,
    megabytes_per_second: f64,
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

/// The terminal's view of a hunt: a progress bar, and problems on standard
/// error (bad records only with `--show-errors`).
struct Terminal {
    bar: ProgressBar,
    show_errors: bool,
}

impl Progress for Terminal {
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn unreadable(&self, error: &dyn std::fmt::Display) {
        self.bar.suspend(|| eprintln!("unreadable input: {error}"));
    }

    fn bad_record(&self, error: &dyn std::fmt::Display) {
        if self.show_errors {
            self.bar.suspend(|| eprintln!("unreadable record: {error}"));
        }
    }
}

pub fn run(args: HuntArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    let format =
        match &args.input_format {
            Some(name) => Some(Format::from_name(name).with_context(|| {
                format!("unknown input format '{name}' (evtx, json, syslog, cef)")
            })?),
            None => None,
        };
    let rules = load_rules(&args)?;
    let intel = load_intel(&args)?;
    let indicators_loaded = intel.as_ref().map_or(0, |i| i.len());
    let inputs = collect_inputs(&args.paths)?;
    if inputs.is_empty() {
        bail!("no log files found under {}", display_paths(&args.paths));
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let total_bytes: u64 = inputs.iter().map(|i| i.bytes).sum();
    let terminal = Terminal {
        bar: progress_bar(total_bytes, args.no_progress),
        show_errors: args.show_errors,
    };
    let out: Box<dyn std::io::Write + Send> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("{}: cannot create", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let mut tally = Tally::new(writer(args.format, out));
    let options = HuntOptions {
        parsers: Some(Arc::new(Parsers::shipped())),
        intel,
        min_level: args.min_level,
        threads,
        format,
    };
    let report = hunt(&rules, &inputs, &options, &terminal, &mut |f| {
        tally.write(f)
    })?;
    terminal.bar.finish_and_clear();
    tally.sink.finish()?;

    let mut summary = summarize(&rules, &report, &tally, started);
    summary.indicators_loaded = indicators_loaded;
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

/// The writer and the detections by level that went through it.
struct Tally {
    sink: Box<dyn FindingWriter>,
    by_level: BTreeMap<&'static str, u64>,
}

impl Tally {
    fn new(sink: Box<dyn FindingWriter>) -> Self {
        let by_level = Severity::ALL.iter().map(|l| (l.as_str(), 0)).collect();
        Tally { sink, by_level }
    }

    fn write(&mut self, f: &Finding) -> std::io::Result<()> {
        *self.by_level.entry(f.rule.level.as_str()).or_default() += 1;
        self.sink.write(f)
    }
}

fn summarize(rules: &RuleSet, h: &HuntReport, tally: &Tally, started: Instant) -> Summary {
    let seconds = started.elapsed().as_secs_f64();
    let r = rules.report();
    Summary {
        files: h.files,
        files_unreadable: h.files_unreadable,
        events: h.events,
        bytes: h.bytes,
        parse_errors: h.parse_errors,
        detections: h.detections,
        detections_by_level: tally.by_level.clone(),
        correlations_fired: h.correlations_fired,
        intel_matches: h.intel_matches,
        indicators_loaded: 0,
        rules_loaded: r.rules_loaded,
        correlations_loaded: r.correlations_loaded,
        rules_rejected: r.rejected.len(),
        seconds,
        events_per_second: h.events as f64 / seconds.max(1e-9),
        megabytes_per_second: h.bytes as f64 / 1e6 / seconds.max(1e-9),
    }
}

/// The indicators of `--intel` (with `--warninglists`), if any.
fn load_intel(args: &HuntArgs) -> anyhow::Result<Option<Arc<Intel>>> {
    if args.intel.is_empty() {
        return Ok(None);
    }
    let warninglists = match &args.warninglists {
        Some(dir) => Warninglists::load(dir).map_err(anyhow::Error::msg)?,
        None => Warninglists::default(),
    };
    // Offline, indicators match as the files give them: none decays away.
    let decay = DecayModel {
        threshold: 0.0,
        ..DecayModel::default()
    };
    let intel = Intel::new(decay, warninglists);
    let now = watchfloor_model::now_ns();
    for path in &args.intel {
        let read = read_indicator_file(path, now).map_err(anyhow::Error::msg)?;
        for problem in &read.skipped {
            eprintln!("{}: skipped {problem}", path.display());
        }
        let report = intel.import(INTEL_SCOPE, read.indicators);
        for problem in &report.invalid {
            eprintln!("{}: {problem}", path.display());
        }
    }
    anyhow::ensure!(
        !intel.is_empty(),
        "no usable indicator in {}",
        display_paths(&args.intel)
    );
    eprintln!("{} indicators loaded", intel.len());
    Ok(Some(Arc::new(intel)))
}

fn load_rules(args: &HuntArgs) -> anyhow::Result<RuleSet> {
    let mut b = RuleSetBuilder::new(args.rule_options.load()?);
    if args.rules.is_empty() {
        return Ok(b.build());
    }
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
