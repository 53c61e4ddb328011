//! The evaluator: answers an expression at one time of the query's grid (or off it, inside a
//! subquery).
//!
//! `Evaluator::new` walks the AST to find, for every selector, the time window the whole query
//! will read through it, and selects those series once. Selectors read only on the grid stay
//! undecoded: the first `eval` of such a node computes it for every grid time in one pass per
//! series (`instant_vectors_on_grid`, `fold_windows_on_grid`), decoding a series, using it
//! and dropping it, the series split over the cores when there are many; later times are
//! served from that result. A range query that is just such a node asks `matrix_on_grid`
//! instead, which keeps the pass's values series by series as the result. Selectors inside
//! subqueries are decoded up front and searched per time. Aggregation, binary operators and
//! function calls live in their own modules.

mod aggregate;
mod binary;
mod call;
mod parallel;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use argus_model::{
    Labels, METRIC_NAME, MatchOp, Matcher, Queryable, Sample, SamplesWanted, SelectHints, Series, TimeRange,
    is_stale_nan,
};
use promql_parser::label::MatchOp as ParsedOp;
use promql_parser::parser::{AtModifier, Expr, Offset, SubqueryExpr, VectorSelector};

use super::annotations::{self, Annotations};
use super::value::{Matrix, RangeSeries, Value, Vector, VectorSample};
use super::{EngineOptions, PrehashedMap, PrehashedSet};
use crate::error::{Error, Result};
use call::PlainRangeCall;
use parallel::{Budget, fold_parts};

/// A selector's series with their samples over the query's window.
struct FetchedSeries {
    labels: Labels,
    samples: Vec<Sample>,
}

/// What a query reads: each selector's window, the selectors read only by grid passes, and
/// those of them read at one time only (which need just the newest sample of each series);
/// and whether it sorts at more than one time, which Prometheus warns about.
#[derive(Default)]
struct Plan<'e> {
    windows: PrehashedMap<usize, (&'e VectorSelector, i64, i64)>,
    streamable: PrehashedSet<usize>,
    latest_only: PrehashedSet<usize>,
    sorts_in_range: bool,
}

impl<'e> Plan<'e> {
    fn need(&mut self, selector: &'e VectorSelector, min: i64, max: i64) {
        let entry = self.windows.entry(key(selector)).or_insert((selector, min, max));
        entry.1 = entry.1.min(min);
        entry.2 = entry.2.max(max);
    }
}

pub(super) struct Evaluator<'a> {
    options: &'a EngineOptions,
    query_start: i64,
    query_end: i64,
    /// Data of each selector, keyed by the selector node's address in the AST.
    data: PrehashedMap<usize, Vec<FetchedSeries>>,
    /// The evaluation times of a range query, in order.
    grid: Vec<i64>,
    /// Selectors and range functions evaluated for every grid time at once, series by series
    /// (one pass over each series' samples instead of a search per step), keyed by node.
    on_grid: PrehashedMap<usize, Vec<Vector>>,
    /// Selected but not yet decoded series of the selectors a range query reads only through
    /// grid passes: those decode each series as they go, so a query never holds more than one
    /// decoded series of them at a time.
    streams: RefCell<PrehashedMap<usize, Vec<Series>>>,
    /// Subqueries under evaluation. Outside them each node is evaluated once per grid time, so
    /// its grid values can be handed out instead of copied; inside, a node may be evaluated at
    /// the same grid time again.
    subquery_depth: usize,
    /// Samples loaded so far against `max_samples`, and the deadline.
    budget: Budget,
    /// Warnings and infos raised so far: what storage could not read (damaged data left
    /// out) and Prometheus's annotations.
    annotations: Annotations,
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
            data: PrehashedMap::default(),
            grid,
            on_grid: PrehashedMap::default(),
            streams: RefCell::default(),
            subquery_depth: 0,
            budget: Budget::new(options.max_samples, deadline),
            annotations: Annotations::default(),
        };
        let mut plan = Plan::default();
        evaluator.plan(expr, start, end, false, &mut plan);
        if plan.sorts_in_range {
            evaluator.annotations.warn(annotations::SORT_IN_RANGE_QUERY.into());
        }
        for (key, (selector, min, max)) in plan.windows {
            let wanted =
                if plan.latest_only.contains(&key) { SamplesWanted::Latest } else { SamplesWanted::All };
            let selected =
                select(storage, selector, TimeRange::new(min, max), wanted, &mut evaluator.annotations)?;
            if plan.streamable.contains(&key) {
                evaluator.streams.get_mut().insert(key, selected);
            } else {
                let series = decode_all(selected, &evaluator.budget)?;
                evaluator.data.insert(key, series);
            }
        }
        Ok(evaluator)
    }

    /// Records the window each selector under `expr` needs when `expr` is evaluated at times
    /// in `[start, end]`, and which selectors only grid passes read: those outside subqueries
    /// that are instant selectors or the range argument of a [`PlainRangeCall`]. A sort
    /// evaluated at several times (in a range query or a subquery) is noted too.
    fn plan<'e>(&self, expr: &'e Expr, start: i64, end: i64, in_subquery: bool, plan: &mut Plan<'e>) {
        match expr {
            Expr::VectorSelector(vs) => {
                let (a, b) = self.shift(&vs.at, &vs.offset, start, end);
                plan.need(vs, a - self.options.lookback_delta.as_millis() as i64, b);
                if !in_subquery {
                    plan.streamable.insert(key(vs));
                    if a == b {
                        plan.latest_only.insert(key(vs));
                    }
                }
            }
            Expr::MatrixSelector(ms) => {
                let (a, b) = self.shift(&ms.vs.at, &ms.vs.offset, start, end);
                plan.need(&ms.vs, a - ms.range.as_millis() as i64, b);
            }
            Expr::Subquery(sq) => {
                let (a, b) = self.shift(&sq.at, &sq.offset, start, end);
                self.plan(&sq.expr, a - sq.range.as_millis() as i64, b, true, plan);
            }
            Expr::Aggregate(agg) => {
                self.plan(&agg.expr, start, end, in_subquery, plan);
                if let Some(param) = &agg.param {
                    self.plan(param, start, end, in_subquery, plan);
                }
            }
            Expr::Unary(u) => self.plan(&u.expr, start, end, in_subquery, plan),
            Expr::Paren(p) => self.plan(&p.expr, start, end, in_subquery, plan),
            Expr::Binary(b) => {
                self.plan(&b.lhs, start, end, in_subquery, plan);
                self.plan(&b.rhs, start, end, in_subquery, plan);
            }
            Expr::Call(call) => {
                if matches!(call.func.name, "sort" | "sort_desc") && (in_subquery || start != end) {
                    plan.sorts_in_range = true;
                }
                for arg in &call.args.args {
                    self.plan(arg, start, end, in_subquery, plan);
                }
                if let Some(plain) = PlainRangeCall::of(call)
                    && !in_subquery
                {
                    plan.streamable.insert(key(plain.selector));
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

    /// The warnings and infos of the query so far.
    pub fn take_annotations(&mut self) -> Annotations {
        std::mem::take(&mut self.annotations)
    }

    /// Evaluates `expr` at `t` (ms).
    pub fn eval(&mut self, expr: &Expr, t: i64) -> Result<Value> {
        self.budget.check_deadline()?;
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
                    self.grid_value(key(vs), i, |ev, _| ev.instant_vectors_on_grid(vs)).map(Value::Vector)
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

    /// The position of `t` in the query's grid (an instant query's grid is its one time);
    /// `None` for a time off the grid (inside a subquery), which is evaluated directly.
    pub(super) fn grid_index(&self, t: i64) -> Option<usize> {
        self.grid.binary_search(&t).ok()
    }

    /// The evaluation times of the query's grid, in order.
    pub(super) fn grid(&self) -> &[i64] {
        &self.grid
    }

    /// The time selector `vs` reads at each grid time (after `@` and `offset`).
    fn selector_times_on_grid(&self, vs: &VectorSelector) -> Vec<i64> {
        self.grid.iter().map(|&t| self.effective_time(&vs.at, &vs.offset, t)).collect()
    }

    /// The value of `node` at grid position `i`, computing it for the whole grid on first use.
    /// Outside subqueries the value is handed over, since no one asks for it again.
    pub(super) fn grid_value(
        &mut self,
        node: usize,
        i: usize,
        build: impl FnOnce(&Self, &mut Annotations) -> Result<Vec<Vector>>,
    ) -> Result<Vector> {
        if !self.on_grid.contains_key(&node) {
            let built = self.with_annotations_apart(build)?;
            self.on_grid.insert(node, built);
        }
        let reused = self.subquery_depth > 0;
        let value = &mut self.on_grid.get_mut(&node).expect("computed above")[i];
        Ok(if reused { value.clone() } else { std::mem::take(value) })
    }

    /// Runs `work` over the evaluator with its annotations handed over apart, for grid passes,
    /// which read the evaluator while they raise annotations.
    fn with_annotations_apart<R>(&mut self, work: impl FnOnce(&Self, &mut Annotations) -> R) -> R {
        let mut annotations = std::mem::take(&mut self.annotations);
        let result = work(self, &mut annotations);
        self.annotations = annotations;
        result
    }

    /// Labels of the series a selector fetched, in the order the grid passes number them.
    pub(super) fn fetched_labels(&self, vs: &VectorSelector) -> Vec<Labels> {
        let mut all = Vec::new();
        self.for_each_fetched_labels(vs, |_, labels| all.push(labels.clone()));
        all
    }

    /// Calls `f(index, labels)` for each series a selector fetched, numbered as the grid
    /// passes number them.
    pub(super) fn for_each_fetched_labels(&self, vs: &VectorSelector, mut f: impl FnMut(usize, &Labels)) {
        if let Some(series) = self.streams.borrow().get(&key(vs)) {
            series.iter().enumerate().for_each(|(i, s)| f(i, &s.labels));
            return;
        }
        self.data.get(&key(vs)).into_iter().flatten().enumerate().for_each(|(i, s)| f(i, &s.labels));
    }

    /// Folds every series of `vs` into states made by `init`, `visit(state, series index,
    /// labels, samples in time order)` for each: series in memory are read there, the others
    /// decoded now (counted against `max_samples`). Many series are split into parts folded
    /// on separate cores, one state per part; the states come back in series order.
    fn fold_series<S: Send>(
        &self,
        vs: &VectorSelector,
        init: impl Fn() -> S + Sync,
        visit: impl Fn(&mut S, usize, &Labels, &mut dyn Iterator<Item = Sample>) + Sync,
    ) -> Result<Vec<S>> {
        let budget = &self.budget;
        let streamed = self.streams.borrow_mut().remove(&key(vs));
        match streamed {
            Some(series) => fold_parts(series, init, |state, index, s| {
                let mut decoded = 0;
                visit(state, index, &s.labels, &mut s.samples.inspect(|_| decoded += 1));
                budget.charge(decoded)
            }),
            None => {
                let fetched: Vec<&FetchedSeries> = self.data.get(&key(vs)).into_iter().flatten().collect();
                fold_parts(fetched, init, |state, index, s| {
                    visit(state, index, &s.labels, &mut s.samples.iter().copied());
                    Ok(())
                })
            }
        }
    }

    /// [`Evaluator::instant_vector`] at every grid time, walking each series' samples once.
    fn instant_vectors_on_grid(&self, vs: &VectorSelector) -> Result<Vec<Vector>> {
        let steps = self.grid.len();
        let parts = self.fold_instant_on_grid(
            vs,
            || vec![Vec::new(); steps],
            |out: &mut Vec<Vector>, i, _, labels, latest| {
                out[i].push(VectorSample::new(labels.clone(), latest.t, latest.v));
            },
        )?;
        Ok(concat_per_step(parts))
    }

    /// Folds `visit(state, grid position, series index, labels, sample)` over every series
    /// and grid time where [`Evaluator::instant_vector`] has a sample of the series, sliding
    /// over each series once; see [`Evaluator::fold_series`] for the states.
    fn fold_instant_on_grid<S: Send>(
        &self,
        vs: &VectorSelector,
        init: impl Fn() -> S + Sync,
        visit: impl Fn(&mut S, usize, usize, &Labels, Sample) + Sync,
    ) -> Result<Vec<S>> {
        let lookback = self.options.lookback_delta.as_millis() as i64;
        let times = self.selector_times_on_grid(vs);
        self.fold_series(vs, init, |state, index, labels, samples| {
            let mut samples = samples.peekable();
            let mut latest: Option<Sample> = None;
            for (i, &at) in times.iter().enumerate() {
                // Selector times never decrease along the grid (`@` fixes them), so the
                // samples are consumed in order.
                while let Some(sample) = samples.next_if(|x| x.t <= at) {
                    latest = Some(sample);
                }
                if let Some(latest) = latest
                    && latest.t > at - lookback
                    && !is_stale_nan(latest.v)
                {
                    visit(state, i, index, labels, latest);
                }
            }
        })
    }

    /// A range query's whole result when `expr` is computed for every grid time at once (an
    /// instant selector, or a plain range function such as `rate(x[5m])`), gathered series by
    /// series instead of as a vector per step; names marked for removal are still on. `None`
    /// for other expressions, which the range query evaluates step by step.
    pub fn matrix_on_grid(&mut self, expr: &Expr) -> Option<Result<Matrix>> {
        if let Err(timeout) = self.budget.check_deadline() {
            return Some(Err(timeout));
        }
        let parts = self.fold_matrix_on_grid(call::unparen(expr))?;
        // A grid pass reads the clock only every so many series: a query over a few long
        // series must still stop at its deadline, as evaluating step by step would.
        Some(parts.and_then(|parts| {
            self.budget.check_deadline()?;
            Ok(SeriesOnGrid::concat(parts))
        }))
    }

    /// [`Evaluator::matrix_on_grid`]'s grid pass, one state per part of the series.
    fn fold_matrix_on_grid(&mut self, expr: &Expr) -> Option<Result<Vec<SeriesOnGrid>>> {
        match expr {
            Expr::VectorSelector(vs) => {
                let grid = &self.grid;
                Some(self.fold_instant_on_grid(
                    vs,
                    SeriesOnGrid::default,
                    |out, i, series, labels, latest| {
                        out.push(series, labels, false, Sample::new(grid[i], latest.v));
                    },
                ))
            }
            Expr::Call(call) => {
                let plain = PlainRangeCall::of(call)?;
                let drop_name = !plain.keep_name;
                Some(self.with_annotations_apart(|ev, annotations| {
                    let grid = &ev.grid;
                    plain.fold_on_grid(ev, annotations, SeriesOnGrid::default, |out, i, series, labels, v| {
                        out.push(series, labels, drop_name, Sample::new(grid[i], v));
                    })
                }))
            }
            _ => None,
        }
    }

    /// Folds `visit(state, grid position, series index, selector time, labels, window)` over
    /// every series and grid time with the samples of `vs[range]`, staleness markers left
    /// out, sliding over each series once; see [`Evaluator::fold_series`] for the states.
    pub(super) fn fold_windows_on_grid<S: Send>(
        &self,
        vs: &VectorSelector,
        range: i64,
        init: impl Fn() -> S + Sync,
        visit: impl Fn(&mut S, usize, usize, i64, &Labels, &[Sample]) + Sync,
    ) -> Result<Vec<S>> {
        let times = self.selector_times_on_grid(vs);
        let parts = self.fold_series(
            vs,
            || (VecDeque::<Sample>::new(), init()),
            |(window, state), index, labels, samples| {
                let mut samples = samples.peekable();
                window.clear();
                for (i, &at) in times.iter().enumerate() {
                    while let Some(sample) = samples.next_if(|x| x.t <= at) {
                        if !is_stale_nan(sample.v) {
                            window.push_back(sample);
                        }
                    }
                    while window.front().is_some_and(|x| x.t <= at - range) {
                        window.pop_front();
                    }
                    if !window.is_empty() {
                        visit(state, i, index, at, labels, window.make_contiguous());
                    }
                }
            },
        )?;
        Ok(parts.into_iter().map(|(_, state)| state).collect())
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
        self.subquery_depth += 1;
        let matrix = self.subquery_points(sq, t);
        self.subquery_depth -= 1;
        matrix
    }

    /// [`Evaluator::subquery`]'s work: the inner expression at every subquery step.
    fn subquery_points(&mut self, sq: &SubqueryExpr, t: i64) -> Result<Matrix> {
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
        let mut series: PrehashedMap<Labels, (bool, Vec<Sample>)> = PrehashedMap::default();
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

/// Selects a selector's series over `range`, samples not yet decoded (the selector's `or`
/// alternatives are a union).
fn select(
    storage: &dyn Queryable,
    vs: &VectorSelector,
    range: TimeRange,
    samples: SamplesWanted,
    annotations: &mut Annotations,
) -> Result<Vec<Series>> {
    let hints = SelectHints { range, samples };
    let mut alternatives = Vec::new();
    if vs.matchers.or_matchers.is_empty() {
        alternatives.push(convert_matchers(vs, &vs.matchers.matchers)?);
    } else {
        for group in &vs.matchers.or_matchers {
            alternatives.push(convert_matchers(vs, group)?);
        }
    }
    let mut select_one = |matchers: &[Matcher]| -> Result<Vec<Series>> {
        let selection = storage.select(matchers, hints)?;
        for warning in selection.warnings {
            annotations.warn(warning);
        }
        Ok(selection.series)
    };
    if alternatives.len() == 1 {
        return select_one(&alternatives[0]);
    }
    // A series matched by several `or` alternatives is fetched once.
    let mut seen: PrehashedSet<Labels> = PrehashedSet::default();
    let mut selected = Vec::new();
    for matchers in alternatives {
        for series in select_one(&matchers)? {
            if seen.insert(series.labels.clone()) {
                selected.push(series);
            }
        }
    }
    Ok(selected)
}

/// Decodes the samples of selected series (counted against `max_samples`), on all cores when
/// there are many: chunk decoding is most of the cost of a query over many series.
fn decode_all(selected: Vec<Series>, budget: &Budget) -> Result<Vec<FetchedSeries>> {
    let parts = fold_parts(selected, Vec::new, |out: &mut Vec<FetchedSeries>, _, series| {
        let samples: Vec<Sample> = series.samples.collect();
        budget.charge(samples.len())?;
        out.push(FetchedSeries { labels: series.labels, samples });
        Ok(())
    })?;
    Ok(parts.into_iter().flatten().collect())
}

/// Grid values gathered series by series, for [`Evaluator::matrix_on_grid`]: a grid pass
/// visits one series at a time, in time order.
#[derive(Default)]
struct SeriesOnGrid {
    series: Matrix,
    /// The index of the series the last value was of.
    last: Option<usize>,
}

impl SeriesOnGrid {
    /// Adds a value of series `index`.
    fn push(&mut self, index: usize, labels: &Labels, drop_name: bool, point: Sample) {
        if self.last != Some(index) {
            self.last = Some(index);
            self.series.push(RangeSeries { labels: labels.clone(), samples: Vec::new(), drop_name });
        }
        self.series.last_mut().expect("pushed above").samples.push(point);
    }

    /// The series of every part, part after part.
    fn concat(parts: Vec<Self>) -> Matrix {
        parts.into_iter().flat_map(|part| part.series).collect()
    }
}

/// Per-step vectors of several parts of the series joined, part after part.
pub(super) fn concat_per_step(parts: Vec<Vec<Vector>>) -> Vec<Vector> {
    let mut parts = parts.into_iter();
    let mut joined = parts.next().unwrap_or_default();
    for part in parts {
        for (step, vector) in joined.iter_mut().zip(part) {
            step.extend(vector);
        }
    }
    joined
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
