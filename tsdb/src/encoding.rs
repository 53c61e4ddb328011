//! Varint helpers shared by the WAL record and chunk codecs (pure, no I/O).
//!
//! Unsigned varints are LEB128 (7 bits a byte, low group first, high bit = more follows);
//! signed ones are zigzag-mapped first, as in protobuf.

pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Maps signed to unsigned so that small magnitudes of either sign get short varints.
pub(crate) fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

pub(crate) fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, value: i64) {
    put_uvarint(out, zigzag(value));
}

/// A cursor over encoded bytes whose reads fail (return `None`) at the end instead of panicking.
pub(crate) struct Decoder<'a> {
    bytes: &'a [u8],
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub fn u8(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }

    pub fn uvarint(&mut self) -> Option<u64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    pub fn varint(&mut self) -> Option<i64> {
        self.uvarint().map(unzigzag)
    }

    pub fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Some(head)
    }

    pub fn u64_le(&mut self) -> Option<u64> {
        let bytes = self.bytes(8)?;
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn varints_round_trip(values in prop::collection::vec(any::<i64>(), 0..50)) {
            let mut out = Vec::new();
            for &v in &values {
                put_varint(&mut out, v);
                put_uvarint(&mut out, v as u64);
            }
            let mut decoder = Decoder::new(&out);
            for &v in &values {
                prop_assert_eq!(decoder.varint(), Some(v));
                prop_assert_eq!(decoder.uvarint(), Some(v as u64));
            }
            prop_assert!(decoder.is_empty());
        }
    }

    #[test]
    fn truncated_input_is_none() {
        let mut out = Vec::new();
        put_uvarint(&mut out, u64::MAX);
        assert_eq!(Decoder::new(&out[..out.len() - 1]).uvarint(), None);
        assert_eq!(Decoder::new(&[1, 2]).u64_le(), None);
    }
}
