//! Binary operators: arithmetic (`+ - * / % ^ atan2`), comparisons (filtering, or 0/1 with
//! `bool`) and set operators (`and or unless`) between scalars and vectors, with vector
//! matching (`on`, `ignoring`, `group_left`, `group_right`) as Prometheus does it.
//!
//! Arithmetic and `bool` comparisons drop the metric name; filtering comparisons and set
//! operators keep the series as they are.

use argus_model::{Labels, METRIC_NAME};
use promql_parser::parser::{BinModifier, BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::Evaluator;
use crate::error::{Error, Result};
use crate::promql::value::{Value, Vector, VectorSample};
use crate::promql::{PrehashedMap, PrehashedSet};

pub(super) fn eval(ev: &mut Evaluator<'_>, expr: &BinaryExpr, t: i64) -> Result<Value> {
    let op = expr.op.to_string();
    let return_bool = expr.return_bool();
    let lhs = ev.eval(&expr.lhs, t)?;
    let rhs = ev.eval(&expr.rhs, t)?;
    match (lhs, rhs) {
        (Value::Scalar { v: l, .. }, Value::Scalar { v: r, .. }) => {
            let (v, keep) = apply(&op, l, r)?;
            let v = if is_comparison(&op) { f64::from(u8::from(keep)) } else { v };
            Ok(Value::Scalar { t, v })
        }
        (Value::Vector(l), Value::Scalar { v: r, .. }) => {
            Ok(Value::Vector(vector_scalar(l, r, &op, return_bool, false, t)?))
        }
        (Value::Scalar { v: l, .. }, Value::Vector(r)) => {
            Ok(Value::Vector(vector_scalar(r, l, &op, return_bool, true, t)?))
        }
        (Value::Vector(l), Value::Vector(r)) => {
            let modifier = expr.modifier.as_ref();
            let out = match op.as_str() {
                "and" => set_and(l, r, modifier, true),
                "unless" => set_and(l, r, modifier, false),
                "or" => set_or(l, r, modifier),
                _ => vector_vector(l, r, &op, modifier, return_bool, t)?,
            };
            Ok(Value::Vector(out))
        }
        (l, r) => Err(Error::Execution(format!(
            "binary operator {op} between a {} and a {}",
            l.type_name(),
            r.type_name()
        ))),
    }
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// `l op r`: the arithmetic result, or for comparisons `(l, whether it holds)`.
fn apply(op: &str, l: f64, r: f64) -> Result<(f64, bool)> {
    Ok(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        other => return Err(Error::Execution(format!("operator {other} is not supported here"))),
    })
}

/// A vector against a scalar; `scalar_on_left` when the expression was `scalar op vector`.
fn vector_scalar(
    vector: Vector,
    scalar: f64,
    op: &str,
    return_bool: bool,
    scalar_on_left: bool,
    t: i64,
) -> Result<Vector> {
    let comparison = is_comparison(op);
    let mut out = Vec::with_capacity(vector.len());
    for sample in vector {
        let (l, r) = if scalar_on_left { (scalar, sample.v) } else { (sample.v, scalar) };
        let (mut v, keep) = apply(op, l, r)?;
        if comparison {
            // A filter keeps the vector's own value, whichever side it was on.
            v = sample.v;
        }
        let drop_name = sample.drop_name || !comparison || return_bool;
        let labels = sample.labels;
        match (comparison, return_bool) {
            (true, true) => out.push(VectorSample { labels, t, v: f64::from(u8::from(keep)), drop_name }),
            (true, false) if !keep => {}
            _ => out.push(VectorSample { labels, t, v, drop_name }),
        }
    }
    Ok(out)
}

/// The labels two series are matched on.
fn signature(labels: &Labels, modifier: Option<&BinModifier>) -> Labels {
    match modifier.and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(on)) => labels.keep_only(&on.labels),
        Some(LabelModifier::Exclude(ignoring)) => {
            let mut names: Vec<&str> = ignoring.labels.iter().map(String::as_str).collect();
            names.push(METRIC_NAME);
            labels.without(&names)
        }
        None => labels.without_metric_name(),
    }
}

/// `and` (keep lhs samples with a match) and `unless` (keep those without).
fn set_and(lhs: Vector, rhs: Vector, modifier: Option<&BinModifier>, keep_matched: bool) -> Vector {
    let right: PrehashedSet<Labels> = rhs.iter().map(|s| signature(&s.labels, modifier)).collect();
    lhs.into_iter().filter(|s| right.contains(&signature(&s.labels, modifier)) == keep_matched).collect()
}

/// `or`: all of lhs, plus rhs samples whose signature lhs lacks.
fn set_or(lhs: Vector, rhs: Vector, modifier: Option<&BinModifier>) -> Vector {
    let left: PrehashedSet<Labels> = lhs.iter().map(|s| signature(&s.labels, modifier)).collect();
    let mut out = lhs;
    out.extend(rhs.into_iter().filter(|s| !left.contains(&signature(&s.labels, modifier))));
    out
}

/// Arithmetic and comparisons between two vectors with one-to-one, many-to-one
/// (`group_left`) or one-to-many (`group_right`) matching.
fn vector_vector(
    lhs: Vector,
    rhs: Vector,
    op: &str,
    modifier: Option<&BinModifier>,
    return_bool: bool,
    t: i64,
) -> Result<Vector> {
    let card = modifier.map_or(&VectorMatchCardinality::OneToOne, |m| &m.card);
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    // Work as if the "many" side were on the left.
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_side: PrehashedMap<Labels, VectorSample> = PrehashedMap::default();
    for sample in one {
        let sig = signature(&sample.labels, modifier);
        if let Some(existing) = one_side.get(&sig) {
            let side = if one_to_many { "left" } else { "right" };
            return Err(Error::Execution(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                existing.labels, sample.labels
            )));
        }
        one_side.insert(sig, sample);
    }
    let comparison = is_comparison(op);
    let drop_name = !comparison || return_bool;
    let mut out = Vec::new();
    let mut seen_one_to_one: PrehashedSet<Labels> = PrehashedSet::default();
    let mut seen_outputs: PrehashedSet<Labels> = PrehashedSet::default();
    for sample in many {
        let sig = signature(&sample.labels, modifier);
        let Some(other) = one_side.get(&sig) else { continue };
        // A second match on the left is an error even when a comparison would filter it out.
        if matches!(card, VectorMatchCardinality::OneToOne) && !seen_one_to_one.insert(sig) {
            return Err(Error::Execution(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                    .into(),
            ));
        }
        let (l, r) = if one_to_many { (other.v, sample.v) } else { (sample.v, other.v) };
        let (v, keep) = apply(op, l, r)?;
        let v = match (comparison, return_bool) {
            (true, true) => f64::from(u8::from(keep)),
            (true, false) if !keep => continue,
            _ => v,
        };
        let labels = result_labels(&sample.labels, &other.labels, card, modifier);
        if !matches!(card, VectorMatchCardinality::OneToOne) && !seen_outputs.insert(labels.clone()) {
            return Err(Error::Execution(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        out.push(VectorSample { labels, t, v, drop_name: drop_name || sample.drop_name });
    }
    Ok(out)
}

/// Labels of a matched result: the "many" side's; for one-to-one `on`/`ignoring` reduce them;
/// `group_x(labels)` copies labels from the "one" side. (Whether the metric name goes is
/// marked on the sample.)
fn result_labels(
    many: &Labels,
    one: &Labels,
    card: &VectorMatchCardinality,
    modifier: Option<&BinModifier>,
) -> Labels {
    let mut labels = many.clone();
    if matches!(card, VectorMatchCardinality::OneToOne) {
        match modifier.and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(on)) => labels = labels.keep_only(&on.labels),
            Some(LabelModifier::Exclude(ignoring)) => labels = labels.without(&ignoring.labels),
            None => {}
        }
    }
    if let Some(include) = card.labels() {
        for name in &include.labels {
            labels = labels.with(name, one.get(name).unwrap_or(""));
        }
    }
    labels
}
