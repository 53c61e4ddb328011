//! Segment files and record framing: names, listing, and the pure encode/decode of one record.
//!
//! A segment is a file named by its index as 8 zero-padded decimal digits (`00000000`,
//! `00000001`, …) holding nothing but back-to-back records, each framed as
//!
//! ```text
//! [u32 LE payload length][u32 LE crc32c(length bytes ++ payload)][payload]
//! ```
//!
//! There is no file header and no padding, so a segment's length is the sum of its frames. A
//! record never spans two segments. The full byte-level description is `wal/docs/format.md`.
//!
//! Encoding and decoding here do no I/O; the writer and replay are the shells around them.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Bytes of framing in front of every payload: length (4) and checksum (4).
pub const HEADER_LEN: usize = 8;

/// The largest payload a record may carry. Bounding it means a corrupt length field can never
/// make replay allocate more than this, and garbage lengths above it are recognised as damage.
pub const MAX_RECORD_LEN: u32 = 512 * 1024 * 1024;

/// Number of decimal digits in a segment file name.
const NAME_DIGITS: usize = 8;

/// The file name of segment `index`, e.g. `00000042`.
pub fn segment_file_name(index: u32) -> String {
    format!("{index:0width$}", width = NAME_DIGITS)
}

/// The path of segment `index` inside `dir`.
pub fn segment_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(segment_file_name(index))
}

/// The index encoded in a segment file name, or `None` if `name` is not exactly 8 decimal
/// digits (other files in the directory, such as the lock file, are not segments).
pub fn parse_segment_name(name: &str) -> Option<u32> {
    if name.len() != NAME_DIGITS || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// The indices of all segment files in `dir`, ascending. Directories and files with other names
/// are skipped.
pub fn list_segments(dir: &Path) -> Result<Vec<u32>> {
    let list_error = |source| Error::ListDir { path: dir.to_path_buf(), source };
    let mut indices = Vec::new();
    for entry in fs::read_dir(dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let Some(index) = entry.file_name().to_str().and_then(parse_segment_name) else {
            continue;
        };
        if entry.file_type().map_err(list_error)?.is_file() {
            indices.push(index);
        }
    }
    indices.sort_unstable();
    Ok(indices)
}

/// The on-disk size of a record with a payload of `payload_len` bytes.
pub fn frame_len(payload_len: usize) -> usize {
    HEADER_LEN + payload_len
}

/// Appends the framed record to `out`. The caller has checked that `payload` is non-empty and at
/// most [`MAX_RECORD_LEN`] bytes; a debug assertion guards that contract.
pub fn encode_record(payload: &[u8], out: &mut Vec<u8>) {
    let header = frame_header(payload);
    out.reserve(frame_len(payload.len()));
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
}

/// The header that frames `payload`: its length, then its checksum. Split out so the writer can
/// checksum a record before taking its buffer lock.
pub fn frame_header(payload: &[u8]) -> [u8; HEADER_LEN] {
    debug_assert!(!payload.is_empty() && payload.len() <= MAX_RECORD_LEN as usize);
    let len_bytes = (payload.len() as u32).to_le_bytes();
    let crc = record_crc(len_bytes, payload).to_le_bytes();
    [len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3], crc[0], crc[1], crc[2], crc[3]]
}

/// The checksum of a record: crc32c over the length bytes followed by the payload. Covering the
/// length means a flipped bit in it is caught even when the wrong length still fits in the file.
pub fn record_crc(len_bytes: [u8; 4], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len_bytes), payload)
}

/// Why the bytes at some offset are not an intact record. Everything from that offset on is
/// dropped by replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Fewer than [`HEADER_LEN`] bytes remain: a write was cut short inside a header.
    TornHeader { available: u64 },
    /// The header announces more payload than the file holds: a write was cut short.
    TornPayload { len: u32, available: u64 },
    /// Length 0, which `append` never writes (typically a zero-filled tail).
    ZeroLength,
    /// A length above [`MAX_RECORD_LEN`], which `append` never writes.
    TooLong { len: u32 },
    /// The checksum does not match the length and payload.
    ChecksumMismatch { stored: u32, computed: u32 },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::TornHeader { available } => {
                write!(f, "torn record header: only {available} bytes left")
            }
            Damage::TornPayload { len, available } => {
                write!(f, "torn record: payload of {len} bytes but only {available} bytes left")
            }
            Damage::ZeroLength => write!(f, "zero-length record"),
            Damage::TooLong { len } => {
                write!(f, "record length {len} exceeds the limit of {MAX_RECORD_LEN}")
            }
            Damage::ChecksumMismatch { stored, computed } => {
                write!(f, "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
        }
    }
}

/// A parsed record header whose length is plausible for the bytes that follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Payload length in bytes (1..=[`MAX_RECORD_LEN`]).
    pub len: u32,
    /// The stored checksum, to be compared with [`record_crc`] of the payload.
    pub crc: u32,
}

/// Parses a header and checks its length against `available`, the number of bytes that follow
/// the header in the file. Lets a streaming reader reject a bad length before reading (or
/// allocating) the payload.
pub fn parse_header(header: [u8; HEADER_LEN], available: u64) -> Result<Header, Damage> {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len == 0 {
        return Err(Damage::ZeroLength);
    }
    if len > MAX_RECORD_LEN {
        return Err(Damage::TooLong { len });
    }
    if u64::from(len) > available {
        return Err(Damage::TornPayload { len, available });
    }
    Ok(Header { len, crc })
}

/// Checks a payload read after `header` against its checksum.
pub fn verify_payload(header: Header, payload: &[u8]) -> Result<(), Damage> {
    debug_assert_eq!(payload.len(), header.len as usize);
    let computed = record_crc(header.len.to_le_bytes(), payload);
    if computed == header.crc {
        Ok(())
    } else {
        Err(Damage::ChecksumMismatch { stored: header.crc, computed })
    }
}

/// Decodes the record at the start of `buf`: `Ok(None)` at a clean end (empty `buf`),
/// `Ok(Some((payload, frame_len)))` for an intact record, `Err` for damage.
pub fn decode_record(buf: &[u8]) -> Result<Option<(&[u8], usize)>, Damage> {
    if buf.is_empty() {
        return Ok(None);
    }
    let Some((header, rest)) = buf.split_first_chunk::<HEADER_LEN>() else {
        return Err(Damage::TornHeader { available: buf.len() as u64 });
    };
    let header = parse_header(*header, rest.len() as u64)?;
    let payload = &rest[..header.len as usize];
    verify_payload(header, payload)?;
    Ok(Some((payload, frame_len(payload.len()))))
}

/// The length of the longest prefix of `frames` (a run of well-formed frames, as produced by
/// [`encode_record`]) that fits in `limit` bytes, and how many records it holds. Used by the
/// writer to split a batch at a segment boundary without decoding payloads.
pub fn split_frames(frames: &[u8], limit: usize) -> (usize, u64) {
    let mut end = 0;
    let mut records = 0;
    while let Some(len_bytes) = frames.get(end..end + 4) {
        let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let next = end + frame_len(len as usize);
        if next > limit {
            break;
        }
        end = next;
        records += 1;
    }
    (end, records)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn encode(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_record(payload, &mut out);
        out
    }

    #[test]
    fn names_round_trip_and_reject_other_files() {
        assert_eq!(segment_file_name(0), "00000000");
        assert_eq!(segment_file_name(42), "00000042");
        assert_eq!(parse_segment_name("00000042"), Some(42));
        assert_eq!(parse_segment_name("99999999"), Some(99_999_999));
        for other in ["LOCK", "0000042", "000000042", "0000004a", "+0000042", "", "checkpoint"] {
            assert_eq!(parse_segment_name(other), None, "{other:?}");
        }
    }

    #[test]
    fn listing_is_sorted_and_skips_non_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["00000002", "00000000", "LOCK", "00000001.tmp", "notes"] {
            fs::write(dir.path().join(name), b"").expect("write");
        }
        fs::create_dir(dir.path().join("00000005")).expect("mkdir");
        assert_eq!(list_segments(dir.path()).expect("list"), vec![0, 2]);
    }

    #[test]
    fn frame_layout_is_length_crc_payload() {
        let frame = encode(b"abc");
        assert_eq!(&frame[..4], &3u32.to_le_bytes());
        let crc = crc32c::crc32c(&[3, 0, 0, 0, b'a', b'b', b'c']);
        assert_eq!(&frame[4..8], &crc.to_le_bytes());
        assert_eq!(&frame[8..], b"abc");
    }

    #[test]
    fn frame_matches_the_example_in_the_format_doc() {
        // `wal/docs/format.md` shows this frame byte by byte; keep them in step.
        assert_eq!(encode(b"abc"), [0x03, 0x00, 0x00, 0x00, 0xf8, 0x83, 0x14, 0x55, b'a', b'b', b'c']);
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn decode_reports_each_kind_of_damage() {
        let frame = encode(b"hello");
        assert_eq!(decode_record(&[]), Ok(None));
        assert_eq!(decode_record(&frame[..5]), Err(Damage::TornHeader { available: 5 }));
        assert_eq!(decode_record(&frame[..10]), Err(Damage::TornPayload { len: 5, available: 2 }));
        assert_eq!(decode_record(&[0; 16]), Err(Damage::ZeroLength));
        let mut too_long = frame.clone();
        too_long[..4].copy_from_slice(&(MAX_RECORD_LEN + 1).to_le_bytes());
        assert_eq!(decode_record(&too_long), Err(Damage::TooLong { len: MAX_RECORD_LEN + 1 }));
        let mut flipped = frame.clone();
        flipped[9] ^= 0x10;
        assert!(matches!(decode_record(&flipped), Err(Damage::ChecksumMismatch { .. })));
    }

    #[test]
    fn split_stops_at_the_last_whole_frame_within_the_limit() {
        let mut frames = encode(b"aa");
        encode_record(b"bbbb", &mut frames);
        encode_record(b"c", &mut frames);
        assert_eq!(split_frames(&frames, frames.len()), (frames.len(), 3));
        assert_eq!(split_frames(&frames, 10), (10, 1));
        assert_eq!(split_frames(&frames, 21), (10, 1));
        assert_eq!(split_frames(&frames, 22), (22, 2));
        assert_eq!(split_frames(&frames, 3), (0, 0));
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(
            payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..64), 0..16)
        ) {
            let mut buf = Vec::new();
            for payload in &payloads {
                encode_record(payload, &mut buf);
            }
            let mut rest = &buf[..];
            let mut decoded = Vec::new();
            while let Some((payload, len)) = decode_record(rest).expect("intact frames") {
                decoded.push(payload.to_vec());
                rest = &rest[len..];
            }
            prop_assert_eq!(decoded, payloads);
        }

        #[test]
        fn any_single_bit_flip_is_detected(
            payload in prop::collection::vec(any::<u8>(), 1..64),
            bit in any::<prop::sample::Index>(),
        ) {
            let mut frame = encode(&payload);
            let bit = bit.index(frame.len() * 8);
            frame[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(decode_record(&frame).is_err());
        }
    }
}
