//! The request headers the server parses itself: `Range` (RFC 9110 §14.2) against sizes at
//! the edges, and `Accept` with the `format` query of PEP 691 §Version + format selection.
//! A satisfiable range must lie inside the representation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mirror_server::serve::body::{ByteRange, parse_range};
use mirror_server::serve::simple::negotiate;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for size in [0u64, 1, 1000, u64::MAX] {
        if let ByteRange::Partial { start, end } = parse_range(text, size) {
            assert!(
                start <= end && end < size,
                "{text:?} over {size}: {start}-{end}"
            );
        }
    }
    let (query, accept) = text.split_once('\n').unwrap_or(("", text));
    let _ = negotiate(Some(query), Some(accept));
    let _ = negotiate(None, Some(text));
});
