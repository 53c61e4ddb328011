//! Parsing of Prometheus API parameters (pure): form/query-string pairs with repeated keys
//! (`match[]`), timestamps as RFC 3339 or float Unix seconds, series selectors, and `limit`.

use argus_model::{MatchOp, Matcher, TimeRange, Timestamp};
use promql_parser::label::MatchOp as ParsedOp;
use promql_parser::parser::Expr;

use super::error::ApiError;

/// Lowest and highest timestamps the API accepts, as Prometheus's `MinTime`/`MaxTime`
/// (years 0001 and 9999 roughly), so open ranges print and compare sanely.
const MIN_TIME: Timestamp = -62_135_596_800_000;
const MAX_TIME: Timestamp = 253_402_300_799_000;

/// All parameters of a request: the URL query string followed by a form body, as Prometheus
/// merges them for POST.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn parse(query: Option<&str>, form_body: &[u8]) -> Self {
        let mut pairs: Vec<(String, String)> =
            form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
        pairs.extend(form_urlencoded::parse(form_body).into_owned());
        Self { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// `start`/`end` as a range, open where absent.
    pub fn time_range(&self) -> Result<TimeRange, ApiError> {
        let start =
            self.get("start").filter(|s| !s.is_empty()).map(|s| parse_time(s, "start")).transpose()?;
        let end = self.get("end").filter(|s| !s.is_empty()).map(|s| parse_time(s, "end")).transpose()?;
        let range = TimeRange::new(start.unwrap_or(MIN_TIME), end.unwrap_or(MAX_TIME));
        if range.max < range.min {
            return Err(ApiError::bad_data("end timestamp must not be before start time"));
        }
        Ok(range)
    }

    /// `limit`: a non-negative integer, 0 or absent meaning no limit.
    pub fn limit(&self) -> Result<Option<usize>, ApiError> {
        match self.get("limit").filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(text) => match text.parse::<usize>() {
                Ok(0) => Ok(None),
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(ApiError::bad_data(format!("cannot parse \"{text}\" to a valid limit"))),
            },
        }
    }

    /// Every `match[]` as a list of alternatives, each a conjunction of matchers.
    pub fn selectors(&self) -> Result<Vec<Vec<Matcher>>, ApiError> {
        let mut alternatives = Vec::new();
        for text in self.all("match[]") {
            alternatives.extend(parse_selector(text)?);
        }
        Ok(alternatives)
    }
}

/// Parses a series selector such as `up{job=~"api|web"}` with the PromQL parser. A selector
/// with `or` (`{a="1" or a="2"}`) yields one conjunction per alternative.
pub fn parse_selector(text: &str) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let invalid = |reason: String| ApiError::bad_data(format!("invalid parameter \"match[]\": {reason}"));
    let selector = match promql_parser::parser::parse(text).map_err(invalid)? {
        Expr::VectorSelector(selector) => selector,
        _ => return Err(invalid(format!("{text:?} is not a series selector"))),
    };
    let convert = |matchers: &[promql_parser::label::Matcher]| -> Result<Vec<Matcher>, ApiError> {
        let mut converted: Vec<Matcher> = matchers.iter().map(convert_matcher).collect::<Result<_, _>>()?;
        if let Some(name) = &selector.name {
            converted.push(Matcher::equal(argus_model::METRIC_NAME, name.clone()));
        }
        Ok(converted)
    };
    if selector.matchers.or_matchers.is_empty() {
        Ok(vec![convert(&selector.matchers.matchers)?])
    } else {
        selector.matchers.or_matchers.iter().map(|m| convert(m)).collect()
    }
}

fn convert_matcher(matcher: &promql_parser::label::Matcher) -> Result<Matcher, ApiError> {
    let op = match matcher.op {
        ParsedOp::Equal => MatchOp::Equal,
        ParsedOp::NotEqual => MatchOp::NotEqual,
        ParsedOp::Re(_) => MatchOp::RegexMatch,
        ParsedOp::NotRe(_) => MatchOp::RegexNoMatch,
    };
    Matcher::new(op, matcher.name.clone(), matcher.value.clone())
        .map_err(|e| ApiError::bad_data(e.to_string()))
}

/// A timestamp as Prometheus accepts it: Unix seconds (with fraction) or RFC 3339.
pub fn parse_time(text: &str, param: &str) -> Result<Timestamp, ApiError> {
    let invalid = || {
        ApiError::bad_data(format!(
            "invalid parameter \"{param}\": cannot parse \"{text}\" to a valid timestamp"
        ))
    };
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() {
            return Err(invalid());
        }
        return Ok((seconds * 1000.0).round().clamp(MIN_TIME as f64, MAX_TIME as f64) as Timestamp);
    }
    parse_rfc3339(text).ok_or_else(invalid)
}

/// RFC 3339 text to milliseconds since the epoch (the fraction past milliseconds dropped).
fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    argus_model::calendar::parse_rfc3339_nanos(text).map(|nanos| nanos.div_euclid(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000", "t").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1700000000.123", "t").unwrap(), 1_700_000_000_123);
        assert_eq!(parse_time("1970-01-01T00:00:01Z", "t").unwrap(), 1000);
        assert_eq!(parse_time("2023-11-14T22:13:20.5Z", "t").unwrap(), 1_700_000_000_500);
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00", "t").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("1969-12-31T23:59:59Z", "t").unwrap(), -1000);
        for bad in ["", "abc", "2023-13-01T00:00:00Z", "2023-11-14T22:13:20", "NaN", "Inf"] {
            assert!(parse_time(bad, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn params_merge_query_and_form_with_repeated_keys() {
        let params = Params::parse(Some("match[]=up&start=1"), b"match%5B%5D=%7Bjob%3D%22x%22%7D&end=2");
        assert_eq!(params.all("match[]").collect::<Vec<_>>(), ["up", "{job=\"x\"}"]);
        assert_eq!(params.time_range().unwrap(), TimeRange::new(1000, 2000));
        assert_eq!(
            Params::parse(Some("start=5&end=1"), b"").time_range().unwrap_err().kind,
            argus_model::ErrorKind::BadData
        );
    }

    #[test]
    fn selectors() {
        let parsed = parse_selector(r#"up{job=~"a|b", env!="dev"}"#).unwrap();
        assert_eq!(parsed.len(), 1);
        let names: Vec<String> = parsed[0].iter().map(|m| m.to_string()).collect();
        assert!(names.contains(&"__name__=\"up\"".to_string()), "{names:?}");
        assert!(names.contains(&"job=~\"a|b\"".to_string()));
        assert_eq!(parse_selector(r#"{a="1" or a="2"}"#).unwrap().len(), 2);
        for bad in ["rate(up[5m])", "{}", "{job=~\".*\"}", "up{", "1"] {
            assert!(parse_selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(Params::parse(Some("limit=5"), b"").limit().unwrap(), Some(5));
        assert_eq!(Params::parse(Some("limit=0"), b"").limit().unwrap(), None);
        assert!(Params::parse(Some("limit=-1"), b"").limit().is_err());
    }
}
