//! Encode and decode cost of one full XOR chunk (`SAMPLES_PER_CHUNK` samples), for a counter
//! scraped every 15 s with jitter and for a random-walk gauge.
//!
//! Throughput is set in samples, so criterion's "thrpt" line reads as samples per second and the
//! time divided by 120 is the per-sample cost that ingest and query pay.

use std::hint::black_box;

use argus_tsdb::chunk::{SAMPLES_PER_CHUNK, XorChunk, XorIter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A tiny deterministic generator (xorshift64*), so runs compare without a `rand` dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// An HTTP-requests-style counter: integer increments, scrapes 15 s apart give or take 50 ms.
fn counter_series() -> Vec<(i64, f64)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut v = 1_234_567.0;
    (0..SAMPLES_PER_CHUNK as i64)
        .map(|i| {
            let jitter = (rng.next_u64() % 101) as i64 - 50;
            v += (rng.next_u64() % 500) as f64;
            (1_700_000_000_000 + i * 15_000 + jitter, v)
        })
        .collect()
}

/// A temperature-style gauge: full-precision floats wandering randomly, perfectly regular scrapes.
fn gauge_series() -> Vec<(i64, f64)> {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut v = 21.5;
    (0..SAMPLES_PER_CHUNK as i64)
        .map(|i| {
            v += rng.unit() - 0.5;
            (1_700_000_000_000 + i * 15_000, v)
        })
        .collect()
}

fn encode(samples: &[(i64, f64)]) -> XorChunk {
    let mut chunk = XorChunk::new();
    for &(t, v) in samples {
        if chunk.append(t, v).is_err() {
            break;
        }
    }
    chunk
}

fn bench_xor(c: &mut Criterion) {
    let series = [("counter", counter_series()), ("gauge", gauge_series())];

    let mut group = c.benchmark_group("xor_encode");
    group.throughput(Throughput::Elements(SAMPLES_PER_CHUNK as u64));
    for (name, samples) in &series {
        group.bench_function(*name, |b| b.iter(|| encode(black_box(samples))));
    }
    group.finish();

    let mut group = c.benchmark_group("xor_decode");
    group.throughput(Throughput::Elements(SAMPLES_PER_CHUNK as u64));
    for (name, samples) in &series {
        let chunk = encode(samples);
        eprintln!(
            "{name}: {} samples in {} bytes ({:.2} bytes/sample)",
            chunk.len(),
            chunk.bytes().len(),
            chunk.bytes().len() as f64 / f64::from(chunk.len())
        );
        let bytes = chunk.bytes();
        group.bench_function(*name, |b| {
            b.iter(|| {
                let mut sum = 0.0;
                if let Ok(it) = XorIter::new(black_box(bytes)) {
                    for s in it {
                        sum += s.v + s.t as f64;
                    }
                }
                sum
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_xor);
criterion_main!(benches);
