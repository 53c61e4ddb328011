//! The step evaluator: evaluates an expression at one time over data fetched once per query.
//!
//! `Evaluator::new` walks the AST to find, for every selector, the time window the whole query
//! will read through it, and fetches that window once. `eval` then answers each node at a given
//! time; aggregation, binary operators and function calls live in their own modules.

mod aggregate;
mod binary;
mod call;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use argus_model::{
    Labels, METRIC_NAME, MatchOp, Matcher, Queryable, Sample, SelectHints, TimeRange, is_stale_nan,
};
use promql_parser::label::MatchOp as ParsedOp;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};

use super::EngineOptions;
use super::value::{Matrix, RangeSeries, Value, Vector, VectorSample};
use crate::error::{Error, Result};

/// A selector's series with their samples over the query's window.
struct FetchedSeries {
    labels: Labels,
    samples: Vec<Sample>,
}

pub(super) struct Evaluator<'a> {
    options: &'a EngineOptions,
    query_start: i64,
    query_end: i64,
    deadline: Instant,
    /// Data of each selector, keyed by the selector node's address in the AST.
    data: HashMap<usize, Vec<FetchedSeries>>,
    /// The evaluation times of a range query, in order.
    grid: Vec<i64>,
    /// Selectors and range functions evaluated for every grid time at once, series by series
    /// (one pass over each series' samples instead of a search per step), keyed by node.
    on_grid: HashMap<usize, Vec<Vector>>,
}

/// The map key of a selector node.
fn key(selector: &VectorSelector) -> usize {
    selector as *const VectorSelector as usize
}

impl<'a> Evaluator<'a> {
    /// Plans every selector's window for evaluations at every `step` from `start` to `end`
    /// (one evaluation when `step` is 0) and fetches it.
    pub fn new(
        storage: &dyn Queryable,
        options: &'a EngineOptions,
        expr: &Expr,
        (start, end, step): (i64, i64, i64),
        deadline: Instant,
    ) -> Result<Self> {
        let grid = if step > 0 {
            (0..).map(|i| start + i * step).take_while(|&t| t <= end).collect()
        } else {
            vec![start]
        };
        let mut evaluator = Self {
            options,
            query_start: start,
            query_end: end,
            deadline,
            data: HashMap::new(),
            grid,
            on_grid: HashMap::new(),
        };
        let mut windows: HashMap<usize, (&VectorSelector, i64, i64)> = HashMap::new();
        evaluator.plan(expr, start, end, &mut windows);
        let mut loaded = 0usize;
        for (key, (selector, min, max)) in windows {
            let series = fetch(storage, selector, TimeRange::new(min, max))?;
            loaded += series.iter().map(|s| s.samples.len()).sum::<usize>();
            if loaded > options.max_samples {
                return Err(Error::TooManySamples("query execution"));
            }
            evaluator.data.insert(key, series);
        }
        Ok(evaluator)
    }

    /// Records the window each selector under `expr` needs when `expr` is evaluated at times
    /// in `[start, end]`.
    fn plan<'e>(
        &self,
        expr: &'e Expr,
        start: i64,
        end: i64,
        windows: &mut HashMap<usize, (&'e VectorSelector, i64, i64)>,
    ) {
        let mut need = |selector: &'e VectorSelector, min: i64, max: i64| {
            let entry = windows.entry(key(selector)).or_insert((selector, min, max));
            entry.1 = entry.1.min(min);
            entry.2 = entry.2.max(max);
        };
        match expr {
            Expr::VectorSelector(vs) => {
                let (a, b) = self.shift(&vs.at, &vs.offset, start, end);
                need(vs, a - self.options.lookback_delta.as_millis() as i64, b);
            }
            Expr::MatrixSelector(ms) => {
                let (a, b) = self.shift(&ms.vs.at, &ms.vs.offset, start, end);
                need(&ms.vs, a - ms.range.as_millis() as i64, b);
            }
            Expr::Subquery(sq) => {
                let (a, b) = self.shift(&sq.at, &sq.offset, start, end);
                self.plan(&sq.expr, a - sq.range.as_millis() as i64, b, windows);
            }
            Expr::Aggregate(agg) => {
                self.plan(&agg.expr, start, end, windows);
                if let Some(param) = &agg.param {
                    self.plan(param, start, end, windows);
                }
            }
            Expr::Unary(u) => self.plan(&u.expr, start, end, windows),
            Expr::Paren(p) => self.plan(&p.expr, start, end, windows),
            Expr::Binary(b) => {
                self.plan(&b.lhs, start, end, windows);
                self.plan(&b.rhs, start, end, windows);
            }
            Expr::Call(call) => {
                for arg in &call.args.args {
                    self.plan(arg, start, end, windows);
                }
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }

    /// The times a node modified by `@` and `offset` reads when evaluated over `[start, end]`.
    fn shift(&self, at: &Option<AtModifier>, offset: &Option<Offset>, start: i64, end: i64) -> (i64, i64) {
        let (a, b) = match self.at_time(at) {
            Some(t) => (t, t),
            None => (start, end),
        };
        let o = offset_ms(offset);
        (a - o, b - o)
    }

    fn at_time(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(time)) => Some(system_time_ms(*time)),
        }
    }

    /// The time a node reads when evaluated at `t`.
    fn effective_time(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: i64) -> i64 {
        self.at_time(at).unwrap_or(t) - offset_ms(offset)
    }

    fn check_deadline(&self) -> Result<()> {
        if Instant::now() > self.deadline {
            return Err(Error::Timeout("query execution"));
        }
        Ok(())
    }

    /// Evaluates `expr` at `t` (ms).
    pub fn eval(&mut self, expr: &Expr, t: i64) -> Result<Value> {
        self.check_deadline()?;
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar { t, v: n.val }),
            Expr::StringLiteral(s) => Ok(Value::String { t, v: s.val.clone() }),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar { v, .. } => Ok(Value::Scalar { t, v: -v }),
                Value::Vector(vector) => Ok(Value::Vector(
                    vector.into_iter().map(|s| VectorSample::dropping_name(s.labels, t, -s.v)).collect(),
                )),
                other => Err(Error::Execution(format!("unary minus on a {}", other.type_name()))),
            },
            Expr::VectorSelector(vs) => match self.grid_index(t) {
                Some(i) => {
                    self.grid_value(key(vs), i, |ev| Ok(ev.instant_vectors_on_grid(vs))).map(Value::Vector)
                }
                None => Ok(Value::Vector(self.instant_vector(vs, t))),
            },
            Expr::MatrixSelector(ms) => {
                Ok(Value::Matrix(self.range_vector(&ms.vs, ms.range.as_millis() as i64, t)))
            }
            Expr::Subquery(sq) => Ok(Value::Matrix(self.subquery(sq, t)?)),
            Expr::Aggregate(agg) => aggregate::eval(self, agg, t),
            Expr::Binary(b) => binary::eval(self, b, t),
            Expr::Call(call) => call::eval(self, call, t),
            Expr::Extension(_) => Err(Error::Execution("extension expressions are not supported".into())),
        }
    }

    /// Evaluates `expr` at `t` expecting an instant vector.
    fn eval_vector(&mut self, expr: &Expr, t: i64) -> Result<Vector> {
        match self.eval(expr, t)? {
            Value::Vector(vector) => Ok(vector),
            other => {
                Err(Error::Execution(format!("expected an instant vector, got a {}", other.type_name())))
            }
        }
    }

    /// Evaluates `expr` at `t` expecting a scalar.
    fn eval_scalar(&mut self, expr: &Expr, t: i64) -> Result<f64> {
        match self.eval(expr, t)? {
            Value::Scalar { v, .. } => Ok(v),
            other => Err(Error::Execution(format!("expected a scalar, got a {}", other.type_name()))),
        }
    }

    /// The latest sample of each series within the lookback window before the selector's
    /// time, unless it is a staleness marker. Samples keep their own timestamps (for
    /// `timestamp()`); the engine stamps results with the evaluation time.
    fn instant_vector(&self, vs: &VectorSelector, t: i64) -> Vector {
        let at = self.effective_time(&vs.at, &vs.offset, t);
        let oldest = at - self.options.lookback_delta.as_millis() as i64;
        let Some(series) = self.data.get(&key(vs)) else { return Vec::new() };
        series
            .iter()
            .filter_map(|s| {
                let end = s.samples.partition_point(|x| x.t <= at);
                let latest = s.samples[..end].last()?;
                (latest.t > oldest && !is_stale_nan(latest.v))
                    .then(|| VectorSample::new(s.labels.clone(), latest.t, latest.v))
            })
            .collect()
    }

    /// The position of `t` in a range query's grid; `None` for a single evaluation or a time
    /// off the grid (inside a subquery), which are evaluated directly.
    pub(super) fn grid_index(&self, t: i64) -> Option<usize> {
        if self.grid.len() < 2 {
            return None;
        }
        self.grid.binary_search(&t).ok()
    }

    pub(super) fn grid_len(&self) -> usize {
        self.grid.len()
    }

    pub(super) fn grid_time(&self, i: usize) -> i64 {
        self.grid[i]
    }

    /// The value of `node` at grid position `i`, computing it for the whole grid on first use.
    pub(super) fn grid_value(
        &mut self,
        node: usize,
        i: usize,
        build: impl FnOnce(&Self) -> Result<Vec<Vector>>,
    ) -> Result<Vector> {
        if !self.on_grid.contains_key(&node) {
            let built = build(self)?;
            self.on_grid.insert(node, built);
        }
        Ok(self.on_grid[&node][i].clone())
    }

    /// Labels of the series a selector fetched, in the order `windows_on_grid` numbers them.
    pub(super) fn fetched_labels(&self, vs: &VectorSelector) -> impl Iterator<Item = &Labels> {
        self.data.get(&key(vs)).into_iter().flatten().map(|s| &s.labels)
    }

    /// [`Evaluator::instant_vector`] at every grid time, walking each series' samples once.
    fn instant_vectors_on_grid(&self, vs: &VectorSelector) -> Vec<Vector> {
        let lookback = self.options.lookback_delta.as_millis() as i64;
        let mut out: Vec<Vector> = vec![Vec::new(); self.grid.len()];
        for series in self.data.get(&key(vs)).into_iter().flatten() {
            let mut end = 0;
            for (i, &t) in self.grid.iter().enumerate() {
                // Selector times never decrease along the grid (`@` fixes them), so the cursor
                // only moves forward.
                let at = self.effective_time(&vs.at, &vs.offset, t);
                while end < series.samples.len() && series.samples[end].t <= at {
                    end += 1;
                }
                if let Some(latest) = end.checked_sub(1).map(|e| series.samples[e])
                    && latest.t > at - lookback
                    && !is_stale_nan(latest.v)
                {
                    out[i].push(VectorSample::new(series.labels.clone(), latest.t, latest.v));
                }
            }
        }
        out
    }

    /// Calls `visit(grid position, series index, selector time, labels, window)` for every
    /// series and grid time with the samples of `vs[range]`, staleness markers left out,
    /// sliding over each series once.
    pub(super) fn windows_on_grid(
        &self,
        vs: &VectorSelector,
        range: i64,
        mut visit: impl FnMut(usize, usize, i64, &Labels, &[Sample]),
    ) {
        let mut scratch = Vec::new();
        for (index, series) in self.data.get(&key(vs)).into_iter().flatten().enumerate() {
            let samples = &series.samples;
            let (mut begin, mut end) = (0, 0);
            for (i, &t) in self.grid.iter().enumerate() {
                let at = self.effective_time(&vs.at, &vs.offset, t);
                while end < samples.len() && samples[end].t <= at {
                    end += 1;
                }
                while begin < end && samples[begin].t <= at - range {
                    begin += 1;
                }
                let window = &samples[begin..end];
                if window.iter().any(|x| is_stale_nan(x.v)) {
                    scratch.clear();
                    scratch.extend(window.iter().filter(|x| !is_stale_nan(x.v)));
                    if !scratch.is_empty() {
                        visit(i, index, at, &series.labels, &scratch);
                    }
                } else if !window.is_empty() {
                    visit(i, index, at, &series.labels, window);
                }
            }
        }
    }

    /// Each series' samples in `(at - range, at]`, staleness markers left out, borrowed from
    /// the fetched data unless a marker had to be removed; series with none are skipped.
    fn windows<'s>(
        &'s self,
        vs: &VectorSelector,
        range: i64,
        t: i64,
    ) -> impl Iterator<Item = (&'s Labels, Cow<'s, [Sample]>)> + 's {
        let at = self.effective_time(&vs.at, &vs.offset, t);
        self.data.get(&key(vs)).into_iter().flatten().filter_map(move |s| {
            let begin = s.samples.partition_point(|x| x.t <= at - range);
            let end = s.samples.partition_point(|x| x.t <= at);
            let window = &s.samples[begin..end];
            let samples = if window.iter().any(|x| is_stale_nan(x.v)) {
                Cow::Owned(window.iter().filter(|x| !is_stale_nan(x.v)).copied().collect())
            } else {
                Cow::Borrowed(window)
            };
            (!samples.is_empty()).then_some((&s.labels, samples))
        })
    }

    fn range_vector(&self, vs: &VectorSelector, range: i64, t: i64) -> Matrix {
        self.windows(vs, range, t)
            .map(|(labels, samples)| RangeSeries {
                labels: labels.clone(),
                samples: samples.into_owned(),
                drop_name: false,
            })
            .collect()
    }

    /// The inner expression at every step aligned to the subquery's step within
    /// `(at - range, at]`, as a range vector.
    fn subquery(&mut self, sq: &SubqueryExpr, t: i64) -> Result<Matrix> {
        let at = self.effective_time(&sq.at, &sq.offset, t);
        let step = sq.step.unwrap_or(self.options.default_subquery_step).as_millis() as i64;
        if step <= 0 {
            return Err(Error::BadData("subquery step must be positive".into()));
        }
        let range = sq.range.as_millis() as i64;
        let mut first = (at - range).div_euclid(step) * step;
        if first <= at - range {
            first += step;
        }
        let mut order: Vec<Labels> = Vec::new();
        let mut series: HashMap<Labels, (bool, Vec<Sample>)> = HashMap::new();
        let mut ts = first;
        while ts <= at {
            let points: Vector = match self.eval(&sq.expr, ts)? {
                Value::Scalar { v, .. } => vec![VectorSample::new(Labels::empty(), ts, v)],
                Value::Vector(vector) => vector,
                other => return Err(Error::Execution(format!("subquery over a {}", other.type_name()))),
            };
            for point in points {
                if !series.contains_key(&point.labels) {
                    order.push(point.labels.clone());
                }
                let entry = series.entry(point.labels).or_insert((point.drop_name, Vec::new()));
                entry.1.push(Sample::new(ts, point.v));
            }
            ts += step;
        }
        Ok(order
            .into_iter()
            .map(|labels| {
                let (drop_name, samples) = series.remove(&labels).unwrap_or_default();
                RangeSeries { labels, samples, drop_name }
            })
            .collect())
    }
}

/// Orders values ascending (or descending), NaN after every number either way, as PromQL's
/// sorting functions and `topk`/`bottomk` rank them.
fn compare_nan_last(a: f64, b: f64, descending: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if descending => b.total_cmp(&a),
        _ => a.total_cmp(&b),
    }
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

fn system_time_ms(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Fetches a selector's series over `range` (the selector's `or` alternatives are a union).
fn fetch(storage: &dyn Queryable, vs: &VectorSelector, range: TimeRange) -> Result<Vec<FetchedSeries>> {
    let hints = SelectHints { range, labels_only: false };
    let mut alternatives = Vec::new();
    if vs.matchers.or_matchers.is_empty() {
        alternatives.push(convert_matchers(vs, &vs.matchers.matchers)?);
    } else {
        for group in &vs.matchers.or_matchers {
            alternatives.push(convert_matchers(vs, group)?);
        }
    }
    if alternatives.len() == 1 {
        return Ok(decode_all(storage.select(&alternatives[0], hints)?));
    }
    // A series matched by several `or` alternatives is fetched once.
    let mut seen: HashSet<Labels> = HashSet::new();
    let mut selected = Vec::new();
    for matchers in alternatives {
        for series in storage.select(&matchers, hints)? {
            if seen.insert(series.labels.clone()) {
                selected.push(series);
            }
        }
    }
    Ok(decode_all(selected))
}

/// Decodes the samples of selected series, on all cores when there are many: chunk decoding is
/// most of the cost of a query over many series.
fn decode_all(selected: Vec<argus_model::Series>) -> Vec<FetchedSeries> {
    const SERIES_PER_THREAD: usize = 4096;
    let decode = |series: argus_model::Series| FetchedSeries {
        labels: series.labels,
        samples: series.samples.collect(),
    };
    let threads =
        std::thread::available_parallelism().map_or(1, usize::from).min(selected.len() / SERIES_PER_THREAD);
    if threads < 2 {
        return selected.into_iter().map(decode).collect();
    }
    let per_thread = selected.len().div_ceil(threads);
    let mut parts: Vec<Vec<argus_model::Series>> = Vec::with_capacity(threads);
    let mut rest = selected;
    while rest.len() > per_thread {
        let tail = rest.split_off(per_thread);
        parts.push(std::mem::replace(&mut rest, tail));
    }
    parts.push(rest);
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(decode).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("decoding does not panic")).collect()
    })
}

/// The selector's matchers in the model's terms, the metric name as a `__name__` matcher.
pub(super) fn convert_matchers(
    vs: &VectorSelector,
    matchers: &[promql_parser::label::Matcher],
) -> Result<Vec<Matcher>> {
    let mut converted = Vec::with_capacity(matchers.len() + 1);
    if let Some(name) = &vs.name {
        converted.push(Matcher::equal(METRIC_NAME, name.clone()));
    }
    for m in matchers {
        let op = match m.op {
            ParsedOp::Equal => MatchOp::Equal,
            ParsedOp::NotEqual => MatchOp::NotEqual,
            ParsedOp::Re(_) => MatchOp::RegexMatch,
            ParsedOp::NotRe(_) => MatchOp::RegexNoMatch,
        };
        converted.push(
            Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| Error::BadData(e.to_string()))?,
        );
    }
    Ok(converted)
}
