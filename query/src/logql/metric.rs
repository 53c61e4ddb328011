//! Metric queries: each range aggregation (`count_over_time({…} |= "x" [5m])`) is computed
//! at every step from the entries, into series named `__logql_<n>` held in memory; the whole
//! expression is then rewritten as PromQL over those names (`sum by (app) (__logql_0)`) and
//! evaluated by the PromQL engine with a lookback of one millisecond, so each step
//! reads exactly the value computed for it.
//!
//! Windows are left-open and right-closed, `(t - range - offset, t - offset]`, in nanoseconds.
//! Steps with no entries have no value (no point), except for `absent_over_time`, which has
//! a value only there.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use argus_model::{
    Direction, Label, Labels, LogQueryable, METRIC_NAME, MatchOp, Matcher, Queryable, Sample, SamplesWanted,
    SelectHints, Selection, Series, StorageError, TimeRange,
};

use super::ast::*;
use super::pipeline;
use super::{log_select, pipeline_error};
use crate::error::Result;
use crate::promql::functions::range_function_at;
use crate::promql::value::Value;
use crate::promql::{Engine, EngineOptions, Evaluated};

const NANOS_PER_MS: i64 = 1_000_000;

/// When the query is evaluated: one instant, or steps from `start` to `end` (milliseconds).
#[derive(Debug, Clone, Copy)]
pub enum Evaluation {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

impl Evaluation {
    fn steps(self) -> impl Iterator<Item = i64> {
        let (start, end, step) = match self {
            Evaluation::Instant(t) => (t, t, 1),
            Evaluation::Range { start, end, step } => (start, end, step.max(1)),
        };
        (0..).map(move |i| start + i * step).take_while(move |t| *t <= end)
    }
}

/// Evaluates a metric query; `options` bound its samples and time as for PromQL.
pub fn evaluate(
    expr: &MetricExpr,
    storage: &dyn LogQueryable,
    evaluation: Evaluation,
    options: &EngineOptions,
    timeout: Duration,
) -> Result<Evaluated> {
    let mut computed = ComputedSeries::default();
    let promql = rewrite(expr, storage, evaluation, &mut computed)?;
    let engine_options = EngineOptions { lookback_delta: Duration::from_millis(1), ..options.clone() };
    let engine = Engine::new(Arc::new(computed), engine_options);
    let mut evaluated = match evaluation {
        Evaluation::Instant(t) => engine.instant_within(&promql, t, timeout)?,
        Evaluation::Range { start, end, step } => engine.range_within(&promql, start, end, step, timeout)?,
    };
    strip_internal_names(&mut evaluated.value);
    Ok(evaluated)
}

/// The PromQL text of `expr`, computing each range aggregation into `computed` on the way.
fn rewrite(
    expr: &MetricExpr,
    storage: &dyn LogQueryable,
    evaluation: Evaluation,
    computed: &mut ComputedSeries,
) -> Result<String> {
    let inner = |e: &MetricExpr, computed: &mut ComputedSeries| rewrite(e, storage, evaluation, computed);
    Ok(match expr {
        MetricExpr::Range(aggregation) => {
            let name = format!("__logql_{}", computed.names);
            computed.names += 1;
            for (labels, samples) in range_aggregation(aggregation, storage, evaluation)? {
                computed.series.push((labels.with(METRIC_NAME, &name), samples));
            }
            name
        }
        MetricExpr::Vector { op, grouping, parameter, inner: argument } => {
            let grouping = grouping.as_ref().map(render_grouping).unwrap_or_default();
            let parameter = parameter.map(|k| format!("{}, ", number(k))).unwrap_or_default();
            format!("{}{grouping}({parameter}{})", op.name(), inner(argument, computed)?)
        }
        MetricExpr::Binary { op, modifiers, left, right } => {
            let mut text = format!("{} {}", inner(left, computed)?, op.symbol());
            if modifiers.bool_modifier {
                text.push_str(" bool");
            }
            if let Some((ignoring, labels)) = &modifiers.matching {
                text.push_str(&format!(
                    " {}({})",
                    if *ignoring { "ignoring" } else { "on" },
                    labels.join(", ")
                ));
            }
            if let Some((right, labels)) = &modifiers.group {
                text.push_str(&format!(
                    " {}({})",
                    if *right { "group_right" } else { "group_left" },
                    labels.join(", ")
                ));
            }
            format!("{text} {}", inner(right, computed)?)
        }
        MetricExpr::Number(n) => number(*n),
        MetricExpr::VectorLiteral(n) => format!("vector({})", number(*n)),
        MetricExpr::LabelReplace { inner: argument, destination, replacement, source, regex } => format!(
            "label_replace({}, {}, {}, {}, {})",
            inner(argument, computed)?,
            quote(destination),
            quote(replacement),
            quote(source),
            quote(regex)
        ),
        MetricExpr::Parens(argument) => format!("({})", inner(argument, computed)?),
    })
}

fn render_grouping(grouping: &Grouping) -> String {
    format!(" {} ({}) ", if grouping.without { "without" } else { "by" }, grouping.labels.join(", "))
}

/// A float as a PromQL literal.
fn number(n: f64) -> String {
    match n {
        n if n.is_nan() => "NaN".to_string(),
        n if n == f64::INFINITY => "Inf".to_string(),
        n if n == f64::NEG_INFINITY => "-Inf".to_string(),
        n => format!("{n:?}"),
    }
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).expect("strings always serialize")
}

/// The series of one range aggregation with a sample at every step that has a value.
fn range_aggregation(
    aggregation: &RangeAggregation,
    storage: &dyn LogQueryable,
    evaluation: Evaluation,
) -> Result<Vec<(Labels, Vec<Sample>)>> {
    let steps: Vec<i64> = evaluation.steps().collect();
    let (Some(&first), Some(&last)) = (steps.first(), steps.last()) else { return Ok(Vec::new()) };
    let range = aggregation.range.as_nanos() as i64;
    let offset = aggregation.offset.as_nanos() as i64;
    let window = |t: i64| (t * NANOS_PER_MS - offset - range, t * NANOS_PER_MS - offset);
    let selected = TimeRange::new(window(first).0 + 1, window(last).1);
    let points = collect_points(aggregation, storage, selected)?;
    if aggregation.op == RangeOp::AbsentOverTime {
        let all: Vec<i64> = points.values().flatten().map(|(t, _)| *t).collect();
        return Ok(absent_series(&aggregation.log.matchers, &steps, window, all));
    }
    let range_seconds = aggregation.range.as_secs_f64();
    let mut series = Vec::with_capacity(points.len());
    for (labels, points) in points {
        let mut samples = Vec::new();
        for &t in &steps {
            let (low, high) = window(t);
            let from = points.partition_point(|(ts, _)| *ts <= low);
            let to = points.partition_point(|(ts, _)| *ts <= high);
            if let Some(value) = aggregate(aggregation, &points[from..to], (low, high), range_seconds) {
                samples.push(Sample::new(t, value));
            }
        }
        if !samples.is_empty() {
            series.push((labels, samples));
        }
    }
    Ok(series)
}

/// The value of one window: `points` are (nanoseconds, value) in it, in time order.
fn aggregate(
    aggregation: &RangeAggregation,
    points: &[(i64, f64)],
    window: (i64, i64),
    range_seconds: f64,
) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let count = points.len() as f64;
    let sum = || points.iter().map(|(_, v)| v).sum::<f64>();
    let name = match aggregation.op {
        RangeOp::CountOverTime => return Some(count),
        RangeOp::Rate => return Some(count / range_seconds),
        RangeOp::BytesOverTime => return Some(sum()),
        RangeOp::BytesRate => return Some(sum() / range_seconds),
        RangeOp::AbsentOverTime => return None,
        RangeOp::RateCounter => "rate",
        RangeOp::SumOverTime => "sum_over_time",
        RangeOp::AvgOverTime => "avg_over_time",
        RangeOp::MaxOverTime => "max_over_time",
        RangeOp::MinOverTime => "min_over_time",
        RangeOp::StddevOverTime => "stddev_over_time",
        RangeOp::StdvarOverTime => "stdvar_over_time",
        RangeOp::QuantileOverTime => "quantile_over_time",
        RangeOp::FirstOverTime => "first_over_time",
        RangeOp::LastOverTime => "last_over_time",
    };
    let samples: Vec<Sample> =
        points.iter().map(|&(t, v)| Sample::new(t.div_euclid(NANOS_PER_MS), v)).collect();
    let (low, high) = (window.0.div_euclid(NANOS_PER_MS), window.1.div_euclid(NANOS_PER_MS));
    let params: Vec<f64> = aggregation.parameter.into_iter().collect();
    range_function_at(name, &samples, low, high, high, &params)
}

/// Every entry of the selection that survives the pipeline, as (nanoseconds, value) per
/// series: the value is 1 for counting, the line's bytes for byte counts, the unwrapped
/// label otherwise.
fn collect_points(
    aggregation: &RangeAggregation,
    storage: &dyn LogQueryable,
    range: TimeRange,
) -> Result<HashMap<Labels, Vec<(i64, f64)>>> {
    let log = &aggregation.log;
    // Stages after an unwrap see its outcome (`| unwrap x | __error__=""`).
    let split = log.stages.iter().position(|s| matches!(s, Stage::Unwrap(_)));
    let (before, after) = log.stages.split_at(split.unwrap_or(log.stages.len()));
    let select = log_select(log, range, Direction::Forward);
    let mut points: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
    for record in storage.select_logs(&select)? {
        let record = record?;
        let timestamp = record.entry.timestamp;
        let mut processed = pipeline::start(&record.stream, &record.entry);
        if !pipeline::run(before, &record.stream, timestamp, &mut processed) {
            continue;
        }
        let value = match (aggregation.op, after.first()) {
            (RangeOp::BytesOverTime | RangeOp::BytesRate, _) => processed.line.len() as f64,
            (_, Some(Stage::Unwrap(unwrap))) => pipeline::unwrap(unwrap, &mut processed),
            _ => 1.0,
        };
        if !pipeline::run(after, &record.stream, timestamp, &mut processed) {
            continue;
        }
        if let Some(error) = processed.error() {
            let error = error.to_string();
            return Err(pipeline_error(&error, &processed.into_labels()));
        }
        let labels = grouped(processed.labels, aggregation.grouping.as_ref());
        points.entry(labels).or_default().push((record.entry.timestamp, value));
    }
    Ok(points)
}

/// The labels a range aggregation's `by`/`without` leaves.
fn grouped(labels: BTreeMap<String, String>, grouping: Option<&Grouping>) -> Labels {
    let kept = labels.into_iter().filter(|(name, _)| match grouping {
        None => true,
        Some(g) => g.labels.contains(name) != g.without,
    });
    Labels::from_pairs(kept).unwrap_or_default()
}

/// `absent_over_time`: 1 at the steps whose window holds no entry, labelled with the
/// selector's equality matchers.
fn absent_series(
    matchers: &[Matcher],
    steps: &[i64],
    window: impl Fn(i64) -> (i64, i64),
    mut times: Vec<i64>,
) -> Vec<(Labels, Vec<Sample>)> {
    times.sort_unstable();
    let samples: Vec<Sample> = steps
        .iter()
        .filter(|&&t| {
            let (low, high) = window(t);
            times.partition_point(|&ts| ts <= low) == times.partition_point(|&ts| ts <= high)
        })
        .map(|&t| Sample::new(t, 1.0))
        .collect();
    if samples.is_empty() {
        return Vec::new();
    }
    let labels = matchers
        .iter()
        .filter(|m| m.op == MatchOp::Equal)
        .map(|m| Label::new(m.name.as_str(), m.value.as_str()))
        .collect();
    vec![(Labels::new(labels).unwrap_or_default(), samples)]
}

/// Removes the internal `__logql_<n>` names comparisons and bare aggregations leave behind.
fn strip_internal_names(value: &mut Value) {
    let strip = |labels: &mut Labels| {
        if labels.metric_name().is_some_and(|n| n.starts_with("__logql_")) {
            *labels = labels.without_metric_name();
        }
    };
    match value {
        Value::Vector(vector) => vector.iter_mut().for_each(|s| strip(&mut s.labels)),
        Value::Matrix(matrix) => matrix.iter_mut().for_each(|s| strip(&mut s.labels)),
        Value::Scalar { .. } | Value::String { .. } => {}
    }
}

/// The computed series of a query's range aggregations, read by the PromQL engine.
#[derive(Default)]
struct ComputedSeries {
    names: usize,
    series: Vec<(Labels, Vec<Sample>)>,
}

impl Queryable for ComputedSeries {
    fn select(&self, matchers: &[Matcher], hints: SelectHints) -> Result<Selection, StorageError> {
        let series = self
            .series
            .iter()
            .filter(|(labels, _)| matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or(""))))
            .map(|(labels, samples)| {
                let within: Vec<Sample> =
                    samples.iter().copied().filter(|s| hints.range.contains(s.t)).collect();
                let samples = if hints.samples == SamplesWanted::None { Vec::new() } else { within };
                Series { labels: labels.clone(), samples: Box::new(samples.into_iter()) }
            })
            .collect();
        Ok(Selection { series, warnings: Vec::new() })
    }

    fn label_names(&self, _: &[Matcher], _: TimeRange) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }

    fn label_values(&self, _: &str, _: &[Matcher], _: TimeRange) -> Result<Vec<String>, StorageError> {
        Ok(Vec::new())
    }
}
