//! OpenPGP repository signing and upstream verification, checked against real GnuPG:
//! `gpgv` (what APT runs) must accept what we sign, and we must accept what `gpg` signs,
//! including signatures by signing subkeys.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{have, mode, run, run_ok};

mod gpgv_agreement;
use keys::openpgp::{Keyring, RepoSigningKey, write_repo_key};
use keys::{KeyError, VerifyError};

const RELEASE: &str = "Origin: Mirror\n\
Label: Mirror\n\
Suite: stable\n\
Codename: bookworm\n\
Date: Sat, 21 Nov 2026 15:00:00 UTC\n\
Acquire-By-Hash: yes\n\
Architectures: amd64\n\
Components: main\n\
Description: air-gap mirror test repository\n\
SHA256:\n \
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 main/binary-amd64/Packages\n";

const USER_ID: &str = "Air-gap mirror repository key <repo@mirror.invalid>";

/// A throw-away GnuPG home directory; its agent is stopped on drop.
struct Gpg {
    home: PathBuf,
}

impl Gpg {
    fn new(parent: &Path) -> Self {
        use std::os::unix::fs::DirBuilderExt;
        let home = parent.join("gnupg");
        fs::DirBuilder::new().mode(0o700).create(&home).unwrap();
        Gpg { home }
    }

    /// `gpg` in batch mode with an empty passphrase (no pinentry).
    fn gpg(&self) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.arg("--homedir").arg(&self.home).args([
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        cmd
    }

    /// `gpg --faked-system-time` (for keys and signatures in the past).
    fn gpg_at(&self, time: &str) -> Command {
        let mut cmd = self.gpg();
        cmd.arg("--faked-system-time").arg(format!("{time}!"));
        cmd
    }

    fn gpgv(&self, keyring: &Path) -> Command {
        let mut cmd = Command::new("gpgv");
        cmd.arg("--homedir")
            .arg(&self.home)
            .arg("--keyring")
            .arg(keyring);
        cmd
    }

    /// Primary fingerprints of the keys in the GnuPG home, in order.
    fn primary_fingerprints(&self) -> Vec<String> {
        let out = run_ok(self.gpg().args(["--with-colons", "--list-keys"]));
        fingerprints_from_colons(&String::from_utf8_lossy(&out.stdout), "pub")
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.home)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Fingerprints that follow a `kind` record ("pub" or "sub") in `--with-colons` output.
fn fingerprints_from_colons(colons: &str, kind: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut want = false;
    for line in colons.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.first().copied() {
            Some("fpr") if want => {
                out.push(fields[9].to_string());
                want = false;
            }
            Some(rec) => want = rec == kind,
            None => {}
        }
    }
    out
}

fn have_gnupg(test: &str) -> bool {
    have("gpg", test) && have("gpgv", test) && have("gpgconf", test)
}

fn tamper(inrelease: &str) -> String {
    let tampered = inrelease.replace("Suite: stable", "Suite: stab1e");
    assert_ne!(tampered, inrelease);
    tampered
}

#[test]
fn repo_key_signatures_are_accepted_by_gpgv_and_keyring() {
    if !have_gnupg("repo_key_signatures_are_accepted_by_gpgv_and_keyring") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir);

    let key = RepoSigningKey::generate(USER_ID).unwrap();
    let [_secret, pub_asc, pub_gpg] = write_repo_key(&dir.join("keys"), &key, false).unwrap();

    let inrelease = key.sign_inrelease(RELEASE).unwrap();
    assert!(inrelease.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"));
    // Like gpg --clearsign: no blank line between the body and the signature.
    assert!(
        inrelease.contains("main/binary-amd64/Packages\n-----BEGIN PGP SIGNATURE-----"),
        "{inrelease}"
    );
    let release_gpg = key.sign_detached(RELEASE).unwrap();
    assert!(release_gpg.starts_with("-----BEGIN PGP SIGNATURE-----"));
    fs::write(dir.join("InRelease"), &inrelease).unwrap();
    fs::write(dir.join("Release"), RELEASE).unwrap();
    fs::write(dir.join("Release.gpg"), &release_gpg).unwrap();

    // GnuPG sees the same fingerprint, a v4 EdDSA (algorithm 22) key.
    let out = run_ok(
        gpg.gpg()
            .args(["--with-colons", "--show-keys"])
            .arg(&pub_gpg),
    );
    let colons = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        fingerprints_from_colons(&colons, "pub"),
        vec![key.fingerprint()]
    );
    assert!(
        colons
            .lines()
            .any(|l| l.starts_with("pub:") && l.split(':').nth(3) == Some("22")),
        "{colons}"
    );
    assert_eq!(key.fingerprint().len(), 40);
    assert!(
        key.fingerprint()
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    );

    // gpgv, exactly as APT runs it.
    let out = run_ok(gpg.gpgv(&pub_gpg).arg(dir.join("InRelease")));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Good signature"));
    let out = run_ok(
        gpg.gpgv(&pub_gpg)
            .arg(dir.join("Release.gpg"))
            .arg(dir.join("Release")),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Good signature"));

    // Our own verifier, with the binary and the armored public key.
    for keyring in [
        Keyring::load(&pub_gpg).unwrap(),
        Keyring::load(&pub_asc).unwrap(),
    ] {
        assert_eq!(keyring.fingerprints(), vec![key.fingerprint()]);
        let v = keyring.verify_inrelease(&inrelease).unwrap();
        assert_eq!(v.signer_fingerprints, vec![key.fingerprint()]);
        assert_eq!(v.signed_text, RELEASE.strip_suffix('\n').unwrap());
        let v = keyring
            .verify_detached(RELEASE.as_bytes(), release_gpg.as_bytes())
            .unwrap();
        assert_eq!(v.signer_fingerprints, vec![key.fingerprint()]);
        assert_eq!(v.signed_text, RELEASE);
    }

    // Tampering is caught by both.
    let keyring = Keyring::load(&pub_gpg).unwrap();
    let tampered = tamper(&inrelease);
    fs::write(dir.join("InRelease.bad"), &tampered).unwrap();
    let out = run(gpg.gpgv(&pub_gpg).arg(dir.join("InRelease.bad")));
    assert!(!out.status.success(), "gpgv accepted a tampered InRelease");
    let err = keyring.verify_inrelease(&tampered).unwrap_err();
    match &err {
        VerifyError::NoValidSignature {
            signature_key_ids,
            keyring_fingerprints,
            ..
        } => {
            assert_eq!(signature_key_ids, &vec![key.fingerprint()]);
            assert_eq!(keyring_fingerprints, &vec![key.fingerprint()]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("`keyring`"), "{err}");

    let tampered_release = RELEASE.replace("Suite: stable", "Suite: stab1e");
    fs::write(dir.join("Release.bad"), &tampered_release).unwrap();
    let out = run(gpg
        .gpgv(&pub_gpg)
        .arg(dir.join("Release.gpg"))
        .arg(dir.join("Release.bad")));
    assert!(!out.status.success(), "gpgv accepted a tampered Release");
    assert!(matches!(
        keyring.verify_detached(tampered_release.as_bytes(), release_gpg.as_bytes()),
        Err(VerifyError::NoValidSignature { .. })
    ));
    // Release.gpg is a binary signature: a line-ending change breaks it.
    assert!(
        keyring
            .verify_detached(
                RELEASE.replace('\n', "\r\n").as_bytes(),
                release_gpg.as_bytes()
            )
            .is_err()
    );

    // A different key does not verify.
    let other = RepoSigningKey::generate(USER_ID).unwrap();
    let other_ring = Keyring::from_bytes(&other.public_binary().unwrap()).unwrap();
    assert!(matches!(
        other_ring.verify_inrelease(&inrelease),
        Err(VerifyError::NoValidSignature { .. })
    ));
    let other_gpg = dir.join("other.gpg");
    fs::write(&other_gpg, other.public_binary().unwrap()).unwrap();
    assert!(
        !run(gpg.gpgv(&other_gpg).arg(dir.join("InRelease")))
            .status
            .success()
    );

    // Dash-escaping: a body line starting with '-' survives the round trip.
    let dashed = "Origin: Mirror\n-----BEGIN not really\n- dash\n";
    let signed = key.sign_inrelease(dashed).unwrap();
    fs::write(dir.join("Dashed"), &signed).unwrap();
    run_ok(gpg.gpgv(&pub_gpg).arg(dir.join("Dashed")));
    let v = keyring.verify_inrelease(&signed).unwrap();
    assert_eq!(v.signed_text, dashed.strip_suffix('\n').unwrap());
}

#[test]
fn repo_key_files_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo-key");
    let key = RepoSigningKey::generate(USER_ID).unwrap();
    let paths = write_repo_key(&dir, &key, false).unwrap();
    assert_eq!(
        paths,
        [
            dir.join("repo.key.asc"),
            dir.join("repo.pub.asc"),
            dir.join("repo.pub.gpg")
        ]
    );
    assert_eq!(mode(&paths[0]), 0o600);
    assert_eq!(mode(&paths[1]) & 0o022, 0);
    assert_eq!(mode(&paths[2]) & 0o022, 0);
    let secret_text = fs::read_to_string(&paths[0]).unwrap();
    assert!(secret_text.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
    assert!(
        fs::read_to_string(&paths[1])
            .unwrap()
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    );
    assert_eq!(fs::read(&paths[2]).unwrap(), key.public_binary().unwrap());

    // Reload: same key, and it still signs verifiably.
    let loaded = RepoSigningKey::load(&paths[0]).unwrap();
    assert_eq!(loaded.fingerprint(), key.fingerprint());
    let again = RepoSigningKey::from_armored(&key.to_armored_secret().unwrap()).unwrap();
    assert_eq!(again.fingerprint(), key.fingerprint());
    let ring = Keyring::load(&paths[2]).unwrap();
    assert!(!ring.is_empty());
    ring.verify_inrelease(&loaded.sign_inrelease(RELEASE).unwrap())
        .unwrap();

    // Debug never shows key material.
    let dbg = format!("{loaded:?}");
    assert!(dbg.contains(&key.fingerprint()));
    for line in secret_text.lines().skip(2).take(3) {
        assert!(!dbg.contains(line));
    }

    // No overwrite without force; with force, replaced and still 0600.
    let other = RepoSigningKey::generate(USER_ID).unwrap();
    let err = write_repo_key(&dir, &other, false).unwrap_err();
    assert!(matches!(err, KeyError::AlreadyExists { .. }), "{err}");
    assert_eq!(
        RepoSigningKey::load(&paths[0]).unwrap().fingerprint(),
        key.fingerprint()
    );
    write_repo_key(&dir, &other, true).unwrap();
    assert_eq!(mode(&paths[0]), 0o600);
    assert_eq!(
        RepoSigningKey::load(&paths[0]).unwrap().fingerprint(),
        other.fingerprint()
    );
    assert_eq!(
        Keyring::load(&paths[2]).unwrap().fingerprints(),
        vec![other.fingerprint()]
    );

    // Errors name the path.
    let err = RepoSigningKey::load(&paths[1]).unwrap_err();
    assert!(err.to_string().contains("repo.pub.asc"), "{err}");
    let err = RepoSigningKey::load(&dir.join("absent.asc")).unwrap_err();
    assert!(matches!(err, KeyError::Io { .. }) && err.to_string().contains("absent.asc"));
    let err = Keyring::load(&paths[0]).unwrap_err();
    assert!(
        err.to_string().contains("repo.key.asc") && err.to_string().contains("secret key"),
        "{err}"
    );
}

#[test]
fn malformed_inputs_are_errors() {
    let key = RepoSigningKey::generate(USER_ID).unwrap();
    let ring = Keyring::from_bytes(key.public_armored().unwrap().as_bytes()).unwrap();
    assert!(matches!(
        ring.verify_inrelease("Origin: x\n"),
        Err(VerifyError::Malformed { .. })
    ));
    assert!(matches!(
        ring.verify_inrelease(RELEASE),
        Err(VerifyError::Malformed { .. })
    ));
    assert!(matches!(
        ring.verify_detached(b"x", b""),
        Err(VerifyError::Malformed { .. })
    ));
    assert!(matches!(
        ring.verify_detached(b"x", b"junk"),
        Err(VerifyError::Malformed { .. })
    ));
    // A cleartext message whose signature block was cut off.
    let signed = key.sign_inrelease(RELEASE).unwrap();
    let cut = &signed[..signed.find("-----BEGIN PGP SIGNATURE-----").unwrap()];
    assert!(ring.verify_inrelease(cut).is_err());

    assert!(Keyring::from_bytes(b"").is_err());
    assert!(Keyring::from_bytes(b"hello").is_err());
    assert!(Keyring::from_bytes(&[0x99, 0x00, 0x01]).is_err());
    assert!(RepoSigningKey::from_armored("nope").is_err());
    assert!(RepoSigningKey::generate("").is_err());
}

#[test]
fn multi_key_keyrings() {
    let a = RepoSigningKey::generate("A <a@mirror.invalid>").unwrap();
    let b = RepoSigningKey::generate("B <b@mirror.invalid>").unwrap();
    let signed_by_b = b.sign_inrelease(RELEASE).unwrap();

    let mut binary = a.public_binary().unwrap();
    binary.extend(b.public_binary().unwrap());
    let ring = Keyring::from_bytes(&binary).unwrap();
    assert_eq!(ring.fingerprints(), vec![a.fingerprint(), b.fingerprint()]);
    assert_eq!(
        ring.verify_inrelease(&signed_by_b)
            .unwrap()
            .signer_fingerprints,
        vec![b.fingerprint()]
    );

    let armored = format!(
        "{}\n{}",
        a.public_armored().unwrap(),
        b.public_armored().unwrap()
    );
    let ring = Keyring::from_bytes(armored.as_bytes()).unwrap();
    assert_eq!(ring.fingerprints(), vec![a.fingerprint(), b.fingerprint()]);
    assert_eq!(
        ring.verify_inrelease(&signed_by_b)
            .unwrap()
            .signer_fingerprints,
        vec![b.fingerprint()]
    );
}

#[test]
fn gpg_signing_subkey_signatures_verify() {
    if !have_gnupg("gpg_signing_subkey_signatures_verify") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir);

    run_ok(gpg.gpg().args([
        "--quick-gen-key",
        "Test <t@example.invalid>",
        "ed25519",
        "cert",
        "never",
    ]));
    let primary = gpg.primary_fingerprints().remove(0);
    run_ok(
        gpg.gpg()
            .args(["--quick-add-key", &primary, "ed25519", "sign", "never"]),
    );

    fs::write(dir.join("Release"), RELEASE).unwrap();
    run_ok(
        gpg.gpg()
            .arg("--clearsign")
            .arg("-o")
            .arg(dir.join("InRelease"))
            .arg(dir.join("Release")),
    );
    run_ok(
        gpg.gpg()
            .args(["--armor", "--detach-sign", "-o"])
            .arg(dir.join("Release.gpg"))
            .arg(dir.join("Release")),
    );
    run_ok(
        gpg.gpg()
            .args(["--detach-sign", "-o"])
            .arg(dir.join("Release.sig"))
            .arg(dir.join("Release")),
    );

    // The signature really comes from the subkey.
    let out = run_ok(
        gpg.gpg()
            .args(["--status-fd", "1", "--verify"])
            .arg(dir.join("InRelease")),
    );
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    let validsig: Vec<&str> = status
        .lines()
        .find_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
        .unwrap_or_else(|| panic!("no VALIDSIG in {status}"))
        .split(' ')
        .collect();
    assert_ne!(
        validsig[0], primary,
        "signed by the primary, not the subkey"
    );
    assert_eq!(validsig.last().copied(), Some(primary.as_str()));

    let binary = run_ok(gpg.gpg().arg("--export").arg(&primary)).stdout;
    let armored = run_ok(gpg.gpg().args(["--export", "--armor"]).arg(&primary)).stdout;
    let inrelease = fs::read_to_string(dir.join("InRelease")).unwrap();

    for bytes in [&binary, &armored] {
        let ring = Keyring::from_bytes(bytes).unwrap();
        assert_eq!(ring.fingerprints(), vec![primary.clone()]);
        let v = ring.verify_inrelease(&inrelease).unwrap();
        assert_eq!(v.signer_fingerprints, vec![primary.clone()]);
        assert_eq!(v.signed_text, RELEASE.strip_suffix('\n').unwrap());

        for sig_file in ["Release.gpg", "Release.sig"] {
            let sig = fs::read(dir.join(sig_file)).unwrap();
            let v = ring.verify_detached(RELEASE.as_bytes(), &sig).unwrap();
            assert_eq!(v.signer_fingerprints, vec![primary.clone()], "{sig_file}");
            assert!(ring.verify_detached(b"other data", &sig).is_err());
        }
        assert!(ring.verify_inrelease(&tamper(&inrelease)).is_err());
    }

    // A keyring without the key rejects it and names the subkey that signed.
    let stranger = RepoSigningKey::generate(USER_ID).unwrap();
    let ring = Keyring::from_bytes(&stranger.public_binary().unwrap()).unwrap();
    match ring.verify_inrelease(&inrelease).unwrap_err() {
        VerifyError::NoValidSignature {
            signature_key_ids,
            keyring_fingerprints,
            ..
        } => {
            assert_eq!(signature_key_ids, vec![validsig[0].to_string()]);
            assert_eq!(keyring_fingerprints, vec![stranger.fingerprint()]);
        }
        other => panic!("unexpected {other:?}"),
    }

    // The primary key is certify-only: refused as a repository signing key.
    let secret = run_ok(
        gpg.gpg()
            .args(["--export-secret-keys", "--armor"])
            .arg(&primary),
    )
    .stdout;
    let err = RepoSigningKey::from_armored(&String::from_utf8(secret).unwrap()).unwrap_err();
    assert!(err.to_string().contains("not signing-capable"), "{err}");
}

#[test]
fn gpg_key_with_signing_primary_can_be_the_repo_key() {
    if !have_gnupg("gpg_key_with_signing_primary_can_be_the_repo_key") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let gpg = Gpg::new(tmp.path());
    run_ok(gpg.gpg().args([
        "--quick-gen-key",
        "Repo <r@example.invalid>",
        "ed25519",
        "sign",
        "never",
    ]));
    let fpr = gpg.primary_fingerprints().remove(0);
    let secret = run_ok(
        gpg.gpg()
            .args(["--export-secret-keys", "--armor"])
            .arg(&fpr),
    )
    .stdout;
    let key = RepoSigningKey::from_armored(&String::from_utf8(secret).unwrap()).unwrap();
    assert_eq!(key.fingerprint(), fpr);

    // gpg's own exported public key verifies our signature through gpgv.
    let pubring = tmp.path().join("pub.gpg");
    fs::write(&pubring, run_ok(gpg.gpg().arg("--export").arg(&fpr)).stdout).unwrap();
    fs::write(
        tmp.path().join("InRelease"),
        key.sign_inrelease(RELEASE).unwrap(),
    )
    .unwrap();
    run_ok(gpg.gpgv(&pubring).arg(tmp.path().join("InRelease")));

    // The same key protected by a passphrase is refused with a clear error.
    let protected = run_ok(
        Command::new("gpg")
            .arg("--homedir")
            .arg(&gpg.home)
            .args([
                "--batch",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "s3cret",
            ])
            .args([
                "--quick-gen-key",
                "Locked <l@example.invalid>",
                "ed25519",
                "sign",
                "never",
            ]),
    );
    drop(protected);
    let locked = gpg.primary_fingerprints().remove(1);
    let secret = run_ok(
        Command::new("gpg")
            .arg("--homedir")
            .arg(&gpg.home)
            .args([
                "--batch",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "s3cret",
            ])
            .args(["--export-secret-keys", "--armor"])
            .arg(&locked),
    )
    .stdout;
    let err = RepoSigningKey::from_armored(&String::from_utf8(secret).unwrap()).unwrap_err();
    assert!(matches!(err, KeyError::Protected { .. }), "{err:?}");
    assert!(err.to_string().contains("passphrase"), "{err}");
}

#[test]
fn expired_and_revoked_keys_are_rejected() {
    if !have_gnupg("expired_and_revoked_keys_are_rejected") {
        return;
    }
    use pgp::composed::{CleartextSignedMessage, Deserializable, SignedSecretKey};
    use pgp::types::Password;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir);

    // Primary valid 2020-01-01 .. ~2022, signing subkey valid 2020-01-01 .. ~2021.
    run_ok(gpg.gpg_at("20200101T000000").args([
        "--quick-gen-key",
        "Old <old@example.invalid>",
        "ed25519",
        "cert",
        "2y",
    ]));
    let primary = gpg.primary_fingerprints().remove(0);
    run_ok(gpg.gpg_at("20200101T000100").args([
        "--quick-add-key",
        &primary,
        "ed25519",
        "sign",
        "1y",
    ]));

    // Signed while both were valid: accepted (expiry is checked at signature creation time).
    fs::write(dir.join("Release"), RELEASE).unwrap();
    run_ok(
        gpg.gpg_at("20200601T000000")
            .arg("--clearsign")
            .arg("-o")
            .arg(dir.join("InRelease"))
            .arg(dir.join("Release")),
    );
    let old_inrelease = fs::read_to_string(dir.join("InRelease")).unwrap();
    let ring =
        Keyring::from_bytes(&run_ok(gpg.gpg().arg("--export").arg(&primary)).stdout).unwrap();
    assert_eq!(
        ring.verify_inrelease(&old_inrelease)
            .unwrap()
            .signer_fingerprints,
        vec![primary.clone()]
    );

    // Signed now with the (expired) subkey — gpg refuses to, so sign with rpgp directly.
    let secret = run_ok(
        gpg.gpg()
            .args(["--export-secret-keys", "--armor"])
            .arg(&primary),
    )
    .stdout;
    let (secret, _) = SignedSecretKey::from_string(&String::from_utf8(secret).unwrap()).unwrap();
    let subkey = &secret.secret_subkeys[0].key;
    let fresh = CleartextSignedMessage::sign(
        rand::thread_rng(),
        "Origin: Late",
        subkey,
        &Password::empty(),
    )
    .unwrap()
    .to_armored_string(Default::default())
    .unwrap();
    match ring.verify_inrelease(&fresh).unwrap_err() {
        VerifyError::NoValidSignature { rejected, .. } => {
            assert!(
                rejected.iter().any(|r| r.contains("expired")),
                "{rejected:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // The same for the expired primary key.
    let fresh = CleartextSignedMessage::sign(
        rand::thread_rng(),
        "Origin: Late",
        &secret.primary_key,
        &Password::empty(),
    )
    .unwrap()
    .to_armored_string(Default::default())
    .unwrap();
    let err = ring.verify_inrelease(&fresh).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");

    // Revoke the key with the revocation certificate gpg generated; the old, formerly valid
    // signature is now refused (no reason given = hard revocation).
    let rev = fs::read_to_string(
        gpg.home
            .join("openpgp-revocs.d")
            .join(format!("{primary}.rev")),
    )
    .unwrap();
    let rev = rev.replace(
        ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----",
    );
    fs::write(dir.join("revoke.asc"), rev).unwrap();
    run_ok(gpg.gpg().arg("--import").arg(dir.join("revoke.asc")));
    let revoked =
        Keyring::from_bytes(&run_ok(gpg.gpg().arg("--export").arg(&primary)).stdout).unwrap();
    match revoked.verify_inrelease(&old_inrelease).unwrap_err() {
        VerifyError::NoValidSignature { rejected, .. } => {
            assert!(
                rejected.iter().any(|r| r.contains("revoked")),
                "{rejected:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

#[test]
fn debian_archive_keyring_parses() {
    let path = Path::new(DEBIAN_KEYRING);
    if !path.is_file() {
        eprintln!("SKIPPED debian_archive_keyring_parses: {DEBIAN_KEYRING} not present");
        return;
    }
    let ring = Keyring::load(path).unwrap();
    let fps = ring.fingerprints();
    assert!(!fps.is_empty());
    for fp in &fps {
        assert_eq!(fp.len(), 40, "{fp}");
        assert!(
            fp.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()),
            "{fp}"
        );
    }

    // If APT's cache holds Debian InRelease files, they verify (signed by subkeys and
    // primaries of the archive keys). No network access: only files already on disk.
    let Ok(entries) = fs::read_dir("/var/lib/apt/lists") else {
        return;
    };
    let mut checked = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with("_InRelease") {
            continue;
        }
        let Ok(text) = fs::read_to_string(entry.path()) else {
            continue;
        };
        if !text.contains("\nOrigin: Debian\n") {
            continue;
        }
        let v = ring
            .verify_inrelease(&text)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!v.signer_fingerprints.is_empty());
        assert!(v.signed_text.starts_with("Origin: Debian\n"), "{name}");
        assert!(
            ring.verify_inrelease(&text.replacen("Origin: Debian", "Origin: Debiam", 1))
                .is_err()
        );
        checked += 1;
    }
    eprintln!("verified {checked} cached Debian InRelease file(s)");
}

#[test]
fn sha1_data_signatures_are_rejected() {
    if !have_gnupg("sha1_data_signatures_are_rejected") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir);
    run_ok(gpg.gpg().args([
        "--quick-gen-key",
        "Rsa <rsa@example.invalid>",
        "rsa2048",
        "sign",
        "never",
    ]));
    let fpr = gpg.primary_fingerprints().remove(0);
    let ring = Keyring::from_bytes(&run_ok(gpg.gpg().arg("--export").arg(&fpr)).stdout).unwrap();
    fs::write(dir.join("Release"), RELEASE).unwrap();
    for (digest, ok) in [("SHA256", true), ("SHA1", false)] {
        let sig = dir.join(format!("Release.{digest}.gpg"));
        run_ok(
            gpg.gpg()
                .args(["--digest-algo", digest, "--detach-sign", "-o"])
                .arg(&sig)
                .arg(dir.join("Release")),
        );
        let result = ring.verify_detached(RELEASE.as_bytes(), &fs::read(&sig).unwrap());
        if ok {
            assert_eq!(result.unwrap().signer_fingerprints, vec![fpr.clone()]);
        } else {
            let err = result.unwrap_err();
            assert!(
                err.to_string().contains("weak hash algorithm SHA1"),
                "{err}"
            );
        }
    }
}
