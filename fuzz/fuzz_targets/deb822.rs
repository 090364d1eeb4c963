//! deb822 paragraphs (Debian Policy §5.1) as every APT file is read: `deb822::parse`,
//! then every field value split as a multi-line field.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(paras) = formats::deb822::parse(text) {
        for p in &paras {
            for (_, value) in p.fields() {
                for line in formats::deb822::split_lines_field(value) {
                    assert!(!line.contains('\n'));
                }
            }
        }
    }
});
