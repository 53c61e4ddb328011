//! Upstream re-runs every instant `eval` with an `@ <eval time>` modifier on each selector and
//! subquery, at other evaluation times, to check that the result is step invariant
//! (`atModifierTestCases` in `promql/promqltest/test.go`). This builds those variants.
//!
//! The modified query is printed with `promql-parser`'s `Display`; a variant whose text does not
//! parse back to the same tree is dropped (and counted by the caller) rather than run, so a
//! printer quirk cannot fail a case.

use std::time::{Duration, SystemTime};

use promql_parser::label::Matcher;
use promql_parser::parser::{AtModifier, Expr, VectorSelector};

/// Functions whose result depends on the evaluation time even with step-invariant arguments
/// (upstream's `AtModifierUnsafeFunctions`): queries calling them get no variants.
const AT_UNSAFE_FUNCTIONS: [&str; 15] = [
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "end",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
];

/// The variants of an instant query evaluated at `time` (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtVariants {
    /// The query text with `@ time` set, and the times to evaluate it at.
    Run { query: String, times: Vec<i64> },
    /// The query calls a time-dependent function; upstream skips it too.
    Unsafe,
    /// The modified query did not print and re-parse faithfully.
    Unprintable(String),
}

pub fn at_variants(expr: &Expr, time: i64) -> AtVariants {
    let mut expr = expr.clone();
    let mut unsafe_call = false;
    set_at(&mut expr, time, &mut unsafe_call);
    if unsafe_call {
        return AtVariants::Unsafe;
    }
    let query = expr.to_string();
    match promql_parser::parser::parse(&query) {
        Ok(reparsed) => {
            if normalized(reparsed) != normalized(expr) {
                return AtVariants::Unprintable(format!("{query} parses back differently"));
            }
        }
        Err(e) => return AtVariants::Unprintable(format!("{query}: {e}")),
    }
    let times = if time == 0 { vec![-1000, 0, 1000] } else { vec![-10 * time, 0, time / 5, time, 10 * time] };
    AtVariants::Run { query, times }
}

/// Sets `@ time` on every selector and subquery not inside a subquery (whose own `@` pins it),
/// replacing `@ start()` / `@ end()` as upstream does, and notes calls of unsafe functions
/// outside such subqueries (upstream does not look inside them either).
fn set_at(expr: &mut Expr, time: i64, unsafe_call: &mut bool) {
    match expr {
        Expr::VectorSelector(vs) => pin(vs, time),
        Expr::MatrixSelector(ms) => pin(&mut ms.vs, time),
        Expr::Subquery(sq) => {
            if !matches!(sq.at, Some(AtModifier::At(_))) {
                sq.at = Some(at(time));
            }
        }
        Expr::Aggregate(a) => {
            set_at(&mut a.expr, time, unsafe_call);
            if let Some(p) = &mut a.param {
                set_at(p, time, unsafe_call);
            }
        }
        Expr::Unary(u) => set_at(&mut u.expr, time, unsafe_call),
        Expr::Binary(b) => {
            set_at(&mut b.lhs, time, unsafe_call);
            set_at(&mut b.rhs, time, unsafe_call);
        }
        Expr::Paren(p) => set_at(&mut p.expr, time, unsafe_call),
        Expr::Call(c) => {
            *unsafe_call |= AT_UNSAFE_FUNCTIONS.contains(&c.func.name);
            c.args.args.iter_mut().for_each(|a| set_at(a, time, unsafe_call));
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The tree with each selector's matchers in a fixed order: the printer sorts them, which
/// changes nothing about what the selector selects.
fn normalized(mut expr: Expr) -> Expr {
    fn sort(vs: &mut VectorSelector) {
        let key = |m: &Matcher| (m.name.clone(), m.op.to_string(), m.value.clone());
        vs.matchers.matchers.sort_by_key(key);
        vs.matchers.or_matchers.iter_mut().for_each(|set| set.sort_by_key(key));
    }
    fn walk(expr: &mut Expr) {
        match expr {
            Expr::VectorSelector(vs) => sort(vs),
            Expr::MatrixSelector(ms) => sort(&mut ms.vs),
            Expr::Subquery(sq) => walk(&mut sq.expr),
            Expr::Aggregate(a) => {
                walk(&mut a.expr);
                if let Some(p) = &mut a.param {
                    walk(p);
                }
            }
            Expr::Unary(u) => walk(&mut u.expr),
            Expr::Binary(b) => {
                walk(&mut b.lhs);
                walk(&mut b.rhs);
            }
            Expr::Paren(p) => walk(&mut p.expr),
            Expr::Call(c) => c.args.args.iter_mut().for_each(|a| walk(a)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
    walk(&mut expr);
    expr
}

fn pin(vs: &mut VectorSelector, time: i64) {
    if !matches!(vs.at, Some(AtModifier::At(_))) {
        vs.at = Some(at(time));
    }
}

fn at(time: i64) -> AtModifier {
    let magnitude = Duration::from_millis(time.unsigned_abs());
    AtModifier::At(if time >= 0 {
        SystemTime::UNIX_EPOCH + magnitude
    } else {
        SystemTime::UNIX_EPOCH - magnitude
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variants(query: &str, time: i64) -> AtVariants {
        at_variants(&promql_parser::parser::parse(query).unwrap(), time)
    }

    #[test]
    fn pins_selectors_and_outer_subqueries() {
        let AtVariants::Run { query, times } = variants("sum(rate(foo[5m])) + bar offset 1m", 600_000) else {
            panic!()
        };
        assert_eq!(times, [-6_000_000, 0, 120_000, 600_000, 6_000_000]);
        let reparsed = promql_parser::parser::parse(&query).unwrap();
        assert!(query.contains("@ 600.000"), "{query}");
        assert_eq!(query.matches("@ 600.000").count(), 2, "{query}: {reparsed:?}");

        let AtVariants::Run { query, .. } = variants("max_over_time(rate(foo[1m])[5m:1m])", 60_000) else {
            panic!()
        };
        assert_eq!(query.matches('@').count(), 1, "only the subquery is pinned: {query}");

        let AtVariants::Run { query, .. } = variants("foo @ 100", 60_000) else { panic!() };
        assert!(query.contains("@ 100.000") && !query.contains("@ 60.000"), "{query}");

        let AtVariants::Run { query, .. } = variants("foo @ start()", 60_000) else { panic!() };
        assert!(query.contains("@ 60.000"), "{query}");
    }

    #[test]
    fn zero_time_uses_upstreams_times() {
        let AtVariants::Run { times, .. } = variants("foo", 0) else { panic!() };
        assert_eq!(times, [-1000, 0, 1000]);
    }

    #[test]
    fn time_dependent_functions_get_no_variants() {
        assert_eq!(variants("timestamp(foo)", 60_000), AtVariants::Unsafe);
        assert_eq!(variants("time() - foo", 60_000), AtVariants::Unsafe);
        assert!(matches!(variants("max_over_time(timestamp(foo)[5m:1m])", 60_000), AtVariants::Run { .. }));
        assert!(matches!(variants("1 + 2", 60_000), AtVariants::Run { .. }));
    }
}
