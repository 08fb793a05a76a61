//! PromQL evaluation over a [`MetricStore`], with Prometheus 2.42's
//! semantics (its own test files are the reference, see
//! `tests/promql_testdata.rs`).
//!
//! Parsing is `promql-parser`'s; the evaluator is ours. Like Prometheus's, it
//! evaluates every node over all steps of the query at once: a vector-typed
//! node yields series with one point per step where it has a value, a
//! scalar-typed node one value per step. An instant query is a range query of
//! one step.

mod aggregate;
mod binary;
mod eval;
mod functions;

use std::time::Duration;

use serde::Serialize;

use crate::labels::Labels;
use crate::MetricStore;

pub use eval::format_value;

/// How a query is evaluated.
#[derive(Debug, Clone)]
pub struct Engine {
    /// How far back an instant selector looks for a sample (Prometheus: 5m).
    pub lookback_ms: i64,
    /// Step of subqueries without one (Prometheus: the global evaluation
    /// interval, 1m by default).
    pub default_subquery_step_ms: i64,
    /// Most points a query may hold at once (Prometheus: 50 million).
    pub max_samples: usize,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            lookback_ms: 5 * 60_000,
            default_subquery_step_ms: 60_000,
            max_samples: 50_000_000,
        }
    }
}

/// One element of an instant vector result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstantSample {
    pub metric: Labels,
    /// Milliseconds.
    pub t: i64,
    pub v: f64,
}

/// One series of a matrix result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RangeSeries {
    pub metric: Labels,
    pub points: Vec<(i64, f64)>,
}

/// A query's result, in the Prometheus API's four types.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
}

impl QueryValue {
    pub fn type_name(&self) -> &'static str {
        match self {
            QueryValue::Scalar { .. } => "scalar",
            QueryValue::String { .. } => "string",
            QueryValue::Vector(_) => "vector",
            QueryValue::Matrix(_) => "matrix",
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The query does not parse (Prometheus's `bad_data`).
    #[error("parse error: {0}")]
    Parse(String),
    /// The query parses but cannot be evaluated (`execution`).
    #[error("{0}")]
    Execution(String),
    #[error("storage: {0}")]
    Storage(String),
    /// Too many points (`execution`, Prometheus's wording).
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
}

impl QueryError {
    /// The `errorType` the Prometheus API reports.
    pub fn api_type(&self) -> &'static str {
        match self {
            QueryError::Parse(_) => "bad_data",
            QueryError::Storage(_) => "internal",
            _ => "execution",
        }
    }
}

pub(crate) fn exec_err(msg: impl Into<String>) -> QueryError {
    QueryError::Execution(msg.into())
}

impl Engine {
    pub fn parse(text: &str) -> Result<promql_parser::parser::Expr, QueryError> {
        register_functions_of_2_42();
        promql_parser::parser::parse(text).map_err(|e| QueryError::Parse(e.trim().to_string()))
    }

    /// Evaluates `text` at one time (milliseconds).
    pub fn instant(
        &self,
        store: &dyn MetricStore,
        text: &str,
        t: i64,
    ) -> Result<QueryValue, QueryError> {
        let expr = Self::parse(text)?;
        eval::Evaluator::new(self, store, t, t, 1, t, t).instant(&expr)
    }

    /// Evaluates `text` from `start` to `end` every `step` (milliseconds);
    /// the result is a matrix (or an error for string results, as in
    /// Prometheus).
    pub fn range(
        &self,
        store: &dyn MetricStore,
        text: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<QueryValue, QueryError> {
        if step <= 0 {
            return Err(QueryError::Parse(
                "zero or negative query resolution step widths are not accepted".into(),
            ));
        }
        if end < start {
            return Err(QueryError::Parse(
                "end timestamp must not be before start time".into(),
            ));
        }
        let expr = Self::parse(text)?;
        eval::Evaluator::new(self, store, start, end, step, start, end).range(&expr)
    }
}

/// `holt_winters` is Prometheus 2.42's name for what the parser knows as
/// `double_exponential_smoothing` (renamed in 3.0); both are accepted.
fn register_functions_of_2_42() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use promql_parser::parser::value::ValueType;
        let holt_winters = promql_parser::parser::Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        );
        if let Err(e) = promql_parser::parser::register_extra_functions(vec![holt_winters]) {
            tracing::warn!(error = %e, "PromQL: holt_winters not registered");
        }
    });
}

/// A Prometheus duration (`15s`, `1h30m`, `0`) in milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    if text
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .parse::<i64>()
        == Ok(0)
    {
        return Some(0);
    }
    promql_parser::util::parse_duration(text)
        .ok()
        .map(|d| d.as_millis() as i64)
}

pub(crate) fn duration_ms(d: &Duration) -> i64 {
    d.as_millis() as i64
}
