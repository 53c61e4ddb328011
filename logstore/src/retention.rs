//! Which partitions retention deletes: those whose every entry is older than the cutoff.
//! Pure, so the policy is tested without files.

/// Starts of the partitions, given as `(start, end)` with `end` excluded, that end at or
/// before `cutoff`.
pub(crate) fn expired(partitions: &[(i64, i64)], cutoff: i64) -> Vec<i64> {
    partitions.iter().filter(|&&(_, end)| end <= cutoff).map(|&(start, _)| start).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_partitions_wholly_before_the_cutoff_expire() {
        let partitions = [(0, 10), (10, 20), (20, 30)];
        assert_eq!(expired(&partitions, 19), [0]);
        assert_eq!(expired(&partitions, 20), [0, 10]);
        assert!(expired(&partitions, 9).is_empty());
    }
}
