//! Comparing a query's outcome with what an `eval` block expects, as upstream's `compareResult`,
//! `checkExpectedFailure` and `checkAnnotations` in `promql/promqltest/test.go` do: exact label
//! sets, floats equal
//! within `almost.Equal` (relative 1e-6, both-NaN equal, the stale marker only equal to
//! itself), order only when the result is expected ordered, range-vector and range-query
//! points on the expected time grid.
//!
//! Independent of the engine: outcomes are given as [`Outcome`], which the runner builds from
//! the engine's values.

use argus_model::{Labels, Sample};
use argus_query::promql::Annotations;

use crate::script::{AnnotationKind, Eval, ExpectedResult, ExpectedSeries, SeqValue, TextMatch};

/// Relative error allowed for sample values (upstream's `defaultEpsilon`).
pub const EPSILON: f64 = 0.000_001;

/// What a query returned, in the terms the comparison needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Scalar(f64),
    String(String),
    Vector(Vec<(Labels, f64)>),
    Matrix(Vec<(Labels, Vec<Sample>)>),
}

pub use argus_query::promql::almost_equal;

/// The time grid a matrix result is compared on: the range query's, or the `expect range
/// vector` one. `None` for an instant query without one; then no point may be expected
/// (upstream compares against a zero end time, so any expected point is "too many").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

/// Compares a successful outcome with the expected result. `Err` says what differs.
pub fn compare_result(eval: &Eval, grid: Option<Grid>, outcome: &Outcome) -> Result<(), String> {
    match outcome {
        Outcome::Matrix(matrix) => compare_matrix(eval, grid, matrix),
        Outcome::Vector(vector) => compare_vector(eval, vector),
        Outcome::Scalar(v) => match &eval.result {
            ExpectedResult::Scalar(expected) => {
                if almost_equal(*expected, *v, EPSILON) {
                    Ok(())
                } else {
                    Err(format!("expected scalar {} but got {}", fmt_float(*expected), fmt_float(*v)))
                }
            }
            ExpectedResult::Series(_) => {
                Err(format!("expected vector or matrix result, but got scalar {}", fmt_float(*v)))
            }
        },
        Outcome::String(s) => {
            let expected = eval.string.as_deref().unwrap_or("");
            if expected == s { Ok(()) } else { Err(format!("expected string {expected:?} but got {s:?}")) }
        }
    }
}

fn expected_series<'a>(eval: &'a Eval, got: &str) -> Result<&'a [ExpectedSeries], String> {
    match &eval.result {
        ExpectedResult::Series(series) => Ok(series),
        ExpectedResult::Scalar(_) => Err(format!("expected scalar result, but got {got}")),
    }
}

fn compare_vector(eval: &Eval, vector: &[(Labels, f64)]) -> Result<(), String> {
    let expected = expected_series(eval, "a vector")?;
    let mut seen = vec![false; expected.len()];
    for (position, (labels, v)) in vector.iter().enumerate() {
        let Some(index) = expected.iter().position(|e| e.labels == *labels) else {
            return Err(format!("unexpected metric {labels} in result, has value {}", fmt_float(*v)));
        };
        let exp = &expected[index];
        if eval.ordered && exp.position != position + 1 {
            return Err(format!(
                "expected metric {labels} at position {} but was at {}",
                exp.position,
                position + 1
            ));
        }
        match exp.values.first().copied() {
            None => return Err(format!("expected series {labels} has no value")),
            Some(SeqValue::Histogram) => {
                return Err(format!("expected a histogram for {labels} but got a float"));
            }
            // Upstream compares `_` as 0 here (an omitted value's zero `Value`).
            Some(SeqValue::Omitted) => {
                if !almost_equal(0.0, *v, EPSILON) {
                    return Err(format!("expected 0 (written _) for {labels} but got {}", fmt_float(*v)));
                }
            }
            Some(SeqValue::Float(e)) => {
                if !almost_equal(e, *v, EPSILON) {
                    return Err(format!("expected {} for {labels} but got {}", fmt_float(e), fmt_float(*v)));
                }
            }
        }
        seen[index] = true;
    }
    if let Some(missing) = expected.iter().zip(&seen).find(|(_, seen)| !**seen) {
        return Err(format!(
            "expected metric {} with {} not found",
            missing.0.labels,
            fmt_values(&missing.0.values)
        ));
    }
    Ok(())
}

fn compare_matrix(eval: &Eval, grid: Option<Grid>, matrix: &[(Labels, Vec<Sample>)]) -> Result<(), String> {
    if eval.ordered {
        return Err("expected ordered result, but query returned a matrix".into());
    }
    let expected = expected_series(eval, "a matrix")?;
    check_sorted(matrix)?;
    let mut seen = vec![false; expected.len()];
    for (labels, samples) in matrix {
        let Some(index) = expected.iter().position(|e| e.labels == *labels) else {
            return Err(format!("unexpected metric {labels} in result, has {}", fmt_samples(samples)));
        };
        seen[index] = true;
        let exp = &expected[index];
        let mut points = Vec::new();
        for (i, value) in exp.values.iter().copied().enumerate() {
            let t = match grid {
                Some(g) if g.start + i as i64 * g.step <= g.end => g.start + i as i64 * g.step,
                _ => {
                    return Err(format!(
                        "expected {} points for {labels}, but query time range cannot return this many points",
                        exp.values.len()
                    ));
                }
            };
            match value {
                SeqValue::Float(v) => points.push(Sample::new(t, v)),
                SeqValue::Omitted => {}
                SeqValue::Histogram => return Err(format!("expected histogram points for {labels}")),
            }
        }
        if points.len() != samples.len() {
            return Err(format!(
                "expected {} float points for {labels}, but got {}",
                points.len(),
                fmt_samples(samples)
            ));
        }
        for (i, (e, a)) in points.iter().zip(samples).enumerate() {
            if e.t != a.t {
                return Err(format!(
                    "expected float value at index {i} for {labels} to have timestamp {}, but it had timestamp {} (result has {})",
                    e.t,
                    a.t,
                    fmt_samples(samples)
                ));
            }
            if !almost_equal(a.v, e.v, EPSILON) {
                return Err(format!(
                    "expected float value at index {i} (t={}) for {labels} to be {}, but got {} (result has {})",
                    a.t,
                    fmt_float(e.v),
                    fmt_float(a.v),
                    fmt_samples(samples)
                ));
            }
        }
    }
    if let Some(missing) = expected.iter().zip(&seen).find(|(_, seen)| !**seen) {
        return Err(format!("expected metric {} not found", missing.0.labels));
    }
    Ok(())
}

/// Matrices must be sorted by labels (upstream's `assertMatrixSorted`).
pub fn check_sorted(matrix: &[(Labels, Vec<Sample>)]) -> Result<(), String> {
    match matrix.windows(2).position(|w| w[0].0 > w[1].0) {
        Some(i) => Err(format!(
            "matrix results should always be sorted by labels, but series at index {} with labels {} sorts before series at index {i} with labels {}",
            i + 1,
            matrix[i + 1].0,
            matrix[i].0
        )),
        None => Ok(()),
    }
}

/// Whether an error satisfies the `eval`'s failure expectations (`Err` says which did not).
pub fn check_failure(eval: &Eval, message: &str) -> Result<(), String> {
    match eval.fail_checks.iter().find(|check| !check.matches(message)) {
        Some(check) => Err(format!("expected error matching {check}, but got: {message}")),
        None => Ok(()),
    }
}

/// Checks a successful query's annotations against the case's `warn`/`info`/`no_warn`/`no_info`
/// expectations. Each kind is checked on its own: `no_warn` allows no warning; every `warn`
/// line must match some warning; and once there is a `warn` line, every warning must match one
/// (the same for infos). A case without expectations of a kind accepts whatever it gets.
pub fn check_annotations(eval: &Eval, got: &Annotations) -> Result<(), String> {
    let kinds = [
        ("warning", AnnotationKind::Warn, AnnotationKind::NoWarn, &got.warnings),
        ("info", AnnotationKind::Info, AnnotationKind::NoInfo, &got.infos),
    ];
    for (noun, expect, forbid, got) in kinds {
        let lines: Vec<&TextMatch> =
            eval.annotations.iter().filter(|(kind, _)| *kind == expect).map(|(_, m)| m).collect();
        if eval.annotations.iter().any(|(kind, _)| *kind == forbid) && !got.is_empty() {
            return Err(format!("expected no {noun}s, got {got:?}"));
        }
        if let Some(line) = lines.iter().find(|line| !got.iter().any(|message| line.matches(message))) {
            return Err(format!("expected a {noun} matching {line}, got {got:?}"));
        }
        if !lines.is_empty()
            && let Some(message) = got.iter().find(|message| !lines.iter().any(|line| line.matches(message)))
        {
            return Err(format!("unexpected {noun} {message:?}"));
        }
    }
    Ok(())
}

/// Upstream's range-mode check: the points of a range query over `[t-1m, t+1m]` at `t`, as the
/// instant outcome they must equal. `instant` is the outcome of the instant query (its type
/// decides whether a scalar is compared).
pub fn range_mode_outcome(
    instant: &Outcome,
    matrix: &[(Labels, Vec<Sample>)],
    t: i64,
) -> Result<Outcome, String> {
    let vector: Vec<(Labels, f64)> = matrix
        .iter()
        .filter_map(|(labels, samples)| samples.iter().find(|s| s.t == t).map(|s| (labels.clone(), s.v)))
        .collect();
    match instant {
        Outcome::Scalar(_) => match vector.first() {
            Some((_, v)) => Ok(Outcome::Scalar(*v)),
            None => Err(format!("scalar query returned no point at t={t} in range mode")),
        },
        _ => Ok(Outcome::Vector(vector)),
    }
}

/// A float as Go's `%v` prints it (close enough for messages: `+Inf`, `NaN`, shortest form).
pub fn fmt_float(v: f64) -> String {
    if v.is_nan() {
        if argus_model::is_stale_nan(v) { "stale".into() } else { "NaN".into() }
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

fn fmt_values(values: &[SeqValue]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| match v {
            SeqValue::Omitted => "_".to_string(),
            SeqValue::Float(f) => fmt_float(*f),
            SeqValue::Histogram => "{{…}}".to_string(),
        })
        .collect();
    items.join(" ")
}

fn fmt_samples(samples: &[Sample]) -> String {
    let plural = if samples.len() == 1 { "" } else { "s" };
    let points: Vec<String> = samples.iter().map(|s| format!("{} @[{}]", fmt_float(s.v), s.t)).collect();
    format!("{} float point{plural} [{}]", samples.len(), points.join(" "))
}

/// The expected result in script notation, for failure reports.
pub fn describe_expected(eval: &Eval) -> String {
    if eval.fail {
        let checks: Vec<String> = eval.fail_checks.iter().map(ToString::to_string).collect();
        return format!("an error ({})", checks.join(", "));
    }
    if let Some(s) = &eval.string {
        return format!("string {s:?}");
    }
    match &eval.result {
        ExpectedResult::Scalar(v) => format!("scalar {}", fmt_float(*v)),
        ExpectedResult::Series(series) if series.is_empty() => "empty result".into(),
        ExpectedResult::Series(series) => {
            let items: Vec<String> =
                series.iter().map(|s| format!("{} {}", s.labels, fmt_values(&s.values))).collect();
            items.join(", ")
        }
    }
}

/// An outcome in script notation, for failure reports.
pub fn describe_outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Scalar(v) => format!("scalar {}", fmt_float(*v)),
        Outcome::String(s) => format!("string {s:?}"),
        Outcome::Vector(v) if v.is_empty() => "empty vector".into(),
        Outcome::Vector(v) => {
            let items: Vec<String> = v.iter().map(|(l, f)| format!("{l} {}", fmt_float(*f))).collect();
            items.join(", ")
        }
        Outcome::Matrix(m) if m.is_empty() => "empty matrix".into(),
        Outcome::Matrix(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(l, samples)| {
                    let points: Vec<String> =
                        samples.iter().map(|s| format!("{}@{}", fmt_float(s.v), s.t)).collect();
                    format!("{l} {}", points.join(" "))
                })
                .collect();
            items.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{Command, parse_script};

    fn eval(script: &str) -> Eval {
        match parse_script(script).pop() {
            Some(Command::Eval(e)) => {
                assert!(e.error.is_none(), "{:?}", e.error);
                e
            }
            other => panic!("{other:?}"),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn almost_equal_follows_upstream() {
        assert!(almost_equal(1.0, 1.0, EPSILON));
        assert!(almost_equal(1.0, 1.000_000_1, EPSILON));
        assert!(!almost_equal(1.0, 1.00001, EPSILON));
        assert!(almost_equal(f64::NAN, -f64::NAN, EPSILON));
        assert!(!almost_equal(f64::NAN, 1.0, EPSILON));
        assert!(almost_equal(argus_model::stale_nan(), argus_model::stale_nan(), EPSILON));
        assert!(!almost_equal(argus_model::stale_nan(), f64::NAN, EPSILON));
        assert!(almost_equal(f64::INFINITY, f64::INFINITY, EPSILON));
        assert!(!almost_equal(f64::INFINITY, f64::NEG_INFINITY, EPSILON));
        assert!(
            !almost_equal(0.0, 1e-300, EPSILON),
            "zero is compared absolutely, scaled by the smallest normal"
        );
        assert!(almost_equal(0.0, -0.0, EPSILON));
        assert!(almost_equal(0.0, 1e-320, EPSILON));
        assert!(almost_equal(1e300, 1e300 * (1.0 + 1e-9), EPSILON));
    }

    #[test]
    fn vectors_compare_by_label_set_and_value() {
        let e = eval("eval instant at 1m m\n  m{a=\"1\"} 1\n  m{a=\"2\"} 2\n");
        let ok = Outcome::Vector(vec![
            (labels(&[("__name__", "m"), ("a", "2")]), 2.0),
            (labels(&[("__name__", "m"), ("a", "1")]), 1.0),
        ]);
        assert_eq!(compare_result(&e, None, &ok), Ok(()), "order does not matter unless ordered");
        let wrong = Outcome::Vector(vec![
            (labels(&[("__name__", "m"), ("a", "1")]), 1.5),
            (labels(&[("__name__", "m"), ("a", "2")]), 2.0),
        ]);
        assert!(compare_result(&e, None, &wrong).unwrap_err().contains("expected 1 for"));
        let missing = Outcome::Vector(vec![(labels(&[("__name__", "m"), ("a", "1")]), 1.0)]);
        assert!(compare_result(&e, None, &missing).unwrap_err().contains("not found"));
        let extra = Outcome::Vector(vec![(labels(&[("a", "1")]), 1.0)]);
        assert!(compare_result(&e, None, &extra).unwrap_err().contains("unexpected metric"));
        assert!(compare_result(&e, None, &Outcome::Scalar(1.0)).is_err());
        let empty = eval("eval instant at 1m m\n");
        assert_eq!(compare_result(&empty, None, &Outcome::Vector(vec![])), Ok(()));
        assert!(compare_result(&empty, None, &missing).is_err());
    }

    #[test]
    fn ordered_vectors_check_positions() {
        let e = eval("eval_ordered instant at 1m sort(m)\n  m{a=\"1\"} 1\n  m{a=\"2\"} 2\n");
        let a = (labels(&[("__name__", "m"), ("a", "1")]), 1.0);
        let b = (labels(&[("__name__", "m"), ("a", "2")]), 2.0);
        assert_eq!(compare_result(&e, None, &Outcome::Vector(vec![a.clone(), b.clone()])), Ok(()));
        assert!(compare_result(&e, None, &Outcome::Vector(vec![b, a])).unwrap_err().contains("position"));
    }

    #[test]
    fn scalars_and_strings() {
        let e = eval("eval instant at 1m 1\n  1\n");
        assert_eq!(compare_result(&e, None, &Outcome::Scalar(1.0)), Ok(()));
        assert!(compare_result(&e, None, &Outcome::Scalar(2.0)).is_err());
        assert!(compare_result(&e, None, &Outcome::Vector(vec![])).is_err());
        let nan = eval("eval instant at 1m NaN\n  NaN\n");
        assert_eq!(compare_result(&nan, None, &Outcome::Scalar(f64::NAN)), Ok(()));
        let s = eval("eval instant at 1m \"a\"\n  expect string \"a\"\n");
        assert_eq!(compare_result(&s, None, &Outcome::String("a".into())), Ok(()));
        assert!(compare_result(&s, None, &Outcome::String("b".into())).is_err());
        let no_string = eval("eval instant at 1m \"\"\n");
        assert_eq!(compare_result(&no_string, None, &Outcome::String(String::new())), Ok(()));
    }

    #[test]
    fn matrices_compare_points_on_the_grid() {
        let e = eval("eval range from 0 to 2m step 1m m\n  m{a=\"1\"} 1 _ 3\n  {} 5x2\n");
        let grid = Some(Grid { start: 0, end: 120_000, step: 60_000 });
        let good = Outcome::Matrix(vec![
            (Labels::empty(), vec![Sample::new(0, 5.0), Sample::new(60_000, 5.0), Sample::new(120_000, 5.0)]),
            (labels(&[("__name__", "m"), ("a", "1")]), vec![Sample::new(0, 1.0), Sample::new(120_000, 3.0)]),
        ]);
        assert_eq!(compare_result(&e, grid, &good), Ok(()));
        let Outcome::Matrix(mut m) = good.clone() else { unreachable!() };
        m.swap(0, 1);
        assert!(compare_result(&e, grid, &Outcome::Matrix(m)).unwrap_err().contains("sorted"));
        let Outcome::Matrix(mut m) = good.clone() else { unreachable!() };
        m[1].1[1].t = 60_000;
        assert!(compare_result(&e, grid, &Outcome::Matrix(m)).unwrap_err().contains("timestamp"));
        let Outcome::Matrix(mut m) = good.clone() else { unreachable!() };
        m[1].1.push(Sample::new(180_000, 1.0));
        assert!(compare_result(&e, grid, &Outcome::Matrix(m)).unwrap_err().contains("float points"));
        let Outcome::Matrix(mut m) = good else { unreachable!() };
        m[0].1[2].v = 6.0;
        assert!(compare_result(&e, grid, &Outcome::Matrix(m)).unwrap_err().contains("to be 5"));
        let short = Some(Grid { start: 0, end: 60_000, step: 60_000 });
        let too_many = eval("eval range from 0 to 1m step 1m m\n  m 1 2 3\n");
        let one = Outcome::Matrix(vec![(labels(&[("__name__", "m")]), vec![Sample::new(0, 1.0)])]);
        assert!(compare_result(&too_many, short, &one).unwrap_err().contains("cannot return this many"));
        let ordered = eval("eval range from 0 to 1m step 1m m\n  expect ordered\n");
        assert!(compare_result(&ordered, short, &Outcome::Matrix(vec![])).is_err());
    }

    #[test]
    fn instant_range_vectors_without_a_grid_expect_no_points() {
        let e = eval("eval instant at 1m m[1m]\n  m 1\n");
        let one = Outcome::Matrix(vec![(labels(&[("__name__", "m")]), vec![Sample::new(0, 1.0)])]);
        assert!(compare_result(&e, None, &one).is_err());
        let empty = eval("eval instant at 1m m[1m]\n");
        assert_eq!(compare_result(&empty, None, &Outcome::Matrix(vec![])), Ok(()));
    }

    #[test]
    fn failures_check_messages() {
        let any = eval("eval instant at 1m m\n  expect fail\n");
        assert_eq!(check_failure(&any, "whatever"), Ok(()));
        let exact = eval("eval instant at 1m m\n  expect fail msg: bad thing\n");
        assert_eq!(check_failure(&exact, "bad thing"), Ok(()));
        assert!(check_failure(&exact, "bad thing!").is_err());
        let regex =
            eval("eval instant at 1m m\n  expect fail regex: vector cannot contain metrics .*|other\n");
        assert_eq!(check_failure(&regex, "x: vector cannot contain metrics with the same labelset"), Ok(()));
        assert!(check_failure(&regex, "nope").is_err());
    }

    #[test]
    fn annotations_are_checked_per_kind() {
        let annotations = |warnings: &[&str], infos: &[&str]| Annotations {
            warnings: warnings.iter().map(|s| s.to_string()).collect(),
            infos: infos.iter().map(|s| s.to_string()).collect(),
        };
        let none = annotations(&[], &[]);
        let warned = annotations(&["w1"], &[]);
        let unchecked = eval(
            "eval instant at 1m m
",
        );
        assert_eq!(check_annotations(&unchecked, &warned), Ok(()));

        let any_warn = eval(
            "eval instant at 1m m
  expect warn
",
        );
        assert_eq!(check_annotations(&any_warn, &annotations(&["w1", "w2"], &["i"])), Ok(()));
        assert!(check_annotations(&any_warn, &none).unwrap_err().contains("expected a warning"));

        let no_warn = eval(
            "eval instant at 1m m
  expect no_warn
  expect info
",
        );
        assert_eq!(check_annotations(&no_warn, &annotations(&[], &["i"])), Ok(()));
        assert!(
            check_annotations(&no_warn, &annotations(&["w1"], &["i"])).unwrap_err().contains("no warnings")
        );
        assert!(check_annotations(&no_warn, &none).unwrap_err().contains("expected a info"));

        let exact = eval(
            "eval instant at 1m m
  expect warn msg: w1
  expect no_info
",
        );
        assert_eq!(check_annotations(&exact, &warned), Ok(()));
        assert!(
            check_annotations(&exact, &annotations(&["w1", "w2"], &[])).unwrap_err().contains("unexpected")
        );
        assert!(check_annotations(&exact, &annotations(&["w1"], &["i"])).is_err());

        let old_form = eval(
            "eval_info instant at 1m m
",
        );
        assert_eq!(check_annotations(&old_form, &annotations(&["w"], &["i"])), Ok(()));
        assert!(check_annotations(&old_form, &warned).is_err());
    }

    #[test]
    fn range_mode_picks_the_middle_points() {
        let m = vec![
            (labels(&[("a", "1")]), vec![Sample::new(0, 1.0), Sample::new(60_000, 2.0)]),
            (labels(&[("a", "2")]), vec![Sample::new(0, 1.0)]),
        ];
        assert_eq!(
            range_mode_outcome(&Outcome::Vector(vec![]), &m, 60_000),
            Ok(Outcome::Vector(vec![(labels(&[("a", "1")]), 2.0)]))
        );
        assert_eq!(range_mode_outcome(&Outcome::Scalar(0.0), &m, 60_000), Ok(Outcome::Scalar(2.0)));
        assert!(range_mode_outcome(&Outcome::Scalar(0.0), &m, 5).is_err());
    }
}
