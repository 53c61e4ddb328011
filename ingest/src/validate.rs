//! Validation shared by every receiver: label sets are checked and sorted (never trusted), and
//! the refusals of a request — invalid series here, samples the engine refused there — are
//! summed up into one error message while the good part of the request is still stored.

use argus_model::labels::{is_valid_label_name, is_valid_metric_name};
use argus_model::{AppendReport, Label, Labels, LabelsError, METRIC_NAME, RejectReason};

use crate::error::Error;

/// Checks a series' labels and returns them as a sorted label set.
pub(crate) fn series_labels(labels: Vec<Label>, allow_utf8_names: bool) -> Result<Labels, String> {
    if labels.is_empty() {
        return Err("empty label set".to_string());
    }
    for label in &labels {
        let valid = allow_utf8_names && !label.name.is_empty()
            || if label.name == METRIC_NAME {
                is_valid_metric_name(&label.value) || label.value.is_empty()
            } else {
                is_valid_label_name(&label.name)
            };
        if !valid {
            return Err(if label.name == METRIC_NAME {
                format!("invalid metric name {:?}", label.value)
            } else {
                format!("invalid label name {:?}", label.name)
            });
        }
    }
    let labels = Labels::new(labels).map_err(|e| match e {
        LabelsError::DuplicateName(name) => format!("duplicate label name {name:?}"),
        other => other.to_string(),
    })?;
    if labels.metric_name().is_none() {
        return Err(format!("missing metric name (no {METRIC_NAME} label) in series {labels}"));
    }
    Ok(labels)
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
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
        pairs.iter().map(|(n, v)| Label::new(*n, *v)).collect()
    }

    #[test]
    fn unsorted_labels_are_sorted() {
        let got = series_labels(labels(&[("z", "1"), ("__name__", "up"), ("a", "2")]), false).unwrap();
        let names: Vec<_> = got.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "a", "z"]);
    }

    #[test]
    fn invalid_series_are_explained() {
        let err = |pairs: &[(&str, &str)]| series_labels(labels(pairs), false).unwrap_err();
        assert_eq!(err(&[]), "empty label set");
        assert!(err(&[("job", "x")]).starts_with("missing metric name"));
        assert!(err(&[("__name__", "up"), ("0bad", "x")]).contains("invalid label name \"0bad\""));
        assert!(err(&[("__name__", "a-b")]).contains("invalid metric name"));
        assert!(err(&[("__name__", "up"), ("a", "1"), ("a", "2")]).contains("duplicate label name \"a\""));
    }

    #[test]
    fn utf8_names_when_allowed() {
        assert!(series_labels(labels(&[("__name__", "a.b"), ("ü", "x")]), true).is_ok());
    }

    #[test]
    fn refusals_summarise_both_sources() {
        let mut refusals = Refusals::default();
        assert!(Refusals::default().into_result(&AppendReport::default()).is_ok());
        refusals.invalid_series("invalid label name \"0bad\"".into(), 3);
        let mut report = AppendReport { accepted: 7, ..Default::default() };
        report.reject(RejectReason::OutOfOrder, &Labels::from_pairs([("__name__", "x")]).unwrap(), 5);
        let message = refusals.into_result(&report).unwrap_err().to_string();
        assert!(message.contains("1 series with 3 samples refused"), "{message}");
        assert!(message.contains("1 samples refused as out of order"), "{message}");
        assert!(message.ends_with("7 samples stored"), "{message}");
    }
}
