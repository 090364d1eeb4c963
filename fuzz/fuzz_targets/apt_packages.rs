//! `Packages` indexes as sync reads them (`PackageReader`, with the bounds of the stream
//! reader), the relation fields of each entry, and Debian version comparison (which must
//! be a total order: antisymmetric on every pair the input gives).
#![no_main]
use std::cmp::Ordering;

use formats::apt::relation::{parse_provides, parse_relations};
use formats::apt::stream::PackageReader;
use formats::apt::version;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = PackageReader::new("Packages", data, 1 << 20);
    let mut versions = Vec::new();
    while let Ok(Some((e, range))) = r.next_entry() {
        assert!(range.end <= data.len() as u64);
        versions.push(e.version.clone());
        if let Some(d) = e.paragraph.get("Depends") {
            let _ = parse_relations(d);
        }
        if let Some(p) = e.paragraph.get("Provides") {
            let _ = parse_provides(p);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = formats::apt::packages::parse_packages(text);
        let _ = parse_relations(text);
        for v in text.lines().take(8) {
            let _ = version::is_valid(v);
            versions.push(v.to_owned());
        }
    }
    for a in versions.iter().take(16) {
        assert_eq!(version::compare(a, a), Ordering::Equal, "{a:?}");
        for b in versions.iter().take(16) {
            assert_eq!(
                version::compare(a, b),
                version::compare(b, a).reverse(),
                "{a:?} {b:?}"
            );
        }
    }
});
