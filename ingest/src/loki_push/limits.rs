//! Validating pushed streams against [`LogLimits`] with Loki's rules and messages: a stream
//! with bad labels loses all its entries, an entry that breaks a limit loses itself, and
//! everything else is kept.

use argus_model::calendar::format_rfc3339_nanos;
use argus_model::labels::is_valid_label_name;
use argus_model::{Label, Labels, LogEntry, LogStream};

use super::decode::{RawLabels, RawStream, parse_label_string};
use crate::config::LogLimits;

/// What validation kept and why the rest was refused.
#[derive(Debug, Default)]
pub(crate) struct Validated {
    pub streams: Vec<LogStream>,
    /// One message per refused stream or entry.
    pub errors: Vec<String>,
    pub refused_entries: u64,
}

/// The window of timestamps accepted, in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Entries before this are too old (the log retention).
    pub oldest: Option<i64>,
    /// Entries after this are too new.
    pub newest: i64,
}

pub(crate) fn validate(raw: Vec<RawStream>, limits: &LogLimits, window: Window) -> Validated {
    let mut validated = Validated::default();
    for stream in raw {
        let labels = match stream_labels(&stream.labels, limits) {
            Ok(labels) => labels,
            Err(error) => {
                validated.errors.push(error);
                validated.refused_entries += stream.entries.len() as u64;
                continue;
            }
        };
        let mut entries = Vec::with_capacity(stream.entries.len());
        for entry in stream.entries {
            match check_entry(&labels, entry.timestamp, entry.line.len(), limits, window)
                .and_then(|()| metadata(&labels, entry.metadata))
            {
                Ok(metadata) => {
                    entries.push(LogEntry { timestamp: entry.timestamp, line: entry.line, metadata })
                }
                Err(error) => {
                    validated.errors.push(error);
                    validated.refused_entries += 1;
                }
            }
        }
        if !entries.is_empty() {
            validated.streams.push(LogStream { labels, entries });
        }
    }
    validated
}

fn stream_labels(raw: &RawLabels, limits: &LogLimits) -> Result<Labels, String> {
    let (pairs, shown) = match raw {
        RawLabels::Text(text) => {
            let pairs = parse_label_string(text)
                .map_err(|e| format!("error parsing labels '{text}' with error: {e}"))?;
            (pairs, text.clone())
        }
        RawLabels::Pairs(pairs) => {
            let shown = pairs.iter().map(|(n, v)| format!("{n}={v:?}")).collect::<Vec<_>>().join(", ");
            (pairs.clone(), format!("{{{shown}}}"))
        }
    };
    if let Some((name, _)) = pairs.iter().find(|(name, _)| !is_valid_label_name(name)) {
        return Err(format!("error parsing labels '{shown}' with error: invalid label name {name:?}"));
    }
    if let Some((name, _)) = pairs.iter().find(|(name, _)| name.len() > limits.max_label_name_length) {
        return Err(format!("stream '{shown}' has label name too long: '{name}'"));
    }
    if let Some((_, value)) = pairs.iter().find(|(_, value)| value.len() > limits.max_label_value_length) {
        return Err(format!("stream '{shown}' has label value too long: '{value}'"));
    }
    let labels = Labels::new(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect())
        .map_err(|e| format!("error parsing labels '{shown}' with error: {e}"))?;
    if labels.is_empty() {
        return Err("error at least one label pair is required per stream".to_string());
    }
    if labels.len() > limits.max_label_names_per_series {
        return Err(format!(
            "entry for stream '{labels}' has {} label names; limit {}",
            labels.len(),
            limits.max_label_names_per_series
        ));
    }
    Ok(labels)
}

fn check_entry(
    labels: &Labels,
    timestamp: i64,
    line_len: usize,
    limits: &LogLimits,
    window: Window,
) -> Result<(), String> {
    if let Some(oldest) = window.oldest
        && timestamp < oldest
    {
        return Err(format!(
            "entry for stream '{labels}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
            format_rfc3339_nanos(timestamp),
            format_rfc3339_nanos(oldest)
        ));
    }
    if timestamp > window.newest {
        return Err(format!(
            "entry for stream '{labels}' has timestamp too new: {}",
            format_rfc3339_nanos(timestamp)
        ));
    }
    if line_len as u64 > limits.max_line_size.0 {
        return Err(format!(
            "max entry size '{}' bytes exceeded for stream '{labels}' while adding an entry with length '{line_len}' bytes",
            limits.max_line_size.0
        ));
    }
    Ok(())
}

fn metadata(labels: &Labels, pairs: Vec<(String, String)>) -> Result<Labels, String> {
    Labels::new(pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect())
        .map_err(|e| format!("entry for stream '{labels}' has invalid structured metadata: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loki_push::decode::RawEntry;

    const NOW: i64 = 1_800_000_000_000_000_000;

    fn window() -> Window {
        Window { oldest: Some(NOW - 1_000_000_000_000), newest: NOW + 600_000_000_000 }
    }

    fn raw(labels: &str, entries: &[(i64, &str)]) -> RawStream {
        RawStream {
            labels: RawLabels::Text(labels.to_string()),
            entries: entries
                .iter()
                .map(|&(timestamp, line)| RawEntry { timestamp, line: line.into(), metadata: vec![] })
                .collect(),
        }
    }

    #[test]
    fn good_entries_are_kept_and_each_bad_one_is_explained() {
        let limits = LogLimits { max_line_size: argus_model::time::ByteSize(10), ..LogLimits::default() };
        let validated = validate(
            vec![
                raw(
                    r#"{app="api"}"#,
                    &[
                        (NOW, "ok"),
                        (NOW, "much too long a line"),
                        (0, "old"),
                        (NOW + 3_600_000_000_000, "future"),
                    ],
                ),
                raw(r#"{app="web"}"#, &[(NOW, "fine")]),
            ],
            &limits,
            window(),
        );
        assert_eq!(validated.streams.len(), 2);
        assert_eq!(validated.streams[0].entries.len(), 1);
        assert_eq!(validated.refused_entries, 3);
        assert_eq!(
            validated.errors[0],
            r#"max entry size '10' bytes exceeded for stream '{app="api"}' while adding an entry with length '20' bytes"#
        );
        assert!(validated.errors[1].starts_with(r#"entry for stream '{app="api"}' has timestamp too old: 1970-01-01T00:00:00Z, oldest acceptable timestamp is: "#), "{}", validated.errors[1]);
        assert!(validated.errors[2].starts_with(r#"entry for stream '{app="api"}' has timestamp too new: "#));
    }

    #[test]
    fn streams_with_bad_labels_lose_every_entry() {
        let limits =
            LogLimits { max_label_names_per_series: 2, max_label_value_length: 5, ..LogLimits::default() };
        let cases = [
            (r#"{app="api""#, "error parsing labels '{app=\"api\"' with error: "),
            ("{}", "error at least one label pair is required per stream"),
            (
                r#"{a="1",b="2",c="3"}"#,
                "entry for stream '{a=\"1\", b=\"2\", c=\"3\"}' has 3 label names; limit 2",
            ),
            (r#"{a="123456"}"#, "stream '{a=\"123456\"}' has label value too long: '123456'"),
            (r#"{a="1",a="2"}"#, "error parsing labels"),
        ];
        for (labels, message) in cases {
            let validated = validate(vec![raw(labels, &[(NOW, "x"), (NOW, "y")])], &limits, window());
            assert!(validated.streams.is_empty(), "{labels}");
            assert_eq!(validated.refused_entries, 2);
            assert!(validated.errors[0].starts_with(message), "{labels}: {}", validated.errors[0]);
        }
        let json =
            RawStream { labels: RawLabels::Pairs(vec![("bad-name".into(), "x".into())]), entries: vec![] };
        assert!(
            validate(vec![json], &limits, window()).errors[0].contains("invalid label name \"bad-name\"")
        );
    }
}
