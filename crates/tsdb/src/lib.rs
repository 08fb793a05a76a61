//! Watchfloor's metric store and PromQL.
//!
//! Samples (series labels, a millisecond time, a float) go through
//! [`MetricStore`]: the embedded [`DiskStore`] writes them ahead to a log,
//! keeps recent data in memory as Gorilla-compressed chunks ([`chunk`]) under
//! an inverted label index ([`index`]), and cuts older data into immutable
//! blocks on disk that retention drops whole and downsampling thins out.
//! [`promql`] evaluates PromQL over any store. Behind the `testsuite` feature,
//! [`testsuite`] holds the conformance suite every backend runs.

pub mod chunk;
mod codec;
pub mod config;
pub mod index;
pub mod labels;
pub mod promql;
mod store;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use config::MetricsConfig;
pub use labels::{Label, Labels, METRIC_NAME};
pub use promql_parser::label::{MatchOp, Matcher};
pub use store::{DiskStore, StoreOptions};

/// Prometheus's staleness marker: a NaN with this exact bit pattern says
/// "this series ended here" and is never returned as a value.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Samples of one series to append (times in milliseconds, increasing).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

/// One series and its samples in a queried time range.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

/// What an append did: samples stored, and those refused with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AppendReport {
    pub appended: u64,
    /// Older than the series' newest sample.
    pub out_of_order: u64,
    /// Same time as the newest sample, different value.
    pub duplicate: u64,
    /// Older than the retention window.
    pub too_old: u64,
    /// Label names that Prometheus would refuse (`[a-zA-Z_][a-zA-Z0-9_]*`,
    /// metric names may have `:`), or no metric name.
    pub invalid_series: u64,
    /// The first refusal, for the error a client sees.
    pub first_error: Option<String>,
}

impl AppendReport {
    pub fn rejected(&self) -> u64 {
        self.out_of_order + self.duplicate + self.too_old + self.invalid_series
    }

    fn refuse(&mut self, reason: Refusal, labels: &Labels, t: i64) {
        match reason {
            Refusal::OutOfOrder => self.out_of_order += 1,
            Refusal::Duplicate => self.duplicate += 1,
            Refusal::TooOld => self.too_old += 1,
            Refusal::InvalidSeries => self.invalid_series += 1,
        }
        if self.first_error.is_none() {
            self.first_error = Some(format!("{}: {labels} at {t}", reason.text()));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    OutOfOrder,
    Duplicate,
    TooOld,
    InvalidSeries,
}

impl Refusal {
    fn text(self) -> &'static str {
        match self {
            Refusal::OutOfOrder => "out of order sample",
            Refusal::Duplicate => "duplicate sample for timestamp",
            Refusal::TooOld => "sample older than the retention window",
            Refusal::InvalidSeries => "invalid series labels",
        }
    }
}

/// Figures about a store, for `/metrics` and the benchmarks.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StoreStats {
    pub series: u64,
    pub samples: u64,
    pub head_series: u64,
    pub head_samples: u64,
    pub blocks: u64,
    /// Bytes of encoded chunks (memory and disk).
    pub chunk_bytes: u64,
    /// Bytes of the data directory.
    pub disk_bytes: u64,
    pub wal_bytes: u64,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
}

impl StoreStats {
    /// Chunk bytes per stored sample (the compression figure).
    pub fn bytes_per_sample(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.chunk_bytes as f64 / self.samples as f64
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: corrupt: {what}")]
    Corrupt { path: String, what: String },
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Where samples live. Every backend passes [`testsuite`]'s conformance
/// suite; `append` returns only once the samples are durable.
pub trait MetricStore: Send + Sync {
    fn append(&self, batch: &[SeriesSamples]) -> Result<AppendReport, StoreError>;

    /// Series every matcher accepts with their samples in `[mint, maxt]`
    /// (staleness markers included: the evaluator needs them), sorted by
    /// labels. Series with no sample in the range are left out.
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesData>, StoreError>;

    /// Label sets of the series with data in `[mint, maxt]`, sorted.
    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64)
        -> Result<Vec<Labels>, StoreError>;

    /// Label names of the matching series (all series when `matchers` is
    /// empty), sorted.
    fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError>;

    /// Values of label `name` on the matching series, sorted.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError>;

    fn stats(&self) -> StoreStats;

    /// Housekeeping relative to `now_ms`: compaction, retention,
    /// downsampling (whatever the backend needs).
    fn maintain(&self, now_ms: i64) -> Result<(), StoreError>;
}

/// Prometheus's rule for label names; metric names may also contain `:`.
pub fn valid_label_name(name: &str, metric: bool) -> bool {
    let mut chars = name.chars();
    let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (metric && c == ':');
    match chars.next() {
        Some(c) if ok_first(c) => chars.all(|c| ok_first(c) || c.is_ascii_digit()),
        _ => false,
    }
}

/// Whether a series' labels are ones Prometheus would store.
pub fn valid_series(labels: &Labels) -> bool {
    labels
        .metric_name()
        .is_some_and(|n| valid_label_name(n, true))
        && labels
            .iter()
            .all(|l| l.name == METRIC_NAME || valid_label_name(&l.name, false))
}

/// Parses a series selector (`up{job="x"}`, `{__name__=~"a.*"}`) into
/// matchers, as the API's `match[]` parameters are given.
pub fn parse_selector(text: &str) -> Result<Vec<Matcher>, String> {
    match promql_parser::parser::parse(text)? {
        promql_parser::parser::Expr::VectorSelector(vs) => Ok(selector_matchers(&vs)),
        _ => Err(format!("{text:?} is not a series selector")),
    }
}

/// All matchers of a vector selector, the metric name included.
pub fn selector_matchers(vs: &promql_parser::parser::VectorSelector) -> Vec<Matcher> {
    let mut out = vs.matchers.matchers.clone();
    if let Some(name) = &vs.name {
        if !out.iter().any(|m| m.name == METRIC_NAME) {
            out.push(Matcher::new(MatchOp::Equal, METRIC_NAME, name));
        }
    }
    out
}
