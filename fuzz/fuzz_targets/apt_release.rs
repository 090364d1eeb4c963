//! `Release` files (Debian repository format §Release): the fields, the checksum lists and
//! the dates.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rel) = formats::apt::release::Release::parse(text) {
        let _ = rel.entries();
    }
    for line in text.lines().take(4) {
        let _ = formats::apt::release::parse_date(line);
    }
});
