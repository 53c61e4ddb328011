//! A block's `index` file: symbols, series with their chunk references, and postings, each in
//! a checksummed section (layout in `docs/format/block.md`).
//!
//! ```text
//! file     := magic "ARGUSIDX" | version u8 = 2 | section* | toc
//! section  := payload | crc32c(payload) u32 LE
//! toc      := (offset u64 LE, len u64 LE) per section, in the order below | crc32c(toc) u32 LE
//!             | magic "ARGUSEND"
//! symbols       := count uvarint | (len uvarint, utf-8 bytes)*     most used first, id = position
//! series        := entry*  (series id = position, series sorted by labels)
//! entry         := labels uvarint | (name sym, value sym)* | chunks uvarint | chunk*
//!                  | last value f64 bits u64 LE   (its time is the last chunk's max_time)
//! chunk         := min_time varint | max_time - min_time uvarint | offset uvarint
//!                  (the first chunk's min_time relative to the block's start and its offset
//!                  absolute; later ones relative to the previous chunk's max_time and offset)
//! series_index  := (offset of each entry in `series`, u32 LE)*
//! postings      := serialized roaring bitmaps of series ids, back to back
//! postings_index:= count uvarint | (name sym, value sym, offset, len uvarint)*  sorted
//! ```
//!
//! Opening a block reads the symbols and the postings table into memory (one entry per
//! distinct label pair) and checks every section's checksum; series entries and bitmaps are
//! read from the mapping when a query needs them.

use std::collections::HashMap;
use std::sync::Arc;

use argus_model::{Label, Labels, Matcher, Sample};
use memmap2::Mmap;
use roaring::RoaringBitmap;

use crate::encoding::{Decoder, put_uvarint, put_varint};
use crate::index::{MatcherCache, PostingsSource, select_postings};

const MAGIC: &[u8; 8] = b"ARGUSIDX";
const END_MAGIC: &[u8; 8] = b"ARGUSEND";
const VERSION: u8 = 2;
const SECTIONS: usize = 5;
const TOC_LEN: usize = SECTIONS * 16 + 4 + END_MAGIC.len();

/// Where one chunk of a series lies, and the times it covers (both inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkMeta {
    pub min_time: i64,
    pub max_time: i64,
    pub offset: u64,
}

/// What the index holds of one series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesEntry {
    pub labels: Labels,
    /// In time order.
    pub chunks: Vec<ChunkMeta>,
    /// The newest sample, so that the latest value of a series is read without decoding its
    /// last chunk.
    pub last: Sample,
}

/// Why an index could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IndexError {
    #[error("not an argus block index, or an unknown version")]
    Header,
    #[error("table of contents damaged")]
    Toc,
    #[error("section {0} fails its checksum")]
    Checksum(&'static str),
    #[error("section {0} is malformed")]
    Malformed(&'static str),
}

const SECTION_NAMES: [&str; SECTIONS] = ["symbols", "series", "series_index", "postings", "postings_index"];

/// Encodes the index of series given in label order, each with its chunks (at least one) and
/// last value; chunk times are stored relative to `base_time`, the block's start. Fails when
/// the series entries outgrow the 32-bit offsets of the series index.
pub(crate) fn encode(series: &[SeriesEntry], base_time: i64) -> std::io::Result<Vec<u8>> {
    // The most used strings get the smallest ids, so the shortest varints.
    let mut uses: HashMap<&str, u64> = HashMap::new();
    for label in series.iter().flat_map(|entry| entry.labels.iter()) {
        *uses.entry(&label.name).or_default() += 1;
        *uses.entry(&label.value).or_default() += 1;
    }
    let mut symbols: Vec<(&str, u64)> = uses.into_iter().collect();
    symbols.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let symbols: Vec<&str> = symbols.into_iter().map(|(s, _)| s).collect();
    let id_of: HashMap<&str, u64> = symbols.iter().enumerate().map(|(i, s)| (*s, i as u64)).collect();

    let mut sections: [Vec<u8>; SECTIONS] = Default::default();
    put_uvarint(&mut sections[0], symbols.len() as u64);
    for symbol in &symbols {
        put_uvarint(&mut sections[0], symbol.len() as u64);
        sections[0].extend_from_slice(symbol.as_bytes());
    }

    let mut postings: HashMap<(u64, u64), RoaringBitmap> = HashMap::new();
    for (id, SeriesEntry { labels, chunks, last }) in series.iter().enumerate() {
        let offset = u32::try_from(sections[1].len())
            .map_err(|_| std::io::Error::other("block index series section exceeds 4 GiB"))?;
        sections[2].extend_from_slice(&offset.to_le_bytes());
        let entry = &mut sections[1];
        put_uvarint(entry, labels.len() as u64);
        for label in labels.iter() {
            let pair = (id_of[&*label.name], id_of[&*label.value]);
            put_uvarint(entry, pair.0);
            put_uvarint(entry, pair.1);
            postings.entry(pair).or_default().insert(id as u32);
        }
        put_uvarint(entry, chunks.len() as u64);
        let (mut time_base, mut offset_base) = (base_time, 0);
        for chunk in chunks {
            put_varint(entry, chunk.min_time.wrapping_sub(time_base));
            put_uvarint(entry, chunk.max_time.wrapping_sub(chunk.min_time) as u64);
            put_uvarint(entry, chunk.offset.wrapping_sub(offset_base));
            (time_base, offset_base) = (chunk.max_time, chunk.offset);
        }
        entry.extend_from_slice(&last.v.to_bits().to_le_bytes());
    }

    let mut pairs: Vec<_> = postings.into_iter().collect();
    pairs.sort_unstable_by_key(|(pair, _)| *pair);
    put_uvarint(&mut sections[4], pairs.len() as u64);
    for ((name, value), bitmap) in pairs {
        let offset = sections[3].len() as u64;
        bitmap.serialize_into(&mut sections[3]).expect("writing to a Vec does not fail");
        for n in [name, value, offset, sections[3].len() as u64 - offset] {
            put_uvarint(&mut sections[4], n);
        }
    }

    let mut out = Vec::with_capacity(sections.iter().map(Vec::len).sum::<usize>() + 128);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    let mut toc = Vec::with_capacity(TOC_LEN);
    for section in &sections {
        toc.extend_from_slice(&(out.len() as u64).to_le_bytes());
        toc.extend_from_slice(&(section.len() as u64).to_le_bytes());
        out.extend_from_slice(section);
        out.extend_from_slice(&crc32c::crc32c(section).to_le_bytes());
    }
    let toc_crc = crc32c::crc32c(&toc);
    out.extend_from_slice(&toc);
    out.extend_from_slice(&toc_crc.to_le_bytes());
    out.extend_from_slice(END_MAGIC);
    Ok(out)
}

/// An opened index: symbols and the postings table in memory, the rest read from the mapping.
pub(crate) struct IndexReader {
    map: Arc<Mmap>,
    sections: [std::ops::Range<usize>; SECTIONS],
    symbols: Vec<Arc<str>>,
    symbol_ids: HashMap<Arc<str>, u32>,
    /// For each label name symbol, its values' symbols with their bitmap's place in `postings`,
    /// ordered by value.
    postings: HashMap<u32, Vec<(u32, std::ops::Range<usize>)>>,
    series_count: u32,
    /// What chunk times are stored relative to.
    base_time: i64,
    /// Answers to matcher sets (the index never changes, so they stay right).
    matcher_cache: MatcherCache,
}

impl IndexReader {
    pub fn open(map: Arc<Mmap>, base_time: i64) -> Result<Self, IndexError> {
        if map.len() < MAGIC.len() + 1 + TOC_LEN || &map[..8] != MAGIC || map[8] != VERSION {
            return Err(IndexError::Header);
        }
        let toc_start = map.len() - TOC_LEN;
        let toc = &map[toc_start..toc_start + SECTIONS * 16];
        let stored = u32::from_le_bytes(map[toc_start + SECTIONS * 16..][..4].try_into().expect("4 bytes"));
        if crc32c::crc32c(toc) != stored || &map[map.len() - END_MAGIC.len()..] != END_MAGIC {
            return Err(IndexError::Toc);
        }
        let mut sections: [std::ops::Range<usize>; SECTIONS] = Default::default();
        let mut decoder = Decoder::new(toc);
        for (i, name) in SECTION_NAMES.iter().enumerate() {
            let (offset, len) = (decoder.u64_le(), decoder.u64_le());
            let (Some(offset), Some(len)) = (offset, len) else { return Err(IndexError::Toc) };
            let (start, end) = (offset as usize, (offset + len) as usize);
            let crc = map.get(end..end + 4).ok_or(IndexError::Toc)?;
            if end + 4 > toc_start
                || crc32c::crc32c(&map[start..end]) != u32::from_le_bytes(crc.try_into().expect("4"))
            {
                return Err(IndexError::Checksum(name));
            }
            sections[i] = start..end;
        }
        let symbols = read_symbols(&map[sections[0].clone()]).ok_or(IndexError::Malformed("symbols"))?;
        let postings = read_postings_index(&map[sections[4].clone()], sections[3].len(), symbols.len())
            .ok_or(IndexError::Malformed("postings_index"))?;
        let series_count =
            u32::try_from(sections[2].len() / 4).map_err(|_| IndexError::Malformed("series_index"))?;
        let symbol_ids = symbols.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        Ok(Self {
            map,
            sections,
            symbols,
            symbol_ids,
            postings,
            series_count,
            base_time,
            matcher_cache: MatcherCache::remembering_lookups(),
        })
    }

    /// Series ids matching every matcher.
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        self.matcher_cache.get_or_select(matchers, || select_postings(self, matchers))
    }

    /// Reads what the index holds of series `id` into the caller's buffers, so that a loop over
    /// many series allocates for their label sets only: `chunks` gets its chunks in time order,
    /// `labels` is left empty. Returns the label set and the newest sample; `None` if the entry
    /// is malformed.
    pub fn read_series(
        &self,
        id: u32,
        labels: &mut Vec<Label>,
        chunks: &mut Vec<ChunkMeta>,
    ) -> Option<(Labels, Sample)> {
        let index = &self.map[self.sections[2].clone()];
        let at = index.get(id as usize * 4..id as usize * 4 + 4)?;
        let offset = u32::from_le_bytes(at.try_into().ok()?) as usize;
        let mut decoder = Decoder::new(self.map[self.sections[1].clone()].get(offset..)?);
        labels.clear();
        for _ in 0..decoder.uvarint()? {
            let name = self.symbols.get(decoder.uvarint()? as usize)?.clone();
            let value = self.symbols.get(decoder.uvarint()? as usize)?.clone();
            labels.push(Label { name, value });
        }
        chunks.clear();
        let (mut time_base, mut offset_base) = (self.base_time, 0u64);
        for _ in 0..decoder.uvarint()? {
            let min_time = decoder.varint()?.wrapping_add(time_base);
            let max_time = min_time.wrapping_add(decoder.uvarint()? as i64);
            let offset = decoder.uvarint()?.wrapping_add(offset_base);
            chunks.push(ChunkMeta { min_time, max_time, offset });
            (time_base, offset_base) = (max_time, offset);
        }
        let last = Sample::new(chunks.last()?.max_time, f64::from_bits(decoder.u64_le()?));
        Some((Labels::drain_from(labels).ok()?, last))
    }

    pub fn series_count(&self) -> u32 {
        self.series_count
    }

    fn bitmap(&self, range: &std::ops::Range<usize>) -> RoaringBitmap {
        let postings = &self.map[self.sections[3].clone()];
        // Checked at open: the section's checksum held and the range lies inside it.
        RoaringBitmap::deserialize_unchecked_from(&postings[range.clone()]).unwrap_or_default()
    }
}

impl PostingsSource for IndexReader {
    fn all(&self) -> RoaringBitmap {
        let mut all = RoaringBitmap::new();
        all.insert_range(0..self.series_count);
        all
    }

    fn has_name(&self, name: &str) -> bool {
        self.symbol_ids.get(name).is_some_and(|id| self.postings.contains_key(id))
    }

    fn for_each_value(
        &self,
        name: &str,
        keep: &mut dyn FnMut(&str) -> bool,
        visit: &mut dyn FnMut(&RoaringBitmap),
    ) {
        let Some(values) = self.symbol_ids.get(name).and_then(|id| self.postings.get(id)) else { return };
        for (value, range) in values {
            if keep(&self.symbols[*value as usize]) {
                visit(&self.bitmap(range));
            }
        }
    }

    fn postings(&self, name: &str, value: &str) -> Option<RoaringBitmap> {
        let values = self.postings.get(self.symbol_ids.get(name)?)?;
        let value = *self.symbol_ids.get(value)?;
        let at = values.binary_search_by_key(&value, |(v, _)| *v).ok()?;
        Some(self.bitmap(&values[at].1))
    }
}

fn read_symbols(bytes: &[u8]) -> Option<Vec<Arc<str>>> {
    let mut decoder = Decoder::new(bytes);
    let count = decoder.uvarint()? as usize;
    let mut symbols = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        let len = decoder.uvarint()? as usize;
        symbols.push(Arc::from(std::str::from_utf8(decoder.bytes(len)?).ok()?));
    }
    Some(symbols)
}

type PostingsTable = HashMap<u32, Vec<(u32, std::ops::Range<usize>)>>;

fn read_postings_index(bytes: &[u8], postings_len: usize, symbols: usize) -> Option<PostingsTable> {
    let mut decoder = Decoder::new(bytes);
    let count = decoder.uvarint()? as usize;
    let mut table: PostingsTable = HashMap::new();
    for _ in 0..count {
        let (name, value) = (decoder.uvarint()? as usize, decoder.uvarint()? as usize);
        let (offset, len) = (decoder.uvarint()? as usize, decoder.uvarint()? as usize);
        if name >= symbols || value >= symbols || offset.checked_add(len)? > postings_len {
            return None;
        }
        table.entry(name as u32).or_default().push((value as u32, offset..offset + len));
    }
    Some(table)
}
