//! `WriteBatch`: what an engine's write side receives — series named by label pairs borrowed
//! from the request body, and their samples — laid out flat, so a whole remote-write request
//! costs a handful of allocations instead of several per series.
//!
//! A series is built in place (`push_label`, `push_sample`) and then closed with
//! [`WriteBatch::finish_series`], which sorts its labels (the sender's order is never trusted),
//! rejects empty or duplicate names, and computes its stable hash once for every later step
//! (shard placement, the head's lookup).

use std::ops::Range;

use crate::labels::hash_label_pairs;
use crate::{Label, Labels, LabelsError, Sample, SeriesSamples};

/// A label whose strings live elsewhere (usually in the decoded request body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelRef<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// Where one closed series lies in the batch's flat vectors.
#[derive(Debug, Clone)]
struct Span {
    labels: Range<u32>,
    samples: Range<u32>,
    hash: u64,
}

#[derive(Debug, Default)]
pub struct WriteBatch<'a> {
    labels: Vec<LabelRef<'a>>,
    samples: Vec<Sample>,
    series: Vec<Span>,
    /// Where the series being built starts in `labels` and `samples`.
    open_labels: usize,
    open_samples: usize,
}

/// One series of a batch.
#[derive(Debug, Clone, Copy)]
pub struct BatchSeries<'b, 'a> {
    /// Sorted by name, unique, no empty values.
    pub labels: &'b [LabelRef<'a>],
    pub samples: &'b [Sample],
    /// [`Labels::stable_hash`] of the label set.
    pub hash: u64,
}

impl BatchSeries<'_, '_> {
    /// The label set as owned strings (for the rare paths that keep it: new series, errors).
    pub fn to_labels(&self) -> Labels {
        Labels::from_sorted_refs(self.labels)
    }
}

impl<'a> WriteBatch<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a label to the series being built; an empty value means "no such label" and is
    /// dropped, as Prometheus does.
    pub fn push_label(&mut self, name: &'a str, value: &'a str) {
        if !value.is_empty() {
            self.labels.push(LabelRef { name, value });
        }
    }

    pub fn push_sample(&mut self, sample: Sample) {
        self.samples.push(sample);
    }

    /// Labels of the series being built, in the sender's order.
    pub fn open_labels(&self) -> &[LabelRef<'a>] {
        &self.labels[self.open_labels..]
    }

    pub fn open_sample_count(&self) -> usize {
        self.samples.len() - self.open_samples
    }

    /// Closes the series being built. On error it is dropped from the batch.
    pub fn finish_series(&mut self) -> Result<(), LabelsError> {
        let labels = &mut self.labels[self.open_labels..];
        let checked = check_and_sort(labels);
        if let Err(error) = checked {
            self.discard_series();
            return Err(error);
        }
        let hash = hash_label_pairs(labels.iter().map(|l| (l.name, l.value)));
        self.series.push(Span {
            labels: self.open_labels as u32..self.labels.len() as u32,
            samples: self.open_samples as u32..self.samples.len() as u32,
            hash,
        });
        self.open_labels = self.labels.len();
        self.open_samples = self.samples.len();
        Ok(())
    }

    /// Drops the series being built.
    pub fn discard_series(&mut self) {
        self.labels.truncate(self.open_labels);
        self.samples.truncate(self.open_samples);
    }

    /// A batch over owned series (tests, text import).
    pub fn from_series(series: &'a [SeriesSamples]) -> Self {
        let mut batch = Self::new();
        for s in series {
            for label in &s.labels {
                batch.push_label(&label.name, &label.value);
            }
            batch.samples.extend_from_slice(&s.samples);
            batch.finish_series().expect("a Labels is already a valid label set");
        }
        batch
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    pub fn sample_count(&self) -> usize {
        self.series.last().map_or(0, |s| s.samples.end as usize)
    }

    pub fn get(&self, index: usize) -> BatchSeries<'_, 'a> {
        let span = &self.series[index];
        BatchSeries {
            labels: &self.labels[span.labels.start as usize..span.labels.end as usize],
            samples: &self.samples[span.samples.start as usize..span.samples.end as usize],
            hash: span.hash,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = BatchSeries<'_, 'a>> {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// Sorts by name (only when needed: senders usually sort) and checks the set.
fn check_and_sort(labels: &mut [LabelRef<'_>]) -> Result<(), LabelsError> {
    if labels.is_empty() {
        return Err(LabelsError::Empty);
    }
    if !labels.is_sorted_by(|a, b| a.name < b.name) {
        labels.sort_unstable_by(|a, b| a.name.cmp(b.name));
    }
    if labels[0].name.is_empty() {
        return Err(LabelsError::EmptyName);
    }
    match labels.windows(2).find(|w| w[0].name == w[1].name) {
        Some(pair) => Err(LabelsError::DuplicateName(pair[0].name.to_string())),
        None => Ok(()),
    }
}

impl Labels {
    /// An owned copy of labels already sorted, unique and non-empty (as a closed batch series).
    pub fn from_sorted_refs(labels: &[LabelRef<'_>]) -> Labels {
        Labels::new(labels.iter().map(|l| Label::new(l.name, l.value)).collect())
            .expect("batch series labels are a valid label set")
    }

    /// The set as borrowed pairs, for code that takes batch-shaped labels.
    pub fn as_refs(&self) -> Vec<LabelRef<'_>> {
        self.iter().map(|l| LabelRef { name: &l.name, value: &l.value }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_sorted_hashed_and_kept_apart() {
        let mut batch = WriteBatch::new();
        batch.push_label("job", "a");
        batch.push_label("__name__", "up");
        batch.push_label("empty", "");
        batch.push_sample(Sample::new(1, 1.0));
        batch.finish_series().unwrap();
        batch.push_label("__name__", "down");
        batch.push_sample(Sample::new(2, 2.0));
        batch.push_sample(Sample::new(3, 3.0));
        batch.finish_series().unwrap();

        assert_eq!((batch.len(), batch.sample_count()), (2, 3));
        let first = batch.get(0);
        let expected = Labels::from_pairs([("__name__", "up"), ("job", "a")]).unwrap();
        assert_eq!(first.to_labels(), expected);
        assert_eq!(first.hash, expected.stable_hash());
        assert_eq!(first.samples, &[Sample::new(1, 1.0)]);
        assert_eq!(batch.get(1).samples.len(), 2);
    }

    #[test]
    fn invalid_series_are_dropped_and_the_batch_goes_on() {
        let mut batch = WriteBatch::new();
        batch.push_label("a", "1");
        batch.push_label("a", "2");
        batch.push_sample(Sample::new(1, 1.0));
        assert_eq!(batch.finish_series(), Err(LabelsError::DuplicateName("a".into())));
        batch.push_sample(Sample::new(1, 1.0));
        assert_eq!(batch.finish_series(), Err(LabelsError::Empty));
        batch.push_label("", "x");
        assert_eq!(batch.finish_series(), Err(LabelsError::EmptyName));
        batch.push_label("__name__", "ok");
        batch.push_sample(Sample::new(5, 5.0));
        batch.finish_series().unwrap();
        assert_eq!((batch.len(), batch.sample_count()), (1, 1));
        assert_eq!(batch.get(0).samples, &[Sample::new(5, 5.0)]);
    }

    #[test]
    fn from_series_round_trips() {
        let owned = vec![SeriesSamples {
            labels: Labels::from_pairs([("__name__", "x"), ("b", "2")]).unwrap(),
            samples: vec![Sample::new(1, 1.0)],
        }];
        let batch = WriteBatch::from_series(&owned);
        assert_eq!(batch.get(0).to_labels(), owned[0].labels);
        assert_eq!(batch.get(0).labels, owned[0].labels.as_refs().as_slice());
    }
}
