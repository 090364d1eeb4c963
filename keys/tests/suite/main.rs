//! keys' integration tests, one binary: `openpgp_interop` (our OpenPGP code against the
//! real `gpg`/`gpgv`) and `snapshot_keys` (the `mirror-keys`-style snapshot key files).
//! Run one module with `cargo test -p keys --test suite <module>::`.

mod common;

mod openpgp_interop;
mod snapshot_keys;
