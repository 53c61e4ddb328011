//! Backfill planning (pure): imported samples older than a shard's head, sorted into the
//! blocks they will be written to. The shard writes them (`Db::import`).
//!
//! Each series' samples are put in time order; a timestamp given twice keeps the first value
//! when the two agree and refuses the second as a duplicate timestamp when they differ, and so
//! does a timestamp the shard already stores. The samples are then split at the block range's
//! aligned boundaries, one block per window, none reaching past the head's floor.

use std::collections::BTreeMap;

use argus_model::{Labels, RejectReason, Sample};

/// Samples of one block to write: its window and each series' samples in it.
pub(crate) struct BackfillBlock {
    pub min_time: i64,
    pub max_time: i64,
    pub series: BTreeMap<Labels, Vec<Sample>>,
}

/// A sample refused, with its series.
pub(crate) type Refused = (Labels, Sample, RejectReason);

/// One series and its samples.
pub(crate) type SeriesSamples = (Labels, Vec<Sample>);

/// What [`resolve`] decided.
pub(crate) struct Resolved {
    /// Per series, the samples to write, in time order.
    pub kept: Vec<SeriesSamples>,
    pub refused: Vec<Refused>,
    /// Samples equal to ones already there: accepted, not written again.
    pub resent: u64,
}

/// Orders and checks each series' samples: `stored(labels, t)` is the value the shard already
/// has at `t`, if any.
pub(crate) fn resolve(
    series: Vec<SeriesSamples>,
    mut stored: impl FnMut(&Labels, i64) -> Option<f64>,
) -> Resolved {
    let (mut kept, mut refused, mut resent) = (Vec::new(), Vec::new(), 0);
    for (labels, mut samples) in series {
        samples.sort_by_key(|s| s.t);
        let mut unique: Vec<Sample> = Vec::with_capacity(samples.len());
        for sample in samples {
            let existing = match unique.last() {
                Some(last) if last.t == sample.t => Some(last.v),
                _ => stored(&labels, sample.t),
            };
            match existing {
                Some(v) if v.to_bits() == sample.v.to_bits() => resent += 1,
                Some(_) => refused.push((labels.clone(), sample, RejectReason::DuplicateTimestamp)),
                None => unique.push(sample),
            }
        }
        if !unique.is_empty() {
            kept.push((labels, unique));
        }
    }
    Resolved { kept, refused, resent }
}

/// Splits time-ordered series into blocks at multiples of `range`, each ending at `floor` at
/// the latest (every sample must lie below it).
pub(crate) fn into_blocks(series: Vec<SeriesSamples>, range: i64, floor: i64) -> Vec<BackfillBlock> {
    let mut blocks: BTreeMap<i64, BackfillBlock> = BTreeMap::new();
    for (labels, samples) in series {
        for sample in samples {
            debug_assert!(sample.t < floor, "backfill reaches the head");
            let start = sample.t.div_euclid(range) * range;
            let block = blocks.entry(start).or_insert_with(|| BackfillBlock {
                min_time: start,
                max_time: start.saturating_add(range).min(floor),
                series: BTreeMap::new(),
            });
            block.series.entry(labels.clone()).or_default().push(sample);
        }
    }
    blocks.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(name: &str) -> Labels {
        Labels::from_pairs([("__name__", name)]).unwrap()
    }

    #[test]
    fn duplicates_are_dropped_and_conflicts_refused() {
        let a = labels("a");
        let input = vec![(
            a.clone(),
            vec![
                Sample::new(30, 3.0),
                Sample::new(10, 1.0),
                Sample::new(10, 1.0),
                Sample::new(10, 9.0),
                Sample::new(20, 2.0),
            ],
        )];
        let stored = |_: &Labels, t: i64| (t == 20).then_some(5.0);
        let resolved = resolve(input, stored);
        assert_eq!(resolved.kept, vec![(a.clone(), vec![Sample::new(10, 1.0), Sample::new(30, 3.0)])]);
        let refused_times: Vec<i64> = resolved.refused.iter().map(|(_, s, _)| s.t).collect();
        assert_eq!(refused_times, vec![10, 20], "9.0 at 10 and 2.0 where 5.0 is stored");
        assert_eq!(resolved.resent, 1);
    }

    #[test]
    fn blocks_follow_aligned_windows_and_stop_at_the_floor() {
        let series =
            vec![(labels("a"), vec![Sample::new(5, 1.0), Sample::new(15, 2.0), Sample::new(25, 3.0)])];
        let blocks = into_blocks(series, 10, 27);
        let windows: Vec<(i64, i64, usize)> =
            blocks.iter().map(|b| (b.min_time, b.max_time, b.series.values().map(Vec::len).sum())).collect();
        assert_eq!(windows, vec![(0, 10, 1), (10, 20, 1), (20, 27, 1)]);
    }
}
