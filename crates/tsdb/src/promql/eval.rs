//! The evaluator: every node over all steps of the query.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    AtModifier, Expr, MatrixSelector, Offset, SubqueryExpr, VectorSelector,
};

use super::{
    aggregate, binary, duration_ms, exec_err, functions, Engine, InstantSample, QueryError,
    QueryValue, RangeSeries,
};
use crate::labels::Labels;
use crate::{is_stale, selector_matchers, MetricStore};

/// A series with points (step times for evaluated nodes, sample times for
/// selected ranges).
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// One element of an instant vector at one step.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub labels: Labels,
    pub v: f64,
}

pub(crate) type Vector = Vec<Sample>;

/// Raw series for range functions: a matrix selector's samples or a
/// subquery's points, with the window each step reads.
#[derive(Debug)]
pub(crate) struct RangeSource {
    pub series: Vec<Series>,
    pub range: i64,
    pub offset: i64,
    pub at: Option<i64>,
    /// The selector when the source is a matrix selector (absent_over_time
    /// takes its labels from the matchers).
    pub selector: Option<VectorSelector>,
}

impl RangeSource {
    /// The window `[end - range, end]` a step reads.
    pub fn window_end(&self, ts: i64) -> i64 {
        self.at.unwrap_or(ts) - self.offset
    }
}

/// An evaluated node.
#[derive(Debug)]
pub(crate) enum Val {
    Scalar(Vec<f64>),
    String(String),
    Vector(Vec<Series>),
    Range(RangeSource),
}

/// An argument of a per-step function.
pub(crate) enum StepArg {
    Scalar(f64),
    String(String),
    Vector(Vector),
}

impl StepArg {
    pub fn scalar(&self) -> f64 {
        match self {
            StepArg::Scalar(v) => *v,
            _ => f64::NAN,
        }
    }

    pub fn vector(self) -> Vector {
        match self {
            StepArg::Vector(v) => v,
            _ => Vec::new(),
        }
    }

    pub fn string(&self) -> &str {
        match self {
            StepArg::String(s) => s,
            _ => "",
        }
    }
}

pub(crate) struct Evaluator<'a> {
    pub engine: &'a Engine,
    pub store: &'a dyn MetricStore,
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    /// The outermost query's range, for `@ start()` and `@ end()`.
    pub query_start: i64,
    pub query_end: i64,
}

pub(crate) fn system_time_ms(t: &SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        Some(Offset::Pos(d)) => duration_ms(d),
        Some(Offset::Neg(d)) => -duration_ms(d),
        None => 0,
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`, as Prometheus writes values.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

impl<'a> Evaluator<'a> {
    pub fn new(
        engine: &'a Engine,
        store: &'a dyn MetricStore,
        start: i64,
        end: i64,
        interval: i64,
        query_start: i64,
        query_end: i64,
    ) -> Self {
        Evaluator {
            engine,
            store,
            start,
            end,
            interval,
            query_start,
            query_end,
        }
    }

    pub fn steps(&self) -> usize {
        ((self.end - self.start) / self.interval + 1) as usize
    }

    pub fn step_times(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.steps()).map(|i| self.start + i as i64 * self.interval)
    }

    fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(system_time_ms(t)),
            None => None,
        }
    }

    /// Evaluates the query at one time: the Prometheus API's result types.
    pub fn instant(&self, expr: &Expr) -> Result<QueryValue, QueryError> {
        let t = self.start;
        Ok(match self.eval(expr)? {
            Val::Scalar(v) => QueryValue::Scalar {
                t,
                v: v.first().copied().unwrap_or(f64::NAN),
            },
            Val::String(s) => QueryValue::String { t, v: s },
            Val::Vector(series) => QueryValue::Vector(
                series
                    .into_iter()
                    .filter_map(|s| {
                        s.points.first().map(|&(_, v)| InstantSample {
                            metric: s.labels,
                            t,
                            v,
                        })
                    })
                    .collect(),
            ),
            Val::Range(src) => {
                let end = src.window_end(t);
                let mut out: Vec<RangeSeries> = src
                    .series
                    .into_iter()
                    .filter_map(|s| {
                        let points: Vec<(i64, f64)> = s
                            .points
                            .into_iter()
                            .filter(|&(pt, _)| pt >= end - src.range && pt <= end)
                            .collect();
                        (!points.is_empty()).then_some(RangeSeries {
                            metric: s.labels,
                            points,
                        })
                    })
                    .collect();
                out.sort_by(|a, b| a.metric.cmp(&b.metric));
                QueryValue::Matrix(out)
            }
        })
    }

    /// Evaluates the query over its steps: a matrix sorted by labels.
    pub fn range(&self, expr: &Expr) -> Result<QueryValue, QueryError> {
        match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            other => return Err(exec_err(format!("invalid expression type \"{other}\" for range query, must be Scalar or instant Vector"))),
        }
        let mut out: Vec<RangeSeries> = match self.eval(expr)? {
            Val::Scalar(v) => vec![RangeSeries {
                metric: Labels::new(),
                points: self.step_times().zip(v).collect(),
            }],
            Val::Vector(series) => series
                .into_iter()
                .map(|s| RangeSeries {
                    metric: s.labels,
                    points: s.points,
                })
                .collect(),
            _ => {
                return Err(exec_err(
                    "range queries need a scalar or instant vector expression",
                ))
            }
        };
        out.sort_by(|a, b| a.metric.cmp(&b.metric));
        Ok(QueryValue::Matrix(out))
    }

    pub fn eval(&self, expr: &Expr) -> Result<Val, QueryError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; self.steps()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::VectorSelector(vs) => self.vector_selector(vs, false).map(Val::Vector),
            Expr::MatrixSelector(ms) => self.matrix_selector(ms).map(Val::Range),
            Expr::Subquery(sq) => self.subquery(sq).map(Val::Range),
            Expr::Unary(u) => self.unary(&u.expr),
            Expr::Binary(b) => binary::eval(self, b),
            Expr::Aggregate(a) => aggregate::eval(self, a),
            Expr::Call(c) => functions::eval(self, c),
            Expr::Extension(_) => Err(exec_err("extension expressions are not supported")),
        }
    }

    fn unary(&self, inner: &Expr) -> Result<Val, QueryError> {
        // promql-parser folds unary plus away; a Unary node is a minus.
        match self.eval(inner)? {
            Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
            Val::Vector(mut series) => {
                for s in &mut series {
                    s.labels = s.labels.without_metric_name();
                    s.points.iter_mut().for_each(|p| p.1 = -p.1);
                }
                check_unique_labelsets(&series)?;
                Ok(Val::Vector(series))
            }
            _ => Err(exec_err("unary minus needs a scalar or instant vector")),
        }
    }

    fn select(&self, vs: &VectorSelector, mint: i64, maxt: i64) -> Result<Vec<Series>, QueryError> {
        let matchers = selector_matchers(vs);
        let found = self
            .store
            .select(&matchers, mint, maxt)
            .map_err(|e| QueryError::Storage(e.to_string()))?;
        let points: usize = found.iter().map(|s| s.samples.len()).sum();
        if points > self.engine.max_samples {
            return Err(QueryError::TooManySamples);
        }
        Ok(found
            .into_iter()
            .map(|s| Series {
                labels: s.labels,
                points: s.samples,
            })
            .collect())
    }

    /// An instant selector at every step: the newest sample within the
    /// lookback window, unless it is a staleness marker. With
    /// `sample_times`, the value is the sample's own time in seconds
    /// (what `timestamp()` reports).
    pub fn vector_selector(
        &self,
        vs: &VectorSelector,
        sample_times: bool,
    ) -> Result<Vec<Series>, QueryError> {
        let offset = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        let reference = |ts: i64| at.unwrap_or(ts) - offset;
        let (first, last) = (reference(self.start), reference(self.end));
        let lookback = self.engine.lookback_ms;
        let selected = self.select(vs, first.min(last) - lookback, first.max(last))?;
        let mut out = Vec::with_capacity(selected.len());
        for s in selected {
            let mut points = Vec::new();
            let mut next = 0; // first sample newer than the reference
            for ts in self.step_times() {
                let r = reference(ts);
                if at.is_some() {
                    next = s.points.partition_point(|&(t, _)| t <= r);
                } else {
                    while next < s.points.len() && s.points[next].0 <= r {
                        next += 1;
                    }
                }
                let Some(&(t, v)) = next.checked_sub(1).and_then(|i| s.points.get(i)) else {
                    continue;
                };
                if t < r - lookback || is_stale(v) {
                    continue;
                }
                points.push((ts, if sample_times { t as f64 / 1000.0 } else { v }));
            }
            if !points.is_empty() {
                out.push(Series {
                    labels: s.labels,
                    points,
                });
            }
        }
        Ok(out)
    }

    fn matrix_selector(&self, ms: &MatrixSelector) -> Result<RangeSource, QueryError> {
        let vs = &ms.vs;
        let offset = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        let range = duration_ms(&ms.range);
        let (first, last) = match at {
            Some(a) => (a - offset, a - offset),
            None => (self.start - offset, self.end - offset),
        };
        let mut series = self.select(vs, first - range, last)?;
        for s in &mut series {
            s.points.retain(|&(_, v)| !is_stale(v));
        }
        series.retain(|s| !s.points.is_empty());
        Ok(RangeSource {
            series,
            range,
            offset,
            at,
            selector: Some(vs.clone()),
        })
    }

    fn subquery(&self, sq: &SubqueryExpr) -> Result<RangeSource, QueryError> {
        let offset = offset_ms(&sq.offset);
        let at = self.at_ms(&sq.at);
        let range = duration_ms(&sq.range);
        let step = sq
            .step
            .as_ref()
            .map(duration_ms)
            .filter(|&s| s > 0)
            .unwrap_or(self.engine.default_subquery_step_ms);
        let (outer_start, outer_end) = match at {
            Some(a) => (a, a),
            None => (self.start, self.end),
        };
        // The first step-aligned time after the window's start (Prometheus
        // aligns subquery steps to multiples of the step).
        let lowest = outer_start - offset - range;
        let mut start = step * (lowest / step);
        if start < lowest {
            start += step;
        }
        let inner = Evaluator {
            start,
            end: outer_end - offset,
            interval: step,
            ..*self
        };
        let series = if inner.end < inner.start {
            Vec::new()
        } else {
            match inner.eval(&sq.expr)? {
                Val::Vector(series) => series,
                Val::Scalar(v) => vec![Series {
                    labels: Labels::new(),
                    points: inner.step_times().zip(v).collect(),
                }],
                _ => {
                    return Err(exec_err(
                        "subqueries need a scalar or instant vector expression",
                    ))
                }
            }
        };
        Ok(RangeSource {
            series,
            range,
            offset,
            at,
            selector: None,
        })
    }

    /// Calls `f` at every step with the arguments' values at that step and
    /// gathers its outputs into series (Prometheus's rangeEval).
    pub fn range_eval(
        &self,
        args: &[&Val],
        mut f: impl FnMut(Vec<StepArg>, i64) -> Result<Vector, QueryError>,
    ) -> Result<Vec<Series>, QueryError> {
        let mut cursors: Vec<Vec<usize>> = args
            .iter()
            .map(|a| match a {
                Val::Vector(series) => vec![0; series.len()],
                _ => Vec::new(),
            })
            .collect();
        let mut out: Vec<Series> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut total = 0usize;
        for (step, ts) in self.step_times().enumerate() {
            let mut step_args = Vec::with_capacity(args.len());
            for (arg, cursor) in args.iter().zip(cursors.iter_mut()) {
                step_args.push(match arg {
                    Val::Scalar(v) => StepArg::Scalar(v.get(step).copied().unwrap_or(f64::NAN)),
                    Val::String(s) => StepArg::String(s.clone()),
                    Val::Vector(series) => StepArg::Vector(vector_at(series, cursor, ts)),
                    Val::Range(_) => return Err(exec_err("a range vector cannot be used here")),
                });
            }
            let result = f(step_args, ts)?;
            check_unique_samples(&result)?;
            total += result.len();
            if total > self.engine.max_samples {
                return Err(QueryError::TooManySamples);
            }
            for sample in result {
                match index.get(&sample.labels) {
                    Some(&i) => out[i].points.push((ts, sample.v)),
                    None => {
                        index.insert(sample.labels.clone(), out.len());
                        out.push(Series {
                            labels: sample.labels,
                            points: vec![(ts, sample.v)],
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// A scalar-typed node's value at every step.
    pub fn scalar_steps(&self, val: Val) -> Vec<f64> {
        match val {
            Val::Scalar(v) => v,
            Val::Vector(series) => {
                let mut out = vec![f64::NAN; self.steps()];
                for (t, v) in series.into_iter().flat_map(|s| s.points) {
                    let i = ((t - self.start) / self.interval) as usize;
                    if let Some(slot) = out.get_mut(i) {
                        *slot = v;
                    }
                }
                out
            }
            _ => vec![f64::NAN; self.steps()],
        }
    }
}

/// The samples of `series` at step `ts` (cursors advance with the steps).
fn vector_at(series: &[Series], cursors: &mut [usize], ts: i64) -> Vector {
    let mut out = Vec::new();
    for (s, c) in series.iter().zip(cursors.iter_mut()) {
        while *c < s.points.len() && s.points[*c].0 < ts {
            *c += 1;
        }
        if let Some(&(t, v)) = s.points.get(*c) {
            if t == ts {
                out.push(Sample {
                    labels: s.labels.clone(),
                    v,
                });
            }
        }
    }
    out
}

pub(crate) fn duplicate_labelset_error() -> QueryError {
    exec_err("vector cannot contain metrics with the same labelset")
}

fn check_unique_samples(v: &Vector) -> Result<(), QueryError> {
    if v.len() < 2 {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(v.len());
    if v.iter().all(|s| seen.insert(&s.labels)) {
        Ok(())
    } else {
        Err(duplicate_labelset_error())
    }
}

pub(crate) fn check_unique_labelsets(series: &[Series]) -> Result<(), QueryError> {
    let mut seen = std::collections::HashSet::with_capacity(series.len());
    if series.iter().all(|s| seen.insert(&s.labels)) {
        Ok(())
    } else {
        Err(duplicate_labelset_error())
    }
}
