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
    let mut encoder = RequestEncoder::default();
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
                        enqueue(&queue, &mut encoder, &batch).await;
                    }
                    return;
                }
            },
            _ = tokio::time::sleep_until(deadline), if !batch.is_empty() => true,
        };
        if flush {
            enqueue(&queue, &mut encoder, &batch).await;
            batch.clear();
            samples = 0;
        }
    }
}

async fn enqueue(queue: &DiskQueue, encoder: &mut RequestEncoder, batch: &[SeriesSamples]) {
    if let Err(error) = queue.push(encoder.encode(batch)).await {
        tracing::error!(%error, "cannot write to the output queue; the batch is lost");
    }
}

/// What an output's requests carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Snappy-compressed `prometheus.WriteRequest` (remote write 1.0).
    RemoteWrite,
    /// Snappy-compressed `logproto.PushRequest` (Loki push), queued behind the read position
    /// it brings its log input to ([`super::log_batch`]).
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
            Payload::LokiPush => super::log_batch::request_of(&request),
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
            Ok(response) if retryable(response.status()) => {
                retry_after(&response).map_or(backoff, |wait| wait.min(output.max_backoff.0))
            }
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

/// Encodes batches into snappy-compressed `WriteRequest`s, reusing its buffers from one batch
/// to the next: fresh buffers the size of a batch cost page faults and zeroing every time.
pub struct RequestEncoder {
    request: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl Default for RequestEncoder {
    fn default() -> Self {
        Self { request: Vec::new(), compressed: Vec::new(), snappy: snap::raw::Encoder::new() }
    }
}

impl RequestEncoder {
    /// The request for `batch`, written field by field from the label strings (building
    /// prost's structs would copy every name and value first).
    pub fn encode(&mut self, batch: &[SeriesSamples]) -> &[u8] {
        let request = &mut self.request;
        request.clear();
        for series in batch {
            let labels_len: usize =
                series.labels.iter().map(|l| message_len(label_len(&l.name, &l.value))).sum();
            let samples_len: usize = series.samples.iter().map(|s| message_len(sample_len(s.t))).sum();
            put_key(request, 1, LENGTH_DELIMITED);
            put_varint(request, (labels_len + samples_len) as u64);
            for label in series.labels.iter() {
                put_key(request, 1, LENGTH_DELIMITED);
                put_varint(request, label_len(&label.name, &label.value) as u64);
                put_string(request, 1, &label.name);
                put_string(request, 2, &label.value);
            }
            for sample in &series.samples {
                put_key(request, 2, LENGTH_DELIMITED);
                put_varint(request, sample_len(sample.t) as u64);
                put_key(request, 1, FIXED64);
                request.extend_from_slice(&sample.v.to_le_bytes());
                if sample.t != 0 {
                    put_key(request, 2, VARINT);
                    put_varint(request, sample.t as u64);
                }
            }
        }
        self.compressed.resize(snap::raw::max_compress_len(request.len()), 0);
        let len = self.snappy.compress(request, &mut self.compressed).expect("snappy compresses any input");
        &self.compressed[..len]
    }
}

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LENGTH_DELIMITED: u64 = 2;

fn put_key(out: &mut Vec<u8>, field: u64, wire_type: u64) {
    put_varint(out, field << 3 | wire_type);
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_string(out: &mut Vec<u8>, field: u64, text: &str) {
    if !text.is_empty() {
        put_key(out, field, LENGTH_DELIMITED);
        put_varint(out, text.len() as u64);
        out.extend_from_slice(text.as_bytes());
    }
}

fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

fn string_len(text: &str) -> usize {
    if text.is_empty() { 0 } else { 1 + varint_len(text.len() as u64) + text.len() }
}

fn label_len(name: &str, value: &str) -> usize {
    string_len(name) + string_len(value)
}

fn sample_len(timestamp: i64) -> usize {
    9 + if timestamp == 0 { 0 } else { 1 + varint_len(timestamp as u64) }
}

/// A nested message's bytes with its key and length.
fn message_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

#[cfg(test)]
mod tests {
    use argus_model::proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
    use prost::Message;

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

    /// A remote-write sink that answers from a script and records when each request came and
    /// its `Authorization` header.
    #[derive(Default)]
    struct ScriptedSink {
        answers: std::collections::VecDeque<(StatusCode, Option<&'static str>)>,
        seen: Vec<(std::time::Instant, Option<String>)>,
    }

    async fn serve(sink: Arc<std::sync::Mutex<ScriptedSink>>) -> String {
        use axum::http::HeaderMap;
        use axum::response::IntoResponse;
        let handler = move |headers: HeaderMap| async move {
            let mut sink = sink.lock().unwrap();
            let authorization = headers.get("authorization").map(|v| v.to_str().unwrap().to_string());
            sink.seen.push((std::time::Instant::now(), authorization));
            let (status, retry_after) = sink.answers.pop_front().unwrap_or((StatusCode::NO_CONTENT, None));
            let mut response = (status, "scripted answer").into_response();
            if let Some(seconds) = retry_after {
                response.headers_mut().insert("Retry-After", seconds.parse().unwrap());
            }
            response
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/api/v1/write", axum::routing::post(handler));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/api/v1/write")
    }

    fn output(yaml: &str) -> OutputConfig {
        super::super::config::AgentConfig::parse(&format!("outputs: [{yaml}]")).unwrap().outputs.remove(0)
    }

    /// `future`, failing the test instead of retrying forever when the sink is unreachable.
    async fn bounded(future: impl std::future::Future<Output = ()>) {
        tokio::time::timeout(Duration::from_secs(30), future).await.expect("send finished");
    }

    #[tokio::test]
    async fn sends_retry_429_after_its_retry_after_and_5xx_drop_other_4xx_and_authenticate() {
        let sink = Arc::new(std::sync::Mutex::new(ScriptedSink::default()));
        sink.lock().unwrap().answers.extend([
            (StatusCode::TOO_MANY_REQUESTS, Some("1")),
            (StatusCode::SERVICE_UNAVAILABLE, None),
            (StatusCode::BAD_REQUEST, None),
        ]);
        let url = serve(sink.clone()).await;
        let (client, metrics) = (reqwest::Client::new(), AgentMetrics::default());
        let bearer = output(&format!("{{url: '{url}', bearer_token: secret, max_backoff: 60s}}"));
        bounded(send(&client, &bearer, Payload::RemoteWrite, b"body", &metrics)).await;
        let seen = std::mem::take(&mut sink.lock().unwrap().seen);
        assert_eq!(seen.len(), 3, "429 and 503 are retried, 400 is not");
        assert!(
            seen[1].0 - seen[0].0 >= Duration::from_millis(800),
            "Retry-After: 1 is waited for (less 20% jitter), not the 100 ms first backoff"
        );
        assert!(seen.iter().all(|(_, auth)| auth.as_deref() == Some("Bearer secret")));
        let count = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        assert_eq!((count(&metrics.retries), count(&metrics.requests_dropped)), (2, 1));
        assert_eq!(count(&metrics.requests_sent), 0);

        let basic = output(&format!("{{url: '{url}', basic_auth: {{username: agent, password: pw}}}}"));
        bounded(send(&client, &basic, Payload::RemoteWrite, b"body", &metrics)).await;
        let seen = std::mem::take(&mut sink.lock().unwrap().seen);
        assert_eq!(seen[0].1.as_deref(), Some("Basic YWdlbnQ6cHc="), "base64 of agent:pw");
        assert_eq!((count(&metrics.requests_sent), count(&metrics.bytes_sent)), (1, 4));
    }

    #[test]
    fn the_hand_written_encoding_is_protobufs() {
        let series = vec![
            SeriesSamples {
                labels: argus_model::Labels::from_pairs([
                    ("__name__", "up"),
                    ("job", "a".repeat(200).as_str()),
                ])
                .unwrap(),
                samples: vec![
                    argus_model::Sample::new(-5, 1.5),
                    argus_model::Sample::new(0, f64::NAN),
                    argus_model::Sample::new(1 << 40, 2.0),
                ],
            },
            SeriesSamples { labels: argus_model::Labels::empty(), samples: vec![] },
        ];
        let expected = WriteRequest {
            timeseries: series
                .iter()
                .map(|s| TimeSeries {
                    labels: s
                        .labels
                        .iter()
                        .map(|l| Label { name: l.name.to_string(), value: l.value.to_string() })
                        .collect(),
                    samples: s.samples.iter().map(|x| Sample { value: x.v, timestamp: x.t }).collect(),
                })
                .collect(),
            metadata: Vec::new(),
        };
        let raw =
            snap::raw::Decoder::new().decompress_vec(RequestEncoder::default().encode(&series)).unwrap();
        assert_eq!(raw, expected.encode_to_vec());
    }

    #[test]
    fn batches_encode_as_remote_write() {
        let labels = argus_model::Labels::from_pairs([("__name__", "up"), ("job", "a")]).unwrap();
        let series = [SeriesSamples { labels, samples: vec![argus_model::Sample::new(5, 1.0)] }];
        let body = RequestEncoder::default().encode(&series).to_vec();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let request = WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(request.timeseries[0].labels[1].value, "a");
        assert_eq!(request.timeseries[0].samples[0].timestamp, 5);
    }
}
