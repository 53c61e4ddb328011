//! Compaction planning (pure): which blocks of a shard to merge next. The shard carries the
//! plan out (`Db::compact`).
//!
//! Blocks are merged when they overlap in time (backfill, out-of-order data), and otherwise
//! level by level: the level ranges are the block range times 1, 4, 12, 36, … up to a limit,
//! and the blocks lying inside one aligned window of a level range are merged once the window
//! is complete, that is once a block ending at or after the window's end exists (the head
//! never cuts blocks into the past, so nothing more can land in it).

use crate::block::BlockMeta;

/// Level ranges for a base block range: `base × 1, 4, 12, 36, …`, each at most `max`.
pub(crate) fn level_ranges(base: i64, max: i64) -> Vec<i64> {
    let mut ranges = vec![base];
    let mut factor = 4;
    while base.saturating_mul(factor) <= max {
        ranges.push(base * factor);
        factor *= 3;
    }
    ranges
}

/// The ids of the blocks to merge next, or `None` when nothing needs it. `metas` are the
/// shard's blocks in any order.
pub(crate) fn plan(metas: &[BlockMeta], ranges: &[i64]) -> Option<Vec<String>> {
    let mut sorted: Vec<&BlockMeta> = metas.iter().collect();
    sorted.sort_by_key(|m| (m.min_time, m.max_time));
    if let Some(overlapping) = first_overlapping_group(&sorted) {
        return Some(overlapping);
    }
    let newest_end = sorted.iter().map(|m| m.max_time).max()?;
    for &range in ranges.iter().skip(1) {
        let mut window: Vec<&BlockMeta> = Vec::new();
        let mut window_start = i64::MIN;
        for &meta in &sorted {
            let start = meta.min_time.div_euclid(range) * range;
            if start != window_start {
                if let Some(group) = complete_group(&window, window_start, range, newest_end) {
                    return Some(group);
                }
                window.clear();
                window_start = start;
            }
            // A block wider than the window (an older, larger one) is left alone.
            if meta.max_time <= start + range {
                window.push(meta);
            }
        }
        if let Some(group) = complete_group(&window, window_start, range, newest_end) {
            return Some(group);
        }
    }
    None
}

fn complete_group(window: &[&BlockMeta], start: i64, range: i64, newest_end: i64) -> Option<Vec<String>> {
    (window.len() > 1 && start + range <= newest_end).then(|| window.iter().map(|m| m.id.clone()).collect())
}

/// The first run of blocks (in time order) that overlap one another.
fn first_overlapping_group(sorted: &[&BlockMeta]) -> Option<Vec<String>> {
    let mut group: Vec<&BlockMeta> = Vec::new();
    let mut group_end = i64::MIN;
    for &meta in sorted {
        if meta.min_time < group_end {
            group.push(meta);
            group_end = group_end.max(meta.max_time);
            continue;
        }
        if group.len() > 1 {
            break;
        }
        group = vec![meta];
        group_end = meta.max_time;
    }
    (group.len() > 1).then(|| group.iter().map(|m| m.id.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockStats, Compaction};

    const H: i64 = 3_600_000;

    fn meta(id: &str, min: i64, max: i64) -> BlockMeta {
        BlockMeta {
            version: 1,
            id: id.into(),
            min_time: min,
            max_time: max,
            stats: BlockStats::default(),
            compaction: Compaction { level: 1, parents: Vec::new() },
            files: Default::default(),
        }
    }

    #[test]
    fn level_ranges_grow_by_four_then_three() {
        assert_eq!(level_ranges(2 * H, 100 * H), vec![2 * H, 8 * H, 24 * H, 72 * H]);
        assert_eq!(level_ranges(2 * H, 2 * H), vec![2 * H]);
    }

    #[test]
    fn a_complete_window_is_merged_and_an_open_one_waits() {
        let ranges = level_ranges(2 * H, 24 * H);
        let blocks = [meta("a", 0, 2 * H), meta("b", 2 * H, 4 * H), meta("c", 4 * H, 6 * H)];
        assert_eq!(plan(&blocks, &ranges), None, "the 0–8h window is still filling");
        let mut blocks = blocks.to_vec();
        blocks.push(meta("d", 6 * H, 8 * H));
        assert_eq!(plan(&blocks, &ranges), Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]));
        blocks.push(meta("e", 8 * H, 10 * H));
        assert_eq!(plan(&blocks, &ranges).unwrap().len(), 4);
    }

    #[test]
    fn merged_levels_merge_again_at_the_next_range() {
        let ranges = level_ranges(2 * H, 24 * H);
        let blocks = [meta("0-8", 0, 8 * H), meta("8-16", 8 * H, 16 * H), meta("16-24", 16 * H, 24 * H)];
        assert_eq!(plan(&blocks, &ranges).unwrap(), vec!["0-8", "8-16", "16-24"]);
        assert_eq!(plan(&blocks[..2], &ranges), None);
    }

    #[test]
    fn overlapping_blocks_are_merged_first() {
        let ranges = level_ranges(2 * H, 24 * H);
        let blocks = [
            meta("a", 0, 2 * H),
            meta("backfill", H, 3 * H),
            meta("b", 2 * H, 4 * H),
            meta("c", 6 * H, 8 * H),
        ];
        assert_eq!(plan(&blocks, &ranges).unwrap(), vec!["a", "backfill", "b"]);
    }
}
