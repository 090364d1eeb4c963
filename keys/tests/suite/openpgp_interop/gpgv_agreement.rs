//! Keyrings as GnuPG and `gpgv` see them: trust packets, several keys, armor, expired
//! subkeys next to valid ones, unreadable and secret keys, the host's distribution
//! keyrings. Each case checks that our `Keyring` accepts exactly what `gpgv` accepts.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::{Gpg, RELEASE, USER_ID, fingerprints_from_colons, have_gnupg, tamper};
use crate::common::{run, run_ok};
use keys::openpgp::{Keyring, RepoSigningKey};

/// What APT makes of `gpgv --status-fd 1 --keyring KEYRING FILES…`: accepted when gpgv
/// exits 0 and reports a good signature (`GOODSIG`/`VALIDSIG`) that is not made by an
/// expired or revoked key (`EXPKEYSIG`, `REVKEYSIG`) and has not expired (`EXPSIG`), as in
/// apt's `methods/gpgv.cc`.
fn gpgv_accepts(gpg: &Gpg, keyring: &Path, files: &[&Path]) -> bool {
    let mut cmd = gpg.gpgv(keyring);
    cmd.args(["--status-fd", "1"]);
    for f in files {
        cmd.arg(f);
    }
    let out = run(&mut cmd);
    let status = String::from_utf8_lossy(&out.stdout);
    let has = |s: &str| {
        status
            .lines()
            .any(|l| l.starts_with(&format!("[GNUPG:] {s} ")))
    };
    out.status.success()
        && has("GOODSIG")
        && has("VALIDSIG")
        && !has("EXPKEYSIG")
        && !has("REVKEYSIG")
        && !has("EXPSIG")
}

/// Packet tags of an OpenPGP file as `gpg --list-packets` reports them.
fn packet_tags(gpg: &Gpg, file: &Path) -> Vec<u32> {
    let out = run_ok(gpg.gpg().arg("--list-packets").arg(file));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("# off=")?;
            let t = rest.split(' ').find_map(|f| f.strip_prefix("tag="))?;
            t.parse().ok()
        })
        .collect()
}

/// `gpg --no-default-keyring --keyring SPEC ARGS` (SPEC may carry GnuPG's `gnupg-ring:`
/// prefix to force the classic keyring format that stores trust packets in the file).
fn gpg_ring(gpg: &Gpg, spec: &str) -> Command {
    let mut cmd = gpg.gpg();
    cmd.args(["--no-default-keyring", "--keyring", spec]);
    cmd
}

/// Every kind of keyring file gpgv reads — an export with GnuPG trust packets
/// (`--export-options backup`), a classic GnuPG keyring file (`gnupg-ring:`, trust packets
/// inside, like `ubuntu-archive-keyring.gpg`), a keybox, a binary file with several keys,
/// one armored block with several keys and several armored blocks (checked against gpgv
/// through their binary form, as APT does with a `.asc` file) — holding two keys, one
/// of which carries a third-party certification by the other. For each file and for each
/// InRelease (signed by the subkey of one key, by the primary of the other, tampered, and
/// by a stranger), gpgv and [`Keyring`] must agree, and agree on the signer.
#[test]
fn keyrings_with_trust_packets_several_keys_and_armor_agree_with_gpgv() {
    if !have_gnupg("keyrings_with_trust_packets_several_keys_and_armor_agree_with_gpgv") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir);

    // Key A: certify-only primary + signing subkey (like Debian's and Ubuntu's archive keys).
    run_ok(gpg.gpg().args([
        "--quick-gen-key",
        "Archive A <a@example.invalid>",
        "ed25519",
        "cert",
        "never",
    ]));
    let a = gpg.primary_fingerprints().remove(0);
    run_ok(
        gpg.gpg()
            .args(["--quick-add-key", &a, "ed25519", "sign", "never"]),
    );
    // Key B: RSA primary that signs itself (like older vendor keys).
    run_ok(gpg.gpg().args([
        "--quick-gen-key",
        "Archive B <b@example.invalid>",
        "rsa2048",
        "sign,cert",
        "never",
    ]));
    let b = gpg.primary_fingerprints().remove(1);
    // A third-party certification: B certifies A's user ID.
    run_ok(
        gpg.gpg()
            .args(["--default-key", &b, "--quick-sign-key", &a]),
    );
    let a_export = dir.join("a.gpg");
    let b_export = dir.join("b.gpg");
    fs::write(&a_export, run_ok(gpg.gpg().arg("--export").arg(&a)).stdout).unwrap();
    fs::write(&b_export, run_ok(gpg.gpg().arg("--export").arg(&b)).stdout).unwrap();
    assert!(
        run_ok(gpg.gpg().arg("--list-packets").arg(&a_export))
            .stdout
            .windows(b"signature packet".len())
            .filter(|w| *w == b"signature packet")
            .count()
            >= 3,
        "A carries its self-signature, its subkey binding and B's certification"
    );

    // The keyring files.
    let kbx = dir.join("ring.kbx");
    let classic = dir.join("classic.gpg");
    for spec in [
        kbx.display().to_string(),
        format!("gnupg-ring:{}", classic.display()),
    ] {
        run_ok(
            gpg_ring(&gpg, &spec)
                .arg("--import")
                .arg(&a_export)
                .arg(&b_export),
        );
    }
    let backup = dir.join("with-trust.gpg");
    fs::write(
        &backup,
        run_ok(gpg_ring(&gpg, &kbx.display().to_string()).args([
            "--export-options",
            "backup",
            "--export",
        ]))
        .stdout,
    )
    .unwrap();
    let armored_one = dir.join("one-block.asc");
    fs::write(
        &armored_one,
        run_ok(gpg_ring(&gpg, &kbx.display().to_string()).args([
            "--export-options",
            "backup",
            "--armor",
            "--export",
        ]))
        .stdout,
    )
    .unwrap();
    let armored_two = dir.join("two-blocks.asc");
    let mut two = run_ok(gpg.gpg().args(["--armor", "--export"]).arg(&a)).stdout;
    two.extend_from_slice(b"\n");
    two.extend(run_ok(gpg.gpg().args(["--armor", "--export"]).arg(&b)).stdout);
    fs::write(&armored_two, two).unwrap();
    let plain = dir.join("plain.gpg");
    let mut both = fs::read(&a_export).unwrap();
    both.extend(fs::read(&b_export).unwrap());
    fs::write(&plain, both).unwrap();

    // The trust packets are really there (tag 12), between the key's own packets.
    for f in [&backup, &classic] {
        let tags = packet_tags(&gpg, f);
        assert!(
            tags.contains(&12),
            "{}: no trust packet in {tags:?}",
            f.display()
        );
        assert_eq!(tags.iter().filter(|t| **t == 6).count(), 2, "{tags:?}");
    }
    assert!(
        fs::read(&kbx).unwrap().get(8..12) == Some(&b"KBXf"[..]),
        "gpg made a keybox"
    );

    // The signed files: A signs with its subkey, B with its primary; a stranger signs too.
    fs::write(dir.join("Release"), RELEASE).unwrap();
    let sign = |key: &str, out: &str| {
        run_ok(
            gpg.gpg()
                .args(["--local-user", key, "--clearsign", "-o"])
                .arg(dir.join(out))
                .arg(dir.join("Release")),
        );
        dir.join(out)
    };
    let by_a = sign(&a, "InRelease.a");
    let by_b = sign(&b, "InRelease.b");
    let tampered = dir.join("InRelease.tampered");
    fs::write(&tampered, tamper(&fs::read_to_string(&by_a).unwrap())).unwrap();
    let stranger = RepoSigningKey::generate(USER_ID).unwrap();
    let by_stranger = dir.join("InRelease.stranger");
    fs::write(&by_stranger, stranger.sign_inrelease(RELEASE).unwrap()).unwrap();
    let cases = [
        (&by_a, Some(&a)),
        (&by_b, Some(&b)),
        (&tampered, None),
        (&by_stranger, None),
    ];

    // gpgv reads binary keyrings only; APT dearmors a `.asc` `signed-by=` file before
    // handing it to gpgv, so the armored files are checked against their binary forms.
    let dearmored_one = dir.join("one-block.dearmored.gpg");
    run_ok(
        gpg.gpg()
            .args(["--dearmor", "-o"])
            .arg(&dearmored_one)
            .arg(&armored_one),
    );
    for (ring_file, gpgv_ring) in [
        (&backup, &backup),
        (&classic, &classic),
        (&kbx, &kbx),
        (&plain, &plain),
        (&armored_one, &dearmored_one),
        (&armored_two, &plain),
    ] {
        let ring =
            Keyring::load(ring_file).unwrap_or_else(|e| panic!("{}: {e}", ring_file.display()));
        assert_eq!(
            ring.fingerprints(),
            vec![a.clone(), b.clone()],
            "{}",
            ring_file.display()
        );
        assert!(ring.notes().is_empty(), "{:?}", ring.notes());
        for (inrelease, signer) in &cases {
            let gpgv = gpgv_accepts(&gpg, gpgv_ring, &[inrelease]);
            let ours = ring.verify_inrelease(&fs::read_to_string(inrelease).unwrap());
            assert_eq!(
                gpgv,
                ours.is_ok(),
                "{} with {}: gpgv {gpgv}, ours {ours:?}",
                inrelease.display(),
                ring_file.display()
            );
            assert_eq!(gpgv, signer.is_some(), "{}", inrelease.display());
            if let (Ok(v), Some(fp)) = (ours, signer) {
                assert_eq!(v.signer_fingerprints, vec![fp.to_string()]);
                assert_eq!(v.signed_text, RELEASE.strip_suffix('\n').unwrap());
            }
        }
    }
}

/// A key whose first signing subkey expired and whose second was revoked, with a valid
/// signing subkey added later (the usual rotation of archive keys): signatures by the valid
/// subkey verify, signatures made now by the expired or the revoked one are refused — the
/// same answers as gpgv, through a keyring file with trust packets, a keybox and a plain
/// export.
#[test]
fn expired_subkey_next_to_a_valid_one_agrees_with_gpgv() {
    if !have_gnupg("expired_subkey_next_to_a_valid_one_agrees_with_gpgv") {
        return;
    }
    use pgp::composed::{CleartextSignedMessage, Deserializable, SignedSecretKey};
    use pgp::types::{KeyDetails as _, Password};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir);
    run_ok(gpg.gpg_at("20200101T000000").args([
        "--quick-gen-key",
        "Rotating <rot@example.invalid>",
        "ed25519",
        "cert",
        "never",
    ]));
    let primary = gpg.primary_fingerprints().remove(0);
    run_ok(gpg.gpg_at("20200101T000100").args([
        "--quick-add-key",
        &primary,
        "ed25519",
        "sign",
        "1y",
    ]));
    // A second signing subkey, revoked (no reason given: a hard revocation).
    run_ok(
        gpg.gpg()
            .args(["--quick-add-key", &primary, "ed25519", "sign", "never"]),
    );
    {
        use std::io::Write as _;
        let mut child = gpg
            .gpg()
            .args(["--command-fd", "0", "--edit-key", &primary])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"key 2\nrevkey\ny\n0\n\ny\nsave\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let colons = String::from_utf8_lossy(
        &run_ok(gpg.gpg().args(["--with-colons", "--list-keys", &primary])).stdout,
    )
    .into_owned();
    let subs = fingerprints_from_colons(&colons, "sub");
    assert_eq!(subs.len(), 2, "{colons}");
    let revoked_fpr = subs[1].clone();
    assert_eq!(
        colons.lines().filter(|l| l.starts_with("sub:r:")).count(),
        1,
        "{colons}"
    );
    // The valid signing subkey, added last.
    run_ok(
        gpg.gpg()
            .args(["--quick-add-key", &primary, "ed25519", "sign", "never"]),
    );

    let export = dir.join("export.gpg");
    fs::write(
        &export,
        run_ok(gpg.gpg().arg("--export").arg(&primary)).stdout,
    )
    .unwrap();
    let kbx = dir.join("ring.kbx");
    run_ok(
        gpg_ring(&gpg, &kbx.display().to_string())
            .arg("--import")
            .arg(&export),
    );
    let with_trust = dir.join("with-trust.gpg");
    fs::write(
        &with_trust,
        run_ok(gpg_ring(&gpg, &kbx.display().to_string()).args([
            "--export-options",
            "backup",
            "--export",
        ]))
        .stdout,
    )
    .unwrap();
    assert!(packet_tags(&gpg, &with_trust).contains(&12));

    // gpg signs with the valid (newest) subkey.
    fs::write(dir.join("Release"), RELEASE).unwrap();
    let good = dir.join("InRelease.good");
    run_ok(
        gpg.gpg()
            .arg("--clearsign")
            .arg("-o")
            .arg(&good)
            .arg(dir.join("Release")),
    );
    // A signature made now with the expired subkey (gpg refuses to make one: rpgp does).
    let secret = run_ok(
        gpg.gpg()
            .args(["--export-secret-keys", "--armor"])
            .arg(&primary),
    )
    .stdout;
    let (secret, _) = SignedSecretKey::from_string(&String::from_utf8(secret).unwrap()).unwrap();
    let expired_sub = secret
        .secret_subkeys
        .iter()
        .find(|s| s.key.created_at().as_secs() < 1_600_000_000)
        .expect("the 2020 subkey");
    let late = dir.join("InRelease.late");
    fs::write(
        &late,
        CleartextSignedMessage::sign(
            rand::thread_rng(),
            RELEASE.strip_suffix('\n').unwrap(),
            &expired_sub.key,
            &Password::empty(),
        )
        .unwrap()
        .to_armored_string(Default::default())
        .unwrap(),
    )
    .unwrap();

    // And one made with the revoked subkey.
    let revoked_sub = secret
        .secret_subkeys
        .iter()
        .find(|s| format!("{:X}", s.key.fingerprint()) == revoked_fpr)
        .expect("the revoked subkey");
    let by_revoked = dir.join("InRelease.revoked");
    fs::write(
        &by_revoked,
        CleartextSignedMessage::sign(
            rand::thread_rng(),
            RELEASE.strip_suffix('\n').unwrap(),
            &revoked_sub.key,
            &Password::empty(),
        )
        .unwrap()
        .to_armored_string(Default::default())
        .unwrap(),
    )
    .unwrap();

    for ring_file in [&with_trust, &kbx, &export] {
        let ring = Keyring::load(ring_file).unwrap();
        for (inrelease, accept) in [(&good, true), (&late, false), (&by_revoked, false)] {
            assert_eq!(
                gpgv_accepts(&gpg, ring_file, &[inrelease]),
                accept,
                "gpgv on {} with {}",
                inrelease.display(),
                ring_file.display()
            );
            let ours = ring.verify_inrelease(&fs::read_to_string(inrelease).unwrap());
            assert_eq!(ours.is_ok(), accept, "{}: {ours:?}", inrelease.display());
            match ours {
                Ok(v) => assert_eq!(v.signer_fingerprints, vec![primary.clone()]),
                Err(e) => assert!(
                    e.to_string().contains("expired") || e.to_string().contains("revoked"),
                    "{e}"
                ),
            }
        }
    }
}

/// Damage that GnuPG skips does not lose the good keys: a key whose primary packet is
/// unreadable is skipped (and noted) while the next key still verifies; secret key packets
/// and data with no usable key are refused with the reason.
#[test]
fn unreadable_keys_are_skipped_and_noted_secret_keys_refused() {
    let good = RepoSigningKey::generate("Good <g@mirror.invalid>").unwrap();
    let signed = good.sign_inrelease(RELEASE).unwrap();
    // A public-key packet (new format, tag 6) of version 99: unparseable.
    let mut data = vec![0xc6, 4, 99, 0, 0, 0];
    // A trust packet (legacy format, tag 12) between the keys.
    data.extend_from_slice(&[0xb0, 2, 0, 0]);
    data.extend(good.public_binary().unwrap());
    data.extend_from_slice(&[0xb0, 2, 0, 0]);
    let ring = Keyring::from_bytes(&data).unwrap();
    assert_eq!(ring.fingerprints(), vec![good.fingerprint()]);
    assert_eq!(ring.notes().len(), 1, "{:?}", ring.notes());
    assert!(
        ring.notes()[0].contains("byte offset 0"),
        "{:?}",
        ring.notes()
    );
    assert_eq!(
        ring.verify_inrelease(&signed).unwrap().signer_fingerprints,
        vec![good.fingerprint()]
    );
    // A stranger's signature: the refusal lists the skipped key too.
    let other = RepoSigningKey::generate("Other <o@mirror.invalid>").unwrap();
    let err = ring
        .verify_inrelease(&other.sign_inrelease(RELEASE).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("public key skipped"), "{err}");

    // Only the unreadable key: refused, with the reason.
    let err = Keyring::from_bytes(&[0xc6, 4, 99, 0, 0, 0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no usable public key"), "{err}");
    // A secret key in a binary keyring is refused.
    let (secret, _) =
        <pgp::composed::SignedSecretKey as pgp::composed::Deserializable>::from_string(
            &good.to_armored_secret().unwrap(),
        )
        .unwrap();
    use pgp::ser::Serialize as _;
    let err = Keyring::from_bytes(&secret.to_bytes().unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("secret key"), "{err}");
}

/// Opt-in check against the distribution keyrings this host ships (skipped when none is
/// present; the offline tests above do not depend on host files): every
/// `/usr/share/keyrings/{debian,ubuntu}-*.gpg` loads and holds every primary key
/// `gpg --show-keys` lists (gpg hides some long-removed keys of
/// `debian-archive-removed-keys.gpg` that still parse; whether they may verify anything is
/// decided per signature).
#[test]
fn host_distribution_keyrings_load_like_gpg() {
    if !have_gnupg("host_distribution_keyrings_load_like_gpg") {
        return;
    }
    let Ok(entries) = fs::read_dir("/usr/share/keyrings") else {
        eprintln!("SKIPPED host_distribution_keyrings_load_like_gpg: no /usr/share/keyrings");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let gpg = Gpg::new(tmp.path());
    let mut checked = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("debian-") || name.starts_with("ubuntu-")) || !name.ends_with(".gpg")
        {
            continue;
        }
        let path = e.path();
        let out = run_ok(gpg.gpg().args(["--with-colons", "--show-keys"]).arg(&path));
        let want = fingerprints_from_colons(&String::from_utf8_lossy(&out.stdout), "pub");
        let ring = Keyring::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = ring.fingerprints();
        let missing: Vec<&String> = want.iter().filter(|f| !ours.contains(f)).collect();
        assert!(
            missing.is_empty(),
            "{name}: gpg lists {missing:?}, we do not"
        );
        checked += 1;
    }
    eprintln!("checked {checked} distribution keyring(s)");
}
