//! Runs one parsed script against Argus's PromQL engine over a real storage engine (a one-shard
//! `argus_tsdb::Shards` in a temporary directory, replaced on `clear`), and records each
//! `eval` as passed, failed (with why) or excluded.
//!
//! Each `eval` is checked as upstream's `promqltest` does: an instant query, then (unless the
//! case is excluded from it) the same query as a range query over `[t-1m, t+1m]` whose middle
//! points must give the same result, then the `@`-modifier variants at other times. A range
//! `eval` is one range query. Annotations (`warn`, `info`, `no_warn`, `no_info`) are checked on
//! each query but the range-mode re-run, whose annotations may rightly differ (a sort warns
//! there), as upstream does.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argus_model::time::HumanDuration;
use argus_model::{Appendable, Queryable, Sample, SeriesSamples, WriteBatch};
use argus_query::promql::value::Value;
use argus_query::promql::{Annotations, Engine, EngineOptions, Evaluated};
use argus_tsdb::{FsyncPolicy, Shards, TsdbConfig, WalConfig};
use promql_parser::parser::Expr;

use crate::compare::{self, Grid, Outcome};
use crate::exclusions::FileExclusions;
use crate::native::NativeHistograms;
use crate::script::{Command, Eval, EvalKind, Load, SeqValue, parse_script};
use crate::variants::{AtVariants, at_variants};

/// How a case is checked.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Also run upstream's range-mode and `@`-modifier re-runs of instant queries.
    pub variants: bool,
}

/// Which query of a case failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The script itself could not be read.
    Script,
    Instant,
    Range,
    /// The instant query re-run as a range query around its time.
    RangeMode,
    /// The query with `@ <eval time>` on its selectors, evaluated at `time`.
    AtVariant {
        time: i64,
    },
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Phase::Script => f.write_str("script"),
            Phase::Instant => f.write_str("instant"),
            Phase::Range => f.write_str("range"),
            Phase::RangeMode => f.write_str("range mode"),
            Phase::AtVariant { time } => write!(f, "@ variant at {time}ms"),
        }
    }
}

/// What kind of failure, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The `eval` block could not be parsed.
    Script,
    /// `promql_parser` rejected the query.
    Parse,
    /// The engine returned an error where a result was expected.
    EngineError,
    /// The engine panicked.
    Panic,
    /// A failure was expected but the query succeeded.
    NoError,
    /// The query failed, but not with the expected message.
    WrongError,
    /// The result differs from the expected one.
    Mismatch,
    /// The warnings or infos differ from the expected ones.
    Annotations,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Script => "script error",
            Kind::Parse => "query does not parse (promql_parser)",
            Kind::EngineError => "engine error where a result was expected",
            Kind::Panic => "engine panic",
            Kind::NoError => "expected an error, got a result",
            Kind::WrongError => "error message differs",
            Kind::Mismatch => "result differs",
            Kind::Annotations => "warnings or infos differ",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub line: usize,
    /// The query that failed (for an `@` variant, the modified one).
    pub query: String,
    pub phase: Phase,
    pub kind: Kind,
    pub expected: String,
    pub got: String,
    pub why: String,
}

#[derive(Debug, Clone)]
pub struct Excluded {
    pub line: usize,
    pub reason: String,
}

/// The outcome of one script file.
#[derive(Debug, Default)]
pub struct FileReport {
    pub passed: usize,
    pub failures: Vec<Failure>,
    pub excluded: Vec<Excluded>,
    /// Things that are not cases but matter: rejected samples, bad load lines, stale exclusions.
    pub notes: Vec<String>,
    /// Instant cases whose `@` variants could not be printed faithfully, so were not run.
    pub unprintable_variants: usize,
    pub queries: usize,
    pub slowest: Option<(Duration, String)>,
    pub elapsed: Duration,
}

impl FileReport {
    pub fn failed(&self) -> usize {
        self.failures.len()
    }
}

/// Storage for one script, replaced on `clear`.
struct Store {
    shards: Arc<Shards>,
    engine: Engine,
    _dir: tempfile::TempDir,
}

impl Store {
    fn open() -> Result<Store, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("creating a temporary directory: {e}"))?;
        let config = TsdbConfig {
            shards: 1,
            // A huge block range turns off the "too old" refusal, so loads can write any time.
            block_range: HumanDuration(Duration::from_secs(100 * 365 * 86_400)),
            wal: WalConfig {
                fsync: FsyncPolicy::Interval,
                fsync_interval: HumanDuration(Duration::from_secs(3600)),
                ..WalConfig::default()
            },
            ..TsdbConfig::default()
        };
        let shards =
            Arc::new(Shards::open(dir.path(), &config).map_err(|e| format!("opening storage: {e}"))?);
        let options = EngineOptions { timeout: Duration::from_secs(20), ..EngineOptions::default() };
        let engine = Engine::new(shards.clone() as Arc<dyn Queryable>, options);
        Ok(Store { shards, engine, _dir: dir })
    }

    /// Appends a load's float samples; returns notes about anything not stored.
    fn load(&self, load: &Load) -> Vec<String> {
        let mut notes: Vec<String> =
            load.errors.iter().map(|(line, e)| format!("load line {line} not loaded: {e}")).collect();
        let mut series = Vec::new();
        for desc in &load.series {
            let samples: Vec<Sample> = desc
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    SeqValue::Float(f) => Some(Sample::new(i as i64 * load.interval_ms, *f)),
                    SeqValue::Omitted | SeqValue::Histogram => None,
                })
                .collect();
            if samples.is_empty() {
                continue;
            }
            if desc.labels.is_empty() {
                notes.push(format!("load at line {}: a series without labels cannot be stored", load.line));
                continue;
            }
            series.push(SeriesSamples { labels: desc.labels.clone(), samples });
        }
        if series.is_empty() {
            return notes;
        }
        match self.shards.append(&WriteBatch::from_series(&series)) {
            Ok(report) if report.total_rejected() > 0 => {
                let examples: Vec<String> = report.examples.iter().map(ToString::to_string).collect();
                notes.push(format!(
                    "load at line {}: {} samples rejected ({})",
                    load.line,
                    report.total_rejected(),
                    examples.join("; ")
                ));
            }
            Ok(_) => {}
            Err(e) => notes.push(format!("load at line {}: append failed: {e}", load.line)),
        }
        notes
    }
}

/// Runs a script; `exclusions` are this file's entries of `exclusions.txt`.
pub fn run_file(text: &str, exclusions: &FileExclusions, options: RunOptions) -> FileReport {
    let started = Instant::now();
    let mut report = FileReport::default();
    let commands = parse_script(text);
    let eval_lines: Vec<usize> = commands
        .iter()
        .filter_map(|c| match c {
            Command::Eval(e) => Some(e.line),
            _ => None,
        })
        .collect();
    for line in exclusions.lines.keys() {
        if !eval_lines.contains(line) {
            report.notes.push(format!("exclusions.txt names line {line}, which is not an eval"));
        }
    }
    if let Some(reason) = &exclusions.whole {
        report.excluded = eval_lines.iter().map(|&line| Excluded { line, reason: reason.clone() }).collect();
        report.elapsed = started.elapsed();
        return report;
    }
    let mut store = match Store::open() {
        Ok(store) => store,
        Err(e) => {
            report.notes.push(e);
            return report;
        }
    };
    let mut histograms = NativeHistograms::default();
    for command in &commands {
        match command {
            Command::Load(load) => {
                histograms.record(load);
                report.notes.extend(store.load(load));
            }
            Command::Clear => {
                histograms.clear();
                // Drop the old store first so its flusher stops before the next one starts.
                drop(std::mem::replace(
                    &mut store,
                    match Store::open() {
                        Ok(s) => s,
                        Err(e) => {
                            report.notes.push(e);
                            return report;
                        }
                    },
                ));
            }
            Command::Invalid { line, message } => report.notes.push(format!("line {line}: {message}")),
            Command::Eval(eval) => {
                run_case(&store.engine, eval, exclusions, &histograms, options, &mut report)
            }
        }
    }
    report.elapsed = started.elapsed();
    report
}

fn run_case(
    engine: &Engine,
    eval: &Eval,
    exclusions: &FileExclusions,
    histograms: &NativeHistograms,
    options: RunOptions,
    report: &mut FileReport,
) {
    let exclude = |report: &mut FileReport, reason: &str| {
        report.excluded.push(Excluded { line: eval.line, reason: reason.to_string() });
    };
    if let Some(reason) = exclusions.lines.get(&eval.line) {
        return exclude(report, reason);
    }
    let failure = |phase: Phase, kind: Kind, query: &str, got: String, why: String| Failure {
        line: eval.line,
        query: query.to_string(),
        phase,
        kind,
        expected: compare::describe_expected(eval),
        got,
        why,
    };
    if let Some(error) = &eval.error {
        report.failures.push(failure(Phase::Script, Kind::Script, &eval.query, String::new(), error.clone()));
        return;
    }
    if eval.expects_histogram() {
        return exclude(report, "native histogram (expected result)");
    }
    let expr = match promql_parser::parser::parse(&eval.query) {
        Ok(expr) => expr,
        Err(e) => {
            report.failures.push(failure(Phase::Script, Kind::Parse, &eval.query, String::new(), e));
            return;
        }
    };
    if histograms.touched_by(&expr) {
        return exclude(report, "native histogram (selects a native-histogram series)");
    }
    let mut checker = Checker { engine, eval, report };
    let result = match eval.kind {
        EvalKind::Range { start, end, step } => checker.range(start, end, step),
        EvalKind::Instant { .. } => checker.instant_with_variants(&expr, options),
    };
    match result {
        Ok(()) => report.passed += 1,
        Err(Fail { phase, kind, query, got, why }) => {
            report.failures.push(failure(phase, kind, &query, got, why))
        }
    }
}

/// A failed check, before it is tied to its case.
struct Fail {
    phase: Phase,
    kind: Kind,
    query: String,
    got: String,
    why: String,
}

/// The timeout given to queries: none beyond the engine's own.
const UNBOUNDED: Duration = Duration::MAX;

struct Checker<'a> {
    engine: &'a Engine,
    eval: &'a Eval,
    report: &'a mut FileReport,
}

/// What running a query gave.
enum Ran {
    Value(Outcome, Annotations),
    Error(String),
    Panic(String),
}

impl Checker<'_> {
    fn run(&mut self, query: &str, f: impl FnOnce(&Engine) -> Result<Evaluated, argus_query::Error>) -> Ran {
        let started = Instant::now();
        let ran = match catch_unwind(AssertUnwindSafe(|| f(self.engine))) {
            Ok(Ok(evaluated)) => Ran::Value(outcome(evaluated.value), evaluated.annotations),
            Ok(Err(e)) => Ran::Error(e.to_string()),
            Err(payload) => Ran::Panic(panic_message(payload.as_ref())),
        };
        let elapsed = started.elapsed();
        self.report.queries += 1;
        if self.report.slowest.as_ref().is_none_or(|(d, _)| elapsed > *d) {
            self.report.slowest = Some((elapsed, query.to_string()));
        }
        ran
    }

    /// The common part: a ran query against the failure expectation. `Ok(Some)` is a value to
    /// compare, `Ok(None)` an expected failure that matched.
    fn settle(&self, phase: Phase, query: &str, ran: Ran) -> Result<Option<Outcome>, Fail> {
        let fail =
            |kind: Kind, got: String, why: String| Fail { phase, kind, query: query.to_string(), got, why };
        match ran {
            Ran::Panic(message) => {
                Err(fail(Kind::Panic, format!("panic: {message}"), "the engine panicked".into()))
            }
            Ran::Error(message) if self.eval.fail => match compare::check_failure(self.eval, &message) {
                Ok(()) => Ok(None),
                Err(why) => Err(fail(Kind::WrongError, format!("error: {message}"), why)),
            },
            Ran::Error(message) => {
                Err(fail(Kind::EngineError, format!("error: {message}"), "unexpected error".into()))
            }
            Ran::Value(outcome, _) if self.eval.fail => Err(fail(
                Kind::NoError,
                compare::describe_outcome(&outcome),
                "expected an error but the query succeeded".into(),
            )),
            Ran::Value(outcome, annotations) => match compare::check_annotations(self.eval, &annotations) {
                Ok(()) => Ok(Some(outcome)),
                Err(why) => Err(fail(Kind::Annotations, format!("{annotations:?}"), why)),
            },
        }
    }

    fn compare(&self, phase: Phase, query: &str, grid: Option<Grid>, outcome: &Outcome) -> Result<(), Fail> {
        compare::compare_result(self.eval, grid, outcome).map_err(|why| Fail {
            phase,
            kind: Kind::Mismatch,
            query: query.to_string(),
            got: compare::describe_outcome(outcome),
            why,
        })
    }

    fn range(&mut self, start: i64, end: i64, step: i64) -> Result<(), Fail> {
        let query = self.eval.query.clone();
        let ran = self.run(&query, |engine| engine.range_within(&query, start, end, step, UNBOUNDED));
        match self.settle(Phase::Range, &query, ran)? {
            Some(outcome) => self.compare(Phase::Range, &query, Some(Grid { start, end, step }), &outcome),
            None => Ok(()),
        }
    }

    fn instant_with_variants(&mut self, expr: &Expr, options: RunOptions) -> Result<(), Fail> {
        let time = self.eval.instant_time().unwrap_or_default();
        let query = self.eval.query.clone();
        self.instant(&query, time, Phase::Instant, options)?;
        if !options.variants {
            return Ok(());
        }
        match at_variants(expr, time) {
            AtVariants::Run { query, times } => {
                for t in times {
                    self.instant(&query, t, Phase::AtVariant { time: t }, options)?;
                }
            }
            AtVariants::Unsafe => {}
            AtVariants::Unprintable(_) => self.report.unprintable_variants += 1,
        }
        Ok(())
    }

    /// One instant query, then its range-mode re-run (upstream's `runInstantQuery`).
    fn instant(&mut self, query: &str, time: i64, phase: Phase, options: RunOptions) -> Result<(), Fail> {
        let grid = self.eval.range_vector.map(|(start, end, step)| Grid { start, end, step });
        let ran = self.run(query, |engine| engine.instant_within(query, time, UNBOUNDED));
        let Some(outcome) = self.settle(phase, query, ran)? else {
            return Ok(());
        };
        self.compare(phase, query, grid, &outcome)?;
        let time_functions = ["start()", "end()", "range()", "step()"];
        if !options.variants
            || self.eval.excluded_from_range_mode()
            || time_functions.iter().any(|f| query.contains(f))
        {
            return Ok(());
        }
        let range_phase = Phase::RangeMode;
        let ran = self
            .run(query, |engine| engine.range_within(query, time - 60_000, time + 60_000, 60_000, UNBOUNDED));
        let fail = |kind: Kind, got: String, why: String| Fail {
            phase: range_phase,
            kind,
            query: format!("{query} (range {}..{} step 1m around {time})", time - 60_000, time + 60_000),
            got,
            why,
        };
        let matrix = match ran {
            Ran::Panic(m) => {
                return Err(fail(Kind::Panic, format!("panic: {m}"), "the engine panicked".into()));
            }
            Ran::Error(m) => {
                return Err(fail(Kind::EngineError, format!("error: {m}"), "unexpected error".into()));
            }
            Ran::Value(Outcome::Matrix(matrix), _) => matrix,
            Ran::Value(other, _) => {
                return Err(fail(
                    Kind::Mismatch,
                    compare::describe_outcome(&other),
                    "a range query must return a matrix".into(),
                ));
            }
        };
        if self.eval.ordered {
            return Ok(());
        }
        let got = || compare::describe_outcome(&Outcome::Matrix(matrix.clone()));
        compare::check_sorted(&matrix).map_err(|why| fail(Kind::Mismatch, got(), why))?;
        let middle = compare::range_mode_outcome(&outcome, &matrix, time)
            .map_err(|why| fail(Kind::Mismatch, got(), why))?;
        compare::compare_result(self.eval, grid, &middle)
            .map_err(|why| fail(Kind::Mismatch, compare::describe_outcome(&middle), why))
    }
}

fn outcome(value: Value) -> Outcome {
    match value {
        Value::Scalar { v, .. } => Outcome::Scalar(v),
        Value::String { v, .. } => Outcome::String(v),
        Value::Vector(vector) => Outcome::Vector(vector.into_iter().map(|s| (s.labels, s.v)).collect()),
        Value::Matrix(matrix) => Outcome::Matrix(matrix.into_iter().map(|s| (s.labels, s.samples)).collect()),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".into()
    }
}
