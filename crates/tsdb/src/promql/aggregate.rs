//! Aggregation operators: sum, avg, min, max, count, group, stddev, stdvar,
//! count_values, topk, bottomk, quantile; `by` and `without`.

use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::eval::{format_value, Evaluator, Sample, StepArg, Val, Vector};
use super::functions::{mean, quantile, variance};
use super::{exec_err, QueryError};
use crate::labels::{Labels, METRIC_NAME};
use crate::valid_label_name;

pub(crate) fn eval(ev: &Evaluator, agg: &AggregateExpr) -> Result<Val, QueryError> {
    let op = agg.op.to_string();
    let input = ev.eval(&agg.expr)?;
    let param = match &agg.param {
        Some(p) => Some(ev.eval(p)?),
        None => None,
    };
    if op == "count_values" {
        if let Some(Val::String(label)) = &param {
            if !valid_label_name(label, false) {
                return Err(exec_err(format!("invalid label name {label:?}")));
            }
        }
    }
    let grouping = Grouping::from(&agg.modifier);
    if param.is_none() {
        if let (Some(kind), Val::Vector(series)) = (Streaming::of(&op), &input) {
            return Ok(Val::Vector(streaming(ev, kind, &grouping, series)));
        }
    }
    let mut args: Vec<&Val> = Vec::new();
    if let Some(p) = &param {
        args.push(p);
    }
    args.push(&input);
    let has_param = param.is_some();
    let series = ev.range_eval(&args, |mut step_args, _| {
        let vector = step_args.pop().map(StepArg::vector).unwrap_or_default();
        let param = if has_param { step_args.pop() } else { None };
        aggregate(&op, &grouping, vector, param.as_ref())
    })?;
    Ok(Val::Vector(series))
}

/// Aggregations computed series by series into per-step accumulators: a
/// series' group is worked out once, not at every step.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Streaming {
    Sum,
    Avg,
    Count,
    Group,
    Min,
    Max,
    Stddev,
    Stdvar,
}

impl Streaming {
    fn of(op: &str) -> Option<Streaming> {
        Some(match op {
            "sum" => Streaming::Sum,
            "avg" => Streaming::Avg,
            "count" => Streaming::Count,
            "group" => Streaming::Group,
            "min" => Streaming::Min,
            "max" => Streaming::Max,
            "stddev" => Streaming::Stddev,
            "stdvar" => Streaming::Stdvar,
            _ => return None,
        })
    }
}

/// One group's accumulators, one slot per step.
struct Accumulator {
    labels: Labels,
    count: Vec<u32>,
    /// Sum, running mean, min or max.
    value: Vec<f64>,
    /// Welford's sum of squares (stddev, stdvar).
    m2: Vec<f64>,
}

/// The same arithmetic, in the same order per step, as [`aggregate`]
/// (samples of a step in series order), without a per-step regrouping.
fn streaming(
    ev: &Evaluator,
    kind: Streaming,
    grouping: &Grouping,
    series: &[super::eval::Series],
) -> Vec<super::eval::Series> {
    let steps = ev.steps();
    let mut groups: Vec<Accumulator> = Vec::new();
    let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    for s in series {
        let key = grouping.key(&s.labels);
        let g = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(Accumulator {
                labels: key,
                count: vec![0; steps],
                value: vec![0.0; steps],
                m2: Vec::new(),
            });
            groups.len() - 1
        });
        let acc = &mut groups[g];
        if matches!(kind, Streaming::Stddev | Streaming::Stdvar) && acc.m2.is_empty() {
            acc.m2 = vec![0.0; steps];
        }
        for &(t, v) in &s.points {
            let i = ((t - ev.start) / ev.interval) as usize;
            let Some(n) = acc.count.get_mut(i) else {
                continue;
            };
            *n += 1;
            let count = *n as f64;
            let slot = &mut acc.value[i];
            match kind {
                // The first value as it is (a lone -0 stays -0, as in Prometheus).
                Streaming::Sum if count == 1.0 => *slot = v,
                Streaming::Sum => *slot += v,
                Streaming::Count | Streaming::Group => {}
                Streaming::Min => {
                    if count == 1.0 || v < *slot || slot.is_nan() {
                        *slot = v;
                    }
                }
                Streaming::Max => {
                    if count == 1.0 || v > *slot || slot.is_nan() {
                        *slot = v;
                    }
                }
                Streaming::Avg => *slot = running_mean(*slot, v, count),
                Streaming::Stddev | Streaming::Stdvar => {
                    let delta = v - *slot;
                    *slot += delta / count;
                    acc.m2[i] += delta * (v - *slot);
                }
            }
        }
    }
    groups
        .into_iter()
        .filter_map(|acc| {
            let points: Vec<(i64, f64)> = (0..steps)
                .filter(|&i| acc.count[i] > 0)
                .map(|i| {
                    let n = acc.count[i] as f64;
                    let v = match kind {
                        Streaming::Count => n,
                        Streaming::Group => 1.0,
                        Streaming::Stdvar => acc.m2[i] / n,
                        Streaming::Stddev => (acc.m2[i] / n).sqrt(),
                        _ => acc.value[i],
                    };
                    (ev.start + i as i64 * ev.interval, v)
                })
                .collect();
            (!points.is_empty()).then_some(super::eval::Series {
                labels: acc.labels,
                points,
            })
        })
        .collect()
}

/// One step of [`mean`]: the same infinity rules.
fn running_mean(mean: f64, v: f64, count: f64) -> f64 {
    if mean.is_infinite() {
        if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
            return mean;
        }
        if !v.is_infinite() && !v.is_nan() {
            return mean;
        }
    }
    mean + (v / count - mean / count)
}

struct Grouping {
    without: bool,
    names: Vec<String>,
}

impl Grouping {
    fn from(m: &Option<LabelModifier>) -> Self {
        match m {
            Some(LabelModifier::Include(l)) => Grouping {
                without: false,
                names: l.labels.clone(),
            },
            Some(LabelModifier::Exclude(l)) => Grouping {
                without: true,
                names: l.labels.clone(),
            },
            None => Grouping {
                without: false,
                names: Vec::new(),
            },
        }
    }

    fn key(&self, labels: &Labels) -> Labels {
        if self.without {
            let mut out = labels.drop_names(&self.names);
            out.remove(METRIC_NAME);
            out
        } else {
            labels.keep_only(&self.names)
        }
    }
}

/// One group's running state.
struct Group {
    labels: Labels,
    values: Vec<f64>,
    /// topk/bottomk keep whole samples.
    samples: Vec<Sample>,
}

fn aggregate(
    op: &str,
    grouping: &Grouping,
    vector: Vector,
    param: Option<&StepArg>,
) -> Result<Vector, QueryError> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    let count_label = match (op, param) {
        ("count_values", Some(p)) => Some(p.string().to_string()),
        _ => None,
    };
    for sample in vector {
        let mut key = grouping.key(&sample.labels);
        if let Some(label) = &count_label {
            key.set(label, &format_value(sample.v));
        }
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(Group {
                labels: key,
                values: Vec::new(),
                samples: Vec::new(),
            });
            groups.len() - 1
        });
        groups[i].values.push(sample.v);
        if matches!(op, "topk" | "bottomk") {
            groups[i].samples.push(sample);
        }
    }
    let scalar = param.map(StepArg::scalar).unwrap_or(f64::NAN);
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let v = match op {
            "sum" => g.values.iter().sum(),
            "avg" => mean(g.values.iter().copied()),
            "count" | "count_values" => g.values.len() as f64,
            "group" => 1.0,
            "min" => g.values.iter().fold(
                f64::NAN,
                |acc, &v| if acc.is_nan() || v < acc { v } else { acc },
            ),
            "max" => g.values.iter().fold(
                f64::NAN,
                |acc, &v| if acc.is_nan() || v > acc { v } else { acc },
            ),
            "stddev" => variance(g.values.iter().copied()).sqrt(),
            "stdvar" => variance(g.values.iter().copied()),
            "quantile" => {
                let mut values = g.values;
                quantile(scalar, &mut values)
            }
            "topk" | "bottomk" => {
                out.extend(top_k(g.samples, scalar, op == "topk")?);
                continue;
            }
            other => return Err(exec_err(format!("aggregation {other} is not supported"))),
        };
        out.push(Sample {
            labels: g.labels,
            v,
        });
    }
    Ok(out)
}

/// The k largest (or smallest) samples of a group, best first; NaN ranks
/// last. The samples keep their labels.
fn top_k(mut samples: Vec<Sample>, k: f64, largest: bool) -> Result<Vec<Sample>, QueryError> {
    if k.is_nan() {
        return Err(exec_err("Parameter value is NaN"));
    }
    if k < 1.0 {
        return Ok(Vec::new());
    }
    let k = if k >= samples.len() as f64 {
        samples.len()
    } else {
        k as usize
    };
    // Stable: among equal values the first seen wins, as with Prometheus's heap
    // for distinct values.
    samples.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ if largest => b.v.total_cmp(&a.v),
        _ => a.v.total_cmp(&b.v),
    });
    samples.truncate(k);
    Ok(samples)
}
