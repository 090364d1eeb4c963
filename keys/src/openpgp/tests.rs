//! Unit tests of [`super`] (the OpenPGP repository signing key and upstream keyrings).

use pgp::composed::SubkeyParamsBuilder;

use super::*;

/// A key with a certify-only primary and one Ed25519 subkey, signing-capable or not.
fn key_with_subkey(subkey_can_sign: bool) -> SignedSecretKey {
    let subkey = SubkeyParamsBuilder::default()
        .key_type(KeyType::Ed25519Legacy)
        .can_sign(subkey_can_sign)
        .can_authenticate(!subkey_can_sign)
        .build()
        .unwrap();
    SecretKeyParamsBuilder::default()
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .primary_user_id("Sub <sub@mirror.invalid>".into())
        .subkeys(vec![subkey])
        .build()
        .unwrap()
        .generate(rand::thread_rng())
        .unwrap()
}

fn sign_with_subkey(key: &SignedSecretKey, text: &str) -> String {
    CleartextSignedMessage::sign(
        rand::thread_rng(),
        text,
        &key.secret_subkeys[0].key,
        &Password::empty(),
    )
    .unwrap()
    .to_armored_string(ArmorOptions::default())
    .unwrap()
}

#[test]
fn signing_subkey_with_backsig_is_accepted() {
    let key = key_with_subkey(true);
    let ring = Keyring::from_bytes(&key.to_public_key().to_bytes().unwrap()).unwrap();
    let v = ring
        .verify_inrelease(&sign_with_subkey(&key, "Origin: Sub\n"))
        .unwrap();
    assert_eq!(
        v.signer_fingerprints,
        vec![fmt_fingerprint(&key.primary_key)]
    );
    // rpgp's `sign` keeps the final newline inside the signed text.
    assert_eq!(v.signed_text, "Origin: Sub\n");
}

#[test]
fn subkey_without_sign_flag_is_rejected() {
    let key = key_with_subkey(false);
    let ring = Keyring::from_bytes(&key.to_public_key().to_bytes().unwrap()).unwrap();
    match ring.verify_inrelease(&sign_with_subkey(&key, "Origin: Sub\n")) {
        Err(VerifyError::NoValidSignature {
            rejected,
            signature_key_ids,
            ..
        }) => {
            assert!(
                rejected
                    .iter()
                    .any(|r| r.contains("not marked for signing")),
                "{rejected:?}"
            );
            assert_eq!(
                signature_key_ids,
                vec![fmt_fingerprint(&key.secret_subkeys[0].key)]
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn subkey_of_another_key_is_not_accepted() {
    // The subkey material attached to a different primary (no valid binding) must not
    // verify: graft key A's subkey onto key B's public key.
    let a = key_with_subkey(true);
    let b = key_with_subkey(true);
    let mut grafted = b.to_public_key();
    grafted.public_subkeys = a.to_public_key().public_subkeys;
    let ring = Keyring {
        keys: vec![grafted],
        notes: Vec::new(),
    };
    let err = ring
        .verify_inrelease(&sign_with_subkey(&a, "Origin: A\n"))
        .unwrap_err();
    match err {
        VerifyError::NoValidSignature { rejected, .. } => {
            assert!(
                rejected.iter().any(|r| r.contains("no valid binding")),
                "{rejected:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// An RSA-2048 key (certify + sign) with an Ed25519 signing subkey, generated once
/// per test run (RSA generation is the slow part).
fn rsa_key() -> SignedSecretKey {
    use std::sync::OnceLock;
    static KEY: OnceLock<SignedSecretKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let subkey = SubkeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_sign(true)
            .build()
            .unwrap();
        SecretKeyParamsBuilder::default()
            .key_type(KeyType::Rsa(2048))
            .can_certify(true)
            .can_sign(true)
            .primary_user_id("Old Vendor <old@mirror.invalid>".into())
            .subkeys(vec![subkey])
            .build()
            .unwrap()
            .generate(rand::thread_rng())
            .unwrap()
    })
    .clone()
}

fn key_flags(sign: bool, certify: bool) -> pgp::packet::KeyFlags {
    let mut f = pgp::packet::KeyFlags::default();
    f.set_sign(sign);
    f.set_certify(certify);
    f
}

/// Replaces the primary user id's self-signature with one hashed with `hash`.
fn rebind_user_id(key: &mut SignedSecretKey, hash: HashAlgorithm) {
    use pgp::packet::{SignatureConfig, Subpacket};
    let mut config = SignatureConfig::v4(
        SignatureType::CertPositive,
        key.primary_key.algorithm(),
        hash,
    );
    config.hashed_subpackets = vec![
        Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::now())).unwrap(),
        Subpacket::regular(SubpacketData::IssuerFingerprint(
            key.primary_key.fingerprint(),
        ))
        .unwrap(),
        Subpacket::regular(SubpacketData::KeyFlags(key_flags(true, true))).unwrap(),
    ];
    let public = key.primary_key.public_key().clone();
    let user = &mut key.details.users[0];
    let sig = config
        .sign_certification(
            &key.primary_key,
            &public,
            &Password::empty(),
            Tag::UserId,
            &user.id,
        )
        .unwrap();
    assert_eq!(sig.hash_alg(), Some(hash));
    user.signatures = vec![sig];
}

/// Replaces the signing subkey's binding with one hashed with `hash` (the embedded
/// back-signature, made by the Ed25519 subkey with SHA-256, is kept).
fn rebind_subkey(key: &mut SignedSecretKey, hash: HashAlgorithm) {
    use pgp::packet::{SignatureConfig, Subpacket};
    let backsig = key.secret_subkeys[0].signatures[0]
        .embedded_signature()
        .expect("generated signing subkey has a back-signature")
        .clone();
    let mut config = SignatureConfig::v4(
        SignatureType::SubkeyBinding,
        key.primary_key.algorithm(),
        hash,
    );
    config.hashed_subpackets = vec![
        Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::now())).unwrap(),
        Subpacket::regular(SubpacketData::IssuerFingerprint(
            key.primary_key.fingerprint(),
        ))
        .unwrap(),
        Subpacket::regular(SubpacketData::KeyFlags(key_flags(true, false))).unwrap(),
        Subpacket::regular(SubpacketData::EmbeddedSignature(Box::new(backsig))).unwrap(),
    ];
    let public = key.primary_key.public_key().clone();
    let sub_public = key.secret_subkeys[0].key.public_key().clone();
    let sig = config
        .sign_subkey_binding(&key.primary_key, &public, &Password::empty(), &sub_public)
        .unwrap();
    key.secret_subkeys[0].signatures = vec![sig];
}

fn sign_with_primary(key: &SignedSecretKey, text: &str) -> String {
    CleartextSignedMessage::sign(
        rand::thread_rng(),
        text,
        &key.primary_key,
        &Password::empty(),
    )
    .unwrap()
    .to_armored_string(ArmorOptions::default())
    .unwrap()
}

fn ring_of(key: &SignedSecretKey) -> Keyring {
    Keyring::from_bytes(&key.to_public_key().to_bytes().unwrap()).unwrap()
}

#[test]
fn sha1_self_signature_is_accepted_and_reported() {
    let mut key = rsa_key();
    let fp = fmt_fingerprint(&key.primary_key);
    // As generated (SHA-256 self-signature): accepted, not reported.
    let v = ring_of(&key)
        .verify_inrelease(&sign_with_primary(&key, "Origin: Old\n"))
        .unwrap();
    assert_eq!(v.signer_fingerprints, vec![fp.clone()]);
    assert!(v.sha1_bound_signers.is_empty(), "{v:?}");
    // SHA-1 self-signature: accepted (the data signature is SHA-256), and reported.
    rebind_user_id(&mut key, HashAlgorithm::Sha1);
    let ring = ring_of(&key);
    let v = ring
        .verify_inrelease(&sign_with_primary(&key, "Origin: Old\n"))
        .unwrap();
    assert_eq!(v.signer_fingerprints, vec![fp.clone()]);
    assert_eq!(v.sha1_bound_signers, vec![fp.clone()]);
    // Same through Release + Release.gpg.
    let detached = DetachedSignature::sign_binary_data(
        rand::thread_rng(),
        &key.primary_key,
        &Password::empty(),
        HashAlgorithm::Sha256,
        &b"Origin: Old\n"[..],
    )
    .unwrap()
    .to_armored_string(ArmorOptions::default())
    .unwrap();
    let v = ring
        .verify_detached(b"Origin: Old\n", detached.as_bytes())
        .unwrap();
    assert_eq!(v.sha1_bound_signers, vec![fp]);
}

#[test]
fn sha1_data_signature_stays_refused_on_a_sha1_bound_key() {
    let mut key = rsa_key();
    rebind_user_id(&mut key, HashAlgorithm::Sha1);
    let detached = DetachedSignature::sign_binary_data(
        rand::thread_rng(),
        &key.primary_key,
        &Password::empty(),
        HashAlgorithm::Sha1,
        &b"Origin: Old\n"[..],
    )
    .unwrap()
    .to_armored_string(ArmorOptions::default())
    .unwrap();
    match ring_of(&key).verify_detached(b"Origin: Old\n", detached.as_bytes()) {
        Err(VerifyError::NoValidSignature { rejected, .. }) => assert!(
            rejected
                .iter()
                .any(|r| r.contains("weak hash algorithm SHA1")),
            "{rejected:?}"
        ),
        other => panic!("a SHA-1 data signature must be refused: {other:?}"),
    }
}

#[test]
fn md5_and_ripemd160_self_signatures_do_not_count() {
    for hash in [HashAlgorithm::Md5, HashAlgorithm::Ripemd160] {
        let mut key = rsa_key();
        rebind_user_id(&mut key, hash);
        match ring_of(&key).verify_inrelease(&sign_with_primary(&key, "Origin: Old\n")) {
            Err(VerifyError::NoValidSignature { rejected, .. }) => assert!(
                rejected
                    .iter()
                    .any(|r| r.contains("no valid self-signature")
                        && r.contains("MD5 or RIPEMD-160")),
                "{hash}: {rejected:?}"
            ),
            other => panic!("{hash} self-signature must not count: {other:?}"),
        }
    }
}

#[test]
fn sha1_subkey_binding_is_accepted_and_reported() {
    let mut key = rsa_key();
    let fp = fmt_fingerprint(&key.primary_key);
    let v = ring_of(&key)
        .verify_inrelease(&sign_with_subkey(&key, "Origin: Sub\n"))
        .unwrap();
    assert!(v.sha1_bound_signers.is_empty(), "{v:?}");
    rebind_subkey(&mut key, HashAlgorithm::Sha1);
    let v = ring_of(&key)
        .verify_inrelease(&sign_with_subkey(&key, "Origin: Sub\n"))
        .unwrap();
    assert_eq!(v.signer_fingerprints, vec![fp.clone()]);
    assert_eq!(v.sha1_bound_signers, vec![fp]);
    // An MD5 binding leaves the subkey unbound.
    rebind_subkey(&mut key, HashAlgorithm::Md5);
    match ring_of(&key).verify_inrelease(&sign_with_subkey(&key, "Origin: Sub\n")) {
        Err(VerifyError::NoValidSignature { rejected, .. }) => assert!(
            rejected.iter().any(|r| r.contains("no valid binding")),
            "{rejected:?}"
        ),
        other => panic!("an MD5 subkey binding must not count: {other:?}"),
    }
}

#[test]
fn generated_key_is_v4_eddsa_with_sha256_preference() {
    let key = RepoSigningKey::generate("V4 <v4@mirror.invalid>").unwrap();
    assert_eq!(key.key.primary_key.version(), KeyVersion::V4);
    assert_eq!(
        key.key.primary_key.algorithm(),
        pgp::crypto::public_key::PublicKeyAlgorithm::EdDSALegacy
    );
    let sig = &key.key.details.users[0].signatures[0];
    assert_eq!(sig.preferred_hash_algs(), &[HashAlgorithm::Sha256]);
    assert!(sig.key_flags().sign() && sig.key_flags().certify());
}

/// Fuzz finding (issue 16, target `openpgp_keyring`, an out-of-memory with
/// `RUST_BACKTRACE=1`): rPGP's `InvalidPacketContent` prints its inner error with `{:?}`,
/// the inner error's resolved backtrace included. Each malformed packet of a keyring
/// resolved a backtrace (hundreds of MB of symbol tables) into the message.
#[test]
fn a_wrapped_pgp_error_is_one_line_without_its_backtrace() {
    let inner = pgp::errors::Error::InvalidInput {
        backtrace: Some(std::backtrace::Backtrace::force_capture()),
    };
    let e = pgp::errors::Error::InvalidPacketContent {
        source: Box::new(inner),
    };
    // rPGP's own Display carries the backtrace (when it no longer does, this workaround
    // can go).
    assert!(e.to_string().contains("backtrace"), "{e}");
    assert_eq!(pgp_message(&e), "invalid packet content: invalid input");
    let nested = pgp::errors::Error::InvalidPacketContent {
        source: Box::new(e),
    };
    assert_eq!(
        pgp_message(&nested),
        "invalid packet content: invalid packet content: invalid input"
    );
}
