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
