//! Postings: `label=value → roaring bitmap of series refs`, and the set algebra that answers a
//! list of label matchers with Prometheus semantics (a missing label matches as `""`).
//!
//! For one matcher `m` on label `l` with known values `V`:
//! - if `m` does not match `""`, the answer is the union of `P(l=v)` over the `v ∈ V` that `m`
//!   matches;
//! - if it does, series without `l` match too, so the answer is all series minus the union of
//!   `P(l=v)` over the `v ∈ V` that `m` rejects.
//!
//! Matchers whose positive form is a finite list of literals (`=`, `!=`, `=~"a|b"`) look those
//! values up directly instead of testing every value of the label.

use std::collections::HashMap;

use argus_model::Matcher;
use roaring::RoaringBitmap;

use super::{InternedLabels, MatcherCache, SymbolId, Symbols};

#[derive(Debug, Default)]
pub(crate) struct Postings {
    by_pair: HashMap<(SymbolId, SymbolId), RoaringBitmap>,
    /// Value symbols of each label name, in insertion order.
    values: HashMap<SymbolId, Vec<SymbolId>>,
    all: RoaringBitmap,
    /// Answers to scanning matchers since the postings last changed.
    cache: MatcherCache,
}

impl Postings {
    pub fn add(&mut self, series: u32, labels: &[(SymbolId, SymbolId)]) {
        self.cache.clear();
        self.all.insert(series);
        for &(name, value) in labels {
            let bitmap = self.by_pair.entry((name, value)).or_insert_with(|| {
                self.values.entry(name).or_default().push(value);
                RoaringBitmap::new()
            });
            bitmap.insert(series);
        }
    }

    /// Removes series from every postings list, dropping lists left empty.
    pub fn remove(&mut self, series: &[(u32, InternedLabels)]) {
        if series.is_empty() {
            return;
        }
        self.cache.clear();
        let removed: RoaringBitmap = series.iter().map(|(r, _)| *r).collect();
        self.all -= &removed;
        let mut emptied: HashMap<SymbolId, Vec<SymbolId>> = HashMap::new();
        let pairs: std::collections::HashSet<(SymbolId, SymbolId)> =
            series.iter().flat_map(|(_, labels)| labels.iter().copied()).collect();
        for pair in pairs {
            if let Some(bitmap) = self.by_pair.get_mut(&pair) {
                *bitmap -= &removed;
                if bitmap.is_empty() {
                    self.by_pair.remove(&pair);
                    emptied.entry(pair.0).or_default().push(pair.1);
                }
            }
        }
        for (name, values) in emptied {
            let values: std::collections::HashSet<SymbolId> = values.into_iter().collect();
            if let Some(list) = self.values.get_mut(&name) {
                list.retain(|v| !values.contains(v));
                if list.is_empty() {
                    self.values.remove(&name);
                }
            }
        }
    }

    /// Value symbols label `name` takes on at least one series.
    pub fn values_of(&self, name: SymbolId) -> &[SymbolId] {
        self.values.get(&name).map(Vec::as_slice).unwrap_or_default()
    }

    /// Series that satisfy every matcher; all series when there are none.
    pub fn select(&self, symbols: &Symbols, matchers: &[Matcher]) -> RoaringBitmap {
        self.cache
            .get_or_select(matchers, || select_postings(&HeadPostings { symbols, postings: self }, matchers))
    }
}

/// An inverted index that label matchers can be answered over: the head's, or a block's.
pub(crate) trait PostingsSource {
    /// Every series.
    fn all(&self) -> RoaringBitmap;
    /// Whether any series has label `name`.
    fn has_name(&self, name: &str) -> bool;
    /// Calls `visit` with the postings of each value of `name` for which `keep` is true.
    fn for_each_value(
        &self,
        name: &str,
        keep: &mut dyn FnMut(&str) -> bool,
        visit: &mut dyn FnMut(&RoaringBitmap),
    );
    /// The series with `name="value"`, if any.
    fn postings(&self, name: &str, value: &str) -> Option<RoaringBitmap>;
}

/// Series of `index` that satisfy every matcher; all series when there are none.
///
/// Each matcher after the first is answered within the series selected so far, so a broad
/// matcher (`device=~"eth.+"`) after a narrow one costs intersections with a small set rather
/// than a union of large postings lists.
pub(crate) fn select_postings(index: &impl PostingsSource, matchers: &[Matcher]) -> RoaringBitmap {
    // Matchers that select by inclusion are usually the most selective: start with them.
    let mut ordered: Vec<&Matcher> = matchers.iter().collect();
    ordered.sort_by_key(|m| m.matches_empty());
    let mut result: Option<RoaringBitmap> = None;
    for matcher in ordered {
        if result.as_ref().is_some_and(RoaringBitmap::is_empty) {
            break;
        }
        result = Some(select_one(index, matcher, result.as_ref()));
    }
    result.unwrap_or_else(|| index.all())
}

/// The series matching `matcher`, among `within` when given.
fn select_one(
    index: &impl PostingsSource,
    matcher: &Matcher,
    within: Option<&RoaringBitmap>,
) -> RoaringBitmap {
    let candidates = || within.cloned().unwrap_or_else(|| index.all());
    if !index.has_name(&matcher.name) {
        // No series has the label: all of them see "".
        return if matcher.matches_empty() { candidates() } else { RoaringBitmap::new() };
    }
    if matcher.matches_empty() {
        candidates() - union_where(index, matcher, false, within)
    } else {
        union_where(index, matcher, true, within)
    }
}

/// Union of `P(name=v)` over the values `v` for which `matcher.matches(v) == wanted`, limited
/// to `within` when given.
fn union_where(
    index: &impl PostingsSource,
    matcher: &Matcher,
    wanted: bool,
    within: Option<&RoaringBitmap>,
) -> RoaringBitmap {
    let mut union = RoaringBitmap::new();
    let mut add = |postings: &RoaringBitmap| match within {
        Some(within) => union |= within & postings,
        None => union |= postings,
    };
    // With a finite positive form, the values the matcher accepts (or, when negated, rejects)
    // are exactly that list.
    if let Some(literals) = matcher.positive_values()
        && wanted != matcher.is_negative()
    {
        for value in literals {
            if let Some(postings) = index.postings(&matcher.name, value) {
                add(&postings);
            }
        }
    } else {
        index.for_each_value(&matcher.name, &mut |value| matcher.matches(value) == wanted, &mut add);
    }
    union
}

/// The head's postings seen through its symbol table.
struct HeadPostings<'a> {
    symbols: &'a Symbols,
    postings: &'a Postings,
}

impl PostingsSource for HeadPostings<'_> {
    fn all(&self) -> RoaringBitmap {
        self.postings.all.clone()
    }

    fn has_name(&self, name: &str) -> bool {
        self.symbols.lookup(name).is_some_and(|id| self.postings.values.contains_key(&id))
    }

    fn for_each_value(
        &self,
        name: &str,
        keep: &mut dyn FnMut(&str) -> bool,
        visit: &mut dyn FnMut(&RoaringBitmap),
    ) {
        let Some(name) = self.symbols.lookup(name) else { return };
        for &value in self.postings.values_of(name) {
            if keep(self.symbols.resolve(value)) {
                visit(&self.postings.by_pair[&(name, value)]);
            }
        }
    }

    fn postings(&self, name: &str, value: &str) -> Option<RoaringBitmap> {
        let key = (self.symbols.lookup(name)?, self.symbols.lookup(value)?);
        self.postings.by_pair.get(&key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use argus_model::MatchOp;

    use super::*;

    /// Series 0..4: {job=api, env=prod}, {job=api}, {job=web, env=dev}, {env=""→absent, x=a\nb}
    fn fixture() -> (Symbols, Postings) {
        let mut symbols = Symbols::default();
        let mut postings = Postings::default();
        let series: [&[(&str, &str)]; 4] = [
            &[("job", "api"), ("env", "prod")],
            &[("job", "api")],
            &[("job", "web"), ("env", "dev")],
            &[("x", "a\nb")],
        ];
        for (id, labels) in series.iter().enumerate() {
            let syms: Vec<_> = labels.iter().map(|(n, v)| (symbols.intern(n), symbols.intern(v))).collect();
            postings.add(id as u32, &syms);
        }
        (symbols, postings)
    }

    fn select(matchers: &[(MatchOp, &str, &str)]) -> Vec<u32> {
        let (symbols, postings) = fixture();
        let matchers: Vec<Matcher> =
            matchers.iter().map(|(op, n, v)| Matcher::new(*op, *n, *v).unwrap()).collect();
        postings.select(&symbols, &matchers).iter().collect()
    }

    #[test]
    fn equal() {
        assert_eq!(select(&[(MatchOp::Equal, "job", "api")]), [0, 1]);
        assert_eq!(select(&[(MatchOp::Equal, "job", "nope")]), Vec::<u32>::new());
        assert_eq!(select(&[(MatchOp::Equal, "nolabel", "x")]), Vec::<u32>::new());
    }

    #[test]
    fn equal_empty_selects_series_without_the_label() {
        assert_eq!(select(&[(MatchOp::Equal, "env", "")]), [1, 3]);
        assert_eq!(select(&[(MatchOp::Equal, "nolabel", "")]), [0, 1, 2, 3]);
    }

    #[test]
    fn not_equal_includes_series_without_the_label() {
        assert_eq!(select(&[(MatchOp::NotEqual, "env", "prod")]), [1, 2, 3]);
        assert_eq!(select(&[(MatchOp::NotEqual, "env", "")]), [0, 2]);
    }

    #[test]
    fn regex_match() {
        assert_eq!(select(&[(MatchOp::RegexMatch, "job", "a.*")]), [0, 1]);
        assert_eq!(select(&[(MatchOp::RegexMatch, "job", "api|web")]), [0, 1, 2]);
        assert_eq!(select(&[(MatchOp::RegexMatch, "job", "w[a-z]b")]), [2]);
        assert_eq!(select(&[(MatchOp::RegexMatch, "x", "a.b")]), [3]);
    }

    #[test]
    fn regex_matching_empty_includes_series_without_the_label() {
        assert_eq!(select(&[(MatchOp::RegexMatch, "env", ".*")]), [0, 1, 2, 3]);
        assert_eq!(select(&[(MatchOp::RegexMatch, "env", "prod|")]), [0, 1, 3]);
        assert_eq!(select(&[(MatchOp::RegexMatch, "env", ".+")]), [0, 2]);
    }

    #[test]
    fn regex_no_match() {
        assert_eq!(select(&[(MatchOp::RegexNoMatch, "env", "prod|dev")]), [1, 3]);
        assert_eq!(select(&[(MatchOp::RegexNoMatch, "env", "")]), [0, 2]);
        assert_eq!(select(&[(MatchOp::RegexNoMatch, "env", ".*")]), Vec::<u32>::new());
        assert_eq!(select(&[(MatchOp::RegexNoMatch, "job", "a.*")]), [2, 3]);
    }

    #[test]
    fn a_remembered_answer_is_dropped_when_series_come_or_go() {
        let (mut symbols, mut postings) = fixture();
        let matchers = [Matcher::new(MatchOp::RegexMatch, "job", "a.*").unwrap()];
        let select = |postings: &Postings, symbols: &Symbols| -> Vec<u32> {
            postings.select(symbols, &matchers).iter().collect()
        };
        assert_eq!(select(&postings, &symbols), [0, 1]);
        assert_eq!(select(&postings, &symbols), [0, 1]);
        let admin: InternedLabels = Box::new([(symbols.intern("job"), symbols.intern("admin"))]);
        postings.add(4, &admin);
        assert_eq!(select(&postings, &symbols), [0, 1, 4]);
        postings.remove(&[(4, admin)]);
        assert_eq!(select(&postings, &symbols), [0, 1]);
    }

    #[test]
    fn matchers_intersect() {
        assert_eq!(select(&[(MatchOp::Equal, "job", "api"), (MatchOp::NotEqual, "env", "prod")]), [1]);
        assert_eq!(select(&[]), [0, 1, 2, 3]);
    }
}
