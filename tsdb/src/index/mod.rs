//! The head's inverted index: interned label strings ([`Symbols`]) and postings lists
//! ([`Postings`]) from `label=value` to the series that carry it, and the matcher algebra
//! ([`select_postings`]) and its cache ([`MatcherCache`]) that the head and on-disk blocks
//! share.

mod matcher_cache;
mod postings;
mod symbols;

pub(crate) use matcher_cache::MatcherCache;
pub(crate) use postings::{Postings, PostingsSource, select_postings};
pub(crate) use symbols::{SymbolId, Symbols};

/// A series' label set as (name, value) symbol pairs, sorted by name.
pub(crate) type InternedLabels = Box<[(SymbolId, SymbolId)]>;
