//! The engine's public promises across restarts: what `append` accepted is what `select`
//! returns, before and after a reopen (clean or not), whatever the shard count, and the
//! accepted samples are exactly those a simple model of the ordering rules accepts.

use std::collections::BTreeMap;
use std::sync::Arc;

use argus_model::{
    Appendable, Labels, MatchOp, Matcher, Queryable, RejectReason, Sample, SamplesWanted, SelectHints,
    SeriesSamples, TimeRange, WriteBatch,
};
use argus_tsdb::{Shards, TsdbConfig};
use proptest::prelude::*;

type Stored = BTreeMap<Labels, Vec<(i64, u64)>>;

fn config(shards: usize) -> TsdbConfig {
    TsdbConfig { shards, ..TsdbConfig::default() }
}

fn everything(shards: &Shards) -> Stored {
    let any_name = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap();
    let hints = SelectHints { range: TimeRange::ALL, samples: SamplesWanted::All };
    shards
        .select(&[any_name], hints)
        .unwrap()
        .series
        .into_iter()
        .map(|s| (s.labels, s.samples.map(|x| (x.t, x.v.to_bits())).collect()))
        .collect()
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]).unwrap()
}

#[test]
fn concurrent_appends_survive_reopen_with_and_without_close() {
    let dir = tempfile::tempdir().unwrap();
    let shards = Arc::new(Shards::open(dir.path(), &config(4)).unwrap());
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let shards = shards.clone();
            std::thread::spawn(move || {
                for round in 0..50i64 {
                    let batch: Vec<SeriesSamples> = (0..25)
                        .map(|i| SeriesSamples {
                            labels: labels(w * 100 + i),
                            samples: vec![Sample::new(1000 + round, round as f64)],
                        })
                        .collect();
                    assert_eq!(shards.append(&WriteBatch::from_series(&batch)).unwrap().accepted, 25);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let before = everything(&shards);
    assert_eq!(before.len(), 100);
    assert!(before.values().all(|s| s.len() == 50));
    // Dropped without close: the WAL was fsynced per batch, so nothing is lost.
    drop(shards);
    let shards = Shards::open(dir.path(), &config(4)).unwrap();
    assert_eq!(everything(&shards), before);
    shards.close().unwrap();
    // A different configured shard count does not move series: the directory keeps its own.
    let shards = Shards::open(dir.path(), &config(3)).unwrap();
    assert_eq!(shards.stats().shards, 4);
    assert_eq!(everything(&shards), before);
}

#[test]
fn stale_markers_and_special_values_round_trip_through_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let shards = Shards::open(dir.path(), &config(2)).unwrap();
    let values = [f64::NAN, argus_model::stale_nan(), f64::INFINITY, f64::NEG_INFINITY, -0.0, 1.5];
    let samples: Vec<Sample> = values.iter().enumerate().map(|(i, &v)| Sample::new(i as i64, v)).collect();
    let owned = [SeriesSamples { labels: labels(0), samples: samples.clone() }];
    shards.append(&WriteBatch::from_series(&owned)).unwrap();
    shards.close().unwrap();
    let shards = Shards::open(dir.path(), &config(2)).unwrap();
    let expected: Vec<(i64, u64)> = samples.iter().map(|s| (s.t, s.v.to_bits())).collect();
    assert_eq!(everything(&shards)[&labels(0)], expected);
}

/// What the engine must have accepted. Every test time lies inside the default out-of-order
/// window, so per series a sample at a new time is kept wherever it falls, one identical to
/// the sample already at its time is ignored, and one differing from it is refused.
fn model_append(model: &mut Stored, batch: &[SeriesSamples]) -> (u64, u64) {
    let (mut accepted, mut rejected) = (0, 0);
    for series in batch {
        let stored = model.entry(series.labels.clone()).or_default();
        for s in &series.samples {
            match stored.binary_search_by_key(&s.t, |&(t, _)| t) {
                Ok(at) if stored[at].1 == s.v.to_bits() => accepted += 1,
                Ok(_) => rejected += 1,
                Err(at) => {
                    stored.insert(at, (s.t, s.v.to_bits()));
                    accepted += 1;
                }
            }
        }
    }
    model.retain(|_, samples| !samples.is_empty());
    (accepted, rejected)
}

fn batch_strategy() -> impl Strategy<Value = Vec<SeriesSamples>> {
    let series =
        (0usize..6, prop::collection::vec((0i64..40, prop::sample::select(vec![0.0, 1.0, 2.5])), 0..8));
    prop::collection::vec(series, 1..5).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(i, samples)| SeriesSamples {
                labels: labels(i),
                samples: samples.into_iter().map(|(t, v)| Sample::new(t, v)).collect(),
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn engine_matches_the_model_across_restarts(batches in prop::collection::vec(batch_strategy(), 1..12), restart_every in 1usize..5) {
        let dir = tempfile::tempdir().unwrap();
        let mut shards = Shards::open(dir.path(), &config(3)).unwrap();
        let mut model = Stored::new();
        for (i, batch) in batches.iter().enumerate() {
            let report = shards.append(&WriteBatch::from_series(batch)).unwrap();
            let (accepted, rejected) = model_append(&mut model, batch);
            prop_assert_eq!(report.accepted, accepted);
            prop_assert_eq!(report.total_rejected(), rejected);
            prop_assert_eq!(report.rejected_count(RejectReason::TooOld), 0);
            if i % restart_every == 0 {
                drop(shards);
                shards = Shards::open(dir.path(), &config(3)).unwrap();
            }
            prop_assert_eq!(&everything(&shards), &model);
        }
    }
}
