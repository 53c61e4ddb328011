//! Retention (pure): which blocks to drop, whole, by age and by the total size of the blocks.
//! The engine carries the decision out across its shards.

/// What retention needs to know of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockInfo {
    pub shard: usize,
    pub id: String,
    pub max_time: i64,
    pub size_bytes: u64,
}

/// The blocks to drop: those that end at or before `newest - keep_for` (all of their samples
/// are older than the retention time), then the oldest others until the rest fit in
/// `max_bytes`. `None` disables either limit.
pub(crate) fn expired(
    blocks: &[BlockInfo],
    newest: i64,
    keep_for: Option<i64>,
    max_bytes: Option<u64>,
) -> Vec<BlockInfo> {
    let mut by_age: Vec<&BlockInfo> = blocks.iter().collect();
    by_age.sort_by_key(|b| b.max_time);
    let cutoff = keep_for.map(|keep| newest.saturating_sub(keep));
    let (mut dropped, kept): (Vec<&BlockInfo>, Vec<&BlockInfo>) =
        by_age.into_iter().partition(|b| cutoff.is_some_and(|cutoff| b.max_time <= cutoff));
    if let Some(max_bytes) = max_bytes {
        let mut total: u64 = kept.iter().map(|b| b.size_bytes).sum();
        for block in kept {
            if total <= max_bytes {
                break;
            }
            total -= block.size_bytes;
            dropped.push(block);
        }
    }
    dropped.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(id: &str, max_time: i64, size_bytes: u64) -> BlockInfo {
        BlockInfo { shard: 0, id: id.into(), max_time, size_bytes }
    }

    fn ids(blocks: Vec<BlockInfo>) -> Vec<String> {
        blocks.into_iter().map(|b| b.id).collect()
    }

    #[test]
    fn blocks_entirely_older_than_the_retention_time_go() {
        let blocks = [block("new", 100, 1), block("old", 40, 1), block("edge", 50, 1), block("mid", 60, 1)];
        assert_eq!(ids(expired(&blocks, 100, Some(50), None)), vec!["old", "edge"]);
        assert!(expired(&blocks, 100, None, None).is_empty());
    }

    #[test]
    fn the_oldest_blocks_go_until_the_rest_fit() {
        let blocks = [block("c", 30, 10), block("a", 10, 10), block("b", 20, 10)];
        assert_eq!(ids(expired(&blocks, 30, None, Some(15))), vec!["a", "b"]);
        assert_eq!(ids(expired(&blocks, 30, None, Some(30))), Vec::<String>::new());
        assert_eq!(ids(expired(&blocks, 30, Some(15), Some(10))), vec!["a", "b"], "time first, then size");
    }
}
