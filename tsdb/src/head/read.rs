//! Reading the head: series selection by matchers and time range, label names and values, and
//! the lazy sample iterator over a snapshot of a series' chunks.

use std::collections::HashSet;
use std::sync::Arc;

use argus_model::{Labels, Matcher, Sample, SampleIter, SamplesWanted, SelectHints, TimeRange};
use tracing::warn;

use super::Head;
use crate::chunk::XorIter;
use crate::index::SymbolId;

/// A series picked by a select, with what the caller will read of its samples. Built under
/// the shard lock; decoding happens later, outside it.
pub(crate) struct SelectedSeries {
    pub labels: Labels,
    pub samples: SelectedSamples,
}

pub(crate) enum SelectedSamples {
    /// Snapshots of the chunks that overlap the range, to decode.
    Chunks(Vec<Arc<[u8]>>),
    /// The newest sample in range, when that is all the caller wants and the head knows it
    /// without decoding.
    Latest(Sample),
}

impl SelectedSamples {
    /// The samples within `range`, decoded lazily.
    pub fn into_iter(self, range: TimeRange) -> SampleIter {
        match self {
            SelectedSamples::Chunks(chunks) => Box::new(ChunksIter::new(chunks, range)),
            SelectedSamples::Latest(sample) => Box::new(std::iter::once(sample)),
        }
    }
}

impl Head {
    pub fn select(&self, matchers: &[Matcher], hints: SelectHints) -> Vec<SelectedSeries> {
        self.matching_refs(matchers, hints.range)
            .map(|series_ref| {
                let series = &self.series[series_ref as usize];
                let samples = match hints.samples {
                    SamplesWanted::None => SelectedSamples::Chunks(Vec::new()),
                    SamplesWanted::Latest if let Some(latest) = series.latest_in(hints.range) => {
                        SelectedSamples::Latest(latest)
                    }
                    SamplesWanted::Latest | SamplesWanted::All => {
                        SelectedSamples::Chunks(series.chunks_in(hints.range))
                    }
                };
                SelectedSeries { labels: self.labels_of(series_ref), samples }
            })
            .collect()
    }

    /// Names of the labels of matching series with samples in `range`, unsorted.
    pub fn label_names(&self, matchers: &[Matcher], range: TimeRange) -> Vec<String> {
        let mut names: HashSet<SymbolId> = HashSet::new();
        for series_ref in self.matching_refs(matchers, range) {
            names.extend(self.series[series_ref as usize].labels.iter().map(|&(name, _)| name));
        }
        names.into_iter().map(|n| self.symbols.resolve(n).to_string()).collect()
    }

    /// Values of label `name` on matching series with samples in `range`, unsorted.
    pub fn label_values(&self, name: &str, matchers: &[Matcher], range: TimeRange) -> Vec<String> {
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

/// Decodes a series' chunks one after another, yielding only the samples within a range. A
/// damaged chunk is logged and skipped rather than failing the whole query.
pub(crate) struct ChunksIter {
    chunks: std::vec::IntoIter<Arc<[u8]>>,
    current: Option<XorIter<Arc<[u8]>>>,
    range: TimeRange,
}

impl ChunksIter {
    pub fn new(chunks: Vec<Arc<[u8]>>, range: TimeRange) -> Self {
        Self { chunks: chunks.into_iter(), current: None, range }
    }

    fn next_chunk(&mut self) -> bool {
        for bytes in self.chunks.by_ref() {
            match XorIter::new(bytes) {
                Ok(iter) => {
                    self.current = Some(iter);
                    return true;
                }
                Err(error) => warn!(%error, "skipping unreadable head chunk"),
            }
        }
        false
    }
}

impl Iterator for ChunksIter {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if self.current.is_none() && !self.next_chunk() {
                return None;
            }
            let current = self.current.as_mut()?;
            match current.next() {
                Some(sample) if sample.t < self.range.min => continue,
                Some(sample) if sample.t > self.range.max => {
                    // Chunks are in time order: nothing later can be in range.
                    self.chunks = Vec::new().into_iter();
                    self.current = None;
                    return None;
                }
                Some(sample) => return Some(sample),
                None => {
                    if let Some(error) = current.err() {
                        warn!(%error, "head chunk ended early");
                    }
                    self.current = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use argus_model::{AppendReport, MatchOp, SeriesSamples, WriteBatch};

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
            head.append(s, i64::MIN, &mut wal, &mut report);
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
        let times: Vec<Vec<i64>> =
            selected.into_iter().map(|s| s.samples.into_iter(hints.range).map(|x| x.t).collect()).collect();
        assert!(times.contains(&vec![20, 30]) && times.contains(&vec![100]));

        let late = SelectHints { range: TimeRange::new(150, 1000), samples: SamplesWanted::None };
        let selected = head.select(&[up], late);
        assert_eq!(selected.len(), 1);
        assert_eq!(selected[0].labels.get("job"), Some("b"));
    }

    #[test]
    fn latest_only_skips_decoding_when_the_newest_sample_is_in_range() {
        let head = head_with(&[(&[("__name__", "up")], &[10, 20, 30])]);
        let up = [Matcher::equal("__name__", "up")];
        let times = |range: TimeRange| -> Vec<i64> {
            let hints = SelectHints { range, samples: SamplesWanted::Latest };
            let selected = head.select(&up, hints).pop().expect("one series");
            assert_eq!(
                matches!(selected.samples, SelectedSamples::Latest(_)),
                range.contains(30),
                "decoded only when the newest sample is out of range"
            );
            selected.samples.into_iter(range).map(|x| x.t).collect()
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
