//! The head's inverted index: interned label strings ([`Symbols`]) and postings lists
//! ([`Postings`]) from `label=value` to the series that carry it, answered for label matchers.

mod postings;
mod symbols;

pub(crate) use postings::Postings;
pub(crate) use symbols::{SymbolId, Symbols};
