//! Decompression of fetched indexes (`Packages.gz`, `Packages.xz`, plain) under the bounds
//! the readers set: the first byte picks the decoder, the rest is the file. Reading must end
//! in a result or an error within the text bound (4 MiB here), never run away in memory.
#![no_main]
use std::io::BufReader;

use formats::apt::stream::{StanzaReader, index_reader, package_entry, stanza_field};
use libfuzzer_sys::fuzz_target;

const MAX_TEXT: u64 = 4 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let path = match pick % 3 {
        0 => "main/binary-amd64/Packages.gz",
        1 => "main/binary-amd64/Packages.xz",
        _ => "main/binary-amd64/Packages",
    };
    let Ok(reader) = index_reader(path, bytes) else {
        return;
    };
    let mut stanzas = StanzaReader::new(path, BufReader::new(reader), MAX_TEXT);
    let mut index = 0;
    while let Ok(Some(st)) = stanzas.next_stanza() {
        assert!(st.range.end <= MAX_TEXT);
        if stanza_field(st.text, "Filename").is_some() {
            let _ = package_entry(&st, index);
        }
        index += 1;
    }
    let _ = formats::apt::stream::decompress_index(path, bytes, MAX_TEXT);
});
