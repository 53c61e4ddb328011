//! The Prometheus remote-write 1.0 receiver, `POST /api/v1/write`: decode (pure) and validate
//! each series into a `WriteBatch`, store it through the `Appendable` trait, and answer as the
//! spec asks — 204 when all was stored, 400 (nothing to retry) when some series or samples were
//! refused, with the good ones stored anyway, 5xx only when a retry can help.

mod decode;

pub(crate) use decode::decompress;

use argus_model::WriteBatch;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};

use crate::error::Result;
use crate::http::{IngestState, Write, header_str, read_body, run_blocking, store};
use crate::validate::Refusals;

pub(crate) async fn write(State(state): State<IngestState>, request: Request) -> Result<StatusCode> {
    decode::check_headers(
        header_str(request.headers(), header::CONTENT_TYPE),
        header_str(request.headers(), header::CONTENT_ENCODING),
    )?;
    let limit = state.config.max_request_size.0;
    let body = read_body(request, limit).await?;
    // Decoding is CPU work and storing waits for an fsync: neither belongs on the async workers.
    run_blocking(move || {
        let raw = decode::decompress(&body, limit)?;
        let mut batch = WriteBatch::new();
        let mut refusals = Refusals::default();
        decode::decode_into(&raw, &mut batch, state.config.allow_utf8_names, &mut refusals)?;
        store(&state, &batch, refusals, Write::Append)
    })
    .await
}
