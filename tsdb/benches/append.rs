//! Appending remote-write-sized batches (1 000 series × 10 samples) into the engine, in
//! samples/s: with the WAL fsynced per batch (the default, so the disk shows) and fsynced on
//! an interval (the engine's own CPU cost).

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};

use argus_model::{Appendable, Labels, Sample, SeriesSamples, WriteBatch};
use argus_tsdb::{FsyncPolicy, Shards, TsdbConfig};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const SERIES: usize = 1_000;
const SAMPLES_PER_SERIES: i64 = 10;

fn label_sets() -> Vec<Labels> {
    (0..SERIES)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", "node_cpu_seconds_total".to_string()),
                ("cpu", (i % 16).to_string()),
                ("instance", format!("host-{}:9100", i / 16)),
                ("job", "node".to_string()),
                ("mode", "user".to_string()),
            ])
            .unwrap()
        })
        .collect()
}

/// The next batch: every series gets the next 10 timestamps, so appends never go out of order.
fn batch(labels: &[Labels], clock: &AtomicI64) -> Vec<SeriesSamples> {
    let start = clock.fetch_add(SAMPLES_PER_SERIES * 15_000, Ordering::Relaxed);
    labels
        .iter()
        .map(|labels| SeriesSamples {
            labels: labels.clone(),
            samples: (0..SAMPLES_PER_SERIES)
                .map(|i| Sample::new(start + i * 15_000, (start + i) as f64))
                .collect(),
        })
        .collect()
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(SERIES as u64 * SAMPLES_PER_SERIES as u64));
    for (name, fsync) in
        [("fsync_per_batch", FsyncPolicy::PerBatch), ("fsync_interval", FsyncPolicy::Interval)]
    {
        let dir = tempfile::tempdir().unwrap();
        let mut config = TsdbConfig::default();
        config.wal.fsync = fsync;
        let shards = Shards::open(dir.path(), &config).unwrap();
        let labels = label_sets();
        let clock = AtomicI64::new(1_700_000_000_000);
        group.bench_function(name, |b| {
            b.iter_batched(
                || batch(&labels, &clock),
                |batch| black_box(shards.append(&WriteBatch::from_series(&batch)).unwrap()),
                BatchSize::SmallInput,
            )
        });
        shards.close().unwrap();
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
