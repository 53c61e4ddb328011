//! Shipping to one remote-write output: scrapes arrive as encoded series ([`EncodedSeries`]),
//! are batched (by size and age) into a snappy-compressed `WriteRequest` and put in the
//! output's on-disk queue ([`DiskQueue`]); a sender takes requests from the queue in order and
//! sends each with retries — exponential backoff with jitter on network errors, 5xx and 429
//! (honouring `Retry-After`), never on other 4xx, which are counted and logged with the reason,
//! as remote-write senders must. A request leaves the queue only once the output answered it.
//!
//! When the queue is full, batching waits, the channel in front of it fills, and the scrapers
//! wait (backpressure) instead of dropping.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use argus_model::Sample;
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
pub async fn batch(output: OutputConfig, mut input: mpsc::Receiver<EncodedSeries>, queue: Arc<DiskQueue>) {
    let mut batch = EncodedSeries::default();
    let mut compressor = Compressor::default();
    let mut deadline = Instant::now() + output.batch_send_deadline.0;
    loop {
        let flush = tokio::select! {
            received = input.recv() => match received {
                Some(series) => {
                    if batch.is_empty() {
                        deadline = Instant::now() + output.batch_send_deadline.0;
                    }
                    batch.append(&series);
                    batch.samples() >= output.max_samples_per_send
                }
                None => {
                    if !batch.is_empty() {
                        enqueue(&queue, &mut compressor, &batch).await;
                    }
                    return;
                }
            },
            _ = tokio::time::sleep_until(deadline), if !batch.is_empty() => true,
        };
        if flush {
            enqueue(&queue, &mut compressor, &batch).await;
            batch.clear();
        }
    }
}

async fn enqueue(queue: &DiskQueue, compressor: &mut Compressor, batch: &EncodedSeries) {
    if let Err(error) = queue.push(compressor.compress(batch.request())).await {
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
    client: reqwest::Client,
    payload: Payload,
    queue: Arc<DiskQueue>,
    metrics: Arc<AgentMetrics>,
) {
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

/// The `TimeSeries` messages of a remote-write `WriteRequest`, written one after another, and
/// how many samples they hold. A `WriteRequest` is nothing but its series, so a scrape writes
/// its series once and batches are made by appending scrapes. Labels are written straight
/// from their strings, which must come sorted by name with unique names and no empty value.
#[derive(Debug, Clone, Default)]
pub struct EncodedSeries {
    bytes: Vec<u8>,
    samples: usize,
}

impl EncodedSeries {
    /// Writes one series.
    pub fn push<'l>(&mut self, labels: impl Iterator<Item = (&'l str, &'l str)> + Clone, samples: &[Sample]) {
        let out = &mut self.bytes;
        let labels_len: usize = labels.clone().map(|(name, value)| message_len(label_len(name, value))).sum();
        let samples_len: usize = samples.iter().map(|s| message_len(sample_len(s.t))).sum();
        put_key(out, 1, LENGTH_DELIMITED);
        put_varint(out, (labels_len + samples_len) as u64);
        for (name, value) in labels {
            put_key(out, 1, LENGTH_DELIMITED);
            put_varint(out, label_len(name, value) as u64);
            put_string(out, 1, name);
            put_string(out, 2, value);
        }
        for sample in samples {
            put_key(out, 2, LENGTH_DELIMITED);
            put_varint(out, sample_len(sample.t) as u64);
            put_key(out, 1, FIXED64);
            out.extend_from_slice(&sample.v.to_le_bytes());
            if sample.t != 0 {
                put_key(out, 2, VARINT);
                put_varint(out, sample.t as u64);
            }
        }
        self.samples += samples.len();
    }

    /// Appends the series of `other`.
    pub fn append(&mut self, other: &EncodedSeries) {
        self.bytes.extend_from_slice(&other.bytes);
        self.samples += other.samples;
    }

    pub fn samples(&self) -> usize {
        self.samples
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Empties it, keeping the allocation.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.samples = 0;
    }

    /// The encoded `WriteRequest` holding these series.
    pub fn request(&self) -> &[u8] {
        &self.bytes
    }
}

/// Snappy-compresses requests into a buffer reused from one batch to the next: a fresh buffer
/// the size of a batch costs page faults and zeroing every time.
pub struct Compressor {
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl Default for Compressor {
    fn default() -> Self {
        Self { compressed: Vec::new(), snappy: snap::raw::Encoder::new() }
    }
}

impl Compressor {
    pub fn compress(&mut self, request: &[u8]) -> &[u8] {
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
    use argus_model::SeriesSamples;
    use argus_model::proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
    use prost::Message;
    use tokio_rustls::rustls;

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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, sink_app(sink)).await.unwrap() });
        format!("http://{addr}/api/v1/write")
    }

    fn sink_app(sink: Arc<std::sync::Mutex<ScriptedSink>>) -> axum::Router {
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
        axum::Router::new().route("/api/v1/write", axum::routing::post(handler))
    }

    /// A CA and, signed by it, a server certificate for 127.0.0.1 and a client certificate. The
    /// CA's certificate and the client's certificate and key are PEM files in `dir`.
    struct TestPki {
        dir: tempfile::TempDir,
        ca: rustls::pki_types::CertificateDer<'static>,
        server: (rustls::pki_types::CertificateDer<'static>, Vec<u8>),
    }

    impl TestPki {
        fn new() -> Self {
            use rcgen::{
                BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            };
            let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
            let signed = |name: &str, usage: ExtendedKeyUsagePurpose| {
                let key = KeyPair::generate().unwrap();
                let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
                params.extended_key_usages = vec![usage];
                (params.signed_by(&key, &ca).unwrap(), key)
            };
            let (server_cert, server_key) = signed("127.0.0.1", ExtendedKeyUsagePurpose::ServerAuth);
            let (client_cert, client_key) = signed("agent", ExtendedKeyUsagePurpose::ClientAuth);
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
            std::fs::write(dir.path().join("client.pem"), client_cert.pem()).unwrap();
            std::fs::write(dir.path().join("client.key"), client_key.serialize_pem()).unwrap();
            Self {
                dir,
                ca: ca.der().clone(),
                server: (server_cert.der().clone(), server_key.serialize_der()),
            }
        }

        /// A server that requires a client certificate signed by the CA.
        fn server_config(&self) -> rustls::ServerConfig {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca.clone()).unwrap();
            let clients = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build().unwrap();
            let key = rustls::pki_types::PrivatePkcs8KeyDer::from(self.server.1.clone());
            rustls::ServerConfig::builder()
                .with_client_cert_verifier(clients)
                .with_single_cert(vec![self.server.0.clone()], key.into())
                .unwrap()
        }
    }

    /// TCP connections that have completed a TLS handshake; failed handshakes are dropped.
    struct TlsListener {
        tcp: tokio::net::TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
    }

    impl axum::serve::Listener for TlsListener {
        type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
        type Addr = std::net::SocketAddr;

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            loop {
                let Ok((stream, addr)) = self.tcp.accept().await else { continue };
                if let Ok(tls) = self.acceptor.accept(stream).await {
                    return (tls, addr);
                }
            }
        }

        fn local_addr(&self) -> std::io::Result<Self::Addr> {
            self.tcp.local_addr()
        }
    }

    async fn serve_tls(sink: Arc<std::sync::Mutex<ScriptedSink>>, config: rustls::ServerConfig) -> String {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let listener = TlsListener { tcp, acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) };
        tokio::spawn(async move { axum::serve(listener, sink_app(sink)).await.unwrap() });
        format!("https://{addr}/api/v1/write")
    }

    #[tokio::test]
    async fn tls_outputs_check_the_server_against_their_ca_and_present_their_certificate() {
        let pki = TestPki::new();
        let sink = Arc::new(std::sync::Mutex::new(ScriptedSink::default()));
        let url = serve_tls(sink.clone(), pki.server_config()).await;
        let dir = pki.dir.path().display();
        let (ca, client) = (
            format!("ca_file: '{dir}/ca.pem'"),
            format!("cert_file: '{dir}/client.pem', key_file: '{dir}/client.key'"),
        );
        let metrics = AgentMetrics::default();
        for tls in [format!("{ca}, {client}"), format!("insecure_skip_verify: true, {client}")] {
            let output = output(&format!("{{url: '{url}', tls_config: {{{tls}}}}}"));
            bounded(send(&output.client().unwrap(), &output, Payload::RemoteWrite, b"body", &metrics)).await;
        }
        assert_eq!(sink.lock().unwrap().seen.len(), 2, "delivered over TLS");
        for (tls, refusal) in
            [(client, "the server's CA is not among the system's"), (ca, "no client certificate")]
        {
            let output = output(&format!("{{url: '{url}', tls_config: {{{tls}}}}}"));
            let client = output.client().unwrap();
            let sending = send(&client, &output, Payload::RemoteWrite, b"body", &metrics);
            assert!(
                tokio::time::timeout(Duration::from_secs(2), sending).await.is_err(),
                "{refusal}: retried"
            );
        }
        assert_eq!(sink.lock().unwrap().seen.len(), 2, "nothing got through without both checks passing");
        assert!(metrics.retries.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn tls_settings_are_checked_with_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty.pem"), "").unwrap();
        let parse = |tls: &str| {
            let yaml = format!("outputs: [{{url: 'https://h/api/v1/write', tls_config: {{{tls}}}}}]");
            super::super::config::AgentConfig::parse(&yaml).map(drop).unwrap_err()
        };
        let dir = dir.path().display();
        assert!(parse("cert_file: c.pem").contains("cert_file and key_file go together"));
        assert!(parse("ca_file: /nonexistent/ca.pem").contains("reading /nonexistent/ca.pem"));
        assert!(parse(&format!("ca_file: '{dir}/empty.pem'")).contains("no PEM certificate"));
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
        let series = [
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
        let (mut first, mut second) = (EncodedSeries::default(), EncodedSeries::default());
        for (encoded, series) in [(&mut first, &series[0]), (&mut second, &series[1])] {
            encoded.push(series.labels.iter().map(|l| (&*l.name, &*l.value)), &series.samples);
        }
        first.append(&second);
        assert_eq!(first.request(), expected.encode_to_vec(), "appended series make one request");
        assert_eq!(first.samples(), 3);
    }

    #[test]
    fn batches_encode_as_remote_write() {
        let mut series = EncodedSeries::default();
        series.push([("__name__", "up"), ("job", "a")].into_iter(), &[argus_model::Sample::new(5, 1.0)]);
        let mut compressor = Compressor::default();
        compressor.compress(b"an earlier, longer request leaves a larger buffer behind");
        let raw = snap::raw::Decoder::new().decompress_vec(compressor.compress(series.request())).unwrap();
        let request = WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(request.timeseries[0].labels[1].value, "a");
        assert_eq!(request.timeseries[0].samples[0].timestamp, 5);
    }
}
