//! Interned strings: every distinct label name and value is stored once per shard and referred
//! to by a 32-bit id, so a series' label set costs 8 bytes a label.

use std::collections::HashMap;
use std::sync::Arc;

pub(crate) type SymbolId = u32;

#[derive(Debug, Default)]
pub(crate) struct Symbols {
    ids: HashMap<Arc<str>, SymbolId>,
    strings: Vec<Arc<str>>,
}

impl Symbols {
    /// The id of `s`, interning it on first sight.
    pub fn intern(&mut self, s: &str) -> SymbolId {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = SymbolId::try_from(self.strings.len()).expect("fewer than 2^32 distinct label strings");
        let shared: Arc<str> = Arc::from(s);
        self.strings.push(shared.clone());
        self.ids.insert(shared, id);
        id
    }

    /// The id of `s` if it was ever interned.
    pub fn lookup(&self, s: &str) -> Option<SymbolId> {
        self.ids.get(s).copied()
    }

    pub fn resolve(&self, id: SymbolId) -> &str {
        &self.strings[id as usize]
    }

    /// The interned string itself, shared rather than copied.
    pub fn resolve_shared(&self, id: SymbolId) -> Arc<str> {
        self.strings[id as usize].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_idempotent() {
        let mut symbols = Symbols::default();
        let a = symbols.intern("job");
        let b = symbols.intern("node");
        assert_eq!(symbols.intern("job"), a);
        assert_ne!(a, b);
        assert_eq!(symbols.resolve(b), "node");
        assert_eq!(symbols.lookup("node"), Some(b));
        assert_eq!(symbols.lookup("missing"), None);
    }
}
