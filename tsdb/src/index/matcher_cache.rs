//! Remembers which series a set of label matchers selected from an index.
//!
//! Dashboards send the same selectors at every refresh, and testing thousands of label values
//! against a regex (`instance=~"host-0000[0-9]:9100"`) costs more than the rest of a small
//! query. In the head, matchers that name their values (`=`, `!=`, `=~"a|b"`) are looked up
//! directly and not remembered; a block remembers those too, since each lookup decodes a
//! postings list from the file (and a large select looks its matchers up twice, see
//! `Shards::select`). A block's index never changes, so its entries stay right; the head clears
//! its cache whenever its postings change. The cache is bounded by entries and by the bitmaps'
//! size, oldest entries going first.

use std::collections::{HashMap, VecDeque};

use argus_model::Matcher;
use parking_lot::Mutex;
use roaring::RoaringBitmap;

/// Most matcher sets remembered per index.
const MAX_ENTRIES: usize = 64;
/// Most bytes of (serialized) bitmaps remembered per index.
const MAX_BYTES: usize = 1 << 20;

#[derive(Debug, Default)]
pub(crate) struct MatcherCache {
    entries: Mutex<Entries>,
    /// Whether sets of matchers that name their values are remembered too.
    remember_lookups: bool,
}

#[derive(Debug, Default)]
struct Entries {
    selected: HashMap<String, (RoaringBitmap, usize)>,
    /// Keys in insertion order, for eviction.
    order: VecDeque<String>,
    bytes: usize,
}

impl MatcherCache {
    /// A cache that also remembers sets whose matchers all name their values (a block's).
    pub fn remembering_lookups() -> Self {
        Self { remember_lookups: true, ..Self::default() }
    }

    /// The series `matchers` select: remembered, or computed by `select` (and remembered when
    /// some matcher scans values, or always when remembering lookups).
    pub fn get_or_select(
        &self,
        matchers: &[Matcher],
        select: impl FnOnce() -> RoaringBitmap,
    ) -> RoaringBitmap {
        if !self.remember_lookups && matchers.iter().all(Matcher::names_its_values) {
            return select();
        }
        let key = key_of(matchers);
        if let Some((selected, _)) = self.entries.lock().selected.get(&key) {
            return selected.clone();
        }
        let selected = select();
        self.entries.lock().insert(key, selected.clone());
        selected
    }

    /// Forgets everything: the index changed.
    pub fn clear(&mut self) {
        let entries = self.entries.get_mut();
        if !entries.order.is_empty() {
            *entries = Entries::default();
        }
    }
}

impl Entries {
    fn insert(&mut self, key: String, selected: RoaringBitmap) {
        let size = selected.serialized_size();
        if size > MAX_BYTES || self.selected.contains_key(&key) {
            return;
        }
        while self.order.len() >= MAX_ENTRIES || self.bytes + size > MAX_BYTES {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some((_, freed)) = self.selected.remove(&oldest) {
                self.bytes -= freed;
            }
        }
        self.bytes += size;
        self.order.push_back(key.clone());
        self.selected.insert(key, (selected, size));
    }
}

/// The matchers as one string, unambiguous because label names cannot hold `\0` and the
/// operator sits between name and value.
fn key_of(matchers: &[Matcher]) -> String {
    let mut key = String::new();
    for m in matchers {
        key.push_str(&m.name);
        key.push('\0');
        key.push_str(m.op.as_str());
        key.push_str(&m.value);
        key.push('\0');
    }
    key
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use argus_model::MatchOp;

    use super::*;

    fn regex(name: &str, value: &str) -> Matcher {
        Matcher::new(MatchOp::RegexMatch, name, value).unwrap()
    }

    #[test]
    fn scanning_matchers_are_remembered_and_listed_ones_are_not() {
        let cache = MatcherCache::default();
        let runs = Cell::new(0);
        let select = |ids: &[u32]| {
            runs.set(runs.get() + 1);
            ids.iter().copied().collect::<RoaringBitmap>()
        };
        let scanning = [Matcher::equal("job", "node"), regex("instance", "host-0[0-4]")];
        assert_eq!(cache.get_or_select(&scanning, || select(&[1, 2])), select(&[1, 2]));
        assert_eq!(cache.get_or_select(&scanning, || select(&[9])), select(&[1, 2]), "remembered");
        assert_eq!(runs.get(), 3);

        let listed = [Matcher::equal("job", "node"), regex("instance", "a|b")];
        cache.get_or_select(&listed, || select(&[1]));
        cache.get_or_select(&listed, || select(&[1]));
        assert_eq!(runs.get(), 5, "looked up each time");

        let block = MatcherCache::remembering_lookups();
        block.get_or_select(&listed, || select(&[1]));
        assert_eq!(block.get_or_select(&listed, || select(&[2])), select(&[1]), "remembered");
        assert_eq!(runs.get(), 7, "the second answer came from the cache");
    }

    #[test]
    fn clearing_forgets_and_old_entries_make_room() {
        let mut cache = MatcherCache::default();
        let selected = |n: u32| (0..n).collect::<RoaringBitmap>();
        for i in 0..=MAX_ENTRIES {
            cache.get_or_select(&[regex("i", &format!("{i}.*x"))], || selected(1));
        }
        let entries = cache.entries.lock();
        assert_eq!(entries.order.len(), MAX_ENTRIES);
        assert!(!entries.selected.contains_key(&key_of(&[regex("i", "0.*x")])), "the oldest went");
        drop(entries);
        cache.clear();
        assert_eq!(cache.get_or_select(&[regex("i", "1.*x")], || selected(3)), selected(3));
    }

    #[test]
    fn a_bitmap_larger_than_the_bound_is_not_kept() {
        let cache = MatcherCache::default();
        let huge: RoaringBitmap = (0..600_000u32).map(|i| i * 7_000).collect();
        assert!(huge.serialized_size() > MAX_BYTES);
        cache.get_or_select(&[regex("a", "b.*c")], || huge.clone());
        assert!(cache.entries.lock().selected.is_empty());
    }
}
