//! InRelease: the OpenPGP cleartext-signature framing (RFC 9580 §7) and the signature
//! packets, verified against a fixed keyring. Nothing unsigned may verify.
#![no_main]
use std::sync::OnceLock;

use keys::openpgp::{Keyring, RepoSigningKey};
use libfuzzer_sys::fuzz_target;

fn keyring() -> &'static Keyring {
    static K: OnceLock<Keyring> = OnceLock::new();
    K.get_or_init(|| {
        let key = RepoSigningKey::generate("Fuzz Archive <fuzz@example.invalid>").expect("key");
        Keyring::from_bytes(&key.public_binary().expect("public key")).expect("keyring")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The fixed key's secret half is gone once the keyring is built: any input that
    // verifies would be a forgery.
    assert!(keyring().verify_inrelease(text).is_err());
    if let Some((sig, msg)) = data.split_at_checked(data.len() / 2) {
        assert!(keyring().verify_detached(msg, sig).is_err());
    }
});
