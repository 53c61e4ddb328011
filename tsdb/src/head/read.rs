//! Reading the head: series selection by matchers and time range, label names and values.
//! Everything is read at or after the head's floor: older samples are in blocks.

use std::collections::HashSet;

use argus_model::{Labels, Matcher, Sample, SampleIter, SamplesWanted, SelectHints, TimeRange};

use super::Head;
use crate::index::SymbolId;
use crate::querier::{ChunkBytes, Piece, PieceSamples, samples_of};

impl Head {
    /// Matching series with samples in `hints.range`, each with the piece of its samples the
    /// caller wants: snapshots of the chunks to decode, or just the newest sample. Built under
    /// the shard lock; decoding happens later, outside it.
    pub fn select(&self, matchers: &[Matcher], hints: SelectHints) -> Vec<(Labels, Piece)> {
        let Some(range) = self.readable(hints.range) else { return Vec::new() };
        self.matching_refs(matchers, range)
            .map(|series_ref| {
                let series = &self.series[series_ref as usize];
                let (min_time, max_time) = series.bounds_in(range);
                let samples = match hints.samples {
                    SamplesWanted::None => PieceSamples::Chunks(Vec::new()),
                    SamplesWanted::Latest if let Some(latest) = series.latest_in(range) => {
                        PieceSamples::Latest(latest)
                    }
                    SamplesWanted::Latest | SamplesWanted::All => with_late_samples(
                        series.chunks_in(range),
                        series.out_of_order_in(range),
                        min_time,
                        max_time,
                    ),
                };
                (self.labels_of(series_ref), Piece { min_time, max_time, samples })
            })
            .collect()
    }

    /// `range` cut to what the head serves, or `None` when nothing of it is left.
    /// How many series `matchers` select, whatever their samples: an upper bound of what
    /// [`Head::select`] returns, at the cost of the postings lookup alone.
    pub fn count_matching(&self, matchers: &[Matcher]) -> u64 {
        self.postings.select(&self.symbols, matchers).len()
    }

    fn readable(&self, range: TimeRange) -> Option<TimeRange> {
        let min = range.min.max(self.floor);
        (min <= range.max).then(|| TimeRange::new(min, range.max))
    }

    /// Names of the labels of matching series with samples in `range`, unsorted.
    pub fn label_names(&self, matchers: &[Matcher], range: TimeRange) -> Vec<String> {
        let Some(range) = self.readable(range) else { return Vec::new() };
        let mut names: HashSet<SymbolId> = HashSet::new();
        for series_ref in self.matching_refs(matchers, range) {
            names.extend(self.series[series_ref as usize].labels.iter().map(|&(name, _)| name));
        }
        names.into_iter().map(|n| self.symbols.resolve(n).to_string()).collect()
    }

    /// Values of label `name` on matching series with samples in `range`, unsorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher], range: TimeRange) -> Vec<String> {
        let Some(range) = self.readable(range) else { return Vec::new() };
        let Some(name) = self.symbols.lookup(name) else {
            return Vec::new();
        };
        let mut values: HashSet<SymbolId> = HashSet::new();
        for series_ref in self.matching_refs(matchers, range) {
            let labels = &self.series[series_ref as usize].labels;
            if let Some(&(_, value)) = labels.iter().find(|&&(n, _)| n == name) {
                values.insert(value);
            }
        }
        values.into_iter().map(|v| self.symbols.resolve(v).to_string()).collect()
    }

    fn matching_refs(&self, matchers: &[Matcher], range: TimeRange) -> impl Iterator<Item = u32> + '_ {
        self.postings
            .select(&self.symbols, matchers)
            .into_iter()
            .filter(move |&series_ref| self.series[series_ref as usize].overlaps(range))
    }
}

/// A series' samples within `range`: its chunks merged with its out-of-order samples.
pub(super) fn merged_samples(chunks: Vec<ChunkBytes>, late: Vec<Sample>, range: TimeRange) -> SampleIter {
    let samples = with_late_samples(chunks, late, range.min, range.max);
    samples_of(vec![Piece { min_time: range.min, max_time: range.max, samples }], range)
}

/// A series' chunks, merged with its out-of-order samples when it has some in range.
fn with_late_samples(
    chunks: Vec<ChunkBytes>,
    late: Vec<Sample>,
    min_time: i64,
    max_time: i64,
) -> PieceSamples {
    let (Some(first), Some(last)) = (late.first(), late.last()) else { return PieceSamples::Chunks(chunks) };
    let late = Piece { min_time: first.t, max_time: last.t, samples: PieceSamples::Samples(late) };
    PieceSamples::Merged(vec![Piece { min_time, max_time, samples: PieceSamples::Chunks(chunks) }, late])
}

#[cfg(test)]
mod tests {
    use argus_model::{AppendReport, MatchOp, Sample, SeriesSamples, WriteBatch};

    use super::*;
    use crate::head::WalRecords;

    /// Label pairs and sample timestamps of one test series.
    type TestSeries<'a> = (&'a [(&'a str, &'a str)], &'a [i64]);

    fn head_with(series: &[TestSeries]) -> Head {
        let owned: Vec<SeriesSamples> = series
            .iter()
            .map(|(labels, times)| SeriesSamples {
                labels: Labels::from_pairs(labels.iter().copied()).unwrap(),
                samples: times.iter().map(|&t| Sample::new(t, t as f64)).collect(),
            })
            .collect();
        let mut head = Head::default();
        let mut wal = WalRecords::default();
        let mut report = AppendReport::default();
        for s in WriteBatch::from_series(&owned).iter() {
            head.append(s, crate::head::AppendBounds::ANY, &mut wal, &mut report);
        }
        head
    }

    #[test]
    fn select_filters_by_matchers_and_time() {
        let head = head_with(&[
            (&[("__name__", "up"), ("job", "a")], &[10, 20, 30]),
            (&[("__name__", "up"), ("job", "b")], &[100, 200]),
        ]);
        let up = Matcher::equal("__name__", "up");
        let hints = SelectHints { range: TimeRange::new(15, 150), samples: SamplesWanted::All };
        let selected = head.select(std::slice::from_ref(&up), hints);
        assert_eq!(selected.len(), 2);
        let times: Vec<Vec<i64>> = selected
            .into_iter()
            .map(|(_, piece)| samples_of(vec![piece], hints.range).map(|x| x.t).collect())
            .collect();
        assert!(times.contains(&vec![20, 30]) && times.contains(&vec![100]));

        let late = SelectHints { range: TimeRange::new(150, 1000), samples: SamplesWanted::None };
        let selected = head.select(&[up], late);
        assert_eq!(selected.len(), 1);
        assert_eq!(selected[0].0.get("job"), Some("b"));
    }

    #[test]
    fn latest_only_skips_decoding_when_the_newest_sample_is_in_range() {
        let head = head_with(&[(&[("__name__", "up")], &[10, 20, 30])]);
        let up = [Matcher::equal("__name__", "up")];
        let times = |range: TimeRange| -> Vec<i64> {
            let hints = SelectHints { range, samples: SamplesWanted::Latest };
            let (_, piece) = head.select(&up, hints).pop().expect("one series");
            assert_eq!(
                matches!(piece.samples, PieceSamples::Latest(_)),
                range.contains(30),
                "decoded only when the newest sample is out of range"
            );
            samples_of(vec![piece], range).map(|x| x.t).collect()
        };
        assert_eq!(times(TimeRange::new(15, 100)), vec![30]);
        // The newest sample is past the range: the chunks are decoded and the caller takes
        // the last of them.
        assert_eq!(times(TimeRange::new(15, 25)), vec![20]);
    }

    #[test]
    fn label_names_and_values_respect_matchers_and_range() {
        let head = head_with(&[
            (&[("__name__", "up"), ("job", "a"), ("zone", "x")], &[10]),
            (&[("__name__", "down"), ("job", "b")], &[100]),
        ]);
        let mut names = head.label_names(&[], TimeRange::ALL);
        names.sort();
        assert_eq!(names, ["__name__", "job", "zone"]);
        let mut names = head.label_names(&[], TimeRange::new(50, 150));
        names.sort();
        assert_eq!(names, ["__name__", "job"]);
        let not_up = Matcher::new(MatchOp::NotEqual, "__name__", "up").unwrap();
        assert_eq!(head.label_values("job", &[not_up], TimeRange::ALL), ["b"]);
        assert!(head.label_values("nope", &[], TimeRange::ALL).is_empty());
    }
}
