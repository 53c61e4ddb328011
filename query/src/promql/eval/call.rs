//! Function calls: argument evaluation and dispatch to the kernels in `promql::functions`,
//! with Prometheus's rules for defaults, result labels (most functions drop the metric name)
//! and `absent`'s labels.

use std::collections::{HashMap, HashSet};

use argus_model::{Labels, METRIC_NAME, Sample};
use promql_parser::label::MatchOp as ParsedOp;
use promql_parser::parser::{Call, Expr, VectorSelector};

use super::{Evaluator, compare_nan_last, concat_per_step};
use crate::error::{Error, Result};
use crate::promql::PrehashedMap;
use crate::promql::annotations::{self, Annotations};
use crate::promql::functions;
use crate::promql::value::{Matrix, Value, Vector, VectorSample};

pub(super) fn eval(ev: &mut Evaluator<'_>, call: &Call, t: i64) -> Result<Value> {
    let name = call.func.name;
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    if functions::is_range_function(name) {
        return range_function(ev, call, name, &args, t).map(Value::Vector);
    }
    if let Some(f) = functions::simple_function(name) {
        let vector = ev.eval_vector(args[0], t)?;
        return Ok(Value::Vector(map_values(vector, t, f)));
    }
    if let Some(f) = functions::date_function(name) {
        let vector = match args.first() {
            Some(arg) => ev.eval_vector(arg, t)?,
            None => vec![VectorSample::new(Labels::empty(), t, t as f64 / 1000.0)],
        };
        return Ok(Value::Vector(map_values(vector, t, f)));
    }
    match name {
        "time" => Ok(Value::Scalar { t, v: t as f64 / 1000.0 }),
        "pi" => Ok(Value::Scalar { t, v: std::f64::consts::PI }),
        "vector" => {
            Ok(Value::Vector(vec![VectorSample::new(Labels::empty(), t, ev.eval_scalar(args[0], t)?)]))
        }
        "scalar" => {
            let vector = ev.eval_vector(args[0], t)?;
            Ok(Value::Scalar { t, v: if vector.len() == 1 { vector[0].v } else { f64::NAN } })
        }
        "timestamp" => {
            // Samples straight from a selector still carry their own timestamps.
            let vector = ev.eval_vector(args[0], t)?;
            let stamped =
                vector.into_iter().map(|s| VectorSample::dropping_name(s.labels, t, s.t as f64 / 1000.0));
            Ok(Value::Vector(stamped.collect()))
        }
        "absent" => {
            let vector = ev.eval_vector(args[0], t)?;
            Ok(Value::Vector(absent(vector.is_empty(), args[0], t)))
        }
        "absent_over_time" => {
            let matrix = eval_matrix(ev, args[0], t)?;
            Ok(Value::Vector(absent(matrix.is_empty(), args[0], t)))
        }
        "sort" | "sort_desc" => {
            let mut vector = ev.eval_vector(args[0], t)?;
            sort_by_value(&mut vector, name == "sort_desc");
            Ok(Value::Vector(vector))
        }
        "round" => {
            let to_nearest = match args.get(1) {
                Some(arg) => ev.eval_scalar(arg, t)?,
                None => 1.0,
            };
            let vector = ev.eval_vector(args[0], t)?;
            Ok(Value::Vector(map_values(vector, t, |v| functions::round(v, to_nearest))))
        }
        "clamp" => {
            let vector = ev.eval_vector(args[0], t)?;
            let (min, max) = (ev.eval_scalar(args[1], t)?, ev.eval_scalar(args[2], t)?);
            if max < min {
                return Ok(Value::Vector(Vec::new()));
            }
            Ok(Value::Vector(map_values(vector, t, |v| functions::clamp(v, min, max))))
        }
        "clamp_min" | "clamp_max" => {
            let vector = ev.eval_vector(args[0], t)?;
            let bound = ev.eval_scalar(args[1], t)?;
            let (min, max) =
                if name == "clamp_min" { (bound, f64::INFINITY) } else { (f64::NEG_INFINITY, bound) };
            Ok(Value::Vector(map_values(vector, t, |v| functions::clamp(v, min, max))))
        }
        "label_replace" => {
            let vector = ev.eval_vector(args[0], t)?;
            let [dst, replacement, src, regex] = [1, 2, 3, 4].map(|i| string_arg(args[i]));
            let replace =
                functions::LabelReplace::new(dst, replacement, src, regex).map_err(Error::Execution)?;
            let relabelled = vector.into_iter().map(|s| {
                let labels = replace.apply(&s.labels);
                relabelled(s, dst, labels, t)
            });
            Ok(Value::Vector(relabelled.collect()))
        }
        "label_join" => {
            let vector = ev.eval_vector(args[0], t)?;
            let (dst, separator) = (string_arg(args[1]), string_arg(args[2]));
            let sources: Vec<&str> = args[3..].iter().map(|a| string_arg(a)).collect();
            let mut out = Vec::with_capacity(vector.len());
            for s in vector {
                let labels =
                    functions::label_join(&s.labels, dst, separator, &sources).map_err(Error::Execution)?;
                out.push(relabelled(s, dst, labels, t));
            }
            Ok(Value::Vector(out))
        }
        "histogram_quantile" => {
            let phi = ev.eval_scalar(args[0], t)?;
            if annotations::is_invalid_quantile(phi) {
                ev.annotations.warn(annotations::invalid_quantile(phi));
            }
            let vector = ev.eval_vector(args[1], t)?;
            let groups = bucket_groups(vector, &mut ev.annotations);
            let quantiles = groups.into_iter().map(|mut group| {
                let quantile = functions::bucket_quantile(phi, &mut group.buckets);
                if quantile.forced_monotonic {
                    ev.annotations.info(annotations::forced_monotonicity(&group.metric));
                }
                VectorSample::dropping_name(group.labels, t, quantile.value)
            });
            Ok(Value::Vector(quantiles.collect()))
        }
        "histogram_fraction" => {
            let (lower, upper) = (ev.eval_scalar(args[0], t)?, ev.eval_scalar(args[1], t)?);
            let vector = ev.eval_vector(args[2], t)?;
            let fractions = bucket_groups(vector, &mut ev.annotations).into_iter().map(|mut group| {
                let fraction = functions::bucket_fraction(lower, upper, &mut group.buckets);
                VectorSample::dropping_name(group.labels, t, fraction)
            });
            Ok(Value::Vector(fractions.collect()))
        }
        other => Err(Error::BadData(format!("function \"{other}\" is not supported"))),
    }
}

/// A range function over a plain range selector with literal parameters, such as
/// `rate(x[5m])` or `quantile_over_time(0.9, x[1h])`: over a range query's grid it is computed
/// for all steps at once, series by series.
pub(super) struct PlainRangeCall<'e> {
    pub name: &'e str,
    pub selector: &'e VectorSelector,
    pub range: i64,
    pub params: Vec<f64>,
    /// Whether results keep the metric name (`last_over_time`).
    pub keep_name: bool,
}

impl<'e> PlainRangeCall<'e> {
    pub fn of(call: &'e Call) -> Option<Self> {
        let name = call.func.name;
        if !functions::is_range_function(name)
            || matches!(name, "double_exponential_smoothing" | "holt_winters")
        {
            // Smoothing factors are validated per step, on the general path.
            return None;
        }
        let matrix_index = matrix_argument(name);
        let Expr::MatrixSelector(ms) = unparen(call.args.args.get(matrix_index)?) else { return None };
        let mut params = Vec::new();
        for (i, arg) in call.args.args.iter().enumerate() {
            if i != matrix_index {
                params.push(literal(arg)?);
            }
        }
        let keep_name = matches!(name, "last_over_time" | "first_over_time");
        Some(Self { name, selector: &ms.vs, range: ms.range.as_millis() as i64, params, keep_name })
    }

    /// Folds `visit(state, grid position, series index, labels, value)` over every series
    /// and grid time where the function has a value, one state per part of the series (see
    /// [`Evaluator::fold_series`]). The annotations the values call for go to `annotations`.
    pub fn fold_on_grid<S: Send>(
        &self,
        ev: &Evaluator<'_>,
        annotations: &mut Annotations,
        init: impl Fn() -> S + Sync,
        visit: impl Fn(&mut S, usize, usize, &Labels, f64) + Sync,
    ) -> Result<Vec<S>> {
        let grid = ev.grid();
        // Series whose names call for an info once they give a value; usually none.
        let mut unlike_counters: HashMap<usize, String> = HashMap::new();
        if reads_counters(self.name) {
            ev.for_each_fetched_labels(self.selector, |i, labels| {
                if let Some(metric) = unlike_counter(self.name, labels) {
                    unlike_counters.insert(i, metric.to_string());
                }
            });
        }
        let parts = ev.fold_windows_on_grid(
            self.selector,
            self.range,
            || (init(), Produced::default()),
            |(state, produced), i, series, at, labels, samples| {
                let start = at - self.range;
                if let Some(v) =
                    functions::range_function_at(self.name, samples, start, at, grid[i], &self.params)
                {
                    produced.any = true;
                    if unlike_counters.contains_key(&series)
                        && produced.unlike_counters.last() != Some(&series)
                    {
                        produced.unlike_counters.push(series);
                    }
                    visit(state, i, series, labels, v);
                }
            },
        )?;
        let mut states = Vec::with_capacity(parts.len());
        let mut any = false;
        for (state, produced) in parts {
            any |= produced.any;
            for series in produced.unlike_counters {
                annotations.info(annotations::possible_non_counter(&unlike_counters[&series]));
            }
            states.push(state);
        }
        if any {
            note_invalid_quantile(self.name, &self.params, annotations);
        }
        Ok(states)
    }
}

/// What a grid fold's part saw that may call for annotations: whether any value came out,
/// and which series of [`unlike_counter`] names gave one.
#[derive(Default)]
struct Produced {
    any: bool,
    unlike_counters: Vec<usize>,
}

/// Whether a range function expects counters, and notes inputs that do not look like them.
fn reads_counters(function: &str) -> bool {
    matches!(function, "rate" | "increase")
}

/// The metric name of a series `rate` or `increase` reads, when it ends unlike a counter's.
fn unlike_counter<'l>(function: &str, labels: &'l Labels) -> Option<&'l str> {
    if !reads_counters(function) {
        return None;
    }
    labels.get(METRIC_NAME).filter(|metric| !annotations::looks_like_counter(metric))
}

/// `quantile_over_time`'s φ outside [0, 1], once the function gave a value.
fn note_invalid_quantile(function: &str, params: &[f64], annotations: &mut Annotations) {
    if function == "quantile_over_time"
        && let Some(&phi) = params.first()
        && annotations::is_invalid_quantile(phi)
    {
        annotations.warn(annotations::invalid_quantile(phi));
    }
}

/// Position of the range-vector argument: first, except `quantile_over_time(φ, v[…])`.
fn matrix_argument(name: &str) -> usize {
    usize::from(name == "quantile_over_time")
}

/// A function over a range vector, applied to each series: the result drops the metric name
/// (except `last_over_time` and `first_over_time`, which return a sample of the series).
fn range_function(ev: &mut Evaluator<'_>, call: &Call, name: &str, args: &[&Expr], t: i64) -> Result<Vector> {
    let matrix_index = matrix_argument(name);
    let keep_name = matches!(name, "last_over_time" | "first_over_time");
    let smoothing = matches!(name, "double_exponential_smoothing" | "holt_winters");
    if let (Some(plain), Some(i)) = (PlainRangeCall::of(call), ev.grid_index(t)) {
        let node = call as *const Call as usize;
        return ev.grid_value(node, i, |ev, annotations| {
            let grid = ev.grid();
            let drop_name = !plain.keep_name;
            let parts = plain.fold_on_grid(
                ev,
                annotations,
                || vec![Vec::new(); grid.len()],
                |out: &mut Vec<Vector>, i, _, labels, v| {
                    out[i].push(VectorSample { labels: labels.clone(), t: grid[i], v, drop_name });
                },
            )?;
            Ok(concat_per_step(parts))
        });
    }
    let mut params = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if i != matrix_index {
            params.push(ev.eval_scalar(arg, t)?);
        }
    }
    let mut out = Vec::new();
    let mut unlike_counters: Vec<String> = Vec::new();
    let mut apply =
        |labels: &Labels, samples: &[Sample], start: i64, end: i64, drop_name: bool| -> Result<()> {
            // Prometheus rejects bad smoothing factors only once some series has samples.
            if smoothing && out.is_empty() {
                functions::validate_smoothing_factors(params[0], params[1]).map_err(Error::Execution)?;
            }
            if let Some(v) = functions::range_function_at(name, samples, start, end, t, &params) {
                // A name an earlier function removed is not the series' any more.
                if let Some(metric) = unlike_counter(name, labels).filter(|_| !drop_name)
                    && !unlike_counters.iter().any(|m| m == metric)
                {
                    unlike_counters.push(metric.to_string());
                }
                out.push(VectorSample { labels: labels.clone(), t, v, drop_name: drop_name || !keep_name });
            }
            Ok(())
        };
    match unparen(args[matrix_index]) {
        // The common case reads the fetched samples in place instead of copying each window.
        Expr::MatrixSelector(ms) => {
            let range = ms.range.as_millis() as i64;
            let end = ev.effective_time(&ms.vs.at, &ms.vs.offset, t);
            for (labels, samples) in ev.windows(&ms.vs, range, t) {
                apply(labels, &samples, end - range, end, false)?;
            }
        }
        Expr::Subquery(sq) => {
            let end = ev.effective_time(&sq.at, &sq.offset, t);
            let range = sq.range.as_millis() as i64;
            for series in eval_matrix(ev, args[matrix_index], t)? {
                apply(&series.labels, &series.samples, end - range, end, series.drop_name)?;
            }
        }
        _ => return Err(Error::Execution("expected a range vector argument".into())),
    }
    for metric in unlike_counters {
        ev.annotations.info(annotations::possible_non_counter(&metric));
    }
    if !out.is_empty() {
        note_invalid_quantile(name, &params, &mut ev.annotations);
    }
    Ok(out)
}

/// The value of a number literal argument, `-` and parentheses included.
fn literal(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::NumberLiteral(n) => Some(n.val),
        Expr::Paren(p) => literal(&p.expr),
        Expr::Unary(u) => literal(&u.expr).map(|v| -v),
        _ => None,
    }
}

pub(super) fn unparen(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => unparen(&p.expr),
        other => other,
    }
}

fn eval_matrix(ev: &mut Evaluator<'_>, arg: &Expr, t: i64) -> Result<Matrix> {
    match ev.eval(arg, t)? {
        Value::Matrix(matrix) => Ok(matrix),
        other => Err(Error::Execution(format!("expected a range vector, got a {}", other.type_name()))),
    }
}

fn string_arg(arg: &Expr) -> &str {
    match arg {
        Expr::StringLiteral(s) => &s.val,
        Expr::Paren(p) => string_arg(&p.expr),
        _ => "",
    }
}

/// Applies `f` to every value; the metric name is dropped.
fn map_values(vector: Vector, t: i64, f: impl Fn(f64) -> f64) -> Vector {
    vector.into_iter().map(|s| VectorSample::dropping_name(s.labels, t, f(s.v))).collect()
}

/// A sample after `label_replace`/`label_join` wrote `dst`: setting `__name__` explicitly
/// keeps the name even where an earlier operation marked it for removal.
fn relabelled(sample: VectorSample, dst: &str, labels: Labels, t: i64) -> VectorSample {
    let drop_name = sample.drop_name && dst != METRIC_NAME;
    VectorSample { labels, t, v: sample.v, drop_name }
}

/// `absent`'s answer: nothing when there is data, else one sample labelled with the
/// selector's equality matchers (other than the metric name, and only names set once).
fn absent(has_no_data: bool, arg: &Expr, t: i64) -> Vector {
    if !has_no_data {
        return Vec::new();
    }
    let selector = match arg {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        _ => None,
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut repeated: HashSet<String> = HashSet::new();
    for m in selector.map(|vs| vs.matchers.matchers.as_slice()).unwrap_or_default() {
        if m.name == METRIC_NAME {
            continue;
        }
        if pairs.iter().any(|(n, _)| *n == m.name) {
            repeated.insert(m.name.clone());
        }
        if matches!(m.op, ParsedOp::Equal) {
            pairs.push((m.name.clone(), m.value.clone()));
        }
    }
    pairs.retain(|(n, _)| !repeated.contains(n));
    let labels = Labels::from_pairs(pairs).unwrap_or_default();
    vec![VectorSample::new(labels, t, 1.0)]
}

/// `sort`/`sort_desc`: by value, NaN last either way.
fn sort_by_value(vector: &mut Vector, descending: bool) {
    vector.sort_by(|a, b| compare_nan_last(a.v, b.v, descending));
}

/// One classic histogram at one time: the bucket series that share all labels but `le`.
struct BucketGroup {
    /// The shared labels. The metric name is kept for grouping (the result marks it for
    /// removal), so buckets of two metrics with the same other labels collide at the end, as
    /// in Prometheus.
    labels: Labels,
    /// The metric name annotations report: empty when an earlier function removed it.
    metric: String,
    /// `(upper bound, cumulative count)` pairs.
    buckets: Vec<(f64, f64)>,
}

/// The input of a classic-histogram function (`histogram_quantile`, `histogram_fraction`)
/// grouped into histograms, in order of first appearance. A series whose `le` is missing or
/// not a number is left out with a warning.
fn bucket_groups(vector: Vector, annotations: &mut Annotations) -> Vec<BucketGroup> {
    let mut groups: Vec<BucketGroup> = Vec::new();
    let mut index: PrehashedMap<Labels, usize> = PrehashedMap::default();
    for sample in vector {
        let metric = if sample.drop_name { "" } else { sample.labels.get(METRIC_NAME).unwrap_or_default() };
        let le = sample.labels.get("le");
        let Some(upper) = le.and_then(functions::parse_le) else {
            annotations.warn(annotations::bad_bucket_label(metric, le.unwrap_or_default()));
            continue;
        };
        let i = *index.entry(sample.labels.without(&["le"])).or_insert_with_key(|labels| {
            groups.push(BucketGroup {
                labels: labels.clone(),
                metric: metric.to_string(),
                buckets: Vec::new(),
            });
            groups.len() - 1
        });
        groups[i].buckets.push((upper, sample.v));
    }
    groups
}
