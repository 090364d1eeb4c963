//! Ed25519 snapshot keys: files, trusted-key directories and interoperability with the
//! OpenSSL command line (`openssl pkeyutl -rawin`, OpenSSL 3).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::common::{have, mode, run, run_ok};
use keys::snapshot::{PublicKey, SigningKey, TrustedKeys, write_keypair};
use keys::{KeyError, SignatureError};

const MSG: &[u8] = b"{\"manifest_version\":1,\"channel\":\"stable\",\"sequence\":7}\n";

#[test]
fn write_keypair_modes_and_refusal_to_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let key = SigningKey::generate();
    let (private, public) = write_keypair(&dir, &key, false).unwrap();
    assert_eq!(private, dir.join("snapshot.key"));
    assert_eq!(public, dir.join("snapshot.pub"));
    assert_eq!(mode(&private), 0o600);
    // 0644 minus whatever the umask removes; never writable by others, always owner-readable.
    assert_eq!(mode(&public) & 0o022, 0);
    assert_ne!(mode(&public) & 0o400, 0);

    let loaded = SigningKey::load(&private).unwrap();
    assert_eq!(loaded.public_key(), key.public_key());
    let pub_text = fs::read_to_string(&public).unwrap();
    assert_eq!(PublicKey::from_pem(&pub_text).unwrap(), key.public_key());

    // Refuses to overwrite, and leaves both files untouched.
    let other = SigningKey::generate();
    let err = write_keypair(&dir, &other, false).unwrap_err();
    assert!(
        matches!(err, KeyError::AlreadyExists { ref path } if path == &private),
        "{err}"
    );
    assert!(err.to_string().contains("snapshot.key"), "{err}");
    assert_eq!(
        SigningKey::load(&private).unwrap().public_key(),
        key.public_key()
    );

    // Only the public file present still refuses (nothing is half-written).
    fs::remove_file(&private).unwrap();
    let err = write_keypair(&dir, &other, false).unwrap_err();
    assert!(
        matches!(err, KeyError::AlreadyExists { ref path } if path == &public),
        "{err}"
    );
    assert!(!private.exists());

    // With force: replaced, and the private key is 0600 even if the old file was wider.
    fs::write(&private, "old").unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o644)).unwrap();
    write_keypair(&dir, &other, true).unwrap();
    assert_eq!(mode(&private), 0o600);
    assert_eq!(
        SigningKey::load(&private).unwrap().public_key(),
        other.public_key()
    );
    assert_eq!(
        PublicKey::from_pem(&fs::read_to_string(&public).unwrap()).unwrap(),
        other.public_key()
    );
    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn load_errors_name_the_path_and_hide_key_material() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.key");
    let err = SigningKey::load(&missing).unwrap_err();
    assert!(matches!(err, KeyError::Io { .. }));
    assert!(err.to_string().contains("nope.key"), "{err}");

    // A public key where a private key is expected.
    let key = SigningKey::generate();
    let wrong = tmp.path().join("wrong.key");
    fs::write(&wrong, key.public_key().to_pem()).unwrap();
    let err = SigningKey::load(&wrong).unwrap_err();
    assert!(matches!(err, KeyError::Invalid { .. }));
    assert!(err.to_string().contains("wrong.key"), "{err}");

    // A private key where a public key is expected: the error must not echo the key.
    let keys_dir = tmp.path().join("trusted");
    fs::create_dir(&keys_dir).unwrap();
    let pem = key.to_pkcs8_pem();
    fs::write(keys_dir.join("oops.pem"), &pem).unwrap();
    let err = TrustedKeys::load_dir(&keys_dir).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("oops.pem"), "{msg}");
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!msg.contains(line), "key material in error: {msg}");
        assert!(!format!("{err:?}").contains(line));
    }
}

#[test]
fn trusted_keys_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = SigningKey::generate();
    let b = SigningKey::generate();
    let stranger = SigningKey::generate();
    fs::write(dir.join("a.pub"), a.public_key().to_pem()).unwrap();
    fs::write(dir.join("b.pem"), b.public_key().to_pem()).unwrap();
    fs::write(dir.join("README"), "not a key, ignored").unwrap();

    let trusted = TrustedKeys::load_dir(dir).unwrap();
    let listed: Vec<_> = trusted
        .keys()
        .map(|(p, k)| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                k.clone(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            ("a.pub".to_string(), a.public_key()),
            ("b.pem".to_string(), b.public_key())
        ]
    );

    assert_eq!(trusted.verify(MSG, &a.sign(MSG)).unwrap(), &a.public_key());
    assert_eq!(trusted.verify(MSG, &b.sign(MSG)).unwrap(), &b.public_key());

    let err = trusted.verify(MSG, &stranger.sign(MSG)).unwrap_err();
    assert_eq!(
        err,
        SignatureError::Untrusted {
            trusted: vec![a.public_key().key_id(), b.public_key().key_id()]
        }
    );
    let text = err.to_string();
    assert!(text.contains(&a.public_key().key_id()) && text.contains(&b.public_key().key_id()));

    // Modified message: no key verifies it.
    let mut modified = MSG.to_vec();
    modified[0] ^= 1;
    assert!(matches!(
        trusted.verify(&modified, &a.sign(MSG)),
        Err(SignatureError::Untrusted { .. })
    ));
    assert_eq!(
        trusted.verify(MSG, &[0u8; 10]),
        Err(SignatureError::Length { len: 10 })
    );

    // from_keys gives the same behaviour.
    let mem = TrustedKeys::from_keys(vec![("mem".into(), a.public_key())]);
    assert!(mem.verify(MSG, &a.sign(MSG)).is_ok());
    assert!(mem.verify(MSG, &b.sign(MSG)).is_err());
}

#[test]
fn trusted_keys_directory_errors() {
    let tmp = tempfile::tempdir().unwrap();

    // Empty directory (and one with only non-key files).
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    fs::write(empty.join("notes.txt"), "x").unwrap();
    let err = TrustedKeys::load_dir(&empty).unwrap_err();
    assert!(matches!(err, KeyError::NoTrustedKeys { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("no trusted keys in {}", empty.display())),
        "{err}"
    );

    // Unparsable key file: an error naming the file, not skipped.
    let bad = tmp.path().join("bad");
    fs::create_dir(&bad).unwrap();
    fs::write(
        bad.join("good.pub"),
        SigningKey::generate().public_key().to_pem(),
    )
    .unwrap();
    fs::write(
        bad.join("broken.pub"),
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let err = TrustedKeys::load_dir(&bad).unwrap_err();
    assert!(matches!(err, KeyError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("broken.pub"), "{err}");

    // Symlinks are refused, even to a valid key.
    let linked = tmp.path().join("linked");
    fs::create_dir(&linked).unwrap();
    let target = tmp.path().join("real.pub");
    fs::write(&target, SigningKey::generate().public_key().to_pem()).unwrap();
    std::os::unix::fs::symlink(&target, linked.join("link.pub")).unwrap();
    let err = TrustedKeys::load_dir(&linked).unwrap_err();
    assert!(matches!(err, KeyError::NotRegularFile { .. }), "{err:?}");
    assert!(err.to_string().contains("link.pub"), "{err}");

    // A missing directory.
    let err = TrustedKeys::load_dir(&tmp.path().join("missing")).unwrap_err();
    assert!(matches!(err, KeyError::Io { .. }));
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn openssl_verifies_our_signature_and_reads_our_keys() {
    if !have(
        "openssl",
        "openssl_verifies_our_signature_and_reads_our_keys",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = SigningKey::generate();
    let (private, public) = write_keypair(dir, &key, false).unwrap();
    let msg = dir.join("msg");
    let sig = dir.join("sig");
    fs::write(&msg, MSG).unwrap();
    fs::write(&sig, key.sign(MSG)).unwrap();

    let out = run_ok(
        Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
            .arg(&public)
            .arg("-rawin")
            .arg("-in")
            .arg(&msg)
            .arg("-sigfile")
            .arg(&sig),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Signature Verified Successfully"));

    // A modified message fails with openssl too.
    let bad = dir.join("bad");
    let mut modified = MSG.to_vec();
    modified[5] ^= 1;
    fs::write(&bad, &modified).unwrap();
    let out = run(Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(&public)
        .arg("-rawin")
        .arg("-in")
        .arg(&bad)
        .arg("-sigfile")
        .arg(&sig));
    assert!(!out.status.success(), "openssl accepted a modified message");

    // openssl reads our PKCS#8 private key: same public key, same (deterministic) signature.
    let out = run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&private),
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        key.public_key().to_pem()
    );
    let sig2 = dir.join("sig2");
    run_ok(
        Command::new("openssl")
            .args(["pkeyutl", "-sign", "-rawin", "-inkey"])
            .arg(&private)
            .arg("-in")
            .arg(&msg)
            .arg("-out")
            .arg(&sig2),
    );
    let openssl_sig = fs::read(&sig2).unwrap();
    assert_eq!(openssl_sig, key.sign(MSG).to_vec());
    key.public_key().verify(MSG, &openssl_sig).unwrap();
}

#[test]
fn openssl_generated_key_loads_and_signs() {
    if !have("openssl", "openssl_generated_key_loads_and_signs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key_path = dir.join("openssl.key");
    let pub_path = dir.join("openssl.pub");
    run_ok(
        Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&key_path),
    );
    run_ok(
        Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&key_path)
            .arg("-out")
            .arg(&pub_path),
    );

    let pem = fs::read_to_string(&key_path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let key = SigningKey::from_pkcs8_pem(&pem).unwrap();
    let loaded = SigningKey::load(&key_path).unwrap();
    assert_eq!(loaded.public_key(), key.public_key());
    // Our encoding of an openssl key is byte-identical to what openssl wrote.
    assert_eq!(key.to_pkcs8_pem(), pem);

    let openssl_pub = PublicKey::from_pem(&fs::read_to_string(&pub_path).unwrap()).unwrap();
    assert_eq!(openssl_pub, key.public_key());

    let msg = dir.join("msg");
    let sig = dir.join("sig");
    fs::write(&msg, MSG).unwrap();
    fs::write(&sig, key.sign(MSG)).unwrap();
    let out = run_ok(
        Command::new("openssl")
            .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
            .arg(&pub_path)
            .arg("-rawin")
            .arg("-in")
            .arg(&msg)
            .arg("-sigfile")
            .arg(&sig),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Signature Verified Successfully"));

    // And the openssl public key in a trusted directory accepts the signature.
    let trusted_dir = dir.join("trusted");
    fs::create_dir(&trusted_dir).unwrap();
    fs::copy(&pub_path, trusted_dir.join("openssl.pub")).unwrap();
    let trusted = TrustedKeys::load_dir(&trusted_dir).unwrap();
    assert_eq!(
        trusted.verify(MSG, &fs::read(&sig).unwrap()).unwrap(),
        &openssl_pub
    );
}
