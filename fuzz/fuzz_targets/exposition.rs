//! Fuzzes the exposition parser (`argus_ingest::exposition`, Prometheus text and OpenMetrics)
//! with arbitrary bytes: it must never panic, and its entry points must agree. It is not a
//! test of what the parser accepts; the unit and property tests beside the parser cover that.
#![no_main]

use argus_ingest::exposition::{Format, SampleLines, parse, parse_as, samples};
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
    // The borrowed reading gives the same samples and errors as the owned one.
    let mut lines = SampleLines::new(text, Format::Prometheus);
    let mut labels = Vec::new();
    for owned in &lazily {
        let borrowed = lines.next_into(&mut labels).expect("as many items");
        match (owned, borrowed) {
            (Ok(sample), Ok((value, timestamp))) => {
                assert_eq!(sample.timestamp, timestamp);
                assert_eq!(sample.value.to_bits(), value.to_bits());
                let pairs = labels.iter().map(|(name, value)| (*name, &**value));
                assert!(sample.labels.iter().map(|l| (&*l.name, &*l.value)).eq(pairs));
            }
            (Err(owned), Err(borrowed)) => assert_eq!(*owned, borrowed),
            (owned, borrowed) => panic!("{owned:?} but {borrowed:?}"),
        }
    }
    assert!(lines.next_into(&mut labels).is_none());
    // The OpenMetrics reading of the same text must not panic either.
    let _ = parse_as(text, Format::OpenMetrics);
});
