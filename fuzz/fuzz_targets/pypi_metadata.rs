//! Core metadata (`METADATA`, PEP 658 `.metadata` files; the email-header format of the
//! core metadata specification).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = formats::pypi::metadata::CoreMetadata::parse(data);
});
