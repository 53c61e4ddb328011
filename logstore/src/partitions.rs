//! The partitions of a store and the registry of its streams: where a pushed entry goes,
//! which partitions and streams a query reads, and the reading itself ([`Cursor`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use argus_model::{
    Direction, Labels, LogEntry, LogIter, LogRecord, LogSelect, LogStream, Matcher, StorageError, TimeRange,
};
use parking_lot::RwLock;
use tantivy::Searcher;
use tracing::info;

use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::partition::{Hit, Partition};
use crate::retention;
use crate::schema::{self, StreamKey};

/// Entries of one record get consecutive push orders below this; larger records share the last.
const MAX_ENTRIES_PER_RECORD: u64 = 1 << 24;
/// How long after its end a partition keeps its index writer open for late entries.
const WRITER_GRACE_NS: i64 = 3_600_000_000_000;

pub(crate) struct Partitions {
    dir: PathBuf,
    partition_ns: i64,
    indexing_memory: usize,
    /// By start time.
    partitions: RwLock<BTreeMap<i64, Arc<Partition>>>,
    /// Every stream with entries in some partition, by id.
    streams: RwLock<HashMap<u64, Labels>>,
}

impl Partitions {
    /// Opens every partition under `dir`.
    pub fn open(dir: &Path, config: &LogConfig) -> Result<Partitions> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        let partitions = Partitions {
            dir: dir.to_path_buf(),
            partition_ns: config.partition_ns(),
            indexing_memory: config.indexing_memory.0 as usize,
            partitions: RwLock::new(BTreeMap::new()),
            streams: RwLock::new(HashMap::new()),
        };
        let entries =
            std::fs::read_dir(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        for entry in entries {
            let path = entry.map_err(|source| Error::Io { path: dir.to_path_buf(), source })?.path();
            let Some((start, end)) = path.file_name().and_then(|n| n.to_str()).and_then(parse_dir_name)
            else {
                continue;
            };
            partitions.open_partition(&path, start, end)?;
        }
        Ok(partitions)
    }

    fn open_partition(&self, dir: &Path, start: i64, end: i64) -> Result<()> {
        let partition = self.load(dir, start, end)?;
        self.partitions.write().insert(start, partition);
        Ok(())
    }

    /// Opens the partition in `dir` and registers its streams.
    fn load(&self, dir: &Path, start: i64, end: i64) -> Result<Arc<Partition>> {
        let (partition, labels) = Partition::open(dir, start, end, self.indexing_memory)?;
        let mut streams = self.streams.write();
        for labels in labels {
            streams.insert(labels.stable_hash(), labels);
        }
        Ok(Arc::new(partition))
    }

    /// The highest WAL sequence any partition's commit holds.
    pub fn max_committed_seq(&self) -> u64 {
        self.partitions.read().values().map(|p| p.committed_seq()).max().unwrap_or(0)
    }

    /// Hands the entries of WAL record `seq` to the partitions they fall in. With `replay`,
    /// entries a partition's commit already holds are skipped.
    pub fn index_record(&self, seq: u64, streams: &[LogStream], replay: bool) -> Result<()> {
        let mut position = 0u64;
        for stream in streams {
            let key = StreamKey::new(stream.labels.clone());
            if !self.streams.read().contains_key(&key.id) {
                self.streams.write().insert(key.id, key.labels.clone());
            }
            let mut by_partition: BTreeMap<i64, Vec<(u64, &LogEntry)>> = BTreeMap::new();
            for entry in &stream.entries {
                let order = (seq << 24) | position.min(MAX_ENTRIES_PER_RECORD - 1);
                position += 1;
                by_partition.entry(self.partition_start(entry.timestamp)).or_default().push((order, entry));
            }
            for (start, entries) in by_partition {
                let partition = self.partition_at(start)?;
                if replay && seq <= partition.committed_seq() {
                    continue;
                }
                partition.add(&key, &entries, seq)?;
            }
        }
        Ok(())
    }

    fn partition_start(&self, ts: i64) -> i64 {
        ts.div_euclid(self.partition_ns) * self.partition_ns
    }

    /// The partition starting at `start`, created if missing.
    fn partition_at(&self, start: i64) -> Result<Arc<Partition>> {
        if let Some(partition) = self.partitions.read().get(&start) {
            return Ok(partition.clone());
        }
        let mut partitions = self.partitions.write();
        if let Some(partition) = partitions.get(&start) {
            return Ok(partition.clone());
        }
        let end = start.saturating_add(self.partition_ns);
        let dir = self.dir.join(dir_name(start, end));
        info!(dir = %dir.display(), "creating log partition");
        let partition = self.load(&dir, start, end)?;
        partitions.insert(start, partition.clone());
        Ok(partition)
    }

    /// Commits every partition with uncommitted entries; closes the writers of partitions
    /// that ended more than an hour before `now`.
    pub fn commit_all(&self, now: i64) -> Result<()> {
        let partitions: Vec<Arc<Partition>> = self.partitions.read().values().cloned().collect();
        for partition in partitions {
            let past = partition.end.saturating_add(WRITER_GRACE_NS) < now;
            if partition.has_uncommitted() || (past && partition.has_writer()) {
                partition.commit(past)?;
            }
        }
        Ok(())
    }

    /// Deletes the partitions whose entries are all older than `cutoff`, and forgets the
    /// streams left without entries.
    pub fn drop_older_than(&self, cutoff: i64) -> Result<()> {
        let ends: Vec<(i64, i64)> = self.partitions.read().values().map(|p| (p.start, p.end)).collect();
        let expired = retention::expired(&ends, cutoff);
        if expired.is_empty() {
            return Ok(());
        }
        let mut dropped = Vec::new();
        {
            let mut partitions = self.partitions.write();
            dropped.extend(expired.iter().filter_map(|start| partitions.remove(start)));
        }
        for partition in dropped {
            info!(dir = %partition.dir().display(), "dropping log partition past retention");
            std::fs::remove_dir_all(partition.dir())
                .map_err(|source| Error::Io { path: partition.dir().to_path_buf(), source })?;
        }
        let partitions = self.partitions.read();
        self.streams.write().retain(|id, _| partitions.values().any(|p| p.has_stream(*id)));
        Ok(())
    }

    /// (partitions, their bytes, streams).
    pub fn sizes(&self) -> (usize, u64, usize) {
        let partitions = self.partitions.read();
        let bytes = partitions.values().map(|p| p.size_bytes()).sum();
        (partitions.len(), bytes, self.streams.read().len())
    }

    /// The streams matching `matchers` with entries in partitions overlapping `range`, sorted.
    pub fn streams(&self, matchers: &[Matcher], range: TimeRange) -> Vec<Labels> {
        let overlapping = self.overlapping(range);
        let mut streams: Vec<Labels> = self
            .matching_streams(matchers)
            .into_iter()
            .filter(|(id, _)| overlapping.iter().any(|p| p.has_stream(*id)))
            .map(|(_, labels)| labels)
            .collect();
        streams.sort();
        streams
    }

    fn matching_streams(&self, matchers: &[Matcher]) -> Vec<(u64, Labels)> {
        let matches = |labels: &Labels| matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or("")));
        self.streams
            .read()
            .iter()
            .filter(|(_, labels)| matches(labels))
            .map(|(id, l)| (*id, l.clone()))
            .collect()
    }

    /// Partitions overlapping `range`, oldest first.
    fn overlapping(&self, range: TimeRange) -> Vec<Arc<Partition>> {
        let partitions = self.partitions.read();
        partitions.values().filter(|p| p.start <= range.max && p.end > range.min).cloned().collect()
    }

    /// The entries `select` asks for, read partition by partition as the iterator advances.
    pub fn select(&self, select: &LogSelect) -> LogIter {
        let streams: HashMap<u64, Labels> = self.matching_streams(&select.matchers).into_iter().collect();
        let mut partitions: VecDeque<Arc<Partition>> = self.overlapping(select.range).into();
        if select.direction == Direction::Backward {
            partitions = partitions.into_iter().rev().collect();
        }
        let tokens: Vec<String> =
            select.contains.iter().flat_map(|text| schema::required_tokens(text)).collect();
        Box::new(Cursor {
            partitions,
            streams,
            range: select.range,
            direction: select.direction,
            contains: select.contains.clone(),
            tokens,
            current: None,
            failed: false,
        })
    }
}

/// Reads selected entries partition by partition.
struct Cursor {
    /// Still to read, in the order to read them.
    partitions: VecDeque<Arc<Partition>>,
    streams: HashMap<u64, Labels>,
    range: TimeRange,
    direction: Direction,
    contains: Vec<String>,
    tokens: Vec<String>,
    current: Option<PartitionHits>,
    failed: bool,
}

/// The hits of the partition being read, consumed from the end.
struct PartitionHits {
    partition: Arc<Partition>,
    searcher: Searcher,
    /// In reading order, reversed (the next hit is the last element).
    hits: Vec<Hit>,
}

impl Cursor {
    /// Searches the next partition holding any selected stream; false when none is left.
    fn next_partition(&mut self) -> Result<bool> {
        while let Some(partition) = self.partitions.pop_front() {
            let ids: Vec<u64> = self.streams.keys().copied().filter(|id| partition.has_stream(*id)).collect();
            if ids.is_empty() {
                continue;
            }
            let (searcher, mut hits) = partition.search(&ids, self.range, &self.tokens)?;
            if self.direction == Direction::Forward {
                hits.reverse();
            }
            self.current = Some(PartitionHits { partition, searcher, hits });
            return Ok(true);
        }
        Ok(false)
    }

    fn next_record(&mut self) -> Result<Option<LogRecord>> {
        loop {
            let Some(current) = self.current.as_mut() else {
                if !self.next_partition()? {
                    return Ok(None);
                }
                continue;
            };
            let Some(hit) = current.hits.pop() else {
                self.current = None;
                continue;
            };
            let entry = current.partition.entry(&current.searcher, &hit)?;
            if !self.contains.iter().all(|text| entry.line.contains(text.as_str())) {
                continue;
            }
            let Some(stream) = self.streams.get(&hit.stream) else { continue };
            return Ok(Some(LogRecord { stream: stream.clone(), entry }));
        }
    }
}

impl Iterator for Cursor {
    type Item = Result<LogRecord, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_record() {
            Ok(record) => record.map(Ok),
            Err(error) => {
                self.failed = true;
                Some(Err(error.into()))
            }
        }
    }
}

/// `<start>_<end>` in Unix seconds.
fn dir_name(start: i64, end: i64) -> String {
    format!("{}_{}", start.div_euclid(1_000_000_000), end.div_euclid(1_000_000_000))
}

fn parse_dir_name(name: &str) -> Option<(i64, i64)> {
    let (start, end) = name.split_once('_')?;
    let seconds = |s: &str| s.parse::<i64>().ok()?.checked_mul(1_000_000_000);
    let (start, end) = (seconds(start)?, seconds(end)?);
    (start < end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_round_trip_and_junk_is_ignored() {
        let day = 86_400_000_000_000;
        assert_eq!(parse_dir_name(&dir_name(20_000 * day, 20_001 * day)), Some((20_000 * day, 20_001 * day)));
        assert_eq!(parse_dir_name(&dir_name(-day, 0)), Some((-day, 0)));
        assert_eq!(parse_dir_name("wal"), None);
        assert_eq!(parse_dir_name("5_3"), None);
        assert_eq!(parse_dir_name("1_x"), None);
    }
}
