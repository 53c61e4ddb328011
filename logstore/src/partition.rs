//! A partition: the entries of one time span in one tantivy index, in a directory named
//! `<start>_<end>` (Unix seconds, end excluded).
//!
//! Writes go through the partition's index writer, opened on the first write and closed once
//! the partition is past and everything is committed. A commit stores, as tantivy's commit
//! payload, the sequence number of the last WAL record whose entries it holds; replay skips
//! what that covers, so nothing is indexed twice.

use std::collections::HashSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use argus_model::{Labels, LogEntry, TimeRange};
use parking_lot::RwLock;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Query, RangeQuery, TermQuery, TermSetQuery};
use tantivy::schema::{IndexRecordOption, TantivyDocument};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Score, Searcher,
    SegmentOrdinal, SegmentReader, Term,
};

use crate::error::{Error, Result};
use crate::schema::{self, Fields, LOG_TOKENIZER, StreamKey};

pub(crate) struct Partition {
    /// First nanosecond covered.
    pub start: i64,
    /// First nanosecond after it.
    pub end: i64,
    dir: PathBuf,
    index: Index,
    fields: Fields,
    reader: IndexReader,
    writer: RwLock<Option<IndexWriter>>,
    indexing_memory: usize,
    /// Sequence of the last WAL record with entries here that a commit holds.
    committed_seq: AtomicU64,
    /// Sequence of the last WAL record with entries here.
    added_seq: AtomicU64,
    /// Ids of the streams with entries here, committed or not.
    streams: RwLock<HashSet<u64>>,
}

/// A selected entry before its document is read: where it is and how it sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Hit {
    pub ts: i64,
    pub order: u64,
    pub stream: u64,
    pub address: DocAddress,
}

impl Partition {
    /// Opens the partition in `dir`, or creates it; returns it with the label sets of the
    /// streams its committed entries belong to.
    pub fn open(
        dir: &Path,
        start: i64,
        end: i64,
        indexing_memory: usize,
    ) -> Result<(Partition, Vec<Labels>)> {
        let context = |source| Error::Index { dir: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        let directory = MmapDirectory::open(dir).map_err(|e| context(e.into()))?;
        let settings = IndexSettings {
            docstore_compression: Compressor::Zstd(ZstdCompressor::default()),
            ..IndexSettings::default()
        };
        let index = Index::builder()
            .schema(schema::schema())
            .settings(settings)
            .open_or_create(directory)
            .map_err(context)?;
        index.tokenizers().register(LOG_TOKENIZER, schema::log_tokenizer());
        let fields = Fields::new(&index.schema()).map_err(context)?;
        let reader =
            index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(context)?;
        let committed = match index.load_metas().map_err(context)?.payload {
            Some(payload) => {
                payload.parse::<u64>().map_err(|_| Error::Payload { dir: dir.to_path_buf(), payload })?
            }
            None => 0,
        };
        let labels = committed_streams(&reader.searcher(), fields).map_err(context)?;
        let streams = labels.iter().map(Labels::stable_hash).collect();
        let partition = Partition {
            start,
            end,
            dir: dir.to_path_buf(),
            index,
            fields,
            reader,
            writer: RwLock::new(None),
            indexing_memory,
            committed_seq: AtomicU64::new(committed),
            added_seq: AtomicU64::new(committed),
            streams: RwLock::new(streams),
        };
        Ok((partition, labels))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sequence of the last WAL record whose entries here are committed.
    pub fn committed_seq(&self) -> u64 {
        self.committed_seq.load(Ordering::Acquire)
    }

    pub fn has_stream(&self, id: u64) -> bool {
        self.streams.read().contains(&id)
    }

    /// Adds entries of one stream from WAL record `seq`; `order` gives each entry's place in
    /// push order. Callers add records in sequence order.
    pub fn add(&self, stream: &StreamKey, entries: &[(u64, &LogEntry)], seq: u64) -> Result<()> {
        if !self.streams.read().contains(&stream.id) {
            self.streams.write().insert(stream.id);
        }
        if self.writer.read().is_none() {
            self.open_writer()?;
        }
        let writer = self.writer.read();
        let writer = writer.as_ref().expect("opened above; closed only under the write lock when idle");
        for &(order, entry) in entries {
            writer
                .add_document(schema::document(&self.fields, stream, entry, order))
                .map_err(|source| Error::Index { dir: self.dir.clone(), source })?;
        }
        self.added_seq.fetch_max(seq, Ordering::AcqRel);
        Ok(())
    }

    fn open_writer(&self) -> Result<()> {
        let mut writer = self.writer.write();
        if writer.is_none() {
            let options = tantivy::indexer::IndexWriterOptions::builder()
                .memory_budget_per_thread(self.indexing_memory.max(15 << 20))
                .num_worker_threads(1)
                .num_merge_threads(1)
                .build();
            let opened = self.index.writer_with_options(options);
            *writer = Some(opened.map_err(|source| Error::Index { dir: self.dir.clone(), source })?);
        }
        Ok(())
    }

    /// Commits what was added since the last commit and makes it searchable. With
    /// `close_writer`, the writer is then closed (the partition is past; a late write opens it
    /// again).
    pub fn commit(&self, close_writer: bool) -> Result<()> {
        let mut slot = self.writer.write();
        let Some(writer) = slot.as_mut() else { return Ok(()) };
        let added = self.added_seq.load(Ordering::Acquire);
        if added > self.committed_seq() {
            let context = |source| Error::Index { dir: self.dir.clone(), source };
            let mut prepared = writer.prepare_commit().map_err(context)?;
            prepared.set_payload(&added.to_string());
            prepared.commit().map_err(context)?;
            self.committed_seq.store(added, Ordering::Release);
            self.reader.reload().map_err(context)?;
        }
        if close_writer {
            let writer = slot.take().expect("checked above");
            writer.wait_merging_threads().map_err(|source| Error::Index { dir: self.dir.clone(), source })?;
        }
        Ok(())
    }

    /// Whether entries were added that no commit holds yet.
    pub fn has_uncommitted(&self) -> bool {
        self.added_seq.load(Ordering::Acquire) > self.committed_seq()
    }

    pub fn has_writer(&self) -> bool {
        self.writer.read().is_some()
    }

    /// Committed entries of `streams` within `range` whose lines hold every token, sorted by
    /// time then push order, with the searcher to read them through.
    pub fn search(
        &self,
        streams: &[u64],
        range: TimeRange,
        tokens: &[String],
    ) -> Result<(Searcher, Vec<Hit>)> {
        let searcher = self.reader.searcher();
        let mut clauses: Vec<Box<dyn Query>> = vec![
            Box::new(TermSetQuery::new(
                streams.iter().map(|&id| Term::from_field_u64(self.fields.stream, id)),
            )),
            Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_i64(self.fields.ts, range.min)),
                Bound::Included(Term::from_field_i64(self.fields.ts, range.max)),
            )),
        ];
        for token in tokens {
            let term = Term::from_field_text(self.fields.line, token);
            clauses.push(Box::new(TermQuery::new(term, IndexRecordOption::Basic)));
        }
        let mut hits = searcher
            .search(&BooleanQuery::intersection(clauses), &HitCollector)
            .map_err(|source| Error::Index { dir: self.dir.clone(), source })?;
        hits.sort_unstable();
        Ok((searcher, hits))
    }

    /// Reads the entry of `hit`.
    pub fn entry(&self, searcher: &Searcher, hit: &Hit) -> Result<LogEntry> {
        let doc: TantivyDocument =
            searcher.doc(hit.address).map_err(|source| Error::Index { dir: self.dir.clone(), source })?;
        schema::entry(&self.fields, &doc, hit.ts)
            .ok_or_else(|| Error::Document { dir: self.dir.clone(), address: format!("{:?}", hit.address) })
    }

    /// Bytes of the partition's files.
    pub fn size_bytes(&self) -> u64 {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return 0 };
        entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()
    }
}

/// The label sets of the streams in the committed segments: the terms of the `labels` field.
fn committed_streams(searcher: &Searcher, fields: Fields) -> tantivy::Result<Vec<Labels>> {
    let mut streams = Vec::new();
    let mut seen = HashSet::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(fields.labels)?;
        let mut terms = inverted.terms().stream()?;
        while terms.advance() {
            let Ok(encoded) = std::str::from_utf8(terms.key()) else { continue };
            if seen.insert(encoded.to_string())
                && let Some(labels) = schema::decode_labels(encoded)
            {
                streams.push(labels);
            }
        }
    }
    Ok(streams)
}

/// Collects every matching document with its time, push order and stream.
struct HitCollector;

struct SegmentHits {
    segment: SegmentOrdinal,
    ts: Column<i64>,
    order: Column<u64>,
    stream: Column<u64>,
    hits: Vec<Hit>,
}

impl Collector for HitCollector {
    type Fruit = Vec<Hit>;
    type Child = SegmentHits;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<SegmentHits> {
        let fast = reader.fast_fields();
        Ok(SegmentHits {
            segment,
            ts: fast.i64("ts")?,
            order: fast.u64("order")?,
            stream: fast.u64("stream")?,
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Hit>>) -> tantivy::Result<Vec<Hit>> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for SegmentHits {
    type Fruit = Vec<Hit>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        // Every document has all three; a missing value would be a document not of ours.
        if let (Some(ts), Some(order), Some(stream)) =
            (self.ts.first(doc), self.order.first(doc), self.stream.first(doc))
        {
            self.hits.push(Hit { ts, order, stream, address: DocAddress::new(self.segment, doc) });
        }
    }

    fn harvest(self) -> Vec<Hit> {
        self.hits
    }
}
