//! Binary operators: arithmetic, comparison (filtering or `bool`), and the
//! set operators, with vector matching (`on`, `ignoring`, `group_left`,
//! `group_right`).

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::eval::{Evaluator, Sample, StepArg, Val, Vector};
use super::{exec_err, QueryError};
use crate::labels::{Labels, METRIC_NAME};

/// How two vectors' samples are paired.
struct Matching {
    card: Card,
    /// `on(...)` when true, `ignoring(...)` otherwise.
    on: bool,
    names: Vec<String>,
    /// group_left/right's extra labels from the "one" side.
    include: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

impl Matching {
    fn from(modifier: &Option<BinModifier>, set_op: bool) -> Self {
        let (card, include) = match modifier.as_ref().map(|m| &m.card) {
            Some(VectorMatchCardinality::ManyToOne(l)) => (Card::ManyToOne, l.labels.clone()),
            Some(VectorMatchCardinality::OneToMany(l)) => (Card::OneToMany, l.labels.clone()),
            Some(VectorMatchCardinality::ManyToMany) => (Card::ManyToMany, Vec::new()),
            _ if set_op => (Card::ManyToMany, Vec::new()),
            _ => (Card::OneToOne, Vec::new()),
        };
        let (on, names) = match modifier.as_ref().and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
            None => (false, Vec::new()),
        };
        Matching {
            card,
            on,
            names,
            include,
        }
    }

    /// The labels two samples must share to match.
    fn signature(&self, labels: &Labels) -> Labels {
        if self.on {
            labels.keep_only(&self.names)
        } else {
            let mut out = labels.drop_names(&self.names);
            out.remove(METRIC_NAME);
            out
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn parse(text: &str) -> Result<Op, QueryError> {
        Ok(match text {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            other => return Err(exec_err(format!("operator {other} is not supported"))),
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    fn is_set(self) -> bool {
        matches!(self, Op::And | Op::Or | Op::Unless)
    }

    /// The value, and whether a comparison holds (arithmetic always does).
    fn apply(self, l: f64, r: f64) -> (f64, bool) {
        match self {
            Op::Add => (l + r, true),
            Op::Sub => (l - r, true),
            Op::Mul => (l * r, true),
            Op::Div => (l / r, true),
            Op::Mod => (l % r, true),
            Op::Pow => (l.powf(r), true),
            Op::Atan2 => (l.atan2(r), true),
            Op::Eq => (l, l == r),
            Op::Ne => (l, l != r),
            Op::Gt => (l, l > r),
            Op::Lt => (l, l < r),
            Op::Ge => (l, l >= r),
            Op::Le => (l, l <= r),
            Op::And | Op::Or | Op::Unless => (l, false),
        }
    }
}

pub(crate) fn eval(ev: &Evaluator, b: &BinaryExpr) -> Result<Val, QueryError> {
    let op = Op::parse(&b.op.to_string())?;
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&b.lhs)?;
    let rhs = ev.eval(&b.rhs)?;
    match (&lhs, &rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.iter()
                .zip(r)
                .map(|(&l, &r)| {
                    let (v, keep) = op.apply(l, r);
                    if op.is_comparison() {
                        f64::from(u8::from(keep))
                    } else {
                        v
                    }
                })
                .collect(),
        )),
        (Val::Vector(_), Val::Scalar(_)) | (Val::Scalar(_), Val::Vector(_)) => {
            let scalar_left = matches!(lhs, Val::Scalar(_));
            let series = ev.range_eval(&[&lhs, &rhs], |args, _| {
                let mut args = args.into_iter();
                let (a, b) = (args.next(), args.next());
                let (vector, scalar) = if scalar_left { (b, a) } else { (a, b) };
                let scalar = scalar.map(|s| s.scalar()).unwrap_or(f64::NAN);
                Ok(vector_scalar(
                    op,
                    vector.map(StepArg::vector).unwrap_or_default(),
                    scalar,
                    scalar_left,
                    return_bool,
                ))
            })?;
            Ok(Val::Vector(series))
        }
        (Val::Vector(_), Val::Vector(_)) => {
            let matching = Matching::from(&b.modifier, op.is_set());
            let series = ev.range_eval(&[&lhs, &rhs], |args, _| {
                let mut args = args.into_iter();
                let l = args.next().map(StepArg::vector).unwrap_or_default();
                let r = args.next().map(StepArg::vector).unwrap_or_default();
                match op {
                    Op::And => Ok(and(l, r, &matching)),
                    Op::Or => Ok(or(l, r, &matching)),
                    Op::Unless => Ok(unless(l, r, &matching)),
                    _ => vector_vector(op, l, r, &matching, return_bool),
                }
            })?;
            Ok(Val::Vector(series))
        }
        _ => Err(exec_err("binary operators need scalars or instant vectors")),
    }
}

/// Arithmetic drops the metric name, and so does a `bool` comparison;
/// `atan2` keeps it (Prometheus 2.42 does, and its tests say so).
fn drops_name(op: Op, return_bool: bool) -> bool {
    (!op.is_comparison() && op != Op::Atan2) || return_bool
}

fn vector_scalar(
    op: Op,
    vector: Vector,
    scalar: f64,
    scalar_left: bool,
    return_bool: bool,
) -> Vector {
    let mut out = Vec::with_capacity(vector.len());
    for s in vector {
        let (l, r) = if scalar_left {
            (scalar, s.v)
        } else {
            (s.v, scalar)
        };
        let (mut v, keep) = op.apply(l, r);
        // A comparison keeps the vector's value even when it is on the right.
        if op.is_comparison() && scalar_left {
            v = s.v;
        }
        if return_bool {
            v = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let labels = if drops_name(op, return_bool) {
            s.labels.without_metric_name()
        } else {
            s.labels
        };
        out.push(Sample { labels, v });
    }
    out
}

fn vector_vector(
    op: Op,
    lhs: Vector,
    rhs: Vector,
    m: &Matching,
    return_bool: bool,
) -> Result<Vector, QueryError> {
    if m.card == Card::ManyToMany {
        return Err(exec_err(
            "many-to-many matching is only allowed for set operators",
        ));
    }
    // The "many" side is iterated; the "one" side is looked up.
    let (many, one) = if m.card == Card::OneToMany {
        (rhs, lhs)
    } else {
        (lhs, rhs)
    };
    let mut one_by_sig: HashMap<Labels, Sample> = HashMap::with_capacity(one.len());
    for s in one {
        let sig = m.signature(&s.labels);
        if one_by_sig.contains_key(&sig) {
            let side = if m.card == Card::OneToMany {
                "left"
            } else {
                "right"
            };
            return Err(exec_err(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{}];many-to-many matching not allowed: matching labels must be unique on one side",
                s.labels
            )));
        }
        one_by_sig.insert(sig, s);
    }
    let mut matched: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for s in many {
        let sig = m.signature(&s.labels);
        let Some(other) = one_by_sig.get(&sig) else {
            continue;
        };
        let (l, r) = if m.card == Card::OneToMany {
            (other.v, s.v)
        } else {
            (s.v, other.v)
        };
        let (mut v, keep) = op.apply(l, r);
        if return_bool {
            v = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let labels = result_labels(&s.labels, &other.labels, op, m, return_bool);
        let inserted = matched.entry(sig).or_default();
        if m.card == Card::OneToOne {
            if !inserted.is_empty() {
                return Err(exec_err("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"));
            }
        } else if inserted.contains(&labels) {
            return Err(exec_err(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ));
        }
        inserted.insert(labels.clone());
        out.push(Sample { labels, v });
    }
    Ok(out)
}

fn result_labels(many: &Labels, one: &Labels, op: Op, m: &Matching, return_bool: bool) -> Labels {
    let mut labels = many.clone();
    if drops_name(op, return_bool) {
        labels.remove(METRIC_NAME);
    }
    if m.card == Card::OneToOne {
        labels = if m.on {
            labels.keep_only(&m.names)
        } else {
            labels.drop_names(&m.names)
        };
    }
    for name in &m.include {
        labels.set(name, one.value(name));
    }
    labels
}

fn signatures(v: &Vector, m: &Matching) -> HashSet<Labels> {
    v.iter().map(|s| m.signature(&s.labels)).collect()
}

fn and(lhs: Vector, rhs: Vector, m: &Matching) -> Vector {
    let right = signatures(&rhs, m);
    lhs.into_iter()
        .filter(|s| right.contains(&m.signature(&s.labels)))
        .collect()
}

fn or(lhs: Vector, rhs: Vector, m: &Matching) -> Vector {
    let left = signatures(&lhs, m);
    let mut out = lhs;
    out.extend(
        rhs.into_iter()
            .filter(|s| !left.contains(&m.signature(&s.labels))),
    );
    out
}

fn unless(lhs: Vector, rhs: Vector, m: &Matching) -> Vector {
    let right = signatures(&rhs, m);
    lhs.into_iter()
        .filter(|s| !right.contains(&m.signature(&s.labels)))
        .collect()
}
