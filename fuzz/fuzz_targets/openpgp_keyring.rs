//! OpenPGP keyrings as `keys` reads them (binary or armored, RFC 9580), and signatures
//! checked against whatever keyring the input holds.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(k) = keys::openpgp::Keyring::from_bytes(data) {
        let _ = k.fingerprints();
        let _ = k.verify_detached(b"Origin: x\n", data);
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = k.verify_inrelease(text);
        }
    }
});
