//! `POST /api/v1/import/prometheus`: samples in the Prometheus text exposition format (or
//! OpenMetrics, with `Content-Type: application/openmetrics-text`), for backfill, tests and
//! `curl`. Samples without a timestamp get the time of the request.
//! A syntax error refuses the whole body (nothing is stored), naming the line.

use argus_model::{SeriesSamples, WriteBatch};
use axum::extract::{Request, State};
use axum::http::StatusCode;

use crate::error::{Error, Result};
use crate::exposition::{self, ParsedSample};
use crate::http::{IngestState, Write, read_body, run_blocking, store};
use crate::validate::{Refusals, close_series};

pub(crate) async fn import(State(state): State<IngestState>, request: Request) -> Result<StatusCode> {
    let content_type = crate::http::header_str(request.headers(), axum::http::header::CONTENT_TYPE);
    let format = exposition::Format::of_content_type(content_type);
    let body = read_body(request, state.config.max_request_size.0).await?;
    let now = argus_model::time::now();
    run_blocking(move || {
        let text = std::str::from_utf8(&body).map_err(|e| Error::Parse(format!("body is not UTF-8: {e}")))?;
        let parsed = exposition::parse_as(text, format).map_err(|e| Error::Parse(e.to_string()))?;
        let series = group_by_series(parsed, now);
        let mut batch = WriteBatch::new();
        let mut refusals = Refusals::default();
        for s in &series {
            for label in &s.labels {
                batch.push_label(&label.name, &label.value);
            }
            for &sample in &s.samples {
                batch.push_sample(sample);
            }
            close_series(&mut batch, state.config.allow_utf8_names, &mut refusals);
        }
        store(&state, &batch, refusals, Write::Import)
    })
    .await
}

/// Groups consecutive samples of the same series, as exposition text lists them.
fn group_by_series(parsed: Vec<ParsedSample>, now: i64) -> Vec<SeriesSamples> {
    let mut batch: Vec<SeriesSamples> = Vec::new();
    for parsed_sample in parsed {
        let sample = parsed_sample.sample_or(now);
        match batch.last_mut() {
            Some(last) if last.labels == parsed_sample.labels => last.samples.push(sample),
            _ => batch.push(SeriesSamples { labels: parsed_sample.labels, samples: vec![sample] }),
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_samples_of_a_series_are_grouped() {
        let text = "a 1 10\na 2 20\nb{x=\"y\"} 3\na 4 30\n";
        let batch = group_by_series(exposition::parse(text).unwrap(), 99);
        let shape: Vec<(String, Vec<i64>)> =
            batch.iter().map(|s| (s.labels.to_string(), s.samples.iter().map(|x| x.t).collect())).collect();
        assert_eq!(
            shape,
            [
                (r#"{__name__="a"}"#.to_string(), vec![10, 20]),
                (r#"{__name__="b", x="y"}"#.to_string(), vec![99]),
                (r#"{__name__="a"}"#.to_string(), vec![30]),
            ]
        );
    }
}
