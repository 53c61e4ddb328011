//! Validation shared by every receiver: label sets are checked and sorted (never trusted), and
//! the refusals of a request — invalid series here, samples the engine refused there — are
//! summed up into one error message while the good part of the request is still stored.

use argus_model::labels::{is_valid_label_name, is_valid_metric_name};
use argus_model::{AppendReport, LabelRef, LabelsError, METRIC_NAME, RejectReason, WriteBatch};

use crate::error::Error;

/// Closes the series being built in `batch`: keeps it if its labels are valid, otherwise drops
/// it and records why in `refusals`.
pub(crate) fn close_series(batch: &mut WriteBatch<'_>, allow_utf8_names: bool, refusals: &mut Refusals) {
    let samples = batch.open_sample_count();
    if let Err(reason) = check_names(batch.open_labels(), allow_utf8_names) {
        batch.discard_series();
        refusals.invalid_series(reason, samples);
        return;
    }
    if let Err(error) = batch.finish_series() {
        let reason = match error {
            LabelsError::DuplicateName(name) => format!("duplicate label name {name:?}"),
            LabelsError::Empty => "empty label set".to_string(),
            LabelsError::EmptyName => "empty label name".to_string(),
        };
        refusals.invalid_series(reason, samples);
    }
}

/// Checks names (legacy Prometheus rules unless UTF-8 names are allowed) and the presence of a
/// metric name, in the sender's label order.
fn check_names(labels: &[LabelRef<'_>], allow_utf8_names: bool) -> Result<(), String> {
    if labels.is_empty() {
        return Err("empty label set".to_string());
    }
    let mut has_name = false;
    for label in labels {
        if label.name == METRIC_NAME {
            has_name = true;
            if !allow_utf8_names && !is_valid_metric_name(label.value) {
                return Err(format!("invalid metric name {:?}", label.value));
            }
        } else if label.name.is_empty() || !allow_utf8_names && !is_valid_label_name(label.name) {
            return Err(format!("invalid label name {:?} in series {}", label.name, describe(labels)));
        }
    }
    if !has_name {
        return Err(format!("missing metric name (no {METRIC_NAME} label) in series {}", describe(labels)));
    }
    Ok(())
}

/// `{a="1", b="2"}` for messages, in the order given.
fn describe(labels: &[LabelRef<'_>]) -> String {
    let pairs: Vec<String> = labels.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// What a request had that could not be stored.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    invalid_series: u64,
    invalid_samples: u64,
    first_invalid: Option<String>,
}

impl Refusals {
    pub fn invalid_series(&mut self, reason: String, samples: usize) {
        self.invalid_series += 1;
        self.invalid_samples += samples as u64;
        self.first_invalid.get_or_insert(reason);
    }

    pub fn invalid_samples(&self) -> u64 {
        self.invalid_samples
    }

    /// `Ok` when everything was stored; otherwise the `400` that says what was refused and how
    /// much of the request was stored anyway.
    pub fn into_result(self, report: &AppendReport) -> Result<(), Error> {
        let mut parts = Vec::new();
        if let Some(first) = &self.first_invalid {
            parts.push(format!(
                "{} series with {} samples refused, first: {first}",
                self.invalid_series, self.invalid_samples
            ));
        }
        for example in &report.examples {
            let count = report.rejected_count(example.reason);
            let reason = match example.reason {
                RejectReason::OutOfOrder => "out of order",
                RejectReason::DuplicateTimestamp => "duplicate timestamp",
                RejectReason::TooOld => "too old",
            };
            parts.push(format!("{count} samples refused as {reason}, first: {example}"));
        }
        if parts.is_empty() {
            return Ok(());
        }
        Err(Error::PartiallyRejected(format!("{}; {} samples stored", parts.join("; "), report.accepted)))
    }
}

#[cfg(test)]
mod tests {
    use argus_model::{Labels, Sample};

    use super::*;

    /// Builds one series from pairs in the given order and closes it.
    fn close(pairs: &[(&'static str, &'static str)]) -> (WriteBatch<'static>, Refusals) {
        let mut batch = WriteBatch::new();
        let mut refusals = Refusals::default();
        for (name, value) in pairs {
            batch.push_label(name, value);
        }
        batch.push_sample(Sample::new(1, 1.0));
        close_series(&mut batch, false, &mut refusals);
        (batch, refusals)
    }

    fn refusal(pairs: &[(&'static str, &'static str)]) -> String {
        let (batch, refusals) = close(pairs);
        assert!(batch.is_empty());
        assert_eq!(refusals.invalid_samples(), 1);
        refusals.first_invalid.unwrap()
    }

    #[test]
    fn unsorted_labels_are_sorted() {
        let (batch, _) = close(&[("z", "1"), ("__name__", "up"), ("a", "2")]);
        let names: Vec<_> = batch.get(0).labels.iter().map(|l| l.name).collect();
        assert_eq!(names, ["__name__", "a", "z"]);
    }

    #[test]
    fn invalid_series_are_explained() {
        assert_eq!(refusal(&[]), "empty label set");
        assert!(refusal(&[("job", "x")]).starts_with("missing metric name"));
        assert!(refusal(&[("__name__", "up"), ("0bad", "x")]).contains("invalid label name \"0bad\""));
        assert!(refusal(&[("__name__", "a-b")]).contains("invalid metric name"));
        assert!(
            refusal(&[("__name__", "up"), ("a", "1"), ("a", "2")]).contains("duplicate label name \"a\"")
        );
    }

    #[test]
    fn utf8_names_when_allowed() {
        let mut batch = WriteBatch::new();
        let mut refusals = Refusals::default();
        batch.push_label("__name__", "a.b");
        batch.push_label("ü", "x");
        close_series(&mut batch, true, &mut refusals);
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn refusals_summarise_both_sources() {
        let mut refusals = Refusals::default();
        assert!(Refusals::default().into_result(&AppendReport::default()).is_ok());
        refusals.invalid_series("invalid label name \"0bad\"".into(), 3);
        let mut report = AppendReport { accepted: 7, ..Default::default() };
        let labels = Labels::from_pairs([("__name__", "x")]).unwrap();
        report.reject(RejectReason::OutOfOrder, &labels.as_refs(), 5);
        let message = refusals.into_result(&report).unwrap_err().to_string();
        assert!(message.contains("1 series with 3 samples refused"), "{message}");
        assert!(message.contains("1 samples refused as out of order"), "{message}");
        assert!(message.ends_with("7 samples stored"), "{message}");
    }
}
