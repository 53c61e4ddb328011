//! Per-series work spread over the cores, and the budget those cores spend together.
//!
//! A query over many series spends most of its time decoding and reducing each series on its
//! own, so [`fold_parts`] splits the series into contiguous parts, folds each part into a state
//! of its own on its own thread, and hands the states back in series order for the caller to
//! merge. Small inputs stay on the calling thread: a thread costs more than it saves there.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::error::{Error, Result};

/// Below this many items per part, a part is not worth a thread.
const MIN_ITEMS_PER_PART: usize = 256;

/// How often [`Budget::charge`] looks at the clock.
const CHARGES_PER_CLOCK_READ: usize = 64;

/// What a query may still spend, shared by every thread working on it: samples loaded against
/// `max_samples`, and time against the deadline.
pub(super) struct Budget {
    loaded: AtomicUsize,
    charges: AtomicUsize,
    max_samples: usize,
    deadline: Instant,
}

impl Budget {
    pub fn new(max_samples: usize, deadline: Instant) -> Self {
        Self { loaded: AtomicUsize::new(0), charges: AtomicUsize::new(0), max_samples, deadline }
    }

    /// Adds `samples` to the samples loaded so far, failing past `max_samples` or past the
    /// deadline. The clock is read every [`CHARGES_PER_CLOCK_READ`] charges: a charge per
    /// series of one sample costs less than reading it.
    pub fn charge(&self, samples: usize) -> Result<()> {
        let loaded = self.loaded.fetch_add(samples, Ordering::Relaxed) + samples;
        if loaded > self.max_samples {
            return Err(Error::TooManySamples("query execution"));
        }
        if self.charges.fetch_add(1, Ordering::Relaxed).is_multiple_of(CHARGES_PER_CLOCK_READ) {
            self.check_deadline()?;
        }
        Ok(())
    }

    pub fn check_deadline(&self) -> Result<()> {
        if Instant::now() > self.deadline {
            return Err(Error::Timeout("query execution"));
        }
        Ok(())
    }
}

/// Folds `items` into states made by `init`, `fold(state, index of the item, item)` for each,
/// splitting them into contiguous parts folded on separate cores when there are enough. The
/// states come back one per part, in item order; the first error stops its part and is
/// returned.
pub(super) fn fold_parts<I: Send, S: Send>(
    items: Vec<I>,
    init: impl Fn() -> S + Sync,
    fold: impl Fn(&mut S, usize, I) -> Result<()> + Sync,
) -> Result<Vec<S>> {
    let fold_part = |offset: usize, part: Vec<I>| -> Result<S> {
        let mut state = init();
        for (i, item) in part.into_iter().enumerate() {
            fold(&mut state, offset + i, item)?;
        }
        Ok(state)
    };
    let parts = cores().min(items.len() / MIN_ITEMS_PER_PART);
    if parts < 2 {
        return Ok(vec![fold_part(0, items)?]);
    }
    let per_part = items.len().div_ceil(parts);
    let mut rest = items;
    let mut split: Vec<(usize, Vec<I>)> = Vec::with_capacity(parts);
    let mut offset = 0;
    while rest.len() > per_part {
        let tail = rest.split_off(per_part);
        split.push((offset, std::mem::replace(&mut rest, tail)));
        offset += per_part;
    }
    split.push((offset, rest));
    let mut split = split.into_iter();
    let (first_offset, first) = split.next().expect("at least two parts");
    std::thread::scope(|scope| {
        let others: Vec<_> =
            split.map(|(offset, part)| scope.spawn(move || fold_part(offset, part))).collect();
        // The calling thread takes the first part instead of waiting idle.
        let mut states = vec![fold_part(first_offset, first)?];
        for other in others {
            states.push(other.join().expect("a fold over series does not panic")?);
        }
        Ok(states)
    })
}

/// The cores this process may use, read once.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_item_once_in_order() {
        for len in [0, 1, MIN_ITEMS_PER_PART * 2 - 1, MIN_ITEMS_PER_PART * 5 + 3] {
            let items: Vec<usize> = (0..len).collect();
            let states = fold_parts(items, Vec::new, |seen: &mut Vec<(usize, usize)>, index, item| {
                seen.push((index, item));
                Ok(())
            })
            .unwrap();
            let flat: Vec<(usize, usize)> = states.into_iter().flatten().collect();
            assert_eq!(flat, (0..len).map(|i| (i, i)).collect::<Vec<_>>(), "len {len}");
        }
    }

    #[test]
    fn an_error_in_any_part_is_returned() {
        let items: Vec<usize> = (0..MIN_ITEMS_PER_PART * 4).collect();
        let last = items.len() - 1;
        let result = fold_parts(
            items,
            || (),
            |_, _, item| {
                if item == last { Err(Error::Execution("boom".into())) } else { Ok(()) }
            },
        );
        assert!(matches!(result, Err(Error::Execution(m)) if m == "boom"));
    }

    #[test]
    fn the_budget_fails_past_max_samples() {
        let budget = Budget::new(10, Instant::now() + std::time::Duration::from_secs(60));
        assert!(budget.charge(10).is_ok());
        assert!(matches!(budget.charge(1), Err(Error::TooManySamples(_))));
    }

    #[test]
    fn the_budget_fails_past_the_deadline_within_a_clock_read_interval() {
        let budget = Budget::new(usize::MAX, Instant::now() + std::time::Duration::from_millis(20));
        assert!(budget.charge(1).is_ok());
        std::thread::sleep(std::time::Duration::from_millis(30));
        let failed_at = (0..=CHARGES_PER_CLOCK_READ).position(|_| budget.charge(1).is_err());
        assert!(matches!(failed_at, Some(at) if at < CHARGES_PER_CLOCK_READ), "{failed_at:?}");
    }
}
