//! Queries over enough series that the engine splits them across cores: per-part results must
//! merge into exactly what one pass over all series gives (group sums, counts, NaN losing to
//! numbers in `min`/`max`, every series present once).

use std::sync::Arc;

use argus_model::{Appendable, Labels, Sample, SeriesSamples, WriteBatch};
use argus_query::promql::value::Value;
use argus_query::promql::{Engine, EngineOptions};
use argus_tsdb::{Shards, TsdbConfig};

const SERIES: usize = 6000;
const SCRAPE_MS: i64 = 15_000;
const MINUTE: i64 = 60_000;

/// `c{g, i}`: counters rising by `i + 1` per scrape for 30 minutes, so `rate(c[5m])` is
/// `(i + 1) / 15` once five minutes are in. `m{i}`: NaN everywhere but two series.
fn engine() -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let shards = Shards::open(dir.path(), &TsdbConfig { shards: 2, ..TsdbConfig::default() }).unwrap();
    let times = || (0..=30 * MINUTE / SCRAPE_MS).map(|k| k * SCRAPE_MS);
    let mut owned = Vec::new();
    for i in 0..SERIES {
        let labels = |name: &str| {
            Labels::from_pairs([("__name__", name), ("g", &(i % 3).to_string()), ("i", &i.to_string())])
                .unwrap()
        };
        let slope = (i + 1) as f64;
        owned.push(SeriesSamples {
            labels: labels("c"),
            samples: times().map(|t| Sample::new(t, slope * (t / SCRAPE_MS) as f64)).collect(),
        });
        let level = match i {
            7 => 5.0,
            4000 => 3.0,
            _ => f64::NAN,
        };
        owned.push(SeriesSamples {
            labels: labels("m"),
            samples: times().map(|t| Sample::new(t, level)).collect(),
        });
    }
    shards.append(&WriteBatch::from_series(&owned)).unwrap();
    (Engine::new(Arc::new(shards), EngineOptions::default()), dir)
}

/// A range query from minute 10 to 30, each step's `(labels, value)` pairs sorted by labels.
fn steps(engine: &Engine, query: &str) -> Vec<Vec<(String, f64)>> {
    let Value::Matrix(matrix) = engine.range(query, 10 * MINUTE, 30 * MINUTE, MINUTE).unwrap() else {
        panic!("{query}: not a matrix");
    };
    let mut steps = vec![Vec::new(); 21];
    for series in matrix {
        for sample in series.samples {
            let step = ((sample.t - 10 * MINUTE) / MINUTE) as usize;
            steps[step].push((series.labels.to_string(), sample.v));
        }
    }
    for step in &mut steps {
        step.sort_by(|a, b| a.0.cmp(&b.0));
    }
    steps
}

fn assert_close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= want.abs() * 1e-9, "{what}: got {got}, want {want}");
}

/// The expected value of group `g`.
type GroupValue = fn(usize) -> f64;

#[test]
fn fused_aggregations_merge_parts_exactly() {
    let (engine, _dir) = engine();
    let cases: [(&str, GroupValue); 4] = [
        ("sum", |g: usize| (0..SERIES).filter(|i| i % 3 == g).map(|i| (i + 1) as f64 / 15.0).sum::<f64>()),
        ("count", |g: usize| (0..SERIES).filter(|i| i % 3 == g).count() as f64),
        ("min", |g: usize| (g + 1) as f64 / 15.0),
        ("max", |g: usize| (SERIES - 3 + g + 1) as f64 / 15.0),
    ];
    for (op, want) in cases {
        let query = format!("{op} by (g) (rate(c[5m]))");
        for step in steps(&engine, &query) {
            assert_eq!(step.len(), 3, "{query}: one series per group");
            for (g, (_, v)) in step.iter().enumerate() {
                assert_close(*v, want(g), &query);
            }
        }
    }
}

#[test]
fn nan_loses_to_numbers_across_parts() {
    let (engine, _dir) = engine();
    for (query, want) in [("min(last_over_time(m[1m]))", 3.0), ("max(last_over_time(m[1m]))", 5.0)] {
        for step in steps(&engine, query) {
            assert_eq!(step.len(), 1, "{query}");
            assert_eq!(step[0].1, want, "{query}");
        }
    }
}

#[test]
fn per_series_results_keep_every_series_once() {
    let (engine, _dir) = engine();
    for query in ["rate(c[5m])", "c"] {
        for step in steps(&engine, query) {
            assert_eq!(step.len(), SERIES, "{query}");
            step.windows(2).for_each(|pair| assert_ne!(pair[0].0, pair[1].0, "{query}: a series twice"));
        }
    }
    let counts = steps(&engine, "count(c)");
    assert!(counts.iter().all(|step| step == &vec![("{}".to_string(), SERIES as f64)]), "{counts:?}");
}
