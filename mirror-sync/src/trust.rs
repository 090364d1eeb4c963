//! Trust material of the connected side: the signing keys (`mirror-sync keys generate`)
//! and the trust bundle a Cube installs as its `--trusted-keys` directory
//! (`mirror-sync keys bundle`).
//!
//! The command line ([`crate::cli`]) only parses the arguments and prints the reports.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::config::Config;
use crate::progress::Progress;

/// What [`generate_keys`] wrote: paths, the snapshot key id and the repository key's
/// fingerprint (the `--json` document of `mirror-sync keys generate`).
#[derive(Debug, Serialize)]
pub struct KeysReport {
    /// The ed25519 snapshot key (PKCS#8 PEM, mode 0600).
    pub snapshot_key: PathBuf,
    /// Its public key (PEM).
    pub snapshot_pub: PathBuf,
    /// The public key again, as `trusted/snapshot.pub` for `--trusted-keys`.
    pub trusted: PathBuf,
    /// The snapshot key id.
    pub snapshot_key_id: String,
    /// The OpenPGP repository key (armored, mode 0600).
    pub repo_key: PathBuf,
    /// Its public key, armored.
    pub repo_pub_asc: PathBuf,
    /// Its public key, binary (for apt's `signed-by=`).
    pub repo_pub_gpg: PathBuf,
    /// The repository key's fingerprint.
    pub repo_fingerprint: String,
}

/// Generates the ed25519 snapshot key and the OpenPGP repository key (user id `uid`)
/// into `out` (created): `snapshot.key` (PKCS#8 PEM, mode 0600), `snapshot.pub`,
/// `trusted/snapshot.pub`, `repo.key.asc` (mode 0600), `repo.pub.asc`, `repo.pub.gpg`.
///
/// Errors: a key file exists and `force` is false, or a file cannot be written.
pub fn generate_keys(out: &Path, force: bool, uid: &str) -> anyhow::Result<KeysReport> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let snap = keys::snapshot::SigningKey::generate();
    let (key_path, pub_path) = keys::snapshot::write_keypair(out, &snap, force)?;
    let trusted = out.join("trusted");
    std::fs::create_dir_all(&trusted)?;
    let trusted_pub = trusted.join("snapshot.pub");
    if trusted_pub.exists() && !force {
        anyhow::bail!(
            "{} exists; pass --force to overwrite",
            trusted_pub.display()
        );
    }
    std::fs::write(&trusted_pub, snap.public_key().to_pem())?;
    let repo = keys::openpgp::RepoSigningKey::generate(uid)?;
    let [repo_key, repo_asc, repo_gpg] = keys::openpgp::write_repo_key(out, &repo, force)?;
    let r = KeysReport {
        snapshot_key: key_path,
        snapshot_pub: pub_path,
        trusted: trusted_pub,
        snapshot_key_id: snap.public_key().key_id(),
        repo_key,
        repo_pub_asc: repo_asc,
        repo_pub_gpg: repo_gpg,
        repo_fingerprint: repo.fingerprint(),
    };
    Ok(r)
}

/// What [`write_bundle`] wrote (the `--json` document of `mirror-sync keys bundle`).
#[derive(Debug, Serialize)]
pub struct BundleReport {
    /// The bundle directory.
    pub dir: PathBuf,
    /// `DIR/snapshot.pub`.
    pub snapshot_pub: PathBuf,
    /// The snapshot key id.
    pub snapshot_key_id: String,
    /// Each distinct `[[apt]]` keyring, under `DIR/upstream/`.
    pub upstream_keyrings: Vec<BundleKeyring>,
    /// A snapshot key file its group or other users can read (also on stderr).
    pub warnings: Vec<String>,
}

/// One upstream keyring of a trust bundle.
#[derive(Debug, Serialize)]
pub struct BundleKeyring {
    /// The `[[apt]]` upstreams that use it.
    pub upstreams: Vec<String>,
    /// Where it was written.
    pub path: PathBuf,
    /// Fingerprints of its keys, to check before installing the bundle.
    pub fingerprints: Vec<String>,
    /// What reading the keyring skipped (keys, subkeys or user IDs it cannot use).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// Writes the trust bundle a Cube installs as its `--trusted-keys` directory into `dir`
/// (created; existing files are replaced): `dir/snapshot.pub`, the public key of the
/// configuration's `signing.snapshot_key`, and `dir/upstream/<file>`, each `[[apt]]`
/// upstream's keyring byte for byte under its file name. A snapshot key file its group or
/// other users can read is a warning (on `progress`, and in the report).
///
/// Errors: the snapshot key cannot be loaded, a keyring cannot be read or parsed, two
/// upstreams' keyrings share a file name with different content, or a file cannot be
/// written.
pub fn write_bundle(cfg: &Config, dir: &Path, progress: &Progress) -> anyhow::Result<BundleReport> {
    let key_path = cfg.resolve(&cfg.signing.snapshot_key);
    let key = keys::snapshot::SigningKey::load(&key_path)
        .with_context(|| format!("cannot load the snapshot key {}", key_path.display()))?;
    let warnings: Vec<String> = keys::perms::private_key_exposure(&key_path)
        .into_iter()
        .collect();
    for w in &warnings {
        progress.warn(w);
    }
    let upstream_dir = dir.join("upstream");
    std::fs::create_dir_all(&upstream_dir)
        .with_context(|| format!("cannot create {}", upstream_dir.display()))?;
    let snapshot_pub = dir.join("snapshot.pub");
    std::fs::write(&snapshot_pub, key.public_key().to_pem())
        .with_context(|| format!("cannot write {}", snapshot_pub.display()))?;
    let mut keyrings: std::collections::BTreeMap<String, (Vec<u8>, BundleKeyring)> =
        std::collections::BTreeMap::new();
    for up in &cfg.apt {
        let path = cfg.resolve(&up.keyring);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow::anyhow!("[[apt]] {}: keyring has no file name", up.name))?;
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "[[apt]] {}: cannot read keyring {}",
                up.name,
                path.display()
            )
        })?;
        let ring = keys::openpgp::Keyring::from_bytes(&bytes)
            .with_context(|| format!("[[apt]] {}: keyring {}", up.name, path.display()))?;
        match keyrings.get_mut(&name) {
            Some((prev, entry)) if *prev == bytes => entry.upstreams.push(up.name.clone()),
            Some(_) => anyhow::bail!(
                "[[apt]] {}: keyring file name {name} is used by another upstream with different content; give the keyrings distinct file names",
                up.name
            ),
            None => {
                keyrings.insert(
                    name.clone(),
                    (
                        bytes,
                        BundleKeyring {
                            upstreams: vec![up.name.clone()],
                            path: upstream_dir.join(&name),
                            fingerprints: ring.fingerprints(),
                            skipped: ring.notes().to_vec(),
                        },
                    ),
                );
            }
        }
    }
    let mut upstream_keyrings = Vec::new();
    for (bytes, entry) in keyrings.into_values() {
        std::fs::write(&entry.path, &bytes)
            .with_context(|| format!("cannot write {}", entry.path.display()))?;
        upstream_keyrings.push(entry);
    }
    let r = BundleReport {
        dir: dir.to_path_buf(),
        snapshot_pub,
        snapshot_key_id: key.public_key().key_id(),
        upstream_keyrings,
        warnings,
    };
    Ok(r)
}

impl KeysReport {
    /// The human summary: where each key went and what to copy to the Cube.
    pub fn render(&self) -> String {
        format!(
            "snapshot key {} ({})\n  private  {} (keep it on the build host)\n  public   {}\n  trusted  {} (copy to the Cube's --trusted-keys directory)\nrepository key {}\n  private  {}\n  public   {} and {} (for apt signed-by=)\n",
            self.snapshot_key_id,
            "ed25519",
            self.snapshot_key.display(),
            self.snapshot_pub.display(),
            self.trusted.display(),
            self.repo_fingerprint,
            self.repo_key.display(),
            self.repo_pub_asc.display(),
            self.repo_pub_gpg.display(),
        )
    }
}

impl BundleReport {
    /// The human summary: the bundle, its snapshot key and each upstream keyring with its
    /// fingerprints (to check before installing the bundle on the Cube).
    pub fn render(&self) -> String {
        let mut s = format!(
            "trust bundle {} (install it as the Cube's --trusted-keys directory)\n  snapshot key {}  {}\n",
            self.dir.display(),
            self.snapshot_key_id,
            self.snapshot_pub.display()
        );
        for k in &self.upstream_keyrings {
            s.push_str(&format!(
                "  upstream keyring {} for {}\n",
                k.path.display(),
                k.upstreams.join(", ")
            ));
            for f in &k.fingerprints {
                s.push_str(&format!("    {f}\n"));
            }
            for n in &k.skipped {
                s.push_str(&format!("    skipped: {n}\n"));
            }
        }
        s
    }
}
