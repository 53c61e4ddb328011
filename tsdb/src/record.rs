//! WAL records of the time-series engine (pure encode/decode; the byte layout is in
//! `docs/format/record.md`).
//!
//! A `Series` record introduces series refs with their label sets; a `Samples` record carries
//! samples by ref; a `Deletions` record removes a time range of samples from series by ref. A
//! shard writes the series record of a batch before its samples record, so replay in WAL order
//! always knows a ref before it sees samples for it.

use argus_model::{Label, LabelRef, Labels, Sample};

use crate::encoding::{Decoder, put_uvarint, put_varint};

const TYPE_SERIES: u8 = 1;
const TYPE_SAMPLES: u8 = 2;
const TYPE_DELETIONS: u8 = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("empty wal record")]
    Empty,
    #[error("unknown wal record type {0}")]
    UnknownType(u8),
    #[error("wal record of type {record_type} is truncated at byte {offset}")]
    Truncated { record_type: u8, offset: usize },
    #[error("wal series record has an invalid label set: {0}")]
    InvalidLabels(String),
}

/// Builds one `Series` record from any number of entries.
#[derive(Debug, Default)]
pub(crate) struct SeriesRecordBuilder {
    buf: Vec<u8>,
}

impl SeriesRecordBuilder {
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    pub fn push(&mut self, series_ref: u32, labels: &[LabelRef<'_>]) {
        if self.buf.is_empty() {
            self.buf.push(TYPE_SERIES);
        }
        put_uvarint(&mut self.buf, u64::from(series_ref));
        put_uvarint(&mut self.buf, labels.len() as u64);
        for label in labels {
            put_string(&mut self.buf, label.name);
            put_string(&mut self.buf, label.value);
        }
    }

    /// The encoded record, or `None` when no entry was pushed.
    pub fn record(&self) -> Option<&[u8]> {
        (!self.buf.is_empty()).then_some(self.buf.as_slice())
    }
}

/// Builds one `Samples` record; timestamps are stored relative to the first one.
#[derive(Debug, Default)]
pub(crate) struct SamplesRecordBuilder {
    buf: Vec<u8>,
    base: i64,
}

impl SamplesRecordBuilder {
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    pub fn push(&mut self, series_ref: u32, sample: Sample) {
        if self.buf.is_empty() {
            self.buf.push(TYPE_SAMPLES);
            self.base = sample.t;
            put_varint(&mut self.buf, sample.t);
        }
        put_uvarint(&mut self.buf, u64::from(series_ref));
        put_varint(&mut self.buf, sample.t.wrapping_sub(self.base));
        self.buf.extend_from_slice(&sample.v.to_bits().to_le_bytes());
    }

    pub fn record(&self) -> Option<&[u8]> {
        (!self.buf.is_empty()).then_some(self.buf.as_slice())
    }
}

/// One `Deletions` record: for each series ref, the inclusive time range deleted from it.
pub(crate) fn deletions_record(deletions: &[(u32, i64, i64)]) -> Vec<u8> {
    let mut buf = vec![TYPE_DELETIONS];
    for &(series_ref, min, max) in deletions {
        put_uvarint(&mut buf, u64::from(series_ref));
        put_varint(&mut buf, min);
        put_varint(&mut buf, max);
    }
    buf
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// What a decoded record holds, delivered entry by entry.
pub(crate) trait RecordVisitor {
    fn series(&mut self, series_ref: u32, labels: Labels);
    fn sample(&mut self, series_ref: u32, sample: Sample);
    fn deletion(&mut self, series_ref: u32, min: i64, max: i64);
}

/// Decodes one record, calling the visitor for each entry in order.
pub(crate) fn decode(record: &[u8], visitor: &mut impl RecordVisitor) -> Result<(), RecordError> {
    let mut decoder = Decoder::new(record);
    let record_type = decoder.u8().ok_or(RecordError::Empty)?;
    let truncated =
        |d: &Decoder| RecordError::Truncated { record_type, offset: record.len() - d.remaining() };
    match record_type {
        TYPE_SERIES => {
            while !decoder.is_empty() {
                let (series_ref, labels) =
                    decode_series_entry(&mut decoder).ok_or_else(|| truncated(&decoder))?;
                let labels = Labels::new(labels).map_err(|e| RecordError::InvalidLabels(e.to_string()))?;
                visitor.series(series_ref, labels);
            }
        }
        TYPE_SAMPLES => {
            let base = decoder.varint().ok_or_else(|| truncated(&decoder))?;
            while !decoder.is_empty() {
                let (series_ref, sample) =
                    decode_sample_entry(&mut decoder, base).ok_or_else(|| truncated(&decoder))?;
                visitor.sample(series_ref, sample);
            }
        }
        TYPE_DELETIONS => {
            while !decoder.is_empty() {
                let entry = (|| {
                    let series_ref = u32::try_from(decoder.uvarint()?).ok()?;
                    Some((series_ref, decoder.varint()?, decoder.varint()?))
                })();
                let (series_ref, min, max) = entry.ok_or_else(|| truncated(&decoder))?;
                visitor.deletion(series_ref, min, max);
            }
        }
        other => return Err(RecordError::UnknownType(other)),
    }
    Ok(())
}

fn decode_series_entry(decoder: &mut Decoder) -> Option<(u32, Vec<Label>)> {
    let series_ref = u32::try_from(decoder.uvarint()?).ok()?;
    let count = usize::try_from(decoder.uvarint()?).ok()?;
    // Each label takes at least two bytes; a larger count is corruption, not a reason to allocate.
    if count > decoder.remaining() / 2 {
        return None;
    }
    let mut labels = Vec::with_capacity(count);
    for _ in 0..count {
        labels.push(Label::new(decode_string(decoder)?, decode_string(decoder)?));
    }
    Some((series_ref, labels))
}

fn decode_string(decoder: &mut Decoder) -> Option<String> {
    let len = usize::try_from(decoder.uvarint()?).ok()?;
    String::from_utf8(decoder.bytes(len)?.to_vec()).ok()
}

fn decode_sample_entry(decoder: &mut Decoder, base: i64) -> Option<(u32, Sample)> {
    let series_ref = u32::try_from(decoder.uvarint()?).ok()?;
    let t = base.wrapping_add(decoder.varint()?);
    let v = f64::from_bits(decoder.u64_le()?);
    Some((series_ref, Sample { t, v }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[derive(Default, Debug, PartialEq)]
    struct Collected {
        series: Vec<(u32, Labels)>,
        samples: Vec<(u32, i64, u64)>,
        deletions: Vec<(u32, i64, i64)>,
    }

    impl RecordVisitor for Collected {
        fn series(&mut self, series_ref: u32, labels: Labels) {
            self.series.push((series_ref, labels));
        }
        fn sample(&mut self, series_ref: u32, sample: Sample) {
            self.samples.push((series_ref, sample.t, sample.v.to_bits()));
        }
        fn deletion(&mut self, series_ref: u32, min: i64, max: i64) {
            self.deletions.push((series_ref, min, max));
        }
    }

    fn label_set() -> impl Strategy<Value = Labels> {
        prop::collection::btree_map("[a-z_]{1,8}", "\\PC{1,12}", 1..6)
            .prop_map(|m| Labels::from_pairs(m).unwrap())
    }

    proptest! {
        #[test]
        fn series_records_round_trip(entries in prop::collection::vec((any::<u32>(), label_set()), 1..20)) {
            let mut builder = SeriesRecordBuilder::default();
            for (r, labels) in &entries {
                builder.push(*r, &labels.as_refs());
            }
            let mut collected = Collected::default();
            decode(builder.record().unwrap(), &mut collected).unwrap();
            prop_assert_eq!(collected.series, entries);
        }

        #[test]
        fn sample_records_round_trip(entries in prop::collection::vec((any::<u32>(), any::<i64>(), any::<u64>()), 1..50)) {
            let mut builder = SamplesRecordBuilder::default();
            for &(r, t, bits) in &entries {
                builder.push(r, Sample { t, v: f64::from_bits(bits) });
            }
            let mut collected = Collected::default();
            decode(builder.record().unwrap(), &mut collected).unwrap();
            prop_assert_eq!(collected.samples, entries);
        }

        #[test]
        fn deletion_records_round_trip(entries in prop::collection::vec((any::<u32>(), any::<i64>(), any::<i64>()), 1..20)) {
            let mut collected = Collected::default();
            decode(&deletions_record(&entries), &mut collected).unwrap();
            prop_assert_eq!(collected.deletions, entries);
        }

        #[test]
        fn truncated_records_are_errors_or_prefixes(cut in 1usize..40) {
            let mut builder = SamplesRecordBuilder::default();
            builder.push(7, Sample { t: 1000, v: 1.5 });
            builder.push(8, Sample { t: 2000, v: 2.5 });
            let record = builder.record().unwrap();
            let cut = cut.min(record.len() - 1);
            // A cut exactly between entries is a shorter valid record; anywhere else is an error.
            let mut collected = Collected::default();
            let result = decode(&record[..cut], &mut collected);
            let full = [(7, 1000, 1.5f64.to_bits()), (8, 2000, 2.5f64.to_bits())];
            prop_assert!(result.is_err() || full.starts_with(&collected.samples));
            prop_assert!(collected.samples.len() < 2);
        }
    }

    #[test]
    fn unknown_type_and_empty_are_errors() {
        assert_eq!(decode(&[], &mut Collected::default()), Err(RecordError::Empty));
        assert_eq!(decode(&[9], &mut Collected::default()), Err(RecordError::UnknownType(9)));
    }
}
