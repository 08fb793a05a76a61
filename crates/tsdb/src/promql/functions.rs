//! PromQL's functions (those of Prometheus 2.42 over floats).

use chrono::{DateTime, Datelike, Timelike};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Call, Expr};

use super::eval::{
    check_unique_labelsets, duplicate_labelset_error, Evaluator, RangeSource, Sample, Series,
    StepArg, Val, Vector,
};
use super::{exec_err, QueryError};
use crate::labels::{Labels, METRIC_NAME};
use crate::{valid_label_name, MatchOp};

fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

pub(crate) fn eval(ev: &Evaluator, call: &Call) -> Result<Val, QueryError> {
    let name = call.func.name;
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    if name == "timestamp" {
        if let Some(Expr::VectorSelector(vs)) = args.first().map(|a| unwrap_parens(a)) {
            let mut series = ev.vector_selector(vs, true)?;
            series
                .iter_mut()
                .for_each(|s| s.labels = s.labels.without_metric_name());
            check_unique_labelsets(&series)?;
            return Ok(Val::Vector(series));
        }
    }
    let result = match args
        .iter()
        .position(|a| a.value_type() == ValueType::Matrix)
    {
        Some(i) => range_function(ev, name, &args, i)?,
        None => step_function(ev, name, &args)?,
    };
    Ok(if call.func.return_type == ValueType::Scalar {
        Val::Scalar(ev.scalar_steps(result))
    } else {
        result
    })
}

/// Functions over a range vector: each series, each step, its window.
fn range_function(
    ev: &Evaluator,
    name: &str,
    args: &[&Expr],
    matrix_arg: usize,
) -> Result<Val, QueryError> {
    let mut others: Vec<Vec<f64>> = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i != matrix_arg {
            let v = ev.eval(a)?;
            others.push(ev.scalar_steps(v));
        }
    }
    let Val::Range(src) = ev.eval(args[matrix_arg])? else {
        return Err(exec_err(format!("{name}: expected a range vector")));
    };
    if name == "absent_over_time" {
        return absent_over_time(ev, &src);
    }
    let keep_name = name == "last_over_time";
    let mut out = Vec::with_capacity(src.series.len());
    for s in &src.series {
        let mut points = Vec::new();
        let (mut lo, mut hi) = (0usize, 0usize);
        for (step, ts) in ev.step_times().enumerate() {
            let end = src.window_end(ts);
            let start = end - src.range;
            if src.at.is_some() {
                lo = s.points.partition_point(|&(t, _)| t < start);
                hi = s.points.partition_point(|&(t, _)| t <= end);
            } else {
                while lo < s.points.len() && s.points[lo].0 < start {
                    lo += 1;
                }
                hi = hi.max(lo);
                while hi < s.points.len() && s.points[hi].0 <= end {
                    hi += 1;
                }
            }
            let window = &s.points[lo..hi];
            if window.is_empty() {
                continue;
            }
            let params: Vec<f64> = others
                .iter()
                .map(|o| o.get(step).copied().unwrap_or(f64::NAN))
                .collect();
            let ctx = Window {
                points: window,
                ts,
                range_start: start,
                range_end: end,
                range: src.range,
                params: &params,
            };
            if let Some(v) = over_time(name, &ctx)? {
                points.push((ts, v));
            }
        }
        if !points.is_empty() {
            let labels = if keep_name {
                s.labels.clone()
            } else {
                s.labels.without_metric_name()
            };
            out.push(Series { labels, points });
        }
    }
    check_unique_labelsets(&out)?;
    Ok(Val::Vector(out))
}

struct Window<'a> {
    points: &'a [(i64, f64)],
    ts: i64,
    range_start: i64,
    range_end: i64,
    range: i64,
    params: &'a [f64],
}

impl Window<'_> {
    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.points.iter().map(|&(_, v)| v)
    }

    fn param(&self, i: usize) -> f64 {
        self.params.get(i).copied().unwrap_or(f64::NAN)
    }
}

fn over_time(name: &str, w: &Window) -> Result<Option<f64>, QueryError> {
    let n = w.points.len() as f64;
    Ok(match name {
        "rate" => extrapolated_rate(w, true, true),
        "increase" => extrapolated_rate(w, true, false),
        "delta" => extrapolated_rate(w, false, false),
        "irate" => instant_delta(w, true),
        "idelta" => instant_delta(w, false),
        "deriv" => (w.points.len() >= 2).then(|| linear_regression(w.points, w.points[0].0).0),
        "predict_linear" => (w.points.len() >= 2).then(|| {
            let (slope, intercept) = linear_regression(w.points, w.ts);
            slope * w.param(0) + intercept
        }),
        "holt_winters" | "double_exponential_smoothing" => holt_winters(w)?,
        "changes" => Some(count_pairs(w, |prev, cur| {
            !(cur == prev || (cur.is_nan() && prev.is_nan()))
        })),
        "resets" => Some(count_pairs(w, |prev, cur| cur < prev)),
        "avg_over_time" => Some(mean(w.values())),
        "sum_over_time" => Some(w.values().sum()),
        "count_over_time" => Some(n),
        "min_over_time" => {
            Some(w.values().fold(
                f64::NAN,
                |acc, v| if acc.is_nan() || v < acc { v } else { acc },
            ))
        }
        "max_over_time" => {
            Some(w.values().fold(
                f64::NAN,
                |acc, v| if acc.is_nan() || v > acc { v } else { acc },
            ))
        }
        "last_over_time" => w.points.last().map(|&(_, v)| v),
        "present_over_time" => Some(1.0),
        "stddev_over_time" => Some(variance(w.values()).sqrt()),
        "stdvar_over_time" => Some(variance(w.values())),
        "quantile_over_time" => {
            let mut values: Vec<f64> = w.values().collect();
            Some(quantile(w.param(0), &mut values))
        }
        other => {
            return Err(exec_err(format!(
                "function {other} over a range vector is not supported"
            )))
        }
    })
}

/// `rate`, `increase` and `delta`: the change over the window, corrected
/// for counter resets and extrapolated to the window's edges.
fn extrapolated_rate(w: &Window, is_counter: bool, is_rate: bool) -> Option<f64> {
    let p = w.points;
    if p.len() < 2 {
        return None;
    }
    let (first, last) = (p[0], p[p.len() - 1]);
    let mut result = last.1 - first.1;
    if is_counter {
        let mut prev = 0.0;
        for &(_, v) in p {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (first.0 - w.range_start) as f64 / 1000.0;
    let to_end = (w.range_end - last.0) as f64 / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let average_gap = sampled / (p.len() - 1) as f64;
    if is_counter && result > 0.0 && first.1 >= 0.0 {
        // A counter cannot go below zero: extrapolate at most to where it
        // would have been zero.
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = average_gap * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average_gap / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average_gap / 2.0
    };
    let mut factor = interval / sampled;
    if is_rate {
        factor /= w.range as f64 / 1000.0;
    }
    Some(result * factor)
}

fn instant_delta(w: &Window, is_rate: bool) -> Option<f64> {
    let p = w.points;
    if p.len() < 2 {
        return None;
    }
    let (prev, last) = (p[p.len() - 2], p[p.len() - 1]);
    let mut result = last.1 - prev.1;
    if is_rate && last.1 < prev.1 {
        // A counter reset: the new value is the increase since.
        result = last.1;
    }
    let gap = last.0 - prev.0;
    if gap == 0 {
        return None;
    }
    if is_rate {
        result /= gap as f64 / 1000.0;
    }
    Some(result)
}

fn kahan_add(value: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + value;
    let c = if sum.abs() >= value.abs() {
        c + ((sum - t) + value)
    } else {
        c + ((value - t) + sum)
    };
    (t, c)
}

/// Least squares over the points, time measured from `intercept_time`:
/// (slope per second, value at `intercept_time`).
fn linear_regression(points: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let init = points[0].1;
    let constant = points.iter().all(|&(_, v)| v == init);
    if constant {
        return if init.is_infinite() {
            (f64::NAN, f64::NAN)
        } else {
            (0.0, init)
        };
    }
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &(t, v) in points {
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1000.0;
        (sx, cx) = kahan_add(x, sx, cx);
        (sy, cy) = kahan_add(v, sy, cy);
        (sxy, cxy) = kahan_add(x * v, sxy, cxy);
        (sx2, cx2) = kahan_add(x * x, sx2, cx2);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

fn holt_winters(w: &Window) -> Result<Option<f64>, QueryError> {
    let (sf, tf) = (w.param(0), w.param(1));
    if sf <= 0.0 || sf >= 1.0 || sf.is_nan() {
        return Err(exec_err(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf}"
        )));
    }
    if tf <= 0.0 || tf >= 1.0 || tf.is_nan() {
        return Err(exec_err(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf}"
        )));
    }
    let p = w.points;
    if p.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1) = (0.0, p[0].1);
    let mut b = p[1].1 - p[0].1;
    for (i, &(_, v)) in p.iter().enumerate().skip(1) {
        let x = sf * v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Ok(Some(s1))
}

fn count_pairs(w: &Window, counts: impl Fn(f64, f64) -> bool) -> f64 {
    w.points
        .windows(2)
        .filter(|pair| counts(pair[0].1, pair[1].1))
        .count() as f64
}

/// Running mean that survives infinities (Prometheus's avg).
pub(crate) fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (mut mean, mut count) = (0.0f64, 0.0);
    for v in values {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        mean += v / count - mean / count;
    }
    mean
}

/// Population variance (Welford).
pub(crate) fn variance(values: impl Iterator<Item = f64>) -> f64 {
    let (mut count, mut mean, mut m2) = (0.0, 0.0, 0.0);
    for v in values {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        m2 += delta * (v - mean);
    }
    m2 / count
}

/// The φ-quantile of the values (interpolated between neighbours, NaN
/// sorted first, as in Prometheus).
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

fn absent_labels(selector: Option<&promql_parser::parser::VectorSelector>) -> Labels {
    let mut labels = Labels::new();
    let Some(vs) = selector else { return labels };
    let mut seen: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, MatchOp::Equal) && !seen.contains(&m.name.as_str()) {
            labels.set(&m.name, &m.value);
            seen.push(&m.name);
        } else {
            labels.remove(&m.name);
        }
    }
    labels
}

fn absent_over_time(ev: &Evaluator, src: &RangeSource) -> Result<Val, QueryError> {
    let labels = absent_labels(src.selector.as_ref());
    let mut points = Vec::new();
    for ts in ev.step_times() {
        let end = src.window_end(ts);
        let start = end - src.range;
        let present = src
            .series
            .iter()
            .any(|s| s.points.iter().any(|&(t, _)| t >= start && t <= end));
        if !present {
            points.push((ts, 1.0));
        }
    }
    Ok(Val::Vector(if points.is_empty() {
        Vec::new()
    } else {
        vec![Series { labels, points }]
    }))
}

/// Functions over instant vectors and scalars, step by step.
fn step_function(ev: &Evaluator, name: &str, args: &[&Expr]) -> Result<Val, QueryError> {
    let mut vals = Vec::with_capacity(args.len());
    for a in args {
        vals.push(ev.eval(a)?);
    }
    // Functions that default to the step's time when given no vector.
    if vals.is_empty() && DATE_FUNCTIONS.contains(&name) {
        let now = ev.range_eval(&[], |_, ts| {
            Ok(vec![Sample {
                labels: Labels::new(),
                v: ts as f64 / 1000.0,
            }])
        })?;
        vals.push(Val::Vector(now));
    }
    let absent = if name == "absent" {
        match args.first().map(|a| unwrap_parens(a)) {
            Some(Expr::VectorSelector(vs)) => absent_labels(Some(vs)),
            _ => Labels::new(),
        }
    } else {
        Labels::new()
    };
    let refs: Vec<&Val> = vals.iter().collect();
    let series = ev.range_eval(&refs, |step_args, ts| apply(name, step_args, ts, &absent))?;
    Ok(Val::Vector(series))
}

const DATE_FUNCTIONS: [&str; 8] = [
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
];

/// Go's math.Max / math.Min: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn map_values(v: Vector, f: impl Fn(f64) -> f64) -> Vector {
    v.into_iter()
        .map(|s| Sample {
            labels: s.labels.without_metric_name(),
            v: f(s.v),
        })
        .collect()
}

fn apply(
    name: &str,
    mut args: Vec<StepArg>,
    ts: i64,
    absent: &Labels,
) -> Result<Vector, QueryError> {
    let scalar_arg =
        |args: &[StepArg], i: usize| args.get(i).map(StepArg::scalar).unwrap_or(f64::NAN);
    let first = match args.first_mut() {
        Some(arg @ StepArg::Vector(_)) => {
            std::mem::replace(arg, StepArg::Scalar(f64::NAN)).vector()
        }
        _ => Vec::new(),
    };
    Ok(match name {
        "time" => vec![Sample {
            labels: Labels::new(),
            v: ts as f64 / 1000.0,
        }],
        "pi" => vec![Sample {
            labels: Labels::new(),
            v: std::f64::consts::PI,
        }],
        "vector" => vec![Sample {
            labels: Labels::new(),
            v: scalar_arg(&args, 0),
        }],
        "scalar" => {
            let v = if first.len() == 1 {
                first[0].v
            } else {
                f64::NAN
            };
            vec![Sample {
                labels: Labels::new(),
                v,
            }]
        }
        "absent" => {
            if first.is_empty() {
                vec![Sample {
                    labels: absent.clone(),
                    v: 1.0,
                }]
            } else {
                Vec::new()
            }
        }
        "abs" => map_values(first, f64::abs),
        "ceil" => map_values(first, f64::ceil),
        "floor" => map_values(first, f64::floor),
        "exp" => map_values(first, f64::exp),
        "sqrt" => map_values(first, f64::sqrt),
        "ln" => map_values(first, f64::ln),
        "log2" => map_values(first, f64::log2),
        "log10" => map_values(first, f64::log10),
        "sgn" => map_values(first, |v| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        }),
        "timestamp" => map_values(first, |_| ts as f64 / 1000.0),
        "sin" => map_values(first, f64::sin),
        "cos" => map_values(first, f64::cos),
        "tan" => map_values(first, f64::tan),
        "asin" => map_values(first, f64::asin),
        "acos" => map_values(first, f64::acos),
        "atan" => map_values(first, f64::atan),
        "sinh" => map_values(first, f64::sinh),
        "cosh" => map_values(first, f64::cosh),
        "tanh" => map_values(first, f64::tanh),
        "asinh" => map_values(first, f64::asinh),
        "acosh" => map_values(first, f64::acosh),
        "atanh" => map_values(first, f64::atanh),
        "deg" => map_values(first, |v| v * 180.0 / std::f64::consts::PI),
        "rad" => map_values(first, |v| v * std::f64::consts::PI / 180.0),
        "round" => {
            let to = if args.len() > 1 {
                scalar_arg(&args, 1)
            } else {
                1.0
            };
            let inverse = 1.0 / to;
            map_values(first, |v| (v * inverse + 0.5).floor() / inverse)
        }
        "clamp" => {
            let (lo, hi) = (scalar_arg(&args, 1), scalar_arg(&args, 2));
            if hi < lo {
                Vec::new()
            } else {
                map_values(first, |v| go_max(lo, go_min(hi, v)))
            }
        }
        "clamp_max" => {
            let hi = scalar_arg(&args, 1);
            map_values(first, |v| go_min(hi, v))
        }
        "clamp_min" => {
            let lo = scalar_arg(&args, 1);
            map_values(first, |v| go_max(lo, v))
        }
        "sort" | "sort_desc" => sort_by_value(first, name == "sort_desc"),
        "label_replace" => label_replace(first, &args)?,
        "label_join" => label_join(first, &args)?,
        "histogram_quantile" => {
            let q = match &args[0] {
                StepArg::Scalar(q) => *q,
                _ => f64::NAN,
            };
            let buckets = std::mem::replace(&mut args[1], StepArg::Scalar(0.0)).vector();
            histogram_quantile(q, buckets)
        }
        d if DATE_FUNCTIONS.contains(&d) => date_function(d, first),
        other => return Err(exec_err(format!("function {other} is not supported"))),
    })
}

fn sort_by_value(mut v: Vector, descending: bool) -> Vector {
    // NaN last either way, as Prometheus sorts.
    v.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ if descending => b.v.total_cmp(&a.v),
        _ => a.v.total_cmp(&b.v),
    });
    v
}

fn label_replace(v: Vector, args: &[StepArg]) -> Result<Vector, QueryError> {
    let (dst, replacement, src, pattern) = (
        args[1].string(),
        args[2].string(),
        args[3].string(),
        args[4].string(),
    );
    let re = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
        exec_err(format!(
            "invalid regular expression in label_replace(): {pattern}: {e}"
        ))
    })?;
    if !valid_label_name(dst, false) {
        return Err(exec_err(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut out = Vec::with_capacity(v.len());
    for mut s in v {
        if let Some(caps) = re.captures(s.labels.value(src)) {
            let mut value = String::new();
            caps.expand(replacement, &mut value);
            s.labels.set(dst, &value);
        }
        out.push(s);
    }
    check_unique(&out)?;
    Ok(out)
}

fn label_join(v: Vector, args: &[StepArg]) -> Result<Vector, QueryError> {
    let (dst, sep) = (args[1].string(), args[2].string());
    if !valid_label_name(dst, false) {
        return Err(exec_err(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let sources: Vec<&str> = args[3..].iter().map(StepArg::string).collect();
    for src in &sources {
        if !valid_label_name(src, false) {
            return Err(exec_err(format!(
                "invalid source label name in label_join(): {src}"
            )));
        }
    }
    let mut out = Vec::with_capacity(v.len());
    for mut s in v {
        let joined = sources
            .iter()
            .map(|n| s.labels.value(n))
            .collect::<Vec<_>>()
            .join(sep);
        s.labels.set(dst, &joined);
        out.push(s);
    }
    check_unique(&out)?;
    Ok(out)
}

fn check_unique(v: &Vector) -> Result<(), QueryError> {
    let mut seen = std::collections::HashSet::new();
    if v.iter().all(|s| seen.insert(&s.labels)) {
        Ok(())
    } else {
        Err(duplicate_labelset_error())
    }
}

fn date_function(name: &str, v: Vector) -> Vector {
    map_values(v, |secs| {
        let Some(t) = DateTime::from_timestamp(secs as i64, 0) else {
            return f64::NAN;
        };
        (match name {
            "day_of_month" => t.day(),
            "day_of_week" => t.weekday().num_days_from_sunday(),
            "day_of_year" => t.ordinal(),
            "days_in_month" => days_in_month(t.year(), t.month()),
            "hour" => t.hour(),
            "minute" => t.minute(),
            "month" => t.month(),
            _ => return t.year() as f64,
        }) as f64
    })
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map_or(30, |d| d.day())
}

/// `histogram_quantile` over classic buckets (series with an `le` label).
fn histogram_quantile(q: f64, buckets: Vector) -> Vector {
    // Grouped by everything but `le`, the metric name included: two
    // histograms with the same labels give two results that then collide
    // once the name is dropped (an error, as in Prometheus).
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    for s in buckets {
        let Some(le) = s.labels.get("le").and_then(parse_le) else {
            continue;
        };
        let mut key = s.labels.clone();
        key.remove("le");
        match groups.iter_mut().find(|(l, _)| *l == key) {
            Some((_, list)) => list.push((le, s.v)),
            None => groups.push((key, vec![(le, s.v)])),
        }
    }
    groups
        .into_iter()
        .map(|(labels, mut list)| Sample {
            labels: labels.without_metric_name(),
            v: bucket_quantile(q, &mut list),
        })
        .collect()
}

fn parse_le(s: &str) -> Option<f64> {
    match s.trim() {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Buckets with the same bound are added together.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(le, count) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += count,
            _ => merged.push((le, count)),
        }
    }
    // Counts must not fall as bounds rise (scrapes can be torn).
    let mut max = f64::NEG_INFINITY;
    for b in &mut merged {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged[..merged.len() - 1].partition_point(|b| b.1 < rank);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}
