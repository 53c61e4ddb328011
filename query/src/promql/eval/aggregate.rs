//! Aggregation operators: `sum min max avg group stddev stdvar count count_values topk bottomk
//! quantile`, with `by`/`without` grouping, as Prometheus evaluates them.

use std::cmp::Ordering;

use argus_model::labels::is_valid_label_name;
use argus_model::{Labels, METRIC_NAME};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::call::{PlainRangeCall, unparen};
use super::{Evaluator, compare_nan_last};
use crate::error::{Error, Result};
use crate::promql::PrehashedMap;
use crate::promql::annotations;
use crate::promql::functions::{aggregation_variance, kahan_sum_inc, mean, quantile};
use crate::promql::value::{Value, Vector, VectorSample, format_float};

pub(super) fn eval(ev: &mut Evaluator<'_>, agg: &AggregateExpr, t: i64) -> Result<Value> {
    let op = agg.op.to_string();
    if let Some(fused) = fused_on_grid(ev, agg, &op, t) {
        return fused.map(Value::Vector);
    }
    let param = match &agg.param {
        Some(param) => Some(ev.eval(param, t)?),
        None => None,
    };
    let input = ev.eval_vector(&agg.expr, t)?;
    let grouping = Grouping::new(&agg.modifier);
    let out = match op.as_str() {
        "topk" | "bottomk" => {
            let k = scalar_param(&param, &op)?;
            if k.is_nan() {
                return Err(Error::Execution("Parameter value is NaN".into()));
            }
            select_k(input, &grouping, k, op == "topk", t)
        }
        "count_values" => count_values(input, &grouping, string_param(&param)?, t)?,
        "quantile" => {
            let phi = scalar_param(&param, &op)?;
            if annotations::is_invalid_quantile(phi) {
                ev.annotations.warn(annotations::invalid_quantile(phi));
            }
            fold_groups(input, &grouping, t, |values| quantile(phi, values))
        }
        _ => {
            let reducer = reducer(&op)?;
            fold_groups(input, &grouping, t, reducer)
        }
    };
    Ok(Value::Vector(out))
}

/// `sum`, `count`, `min`, `max` or `group` of a plain range function (`sum by (mode)
/// (rate(x[5m]))`) over the query's grid: each series' group is found once, and its values
/// for all steps flow straight into per-step accumulators, without a vector per step.
/// `None` when the shape does not apply.
fn fused_on_grid(ev: &mut Evaluator<'_>, agg: &AggregateExpr, op: &str, t: i64) -> Option<Result<Vector>> {
    let op = Fold::of(op)?;
    let grouping = Grouping::new(&agg.modifier);
    if let Grouping::By(names) = grouping
        && names.iter().any(|n| n == METRIC_NAME)
    {
        // The result would inherit name marks; the general path handles that.
        return None;
    }
    let Expr::Call(call) = unparen(&agg.expr) else { return None };
    let plain = PlainRangeCall::of(call)?;
    let i = ev.grid_index(t)?;
    let node = agg as *const AggregateExpr as usize;
    Some(ev.grid_value(node, i, |ev, annotations| {
        let mut keys: Vec<Labels> = Vec::new();
        let mut index: PrehashedMap<Labels, usize> = PrehashedMap::default();
        let group_of: Vec<usize> = ev
            .fetched_labels(plain.selector)
            .iter()
            .map(|labels| {
                let key = grouping.key_of(labels);
                *index.entry(key.clone()).or_insert_with(|| {
                    keys.push(key);
                    keys.len() - 1
                })
            })
            .collect();
        let grid = ev.grid();
        let parts = plain.fold_on_grid(
            ev,
            annotations,
            || vec![vec![Accumulator::default(); keys.len()]; grid.len()],
            |accumulators, step, series, _, v| accumulators[step][group_of[series]].add(op, v),
        )?;
        let mut parts = parts.into_iter();
        let mut accumulators = parts.next().unwrap_or_default();
        for part in parts {
            for (steps, part_steps) in accumulators.iter_mut().zip(part) {
                for (acc, other) in steps.iter_mut().zip(part_steps) {
                    acc.merge(op, &other);
                }
            }
        }
        Ok(accumulators
            .into_iter()
            .zip(grid)
            .map(|(groups, &t)| {
                groups
                    .into_iter()
                    .zip(&keys)
                    .filter(|(acc, _)| acc.count > 0)
                    .map(|(acc, key)| VectorSample::new(key.clone(), t, acc.result(op)))
                    .collect()
            })
            .collect())
    }))
}

/// The aggregations an [`Accumulator`] computes in one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fold {
    Sum,
    Count,
    Min,
    Max,
    Group,
}

impl Fold {
    fn of(op: &str) -> Option<Self> {
        Some(match op {
            "sum" => Fold::Sum,
            "count" => Fold::Count,
            "min" => Fold::Min,
            "max" => Fold::Max,
            "group" => Fold::Group,
            _ => return None,
        })
    }
}

/// A running `sum` (Kahan-compensated), `count`, `min`, `max` or `group` of one group at one
/// step. For `min` and `max`, NaN loses to any number (a group of NaNs stays NaN), as in
/// Prometheus.
#[derive(Debug, Clone, Copy, Default)]
struct Accumulator {
    value: f64,
    compensation: f64,
    count: u64,
}

impl Accumulator {
    /// The aggregate of a whole group at once.
    fn over(op: Fold, values: &[f64]) -> f64 {
        let mut acc = Self::default();
        for &v in values {
            acc.add(op, v);
        }
        acc.result(op)
    }

    fn add(&mut self, op: Fold, v: f64) {
        let first = self.count == 0;
        self.count += 1;
        match op {
            Fold::Sum => (self.value, self.compensation) = kahan_sum_inc(v, self.value, self.compensation),
            Fold::Min if first || self.value.is_nan() || v < self.value => self.value = v,
            Fold::Max if first || self.value.is_nan() || v > self.value => self.value = v,
            _ => {}
        }
    }

    /// Takes in the accumulation of another part of the same group's members.
    fn merge(&mut self, op: Fold, other: &Self) {
        if other.count == 0 {
            return;
        }
        let count = self.count;
        self.add(op, other.value);
        self.count = count + other.count;
        if op == Fold::Sum {
            self.compensation += other.compensation;
        }
    }

    fn result(&self, op: Fold) -> f64 {
        match op {
            Fold::Sum if self.value.is_infinite() => self.value,
            Fold::Sum => self.value + self.compensation,
            Fold::Count => self.count as f64,
            Fold::Group => 1.0,
            Fold::Min | Fold::Max => self.value,
        }
    }
}

fn scalar_param(param: &Option<Value>, op: &str) -> Result<f64> {
    match param {
        Some(Value::Scalar { v, .. }) => Ok(*v),
        _ => Err(Error::Execution(format!("{op} needs a scalar parameter"))),
    }
}

fn string_param(param: &Option<Value>) -> Result<&str> {
    match param {
        Some(Value::String { v, .. }) => Ok(v),
        _ => Err(Error::Execution("count_values needs a string parameter".into())),
    }
}

/// How series are grouped: the labels a group keeps.
enum Grouping<'a> {
    All,
    By(&'a [String]),
    Without(&'a [String]),
}

impl<'a> Grouping<'a> {
    fn new(modifier: &'a Option<LabelModifier>) -> Self {
        match modifier {
            None => Grouping::All,
            Some(LabelModifier::Include(labels)) => Grouping::By(&labels.labels),
            Some(LabelModifier::Exclude(labels)) => Grouping::Without(&labels.labels),
        }
    }

    /// The group of a series. A name marked for removal still groups by `__name__`; the group's
    /// result inherits the mark (see `fold_groups`).
    fn key(&self, sample: &VectorSample) -> Labels {
        self.key_of(&sample.labels)
    }

    fn key_of(&self, labels: &Labels) -> Labels {
        match self {
            Grouping::All => Labels::empty(),
            Grouping::By(names) => labels.keep_only(names),
            Grouping::Without(names) => {
                let mut dropped: Vec<&str> = names.iter().map(String::as_str).collect();
                dropped.push(METRIC_NAME);
                labels.without(&dropped)
            }
        }
    }
}

/// Groups in order of first appearance, each with its members.
fn group(input: Vector, grouping: &Grouping<'_>) -> Vec<(Labels, Vector)> {
    if let Grouping::All = grouping {
        return if input.is_empty() { Vec::new() } else { vec![(Labels::empty(), input)] };
    }
    let mut index: PrehashedMap<Labels, usize> = PrehashedMap::default();
    let mut groups: Vec<(Labels, Vector)> = Vec::new();
    for sample in input {
        let key = grouping.key(&sample);
        match index.get(&key) {
            Some(&i) => groups[i].1.push(sample),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![sample]));
            }
        }
    }
    groups
}

/// One output sample per group: the group's labels and `reduce` of its values.
fn fold_groups(input: Vector, grouping: &Grouping<'_>, t: i64, reduce: impl Fn(&mut [f64]) -> f64) -> Vector {
    group(input, grouping)
        .into_iter()
        .map(|(labels, members)| {
            let mut values: Vec<f64> = members.iter().map(|s| s.v).collect();
            let drop_name = members.iter().any(|s| s.drop_name);
            VectorSample { labels, t, v: reduce(&mut values), drop_name }
        })
        .collect()
}

fn reducer(op: &str) -> Result<fn(&mut [f64]) -> f64> {
    Ok(match op {
        "sum" => |values: &mut [f64]| Accumulator::over(Fold::Sum, values),
        "avg" => |values: &mut [f64]| mean(values.iter().copied()).unwrap_or(f64::NAN),
        "min" => |values: &mut [f64]| Accumulator::over(Fold::Min, values),
        "max" => |values: &mut [f64]| Accumulator::over(Fold::Max, values),
        "count" => |values: &mut [f64]| values.len() as f64,
        "group" => |_: &mut [f64]| 1.0,
        "stdvar" => |values: &mut [f64]| aggregation_variance(values.iter().copied()).unwrap_or(f64::NAN),
        "stddev" => {
            |values: &mut [f64]| aggregation_variance(values.iter().copied()).unwrap_or(f64::NAN).sqrt()
        }
        other => return Err(Error::Execution(format!("aggregation {other} is not supported"))),
    })
}

/// `topk`/`bottomk`: the `k` largest (smallest) members of each group, keeping their labels,
/// each group's selection sorted from the most extreme; NaN ranks last.
fn select_k(input: Vector, grouping: &Grouping<'_>, k: f64, largest: bool, t: i64) -> Vector {
    if k < 1.0 {
        return Vec::new();
    }
    let k = if k >= usize::MAX as f64 { usize::MAX } else { k as usize };
    let mut out = Vec::new();
    for (_, members) in group(input, grouping) {
        let first = first_k(members, k, |a, b| compare_nan_last(a.v, b.v, largest));
        out.extend(first.into_iter().map(|s| VectorSample { t, ..s }));
    }
    out
}

/// The first `k` of `items` in the order a stable sort by `order` gives, in that order, without
/// sorting them all: ties are broken by position, which makes the order total, so selecting
/// the k-th element and sorting only the ones before it gives the same answer.
fn first_k<T>(items: Vec<T>, k: usize, order: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    let mut ranked: Vec<(usize, T)> = items.into_iter().enumerate().collect();
    let total = |a: &(usize, T), b: &(usize, T)| order(&a.1, &b.1).then(a.0.cmp(&b.0));
    if k < ranked.len() {
        ranked.select_nth_unstable_by(k, total);
        ranked.truncate(k);
    }
    ranked.sort_unstable_by(total);
    ranked.into_iter().map(|(_, item)| item).collect()
}

/// `count_values("label", v)`: per group, how many members have each value, the value
/// (formatted as Prometheus prints floats) in `label`.
fn count_values(input: Vector, grouping: &Grouping<'_>, label: &str, t: i64) -> Result<Vector> {
    if !is_valid_label_name(label) {
        return Err(Error::Execution(format!("invalid label name \"{label}\"")));
    }
    let mut index: PrehashedMap<Labels, usize> = PrehashedMap::default();
    let mut out: Vec<VectorSample> = Vec::new();
    for sample in input {
        let labels = grouping.key(&sample).with(label, &format_float(sample.v));
        match index.get(&labels) {
            Some(&i) => out[i].v += 1.0,
            None => {
                index.insert(labels.clone(), out.len());
                out.push(VectorSample::new(labels, t, 1.0));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_k_agrees_with_a_stable_sort_cut_to_k() {
        // Values with many ties and NaNs; each item remembers its position to show which of
        // the tied ones were kept, and in what order.
        let values = [3.0, f64::NAN, 1.0, 3.0, 2.0, 1.0, f64::NAN, 3.0, 0.5, 2.0, 3.0, 1.0];
        let items: Vec<(usize, f64)> = values.iter().copied().enumerate().collect();
        for largest in [true, false] {
            let order = |a: &(usize, f64), b: &(usize, f64)| compare_nan_last(a.1, b.1, largest);
            for k in 0..=items.len() + 1 {
                let mut sorted = items.clone();
                sorted.sort_by(order);
                sorted.truncate(k);
                let got = first_k(items.clone(), k, order);
                let positions = |v: &[(usize, f64)]| v.iter().map(|(i, _)| *i).collect::<Vec<_>>();
                assert_eq!(positions(&got), positions(&sorted), "k={k} largest={largest}");
            }
        }
    }
}
