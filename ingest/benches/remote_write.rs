//! Remote-write requests of 10 000 samples through the real router: snappy + protobuf
//! decoding, validation and append into the engine (WAL fsynced per batch, as the default
//! config does), in samples/s. Two shapes: 1 000 series × 10 samples, and 10 000 series × 1
//! sample as Prometheus sends them (every sample then carries its whole label set).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use argus_ingest::{IngestConfig, IngestState, router};
use argus_model::proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use argus_tsdb::{Shards, TsdbConfig};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use tower::ServiceExt;

const SAMPLES_PER_REQUEST: usize = 10_000;

fn body(series: usize, samples_per_series: i64, start: i64) -> Vec<u8> {
    let timeseries = (0..series)
        .map(|i| TimeSeries {
            labels: [
                ("__name__", "node_network_receive_bytes_total".to_string()),
                ("device", format!("eth{}", i % 4)),
                ("instance", format!("host-{}:9100", i / 4)),
                ("job", "node".to_string()),
            ]
            .into_iter()
            .map(|(name, value)| Label { name: name.to_string(), value })
            .collect(),
            samples: (0..samples_per_series)
                .map(|s| Sample { value: (start / 1000 + s) as f64, timestamp: start + s * 15_000 })
                .collect(),
        })
        .collect();
    let request = WriteRequest { timeseries, metadata: vec![] };
    snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap()
}

fn remote_write(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("remote_write");
    group.throughput(Throughput::Elements(SAMPLES_PER_REQUEST as u64));
    for samples_per_series in [10, 1] {
        let series = SAMPLES_PER_REQUEST / samples_per_series;
        let dir = tempfile::tempdir().unwrap();
        let shards = Arc::new(Shards::open(dir.path(), &TsdbConfig::default()).unwrap());
        let app = router(IngestState::new(shards.clone(), IngestConfig::default()));
        let clock = AtomicI64::new(1_700_000_000_000);
        let name = format!("decode_validate_append_{series}x{samples_per_series}");
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let step = samples_per_series as i64 * 15_000;
                    let start = clock.fetch_add(step, Ordering::Relaxed);
                    Request::post("/api/v1/write")
                        .header("Content-Type", "application/x-protobuf")
                        .header("Content-Encoding", "snappy")
                        .body(Body::from(body(series, samples_per_series as i64, start)))
                        .unwrap()
                },
                |request| {
                    let response = runtime.block_on(app.clone().oneshot(request)).unwrap();
                    assert_eq!(response.status(), StatusCode::NO_CONTENT);
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, remote_write);
criterion_main!(benches);
