//! Shipping to one remote-write output: samples are batched (by size and age), encoded as a
//! snappy-compressed `WriteRequest` and put in the output's on-disk queue ([`DiskQueue`]); a
//! sender takes requests from the queue in order and sends each with retries — exponential
//! backoff with jitter on network errors, 5xx and 429 (honouring `Retry-After`), never on other
//! 4xx, which are counted and logged with the reason, as remote-write senders must. A request
//! leaves the queue only once the output answered it.
//!
//! When the queue is full, batching waits, the channel in front of it fills, and the scrapers
//! wait (backpressure) instead of dropping.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use argus_model::SeriesSamples;
use argus_model::proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use prost::Message;
use reqwest::StatusCode;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::AgentMetrics;
use super::config::OutputConfig;
use super::queue::DiskQueue;

/// First wait after a failed send.
const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// Batches what arrives on `input` into `queue` until `input` closes (the last partial batch
/// included).
pub async fn batch(
    output: OutputConfig,
    mut input: mpsc::Receiver<Vec<SeriesSamples>>,
    queue: Arc<DiskQueue>,
) {
    let mut batch: Vec<SeriesSamples> = Vec::new();
    let mut samples = 0;
    let mut deadline = Instant::now() + output.batch_send_deadline.0;
    loop {
        let flush = tokio::select! {
            received = input.recv() => match received {
                Some(series) => {
                    if batch.is_empty() {
                        deadline = Instant::now() + output.batch_send_deadline.0;
                    }
                    samples += series.iter().map(|s| s.samples.len()).sum::<usize>();
                    batch.extend(series);
                    samples >= output.max_samples_per_send
                }
                None => {
                    if !batch.is_empty() {
                        enqueue(&queue, std::mem::take(&mut batch)).await;
                    }
                    return;
                }
            },
            _ = tokio::time::sleep_until(deadline), if !batch.is_empty() => true,
        };
        if flush {
            enqueue(&queue, std::mem::take(&mut batch)).await;
            samples = 0;
        }
    }
}

async fn enqueue(queue: &DiskQueue, batch: Vec<SeriesSamples>) {
    if let Err(error) = queue.push(encode(batch)).await {
        tracing::error!(%error, "cannot write to the output queue; the batch is lost");
    }
}

/// What an output's requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Snappy-compressed `prometheus.WriteRequest` (remote write 1.0).
    RemoteWrite,
    /// Snappy-compressed `logproto.PushRequest` (Loki push), queued behind the read positions
    /// it brings the files to ([`super::logs`]).
    LokiPush,
}

/// Sends the queue's requests in order, forever.
pub async fn send_queued(
    output: OutputConfig,
    payload: Payload,
    queue: Arc<DiskQueue>,
    metrics: Arc<AgentMetrics>,
) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("http client");
    let mut at = queue.cursor();
    loop {
        let (request, next) = queue.next(at).await;
        let body = match payload {
            Payload::RemoteWrite => &request[..],
            Payload::LokiPush => super::logs::request_of(&request),
        };
        send(&client, &output, payload, body, &metrics).await;
        if let Err(error) = queue.ack(next, request.len()) {
            tracing::error!(%error, "cannot record a sent request; it may be sent again after a restart");
        }
        at = next;
    }
}

/// Sends one request until it is accepted or refused for good.
async fn send(
    client: &reqwest::Client,
    output: &OutputConfig,
    payload: Payload,
    body: &[u8],
    metrics: &AgentMetrics,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let mut request =
            client.post(&output.url).header("Content-Type", "application/x-protobuf").body(body.to_vec());
        if payload == Payload::RemoteWrite {
            request = request
                .header("Content-Encoding", "snappy")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        }
        if let Some(token) = &output.bearer_token {
            request = request.bearer_auth(token);
        }
        if let Some(auth) = &output.basic_auth {
            request = request.basic_auth(&auth.username, Some(&auth.password));
        }
        let wait = match request.send().await {
            Ok(response) if response.status().is_success() => {
                metrics.requests_sent.fetch_add(1, Ordering::Relaxed);
                metrics.bytes_sent.fetch_add(body.len() as u64, Ordering::Relaxed);
                return;
            }
            Ok(response) if retryable(response.status()) => retry_after(&response).unwrap_or(backoff),
            Ok(response) => {
                let status = response.status();
                let reason = response.text().await.unwrap_or_default();
                tracing::warn!(url = %output.url, %status, reason = %reason.trim(), "output refused a request; dropping it");
                metrics.requests_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(error) => {
                tracing::debug!(url = %output.url, %error, "sending failed; retrying");
                backoff
            }
        };
        metrics.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(jittered(wait)).await;
        backoff = (backoff * 2).min(output.max_backoff.0);
    }
}

/// 5xx and 429 are worth another try; other statuses are the sender's fault.
fn retryable(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// `Retry-After` in seconds, when the response has it.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds = response.headers().get("Retry-After")?.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(seconds))
}

/// `wait` ± 20%, so that many agents do not retry in step.
fn jittered(wait: Duration) -> Duration {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let factor = 0.8 + 0.4 * (f64::from(nanos % 1000) / 1000.0);
    wait.mul_f64(factor)
}

/// The snappy-compressed `WriteRequest` of a batch.
pub fn encode(batch: Vec<SeriesSamples>) -> Vec<u8> {
    let timeseries = batch
        .into_iter()
        .map(|series| TimeSeries {
            labels: series
                .labels
                .iter()
                .map(|l| Label { name: l.name.to_string(), value: l.value.to_string() })
                .collect(),
            samples: series.samples.iter().map(|s| Sample { value: s.v, timestamp: s.t }).collect(),
        })
        .collect();
    let request = WriteRequest { timeseries, metadata: Vec::new() };
    snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).expect("snappy compresses any input")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_rules_and_jitter() {
        assert!(retryable(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(!retryable(StatusCode::BAD_REQUEST));
        assert!(!retryable(StatusCode::UNAUTHORIZED));
        let wait = jittered(Duration::from_secs(10));
        assert!(wait >= Duration::from_secs(8) && wait <= Duration::from_secs(12), "{wait:?}");
    }

    #[test]
    fn batches_encode_as_remote_write() {
        let labels = argus_model::Labels::from_pairs([("__name__", "up"), ("job", "a")]).unwrap();
        let body = encode(vec![SeriesSamples { labels, samples: vec![argus_model::Sample::new(5, 1.0)] }]);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let request = WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(request.timeseries[0].labels[1].value, "a");
        assert_eq!(request.timeseries[0].samples[0].timestamp, 5);
    }
}
