//! Fuzzes the exposition parser (`argus_ingest::exposition`, Prometheus text and OpenMetrics)
//! with arbitrary bytes: it must never panic, and its two entry points must agree. It is not a
//! test of what the parser accepts; the unit and property tests beside the parser cover that.
#![no_main]

use argus_ingest::exposition::{Format, parse, parse_as, samples};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The import endpoint refuses non-UTF-8 bodies before parsing, so only text is interesting.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.split('\n').count();
    let lazily: Vec<_> = samples(text).collect();
    for result in &lazily {
        match result {
            Ok(sample) => assert!(sample.labels.metric_name().is_some()),
            Err(e) => assert!((1..=lines).contains(&e.line), "{e}"),
        }
    }
    // `parse` is `samples` stopped at the first error.
    let first_error = lazily.iter().find_map(|r| r.as_ref().err());
    match parse(text) {
        Ok(all) => {
            assert!(first_error.is_none());
            assert_eq!(all.len(), lazily.len());
        }
        Err(e) => assert_eq!(Some(&e), first_error),
    }
    // The OpenMetrics reading of the same text must not panic either.
    let _ = parse_as(text, Format::OpenMetrics);
});
