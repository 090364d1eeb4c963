//! Debian copyright files (DEP-5 and free-form, Debian Policy §12.5) as the SBOM reads a
//! package's license: `apt::copyright::license_expression` never panics, stays short, and
//! every `LicenseRef-` it makes is a valid SPDX idstring.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(e) = formats::apt::copyright::license_expression(&text) {
        assert!(!e.is_empty());
        assert!(e.len() <= 64 * 1024, "{} bytes", e.len());
        for w in e.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
            if let Some(id) = w.strip_prefix("LicenseRef-") {
                assert!(
                    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
                    "{w}"
                );
            }
        }
    }
});
