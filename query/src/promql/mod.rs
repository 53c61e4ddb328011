//! PromQL evaluation over `argus_model::Queryable` with Prometheus 3.x semantics. Parsing is
//! the `promql-parser` crate's; evaluation is ours.
//!
//! A query is evaluated on its grid of times, each exactly as an instant query at that time
//! would be (Prometheus's rule for range queries). Every selector's series are selected once
//! for the window the whole query reads through it (planned from the AST: offsets, `@`,
//! ranges, subqueries, the lookback delta); selectors and range functions are then computed
//! for the whole grid series by series, decoding one series at a time (see `eval`); a range
//! query that is just such a node takes those series as its result, without a vector per step.
//! `docs/promql.md` describes it for users. Limits: at most 11 000 points per series in a
//! range query, `max_samples` samples decoded per query, and a `timeout` checked as it runs.

pub mod annotations;
mod eval;
pub(crate) mod functions;

pub use annotations::Annotations;
pub use functions::almost_equal;
pub mod value;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_model::cache::StringMemo;
use argus_model::{Labels, PrehashedState, Queryable, Sample};
use promql_parser::parser::{self, Expr, value::ValueType};

use crate::error::{Error, Result};
use eval::Evaluator;
use value::{RangeSeries, Value};

/// Maps and sets keyed by label sets (whose hash is computed once, when the set is built) or
/// by AST node addresses: SipHash, std's default, would cost as much as the rest of a lookup,
/// and the engine looks one up per series and step.
pub(crate) type PrehashedMap<K, V> = HashMap<K, V, PrehashedState>;
pub(crate) type PrehashedSet<K> = HashSet<K, PrehashedState>;

/// Most points a range query may return per series, as Prometheus.
pub const MAX_POINTS_PER_SERIES: i64 = 11_000;

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for the latest sample.
    pub lookback_delta: Duration,
    /// Most samples a query may load; beyond, it fails with an `execution` error.
    pub max_samples: usize,
    /// Longest a query may run; beyond, it fails with a `timeout` error.
    pub timeout: Duration,
    /// Step of subqueries written without one (`[1h:]`), Prometheus's evaluation interval.
    pub default_subquery_step: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step: Duration::from_secs(60),
        }
    }
}

pub struct Engine {
    storage: Arc<dyn Queryable>,
    options: EngineOptions,
}

impl Engine {
    pub fn new(storage: Arc<dyn Queryable>, options: EngineOptions) -> Self {
        Self { storage, options }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Evaluates `query` at `time` (ms).
    pub fn instant(&self, query: &str, time: i64) -> Result<Value> {
        self.instant_within(query, time, self.options.timeout).map(|evaluated| evaluated.value)
    }

    /// [`Engine::instant`] with a timeout shorter than the engine's, and the annotations.
    pub fn instant_within(&self, query: &str, time: i64, timeout: Duration) -> Result<Evaluated> {
        let expr = parse(query)?;
        let deadline = Instant::now() + timeout.min(self.options.timeout);
        let mut evaluator =
            Evaluator::new(self.storage.as_ref(), &self.options, &expr, (time, time, 0), deadline)?;
        let value = match evaluator.eval(&expr, time)? {
            // Results carry the evaluation time, not the time of the samples they came from.
            Value::Vector(vector) => Value::Vector(finish_vector(vector, time)?),
            Value::Matrix(matrix) => Value::Matrix(finish_matrix(matrix)?),
            other => other,
        };
        Ok(Evaluated { value, annotations: evaluator.take_annotations() })
    }

    /// Evaluates `query` at every `step` from `start` to `end` (ms, inclusive) into a matrix.
    pub fn range(&self, query: &str, start: i64, end: i64, step: i64) -> Result<Value> {
        self.range_within(query, start, end, step, self.options.timeout).map(|evaluated| evaluated.value)
    }

    /// [`Engine::range`] with a timeout shorter than the engine's, and the annotations.
    pub fn range_within(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        timeout: Duration,
    ) -> Result<Evaluated> {
        if step <= 0 {
            return Err(Error::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer"
                    .into(),
            ));
        }
        if end < start {
            return Err(Error::BadData("end timestamp must not be before start time".into()));
        }
        if (end - start) / step > MAX_POINTS_PER_SERIES {
            return Err(Error::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                    .into(),
            ));
        }
        let expr = parse(query)?;
        match expr.value_type() {
            ValueType::Vector | ValueType::Scalar => {}
            other => {
                let name = if other == ValueType::Matrix { "range vector" } else { "string" };
                return Err(Error::BadData(format!(
                    "invalid expression type \"{name}\" for range query, must be Scalar or instant Vector"
                )));
            }
        }
        let deadline = Instant::now() + timeout.min(self.options.timeout);
        let mut evaluator =
            Evaluator::new(self.storage.as_ref(), &self.options, &expr, (start, end, step), deadline)?;
        let mut matrix = match evaluator.matrix_on_grid(&expr) {
            Some(matrix) => join_same_labels(matrix?)?,
            None => evaluate_steps(&mut evaluator, &expr, (start, end, step))?,
        };
        matrix.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Evaluated { value: Value::Matrix(matrix), annotations: evaluator.take_annotations() })
    }
}

/// A range query evaluated step by step, each step's vector added to the matrix.
fn evaluate_steps(
    evaluator: &mut Evaluator<'_>,
    expr: &Expr,
    (start, end, step): (i64, i64, i64),
) -> Result<value::Matrix> {
    let mut matrix = MatrixBuilder::default();
    let mut t = start;
    while t <= end {
        match evaluator.eval(expr, t)? {
            Value::Scalar { v, .. } => matrix.push_scalar(t, v)?,
            Value::Vector(vector) => matrix.push_step(vector, t)?,
            other => {
                return Err(Error::Execution(format!(
                    "unexpected {} result in a range query",
                    other.type_name()
                )));
            }
        }
        t += step;
    }
    Ok(matrix.series)
}

/// A matrix computed for the whole grid at once, with marked metric names removed. Series
/// that are left with the same labels become one, as a step-by-step evaluation joins them,
/// unless two of them have a value at the same step: then the query fails as it would at that
/// step.
fn join_same_labels(matrix: value::Matrix) -> Result<value::Matrix> {
    let mut index: PrehashedMap<Labels, usize> = PrehashedMap::default();
    let mut joined: value::Matrix = Vec::with_capacity(matrix.len());
    let mut grown: Vec<usize> = Vec::new();
    for series in matrix {
        let labels = value::final_labels(series.labels, series.drop_name);
        match index.entry(labels) {
            Entry::Vacant(entry) => {
                joined.push(RangeSeries {
                    labels: entry.key().clone(),
                    samples: series.samples,
                    drop_name: false,
                });
                entry.insert(joined.len() - 1);
            }
            Entry::Occupied(entry) => {
                joined[*entry.get()].samples.extend(series.samples);
                grown.push(*entry.get());
            }
        }
    }
    grown.sort_unstable();
    grown.dedup();
    for i in grown {
        let samples = &mut joined[i].samples;
        samples.sort_unstable_by_key(|s| s.t);
        if samples.windows(2).any(|pair| pair[0].t == pair[1].t) {
            return Err(duplicate_labelset());
        }
    }
    Ok(joined)
}

/// A query's result and its annotations (warnings and infos) to pass on.
#[derive(Debug)]
pub struct Evaluated {
    pub value: Value,
    pub annotations: Annotations,
}

/// A range query's result, gathered step by step.
#[derive(Default)]
struct MatrixBuilder {
    index: PrehashedMap<Labels, usize>,
    series: Vec<RangeSeries>,
    /// Where each sample of the previous step went: its label set (as evaluated, before a
    /// marked metric name is removed), the mark, and the series. Vectors computed for the
    /// whole grid keep their order and share label sets from step to step, so most samples
    /// find their series here without removing the name again or hashing.
    previous_step: Vec<(Labels, bool, usize)>,
}

impl MatrixBuilder {
    /// Adds one step's vector.
    fn push_step(&mut self, vector: value::Vector, t: i64) -> Result<()> {
        let mut this_step = Vec::with_capacity(vector.len());
        for (position, sample) in vector.into_iter().enumerate() {
            let series = match self.previous_step.get(position) {
                Some((labels, drop_name, series))
                    if *drop_name == sample.drop_name && labels.is_same_set(&sample.labels) =>
                {
                    *series
                }
                _ => self.series_of(value::final_labels(sample.labels.clone(), sample.drop_name)),
            };
            self.push_at(series, t, sample.v)?;
            this_step.push((sample.labels, sample.drop_name, series));
        }
        self.previous_step = this_step;
        Ok(())
    }

    /// Adds a scalar query's value at step `t`.
    fn push_scalar(&mut self, t: i64, v: f64) -> Result<()> {
        let series = self.series_of(Labels::empty());
        self.push_at(series, t, v)
    }

    /// The position of the series with `labels`, added if new.
    fn series_of(&mut self, labels: Labels) -> usize {
        let series = &mut self.series;
        *self.index.entry(labels).or_insert_with_key(|labels| {
            series.push(RangeSeries { labels: labels.clone(), samples: Vec::new(), drop_name: false });
            series.len() - 1
        })
    }

    /// Adds the point of series `i` at step `t`; a second one at the same step means two
    /// series of that step's vector ended up with the same labels.
    fn push_at(&mut self, i: usize, t: i64, v: f64) -> Result<()> {
        let samples = &mut self.series[i].samples;
        if samples.last().is_some_and(|last| last.t == t) {
            return Err(duplicate_labelset());
        }
        samples.push(Sample::new(t, v));
        Ok(())
    }
}

/// A result vector as returned: stamped with the evaluation time, marked metric names removed,
/// and no two series with the same labels.
fn finish_vector(vector: value::Vector, t: i64) -> Result<value::Vector> {
    let finished: value::Vector = vector
        .into_iter()
        .map(|s| value::VectorSample::new(value::final_labels(s.labels, s.drop_name), t, s.v))
        .collect();
    check_unique(finished.iter().map(|s| &s.labels))?;
    Ok(finished)
}

fn finish_matrix(matrix: value::Matrix) -> Result<value::Matrix> {
    let finished: value::Matrix = matrix
        .into_iter()
        .map(|s| RangeSeries {
            labels: value::final_labels(s.labels, s.drop_name),
            samples: s.samples,
            drop_name: false,
        })
        .collect();
    check_unique(finished.iter().map(|s| &s.labels))?;
    Ok(finished)
}

fn check_unique<'l>(labels: impl Iterator<Item = &'l Labels>) -> Result<()> {
    let mut seen = PrehashedSet::default();
    for l in labels {
        if !seen.insert(l) {
            return Err(duplicate_labelset());
        }
    }
    Ok(())
}

fn duplicate_labelset() -> Error {
    Error::Execution("vector cannot contain metrics with the same labelset".into())
}

/// Parses a query, with Prometheus's error type for bad syntax.
///
/// Parsed queries are remembered by their text: dashboards refresh the same queries, and the
/// parser compiles every regex of a query's selectors, which costs more than a small query's
/// evaluation.
pub fn parse(query: &str) -> Result<Expr> {
    static PARSED: std::sync::OnceLock<StringMemo<Expr>> = std::sync::OnceLock::new();
    PARSED
        .get_or_init(|| StringMemo::new(256))
        .get_or_try_insert(query, || parser::parse(query))
        .map_err(|message| Error::BadData(format!("invalid parameter \"query\": {message}")))
}

#[cfg(test)]
mod tests {
    use super::value::VectorSample;
    use super::*;

    fn series(builder: &MatrixBuilder) -> Vec<(String, Vec<(i64, f64)>)> {
        let points = |s: &RangeSeries| s.samples.iter().map(|p| (p.t, p.v)).collect();
        builder.series.iter().map(|s| (s.labels.to_string(), points(s))).collect()
    }

    #[test]
    fn range_queries_of_a_selector_or_plain_range_function_skip_the_steps() {
        let dir = tempfile::tempdir().unwrap();
        let storage = argus_tsdb::Shards::open(dir.path(), &argus_tsdb::TsdbConfig::default()).unwrap();
        let options = EngineOptions::default();
        let deadline = Instant::now() + Duration::from_secs(60);
        let whole_grid = |query: &str| {
            let expr = parse(query).unwrap();
            let mut evaluator =
                Evaluator::new(&storage, &options, &expr, (0, 600_000, 60_000), deadline).unwrap();
            evaluator.matrix_on_grid(&expr).is_some()
        };
        for query in ["m", "(m offset 1m)", "rate(m[5m])", "quantile_over_time(0.9, m[5m])"] {
            assert!(whole_grid(query), "{query}");
        }
        for query in
            ["sum(rate(m[5m]))", "m + 1", "rate(m[5m:1m])", "double_exponential_smoothing(m[5m], 0.5, 0.5)"]
        {
            assert!(!whole_grid(query), "{query}");
        }
    }

    #[test]
    fn steps_find_their_series_by_shared_label_sets_or_by_value() {
        let labels = |x: &str| Labels::from_pairs([("__name__", "m"), ("x", x)]).unwrap();
        let (a, b) = (labels("a"), labels("b"));
        let mut matrix = MatrixBuilder::default();
        matrix
            .push_step(vec![VectorSample::new(a.clone(), 0, 1.0), VectorSample::new(b.clone(), 0, 2.0)], 0)
            .unwrap();
        // `b` moved to the first position; `a` comes back as an equal set built apart.
        matrix
            .push_step(vec![VectorSample::new(b.clone(), 0, 3.0), VectorSample::new(labels("a"), 0, 4.0)], 10)
            .unwrap();
        // The same set with its name marked for removal is another series.
        matrix.push_step(vec![VectorSample::dropping_name(b.clone(), 0, 5.0)], 20).unwrap();
        matrix.push_step(vec![VectorSample::dropping_name(b.clone(), 0, 6.0)], 30).unwrap();
        assert_eq!(
            series(&matrix),
            [
                (a.to_string(), vec![(0, 1.0), (10, 4.0)]),
                (b.to_string(), vec![(0, 2.0), (10, 3.0)]),
                ("{x=\"b\"}".to_string(), vec![(20, 5.0), (30, 6.0)]),
            ]
        );
        let clash =
            vec![VectorSample::dropping_name(a, 0, 1.0), VectorSample::dropping_name(labels("a"), 0, 2.0)];
        let error = matrix.push_step(clash, 40).unwrap_err();
        assert!(error.to_string().contains("same labelset"), "{error}");
    }
}
