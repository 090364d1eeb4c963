//! `mirror-server vulns`: matches a snapshot's packages against the snapshot's OWN
//! offline vulnerability data (its `osv` artifacts, signed with it), and the
//! vulnerability part of `sbom diff`. The matching itself is [`formats::osv::scan()`].
//!
//! A snapshot is named as for `sbom show`: a drive path (a drive root holding one
//! snapshot, a snapshot directory or its `manifest.json`), `<channel>/<seq>` among the
//! store's held snapshots (`--store`), or nothing for the store's live snapshot. Every
//! OSV blob is read bounded and checked against the digest the manifest pins.

use std::path::Path;

use anyhow::{Context, bail};
use formats::osv::{self, Database, ScanReport, VulnDiffOutcome};
use formats::snapshot::{Artifact, ArtifactKind, Manifest};
use store::Store;

/// A snapshot's manifest with its parsed OSV artifacts.
pub struct Loaded {
    /// The manifest.
    pub manifest: Manifest,
    /// Each `osv` artifact with its parsed archive.
    pub databases: Vec<(Artifact, Database)>,
}

impl Loaded {
    /// The scan of this snapshot ([`formats::osv::scan()`]).
    pub fn scan(&self) -> ScanReport {
        let refs: Vec<(&Artifact, &Database)> =
            self.databases.iter().map(|(a, d)| (a, d)).collect();
        osv::scan(&self.manifest, &refs)
    }
}

/// Reads the manifest and the OSV data of `target` (a drive path, `<channel>/<seq>` held
/// by `store`, or `None` for the store's live snapshot).
///
/// Errors: not a drive path and not a held snapshot (the held ones are listed), no live
/// snapshot, a missing or damaged blob, an OSV artifact that does not parse.
pub fn load(target: Option<&str>, store: Option<&Path>) -> anyhow::Result<Loaded> {
    if let Some(t) = target
        && Path::new(t).exists()
    {
        let snap = drive::inspect::open_snapshot(Path::new(t), None)?;
        let databases = parse_all(&snap.manifest, |a| {
            Ok(drive::inspect::read_blob(
                &snap.drive,
                &a.digest,
                a.size,
                osv::MAX_ARCHIVE_BYTES,
            )?)
        })?;
        return Ok(Loaded {
            manifest: snap.manifest,
            databases,
        });
    }
    let Some(store) = store else {
        match target {
            Some(t) => {
                bail!("{t}: no such drive path; to name a held snapshot (CHANNEL/SEQ) pass --store")
            }
            None => bail!("no snapshot named: pass --store for the live snapshot, or a drive path"),
        }
    };
    let rec = crate::sbom::held_record(store, target)?;
    load_held(store, &rec)
}

/// Reads the manifest and the OSV data of the snapshot `rec` held by `store` (for the
/// web console, which has the record already).
///
/// Errors: a missing or damaged blob, an OSV artifact that does not parse.
pub fn load_held(store: &Path, rec: &store::SnapshotRecord) -> anyhow::Result<Loaded> {
    let cas = Store::at(store).cas();
    let (manifest, _) = crate::lifecycle::read_manifest(&cas, rec)?;
    let databases = parse_all(&manifest, |a| {
        Ok(cas.read_bytes(&a.digest, osv::MAX_ARCHIVE_BYTES)?)
    })?;
    Ok(Loaded {
        manifest,
        databases,
    })
}

/// Reads (with `read`) and parses every `osv` artifact of `m`.
fn parse_all(
    m: &Manifest,
    read: impl Fn(&Artifact) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<(Artifact, Database)>> {
    m.artifacts
        .iter()
        .filter(|a| a.kind == ArtifactKind::Osv)
        .map(|a| {
            let bytes = read(a).with_context(|| format!("{} of {}", a.path, m.name()))?;
            let db = osv::parse_archive(&bytes).with_context(|| {
                format!("{} of {} is not a readable OSV export", a.path, m.name())
            })?;
            Ok((a.clone(), db))
        })
        .collect()
}

/// Compares the vulnerabilities of snapshots `a` (old) and `b` (new); see
/// [`VulnDiffOutcome`].
///
/// Errors: as [`load`].
pub fn diff(a: &str, b: &str, store: Option<&Path>) -> anyhow::Result<VulnDiffOutcome> {
    let (old, new) = (load(Some(a), store)?.scan(), load(Some(b), store)?.scan());
    Ok(VulnDiffOutcome::of(&old, &new))
}
