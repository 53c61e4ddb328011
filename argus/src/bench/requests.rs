//! Turning a worker's share of the workload into remote-write request bodies, in time order,
//! before anything is timed.

use std::ops::Range;

use argus_model::proto::prometheus::{Label, Sample, TimeSeries, WriteRequest};
use prost::Message;

use super::workload::Workload;

/// One encoded request and where it leaves its worker.
pub struct EncodedRequest {
    /// Snappy-compressed `WriteRequest`.
    pub body: Vec<u8>,
    pub samples: usize,
    /// First step of the workload this request carries.
    pub first_step: usize,
    /// Steps the worker has sent completely once this request is acknowledged.
    pub steps_done: usize,
}

/// The requests of the worker owning `series`, about `batch` samples each: either all its
/// series over several steps, or one step of a slice of its series.
pub fn worker_requests(workload: &Workload, series: Range<usize>, batch: usize) -> Vec<EncodedRequest> {
    let labels: Vec<Vec<Label>> = series
        .clone()
        .map(|s| {
            workload
                .labels(s)
                .into_iter()
                .map(|(name, value)| Label { name: name.to_string(), value })
                .collect()
        })
        .collect();
    let mut values: Vec<Option<f64>> = vec![None; series.len()];
    let mut requests = Vec::new();
    let steps = workload.samples_per_series;
    if series.is_empty() {
        return requests;
    }
    let steps_per_request = (batch / series.len()).max(1);
    let series_per_request = batch.clamp(1, series.len());
    let mut step = 0;
    while step < steps {
        let step_range = step..(step + steps_per_request).min(steps);
        for chunk_start in (0..series.len()).step_by(series_per_request) {
            let chunk = chunk_start..(chunk_start + series_per_request).min(series.len());
            let timeseries: Vec<TimeSeries> = chunk
                .clone()
                .map(|i| TimeSeries {
                    labels: labels[i].clone(),
                    samples: step_range
                        .clone()
                        .map(|s| {
                            let value = workload.next_value(series.start + i, s, values[i]);
                            values[i] = Some(value);
                            Sample { value, timestamp: workload.timestamp(series.start + i, s) }
                        })
                        .collect(),
                })
                .collect();
            let last_chunk = chunk.end == series.len();
            requests.push(encode(
                timeseries,
                step_range.start,
                if last_chunk { step_range.end } else { step_range.start },
            ));
        }
        step = step_range.end;
    }
    requests
}

fn encode(timeseries: Vec<TimeSeries>, first_step: usize, steps_done: usize) -> EncodedRequest {
    let samples = timeseries.iter().map(|t| t.samples.len()).sum();
    let raw = WriteRequest { timeseries, metadata: Vec::new() }.encode_to_vec();
    let body = snap::raw::Encoder::new().compress_vec(&raw).expect("snappy accepts any input below 4 GiB");
    EncodedRequest { body, samples, first_step, steps_done }
}

#[cfg(test)]
pub(crate) fn decode(body: &[u8]) -> WriteRequest {
    let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
    WriteRequest::decode(raw.as_slice()).unwrap()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn workload() -> Workload {
        Workload {
            series: 200,
            samples_per_series: 30,
            interval_ms: 15_000,
            seed: 3,
            end_ms: 1_700_000_000_000,
        }
    }

    /// Every sample each series receives, in the order the workers would send them.
    fn sent(workload: &Workload, workers: usize, batch: usize) -> HashMap<String, Vec<(i64, u64)>> {
        let mut by_series: HashMap<String, Vec<(i64, u64)>> = HashMap::new();
        for worker in 0..workers {
            for request in worker_requests(workload, workload.worker_series(worker, workers), batch) {
                for ts in decode(&request.body).timeseries {
                    let key = format!("{:?}", ts.labels);
                    by_series
                        .entry(key)
                        .or_default()
                        .extend(ts.samples.iter().map(|s| (s.timestamp, s.value.to_bits())));
                }
            }
        }
        by_series
    }

    #[test]
    fn every_series_gets_every_sample_in_time_order_whatever_the_split() {
        let w = workload();
        let reference = sent(&w, 1, 1_000);
        assert_eq!(reference.len(), 200);
        for samples in reference.values() {
            assert_eq!(samples.len(), 30);
            assert!(samples.windows(2).all(|p| p[0].0 < p[1].0), "out of order within a series");
        }
        // Other worker counts and batch sizes send exactly the same samples.
        for (workers, batch) in [(3, 1_000), (4, 7), (7, 250), (2, 100_000)] {
            assert_eq!(sent(&w, workers, batch), reference, "{workers} workers, batch {batch}");
        }
    }

    #[test]
    fn requests_respect_the_batch_size_and_report_progress() {
        let w = workload();
        let requests = worker_requests(&w, 0..100, 30);
        assert!(requests.iter().all(|r| r.samples == 30 || r.samples == 10));
        assert_eq!(requests.iter().map(|r| r.samples).sum::<usize>(), 100 * 30);
        let done: Vec<usize> = requests.iter().map(|r| r.steps_done).collect();
        assert!(done.windows(2).all(|p| p[0] <= p[1]));
        assert_eq!(*done.last().unwrap(), 30);
        let multi_step = worker_requests(&w, 0..10, 50);
        assert_eq!(multi_step[0].samples, 50);
        assert_eq!((multi_step[0].first_step, multi_step[0].steps_done), (0, 5));
    }
}
