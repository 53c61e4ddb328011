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

use super::{SymbolId, Symbols};

#[derive(Debug, Default)]
pub(crate) struct Postings {
    by_pair: HashMap<(SymbolId, SymbolId), RoaringBitmap>,
    /// Value symbols of each label name, in insertion order.
    values: HashMap<SymbolId, Vec<SymbolId>>,
    all: RoaringBitmap,
}

impl Postings {
    pub fn add(&mut self, series: u32, labels: &[(SymbolId, SymbolId)]) {
        self.all.insert(series);
        for &(name, value) in labels {
            let bitmap = self.by_pair.entry((name, value)).or_insert_with(|| {
                self.values.entry(name).or_default().push(value);
                RoaringBitmap::new()
            });
            bitmap.insert(series);
        }
    }

    /// Value symbols label `name` takes on at least one series.
    pub fn values_of(&self, name: SymbolId) -> &[SymbolId] {
        self.values.get(&name).map(Vec::as_slice).unwrap_or_default()
    }

    /// Series that satisfy every matcher; all series when there are none.
    pub fn select(&self, symbols: &Symbols, matchers: &[Matcher]) -> RoaringBitmap {
        // Matchers that select by inclusion are usually the most selective: start with them.
        let mut ordered: Vec<&Matcher> = matchers.iter().collect();
        ordered.sort_by_key(|m| m.matches_empty());
        let mut result: Option<RoaringBitmap> = None;
        for matcher in ordered {
            if result.as_ref().is_some_and(RoaringBitmap::is_empty) {
                break;
            }
            let matched = self.select_one(symbols, matcher);
            result = Some(match result {
                None => matched,
                Some(acc) => acc & matched,
            });
        }
        result.unwrap_or_else(|| self.all.clone())
    }

    fn select_one(&self, symbols: &Symbols, matcher: &Matcher) -> RoaringBitmap {
        let Some(name) = symbols.lookup(&matcher.name) else {
            // No series has the label: all of them see "".
            return if matcher.matches_empty() { self.all.clone() } else { RoaringBitmap::new() };
        };
        if matcher.matches_empty() {
            let rejected = self.union_where(symbols, name, matcher, false);
            &self.all - rejected
        } else {
            self.union_where(symbols, name, matcher, true)
        }
    }

    /// Union of `P(name=v)` over the values `v` for which `matcher.matches(v) == wanted`.
    fn union_where(
        &self,
        symbols: &Symbols,
        name: SymbolId,
        matcher: &Matcher,
        wanted: bool,
    ) -> RoaringBitmap {
        // With a finite positive form, the values the matcher accepts (or, when negated,
        // rejects) are exactly that list.
        if let Some(literals) = matcher.positive_values()
            && wanted != matcher.is_negative()
        {
            return self.union_of_values(symbols, name, literals.into_iter());
        }
        let mut union = RoaringBitmap::new();
        for &value in self.values_of(name) {
            if matcher.matches(symbols.resolve(value)) == wanted {
                union |= &self.by_pair[&(name, value)];
            }
        }
        union
    }

    fn union_of_values<'a>(
        &self,
        symbols: &Symbols,
        name: SymbolId,
        values: impl Iterator<Item = &'a str>,
    ) -> RoaringBitmap {
        let mut union = RoaringBitmap::new();
        for value in values {
            if let Some(bitmap) = symbols.lookup(value).and_then(|v| self.by_pair.get(&(name, v))) {
                union |= bitmap;
            }
        }
        union
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
    fn matchers_intersect() {
        assert_eq!(select(&[(MatchOp::Equal, "job", "api"), (MatchOp::NotEqual, "env", "prod")]), [1]);
        assert_eq!(select(&[]), [0, 1, 2, 3]);
    }
}
