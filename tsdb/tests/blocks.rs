//! Blocks on disk through the engine's public API: the head is cut into blocks and the WAL
//! checkpointed, blocks are compacted and dropped by retention, and through all of it every
//! accepted sample is read back exactly once, before and after a reopen.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use argus_model::time::{ByteSize, HumanDuration};
use argus_model::{
    Appendable, Labels, Matcher, Queryable, Sample, SamplesWanted, SelectHints, SeriesSamples, TimeRange,
    WriteBatch,
};
use argus_tsdb::{RetentionConfig, Shards, TsdbConfig};

type Stored = BTreeMap<Labels, Vec<(i64, u64)>>;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const SERIES: usize = 30;

/// One-hour blocks; without an out-of-order window the head is cut once it spans 1.5 hours.
fn config(retention: RetentionConfig) -> TsdbConfig {
    TsdbConfig {
        shards: 2,
        block_range: HumanDuration::from_secs(3600),
        out_of_order_window: HumanDuration::from_secs(0),
        retention,
        ..TsdbConfig::default()
    }
}

fn keep_forever() -> RetentionConfig {
    RetentionConfig { time: HumanDuration::from_secs(0), size: ByteSize(0) }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string()), ("parity", (i % 2).to_string())])
        .unwrap()
}

fn value(i: usize, minute: i64) -> f64 {
    (i * 100_000) as f64 + minute as f64 * 0.5
}

/// Writes one sample a minute for every series over `[from, to)` minutes, in time order, and
/// returns what was written.
fn write_minutes(shards: &Shards, from: i64, to: i64) -> Stored {
    let mut written = Stored::new();
    for minute in from..to {
        let batch: Vec<SeriesSamples> = (0..SERIES)
            .map(|i| SeriesSamples {
                labels: labels(i),
                samples: vec![Sample::new(minute * MINUTE, value(i, minute))],
            })
            .collect();
        let report = shards.append(&WriteBatch::from_series(&batch)).unwrap();
        assert_eq!(report.accepted, SERIES as u64, "minute {minute}");
        for s in batch {
            written.entry(s.labels).or_default().push((minute * MINUTE, s.samples[0].v.to_bits()));
        }
    }
    written
}

fn read(shards: &Shards, range: TimeRange) -> Stored {
    let hints = SelectHints { range, samples: SamplesWanted::All };
    let mut stored = Stored::new();
    for series in shards.select(&[Matcher::equal("__name__", "m")], hints).unwrap().series {
        let samples: Vec<(i64, u64)> = series.samples.map(|x| (x.t, x.v.to_bits())).collect();
        assert!(stored.insert(series.labels, samples).is_none(), "a series was returned twice");
    }
    stored
}

/// Damages a file as a failing disk would: one byte, at `at(file length)`, inverted.
fn flip_byte(path: &Path, at: impl Fn(usize) -> usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = at(bytes.len());
    bytes[at] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

/// What was written, then `more` after it.
fn extended(mut written: Stored, more: Stored) -> Stored {
    for (labels, samples) in more {
        written.entry(labels).or_default().extend(samples);
    }
    written
}

/// An engine over `dir` with one-hour blocks that keeps data forever.
fn open(dir: &Path) -> Shards {
    Shards::open(dir, &config(keep_forever())).unwrap()
}

/// Compares what was read with what was written, reporting the first difference only.
fn assert_same(got: &Stored, want: &Stored, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: series count");
    for (labels, samples) in want {
        let read = &got[labels];
        let first_difference = samples.iter().zip(read).position(|(a, b)| a != b);
        assert!(
            read.len() == samples.len() && first_difference.is_none(),
            "{what}: {labels} read {} samples, wrote {}, first difference at {first_difference:?}",
            read.len(),
            samples.len()
        );
    }
}

fn block_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = (0..2)
        .flat_map(|shard| std::fs::read_dir(dir.join(format!("shard-{shard:03}/blocks"))).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

fn wal_entries(dir: &Path, shard: usize) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(format!("shard-{shard:03}/wal")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_head_is_cut_into_blocks_and_everything_reads_back_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let shards = open(dir.path());
    let written = write_minutes(&shards, 0, 200);
    shards.maintain().unwrap();
    let stats = shards.stats();
    assert!(stats.blocks >= 2, "two hours were cut on each shard: {stats:?}");
    assert!(
        wal_entries(dir.path(), 0).iter().any(|n| n.starts_with("checkpoint.")),
        "{:?}",
        wal_entries(dir.path(), 0)
    );
    assert_same(&read(&shards, TimeRange::ALL), &written, "after the cut");
    // A range that ends inside a block and one that spans a block and the head.
    let early = read(&shards, TimeRange::new(30 * MINUTE, 90 * MINUTE - 1));
    assert!(early.values().all(|s| s.len() == 60));
    let across = read(&shards, TimeRange::new(100 * MINUTE, 150 * MINUTE - 1));
    assert!(across.values().all(|s| s.len() == 50 && s[0].0 == 100 * MINUTE));
    let names = shards.label_values("parity", &[], TimeRange::new(0, HOUR)).unwrap();
    assert_eq!(names, vec!["0", "1"]);

    drop(shards);
    let shards = open(dir.path());
    assert_same(&read(&shards, TimeRange::ALL), &written, "after a reopen without close");
    let more = write_minutes(&shards, 200, 260);
    shards.maintain().unwrap();
    shards.close().unwrap();
    let shards = open(dir.path());
    assert_same(
        &read(&shards, TimeRange::ALL),
        &extended(written, more),
        "after a second cut, a close and a reopen",
    );
}

/// What `matchers` select over all time, each series once.
fn select_all(shards: &Shards, matchers: &[Matcher]) -> Stored {
    let hints = SelectHints { range: TimeRange::ALL, samples: SamplesWanted::All };
    let mut stored = Stored::new();
    for series in shards.select(matchers, hints).unwrap().series {
        let samples: Vec<(i64, u64)> = series.samples.map(|x| (x.t, x.v.to_bits())).collect();
        assert!(stored.insert(series.labels, samples).is_none(), "a series was returned twice");
    }
    stored
}

#[test]
fn a_large_select_reads_the_shards_in_parallel_and_finds_what_a_small_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let shards = open(dir.path());
    // 3 000 series, each in a block and in the head: 6 000 pieces, more than a select reads
    // one shard after the other (4 096); half of them, 3 000, are read so.
    let series = 3_000;
    let mut written = Stored::new();
    for minute in 0..4 {
        let batch: Vec<SeriesSamples> = (0..series)
            .map(|i| SeriesSamples {
                labels: labels(i),
                samples: vec![Sample::new(minute * MINUTE, value(i, minute))],
            })
            .collect();
        shards.append(&WriteBatch::from_series(&batch)).unwrap();
        for s in batch {
            written.entry(s.labels).or_default().push((minute * MINUTE, s.samples[0].v.to_bits()));
        }
        if minute == 1 {
            shards.flush().unwrap();
        }
    }
    let all = select_all(&shards, &[Matcher::equal("__name__", "m")]);
    assert_same(&all, &written, "one large select");
    // Each half is small enough to be read one shard after the other.
    let mut halves = select_all(&shards, &[Matcher::equal("parity", "0")]);
    halves.extend(select_all(&shards, &[Matcher::equal("parity", "1")]));
    assert_same(&halves, &all, "two small selects");
}

#[test]
fn a_flush_moves_the_whole_head_into_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let shards = open(dir.path());
    let written = write_minutes(&shards, 0, 90);
    shards.flush().unwrap();
    let stats = shards.stats();
    assert_eq!((stats.head_series, stats.head_chunks), (0, 0), "{stats:?}");
    assert_same(&read(&shards, TimeRange::ALL), &written, "after the flush");
    let late = [SeriesSamples { labels: labels(0), samples: vec![Sample::new(89 * MINUTE, 1.0)] }];
    let report = shards.append(&WriteBatch::from_series(&late)).unwrap();
    assert_eq!(report.rejected_count(argus_model::RejectReason::TooOld), 1, "flushed time is closed");
    let more = write_minutes(&shards, 90, 100);
    drop(shards);
    let shards = open(dir.path());
    assert_same(
        &read(&shards, TimeRange::ALL),
        &extended(written, more),
        "flushed blocks, head after them, reopened",
    );
}

#[test]
fn blocks_are_compacted_into_larger_ones_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let shards = open(dir.path());
    let written = write_minutes(&shards, 0, 11 * 60);
    shards.maintain().unwrap();
    let metas: Vec<serde_json::Value> = block_dirs(dir.path())
        .iter()
        .map(|d| serde_json::from_slice(&std::fs::read(d.join("meta.json")).unwrap()).unwrap())
        .collect();
    let spans: Vec<i64> =
        metas.iter().map(|m| m["max_time"].as_i64().unwrap() - m["min_time"].as_i64().unwrap()).collect();
    assert!(spans.contains(&(4 * HOUR)), "1h blocks became a 4h block: {spans:?}");
    assert!(
        metas
            .iter()
            .any(|m| m["compaction"]["level"] == 2
                && m["compaction"]["parents"].as_array().unwrap().len() == 4)
    );
    assert_same(&read(&shards, TimeRange::ALL), &written, "after compaction");
    drop(shards);
    let shards = open(dir.path());
    assert_same(&read(&shards, TimeRange::ALL), &written, "after compaction and a reopen");
}

#[test]
fn retention_by_time_drops_the_oldest_blocks_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let retention = RetentionConfig { time: HumanDuration::from_secs(4 * 3600), size: ByteSize(0) };
    let shards = Shards::open(dir.path(), &config(retention.clone())).unwrap();
    let written = write_minutes(&shards, 0, 8 * 60);
    shards.maintain().unwrap();
    // Newest sample at 7:59; blocks ending at or before 3:59 are gone, i.e. [0,1h) … [2h,3h).
    let kept = read(&shards, TimeRange::ALL);
    for (labels, samples) in &kept {
        let all = &written[labels];
        assert_eq!(samples.first().unwrap().0, 3 * HOUR, "{labels}");
        assert!(samples[..] == all[180..], "{labels}: exactly the samples of the kept blocks and the head");
    }
    assert_eq!(kept.len(), SERIES);
}

#[test]
fn retention_by_size_drops_the_oldest_blocks_until_the_rest_fit() {
    let dir = tempfile::tempdir().unwrap();
    let shards = open(dir.path());
    let written = write_minutes(&shards, 0, 6 * 60);
    shards.maintain().unwrap();
    let sizes: Vec<u64> = block_dirs(dir.path())
        .iter()
        .map(|d| std::fs::read_dir(d).unwrap().map(|f| f.unwrap().metadata().unwrap().len()).sum::<u64>())
        .collect();
    let all_blocks = sizes.len();
    assert!(all_blocks >= 4, "{sizes:?}");
    shards.close().unwrap();

    // Room for about half of the blocks: the oldest go, the newest stay, the head is untouched.
    let limit = sizes.iter().sum::<u64>() / 2;
    let retention = RetentionConfig { time: HumanDuration::from_secs(0), size: ByteSize(limit) };
    let shards = Shards::open(dir.path(), &config(retention)).unwrap();
    shards.maintain().unwrap();
    let stats = shards.stats();
    assert!(stats.blocks < all_blocks && stats.block_bytes <= limit, "{stats:?} limit {limit}");
    let kept = read(&shards, TimeRange::ALL);
    for (labels, samples) in &kept {
        let all = &written[labels];
        let first_kept = all.iter().position(|s| s.0 == samples[0].0).unwrap();
        assert!(samples[..] == all[first_kept..], "{labels}: a suffix of what was written");
        assert_eq!(samples[0].0 % HOUR, 0, "whole blocks are dropped");
    }
}

#[test]
fn a_damaged_chunk_costs_only_its_own_samples() {
    let dir = tempfile::tempdir().unwrap();
    let shards = open(dir.path());
    let written = write_minutes(&shards, 0, 200);
    shards.maintain().unwrap();
    shards.close().unwrap();
    flip_byte(&block_dirs(dir.path())[0].join("chunks"), |len| len / 2);

    let shards = open(dir.path());
    let read_back = read(&shards, TimeRange::ALL);
    assert_eq!(read_back.len(), SERIES, "every series is still there");
    let hints = SelectHints { range: TimeRange::ALL, samples: SamplesWanted::All };
    let warnings = shards.select(&[Matcher::equal("__name__", "m")], hints).unwrap().warnings;
    assert!(warnings.iter().any(|w| w.contains("chunk at offset")), "queries are told: {warnings:?}");
    let missing: usize = written.iter().map(|(l, s)| s.len() - read_back[l].len()).sum();
    assert!(missing > 0 && missing <= 120, "one chunk's samples are lost, no more: {missing}");
    for (labels, samples) in &read_back {
        assert!(samples.iter().all(|s| written[labels].contains(s)), "{labels}: nothing invented");
    }
}

#[test]
fn out_of_order_samples_inside_the_window_are_stored_merged_and_cut_into_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let config = TsdbConfig { out_of_order_window: HumanDuration::from_secs(600), ..config(keep_forever()) };
    let shards = Shards::open(dir.path(), &config).unwrap();
    let mut expected = write_minutes(&shards, 0, 60);
    let late = |minute: i64, seconds: i64, v: f64| SeriesSamples {
        labels: labels(0),
        samples: vec![Sample::new(minute * MINUTE + seconds * 1000, v)],
    };
    let append = |series: SeriesSamples| shards.append(&WriteBatch::from_series(&[series])).unwrap();
    use argus_model::RejectReason::{DuplicateTimestamp, OutOfOrder};

    // Newest sample at minute 59; the window reaches back to minute 49.
    assert_eq!(append(late(55, 30, 1.5)).accepted, 1, "inside the window, between two samples");
    assert_eq!(append(late(55, 30, 1.5)).accepted, 1, "the same sample again is a resend");
    assert_eq!(append(late(55, 30, 2.5)).rejected_count(DuplicateTimestamp), 1, "another value at that time");
    assert_eq!(append(late(50, 0, value(0, 50))).accepted, 1, "an in-order sample resent late");
    assert_eq!(append(late(50, 0, 9.0)).rejected_count(DuplicateTimestamp), 1);
    assert_eq!(append(late(40, 30, 1.0)).rejected_count(OutOfOrder), 1, "before the window");
    let first = expected.get_mut(&labels(0)).unwrap();
    first.insert(56, (55 * MINUTE + 30_000, 1.5f64.to_bits()));
    assert_same(&read(&shards, TimeRange::ALL), &expected, "merged in the head");

    drop(shards);
    let shards = Shards::open(dir.path(), &config).unwrap();
    assert_same(&read(&shards, TimeRange::ALL), &expected, "replayed from the wal");
    shards.flush().unwrap();
    assert_eq!(shards.stats().head_series, 0);
    assert_same(&read(&shards, TimeRange::ALL), &expected, "cut into a block");
}

#[test]
fn deleted_samples_vanish_at_once_survive_a_restart_and_are_purged_by_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let shards = open(dir.path());
    let written = write_minutes(&shards, 0, 200);
    shards.maintain().unwrap();
    // From inside the first block, across the second, into the head; one series only.
    let range = TimeRange::new(30 * MINUTE, 150 * MINUTE);
    let selector = vec![Matcher::equal("__name__", "m"), Matcher::equal("i", "0")];
    assert!(shards.delete(&[selector], range).unwrap() >= 2, "pieces in blocks and head");
    let mut expected = written.clone();
    expected.get_mut(&labels(0)).unwrap().retain(|&(t, _)| !range.contains(t));
    assert_same(&read(&shards, TimeRange::ALL), &expected, "right after the delete");

    drop(shards);
    let shards = open(dir.path());
    assert_same(&read(&shards, TimeRange::ALL), &expected, "after a restart");
    let tombstones = || block_dirs(dir.path()).iter().filter(|d| d.join("tombstones").exists()).count();
    assert!(tombstones() > 0);
    shards.clean_tombstones().unwrap();
    assert_eq!(tombstones(), 0, "compaction rewrote the blocks without the deleted samples");
    assert_same(&read(&shards, TimeRange::ALL), &expected, "after compaction");
    drop(shards);
    let shards = open(dir.path());
    assert_same(&read(&shards, TimeRange::ALL), &expected, "after compaction and a restart");
}

#[test]
fn imports_older_than_the_head_land_in_blocks_of_their_own_and_merge_on_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let shards = open(dir.path());
    let mut expected = write_minutes(&shards, 0, 200);
    shards.maintain().unwrap();
    use argus_model::RejectReason::{DuplicateTimestamp, TooOld};
    let old = Labels::from_pairs([("__name__", "m"), ("i", "backfilled")]).unwrap();
    let import = vec![
        // A new series: hours before the head, and into it.
        SeriesSamples {
            labels: old.clone(),
            samples: (10..140).step_by(10).map(|m| Sample::new(m * MINUTE, m as f64)).collect(),
        },
        // An existing series: a new time inside a block, a conflict, a resend.
        SeriesSamples {
            labels: labels(0),
            samples: vec![
                Sample::new(30 * MINUTE + 30_000, 7.0),
                Sample::new(31 * MINUTE, 9.0),
                Sample::new(32 * MINUTE, value(0, 32)),
            ],
        },
    ];
    let live = shards.append(&WriteBatch::from_series(&import)).unwrap();
    assert!(live.rejected_count(TooOld) > 0, "live writes refuse what imports take");
    let report = shards.import(&WriteBatch::from_series(&import)).unwrap();
    assert_eq!(report.rejected_count(DuplicateTimestamp), 1, "9.0 where another value is stored");
    assert_eq!(report.accepted, 13 + 2);
    expected.insert(old.clone(), (10..140).step_by(10).map(|m| (m * MINUTE, (m as f64).to_bits())).collect());
    let first = expected.get_mut(&labels(0)).unwrap();
    first.insert(31, (30 * MINUTE + 30_000, 7f64.to_bits()));
    assert_same(&read(&shards, TimeRange::ALL), &expected, "right after the import");

    drop(shards);
    let shards = open(dir.path());
    assert_same(&read(&shards, TimeRange::ALL), &expected, "after a restart");
    shards.maintain().unwrap();
    assert_same(&read(&shards, TimeRange::ALL), &expected, "after compaction");
    let mut spans: Vec<(i64, i64)> = block_dirs(dir.path())
        .iter()
        .map(|d| {
            serde_json::from_slice::<serde_json::Value>(&std::fs::read(d.join("meta.json")).unwrap()).unwrap()
        })
        .map(|m| (m["min_time"].as_i64().unwrap(), m["max_time"].as_i64().unwrap()))
        .collect();
    spans.sort();
    spans.dedup();
    assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "overlapping blocks were merged: {spans:?}");
}

#[test]
fn a_block_that_cannot_be_opened_is_skipped_and_every_query_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    let shards = open(dir.path());
    write_minutes(&shards, 0, 200);
    shards.maintain().unwrap();
    shards.close().unwrap();
    let blocks = block_dirs(dir.path());
    let damaged = &blocks[0];
    flip_byte(&damaged.join("index"), |_| 20);
    // A file cut short is caught by the sizes meta.json records.
    let chunks = blocks[1].join("chunks");
    let length = std::fs::metadata(&chunks).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&chunks).unwrap().set_len(length - 1).unwrap();

    let shards = open(dir.path());
    let hints = SelectHints { range: TimeRange::ALL, samples: SamplesWanted::All };
    let selection = shards.select(&[Matcher::equal("__name__", "m")], hints).unwrap();
    let skipped = selection.warnings.iter().filter(|w| w.contains("skipped a damaged block")).count();
    assert_eq!(skipped, 2, "{:?}", selection.warnings);
    assert!(selection.warnings.iter().any(|w| w.contains("file sizes differ")), "{:?}", selection.warnings);
    assert_eq!(selection.series.len(), SERIES, "the other blocks and the head still answer");
    assert!(damaged.exists(), "a damaged block is kept for the operator, not deleted");
}

#[test]
fn latest_reads_find_the_newest_sample_in_blocks_and_head_like_full_reads() {
    let dir = tempfile::tempdir().unwrap();
    let shards = open(dir.path());
    write_minutes(&shards, 0, 200);
    shards.maintain().unwrap();
    assert!(shards.stats().blocks >= 2, "{:?}", shards.stats());
    // Series 0 loses its newest minutes of the first block: the stored newest sample is gone.
    let selector = vec![Matcher::equal("__name__", "m"), Matcher::equal("i", "0")];
    shards.delete(&[selector], TimeRange::new(50 * MINUTE, 59 * MINUTE)).unwrap();
    let newest = |wanted: SamplesWanted, range: TimeRange| -> BTreeMap<Labels, Option<(i64, u64)>> {
        let hints = SelectHints { range, samples: wanted };
        let selection = shards.select(&[Matcher::equal("__name__", "m")], hints).unwrap();
        selection
            .series
            .into_iter()
            .map(|s| (s.labels, s.samples.last().map(|x| (x.t, x.v.to_bits()))))
            .collect()
    };
    // Windows ending at, just after and between samples, at block edges and in the head.
    for end in [
        30 * MINUTE,
        59 * MINUTE,
        60 * MINUTE - 1,
        60 * MINUTE,
        61 * MINUTE + 30_000,
        119 * MINUTE,
        199 * MINUTE,
    ] {
        for width in [0, 20_000, 5 * MINUTE] {
            let range = TimeRange::new(end - width, end);
            let all = newest(SamplesWanted::All, range);
            assert_eq!(newest(SamplesWanted::Latest, range), all, "window {range:?}");
        }
    }
}
