//! Range queries whose whole result is computed series by series over the grid (a plain
//! selector, a range function over a plain range selector) must give exactly what Prometheus's
//! rule gives: the query evaluated as an instant query at every step. Gaps, staleness markers,
//! `offset` and `@`, series that lose their names and then meet, and enough series to be split
//! across cores.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use argus_model::{Appendable, Labels, Sample, SeriesSamples, WriteBatch, stale_nan};
use argus_query::promql::value::Value;
use argus_query::promql::{Engine, EngineOptions, Evaluated};
use argus_tsdb::{Shards, TsdbConfig};

const SCRAPE_MS: i64 = 15_000;
const MINUTE: i64 = 60_000;
/// Enough series of `m` and `c` that a grid pass folds them in more than one part.
const SERIES: usize = 1200;

fn series(labels: &[(&str, &str)], samples: impl IntoIterator<Item = (i64, f64)>) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs(labels.iter().copied()).unwrap(),
        samples: samples.into_iter().map(|(t, v)| Sample::new(t, v)).collect(),
    }
}

/// Over 30 minutes, scraped every 15 s:
/// - `m{i}`: gauges; series `i` is missing for a stretch depending on `i` and ends with a
///   staleness marker at minute 20 when `i` is even;
/// - `c{i}`: counters rising by `i + 1`, with a reset at minute 12;
/// - `a{k="x"}` only in the first 10 minutes, `b{k="x"}` only from minute 20, `d{k="x"}`
///   throughout: `rate({__name__=~"a|b"}[1m])` meets itself without a clash, with `d` it clashes.
fn engine() -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let shards = Shards::open(dir.path(), &TsdbConfig { shards: 2, ..TsdbConfig::default() }).unwrap();
    let times = |from: i64, to: i64| (from / SCRAPE_MS..=to / SCRAPE_MS).map(|k| k * SCRAPE_MS);
    let mut owned = Vec::new();
    for i in 0..SERIES {
        let id = i.to_string();
        let gap = (i as i64 % 7) * MINUTE..(i as i64 % 7 + 6) * MINUTE;
        let end = if i % 2 == 0 { 20 * MINUTE } else { 30 * MINUTE };
        let gauge = times(0, end).filter(|t| !gap.contains(t)).map(|t| {
            let v = if t == end && i % 2 == 0 { stale_nan() } else { (t / SCRAPE_MS % 11) as f64 + i as f64 };
            (t, v)
        });
        owned.push(series(&[("__name__", "m"), ("i", &id)], gauge));
        let slope = (i + 1) as f64;
        let counter = times(0, 30 * MINUTE)
            .map(|t| (t, slope * ((t - 12 * MINUTE).rem_euclid(30 * MINUTE) / SCRAPE_MS) as f64));
        owned.push(series(&[("__name__", "c"), ("i", &id)], counter));
    }
    let rising =
        |(from, to): (i64, i64)| times(from, to).map(|t| (t, (t / SCRAPE_MS) as f64)).collect::<Vec<_>>();
    owned.push(series(&[("__name__", "a"), ("k", "x")], rising((0, 10 * MINUTE))));
    owned.push(series(&[("__name__", "b"), ("k", "x")], rising((20 * MINUTE, 30 * MINUTE))));
    owned.push(series(&[("__name__", "d"), ("k", "x")], rising((0, 30 * MINUTE))));
    shards.append(&WriteBatch::from_series(&owned)).unwrap();
    (Engine::new(Arc::new(shards), EngineOptions::default()), dir)
}

/// Points by series, as `labels -> [(t, value bits)]`.
type Points = BTreeMap<String, Vec<(i64, u64)>>;

/// What a query gave: its points, and its warnings and infos.
type Answer = (Points, BTreeSet<String>);

fn annotations(evaluated: &Evaluated) -> impl Iterator<Item = String> + '_ {
    evaluated.annotations.warnings.iter().chain(&evaluated.annotations.infos).cloned()
}

/// The range query from minute 2 to 28 at a 30 s step, or its error.
fn as_range(engine: &Engine, query: &str) -> Result<Answer, String> {
    let evaluated =
        engine.range_within(query, 2 * MINUTE, 28 * MINUTE, 30_000, NO_TIMEOUT).map_err(|e| e.to_string())?;
    let Value::Matrix(matrix) = &evaluated.value else { panic!("{query}: not a matrix") };
    let mut points = Points::new();
    for s in matrix {
        let entry = points.entry(s.labels.to_string()).or_default();
        assert!(entry.is_empty(), "{query}: {} twice in the result", s.labels);
        entry.extend(s.samples.iter().map(|p| (p.t, p.v.to_bits())));
    }
    Ok((points, annotations(&evaluated).collect()))
}

/// The same query as an instant query at each step of [`as_range`], or the first error.
fn as_instants(engine: &Engine, query: &str) -> Result<Answer, String> {
    let mut points = Points::new();
    let mut raised = BTreeSet::new();
    for t in (2 * MINUTE..=28 * MINUTE).step_by(30_000) {
        let evaluated = engine.instant_within(query, t, NO_TIMEOUT).map_err(|e| e.to_string())?;
        let Value::Vector(vector) = &evaluated.value else { panic!("{query}: not a vector") };
        for s in vector {
            points.entry(s.labels.to_string()).or_default().push((t, s.v.to_bits()));
        }
        raised.extend(annotations(&evaluated));
    }
    Ok((points, raised))
}

const NO_TIMEOUT: Duration = Duration::from_secs(600);

#[test]
fn whole_grid_results_equal_the_query_at_every_step() {
    let (engine, _dir) = engine();
    let queries = [
        "m",
        "(m)",
        "m offset 3m",
        "m @ 600",
        "c",
        "rate(c[2m])",
        "rate(m[2m])",
        "increase(c[5m] offset 1m)",
        "last_over_time(m[1m])",
        "quantile_over_time(0.5, m[3m])",
        "quantile_over_time(2, m[3m])",
        "count_over_time(m[1m] @ 900)",
        "rate({__name__=~\"a|b\"}[1m])",
        "last_over_time({__name__=~\"a|b\"}[1m])",
        "nothing_here",
        "rate(nothing_here[5m])",
    ];
    for query in queries {
        let range = as_range(&engine, query).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert!(!range.0.is_empty() || query.contains("nothing_here"), "{query}: empty result");
        assert_eq!(range, as_instants(&engine, query).unwrap(), "{query}");
    }
    // `a` and `b` lost their names and never share a step: one series.
    let (joined, _) = as_range(&engine, "rate({__name__=~\"a|b\"}[1m])").unwrap();
    assert_eq!(joined.keys().collect::<Vec<_>>(), ["{k=\"x\"}"]);
    // The annotations the comparison above covers.
    let (_, raised) = as_range(&engine, "rate(m[2m])").unwrap();
    assert!(raised.iter().any(|a| a.contains("might not be a counter")), "{raised:?}");
    let (_, raised) = as_range(&engine, "quantile_over_time(2, m[3m])").unwrap();
    assert!(raised.iter().any(|a| a.contains("quantile value should be between 0 and 1")), "{raised:?}");
}

#[test]
fn a_whole_grid_range_query_past_its_deadline_fails_even_when_it_reads_nothing() {
    let (engine, _dir) = engine();
    for query in ["nothing_here", "rate(nothing_here[5m])", "m", "rate(c[2m])"] {
        let error = engine.range_within(query, 2 * MINUTE, 28 * MINUTE, 30_000, Duration::ZERO).unwrap_err();
        assert!(matches!(error, argus_query::Error::Timeout(_)), "{query}: {error}");
    }
}

#[test]
fn series_that_lose_their_names_and_share_a_step_fail_the_range_query() {
    let (engine, _dir) = engine();
    let query = "rate({__name__=~\"a|d\"}[1m])";
    let error = as_range(&engine, query).unwrap_err();
    assert!(error.contains("same labelset"), "{error}");
    assert_eq!(Err(error), as_instants(&engine, query));
}
