//! The Prometheus remote-write 1.0 receiver, `POST /api/v1/write`: decode (pure), validate each
//! series, store through the `Appendable` trait, and answer as the spec asks — 204 when all
//! was stored, 400 (nothing to retry) when some series or samples were refused, with the good
//! ones stored anyway, 5xx only when a retry can help.

mod decode;

use argus_model::proto::prometheus::WriteRequest;
use argus_model::{Label, Sample, SeriesSamples};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};

use crate::error::Result;
use crate::http::{IngestState, header_str, read_body, store};
use crate::validate::{Refusals, series_labels};

pub(crate) async fn write(State(state): State<IngestState>, request: Request) -> Result<StatusCode> {
    decode::check_headers(
        header_str(request.headers(), header::CONTENT_TYPE),
        header_str(request.headers(), header::CONTENT_ENCODING),
    )?;
    let limit = state.config.max_request_size.0;
    let body = read_body(request, limit).await?;
    let write_request = decode::decode(&body, limit)?;
    let mut refusals = Refusals::default();
    let batch = to_batch(write_request, state.config.allow_utf8_names, &mut refusals);
    store(&state, batch, refusals).await
}

/// Turns decoded series into engine input, moving strings rather than copying them; invalid
/// series are left out and recorded in `refusals`.
fn to_batch(request: WriteRequest, allow_utf8_names: bool, refusals: &mut Refusals) -> Vec<SeriesSamples> {
    let mut batch = Vec::with_capacity(request.timeseries.len());
    for series in request.timeseries {
        let labels = series.labels.into_iter().map(|l| Label { name: l.name, value: l.value }).collect();
        match series_labels(labels, allow_utf8_names) {
            Ok(labels) => {
                let samples = series.samples.iter().map(|s| Sample::new(s.timestamp, s.value)).collect();
                batch.push(SeriesSamples { labels, samples });
            }
            Err(reason) => refusals.invalid_series(reason, series.samples.len()),
        }
    }
    batch
}
