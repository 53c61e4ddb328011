//! A small memo of values that are costly to build from a string key and asked for again and
//! again (compiled regexes, parsed queries): bounded, shared across threads, and cleared
//! wholesale when full, so it never grows with the variety of its inputs.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct StringMemo<V> {
    entries: Mutex<HashMap<String, V>>,
    capacity: usize,
}

impl<V: Clone> StringMemo<V> {
    pub fn new(capacity: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), capacity }
    }

    /// The value for `key`, built by `build` on a miss. Failures are not remembered.
    pub fn get_or_try_insert<E>(&self, key: &str, build: impl FnOnce() -> Result<V, E>) -> Result<V, E> {
        if let Some(value) = self.lock().get(key) {
            return Ok(value.clone());
        }
        // Built outside the lock: two threads may both build a new key, and one wins.
        let value = build()?;
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key.to_string(), value.clone());
        Ok(value)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, V>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_once_forgets_failures_and_starts_over_when_full() {
        let memo = StringMemo::new(2);
        let builds = std::cell::Cell::new(0);
        let get = |key: &str| {
            memo.get_or_try_insert(key, || {
                builds.set(builds.get() + 1);
                if key == "bad" { Err("no") } else { Ok(key.len()) }
            })
        };
        assert_eq!(get("a"), Ok(1));
        assert_eq!(get("a"), Ok(1));
        assert_eq!(get("bad"), Err("no"));
        assert_eq!(get("bad"), Err("no"));
        assert_eq!(get("bb"), Ok(2));
        assert_eq!(get("ccc"), Ok(3)); // full: cleared, then "ccc" stored
        assert_eq!(get("a"), Ok(1)); // rebuilt
        assert_eq!(builds.get(), 6);
    }
}
