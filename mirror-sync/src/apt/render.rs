//! Step 4 of an APT upstream, the render: what the server will serve for it, generated
//! from its synced state when a snapshot is cut — the `Packages` indexes (plain, gz, xz,
//! and their by-hash copies), a `Release`, and an `InRelease` and `Release.gpg` signed
//! with the repository key. Called by the export's cut (`export/cut.rs`).

use std::collections::BTreeSet;

use formats::apt::packages::compress_index;
use formats::apt::release::{ReleaseFields, render_release};
use formats::snapshot::{Artifact, ArtifactKind};
use keys::openpgp::RepoSigningKey;
use store::Cas;

use crate::render::put;
use crate::state::{AptIndexState, UpstreamState};

/// Renders the served indexes of one APT upstream (see the module docs).
pub(crate) fn render_apt(
    cas: &Cas,
    st: &UpstreamState,
    architectures: &[String],
    components: &[String],
    repo_key: &RepoSigningKey,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<Artifact>> {
    let name = st.name.as_str();
    let mut out = Vec::new();
    let dists: BTreeSet<Option<String>> = st.apt_indexes.iter().map(|i| i.suite.clone()).collect();
    for dist in dists {
        let root = match &dist {
            Some(s) => format!("apt/{name}/dists/{s}"),
            None => format!("apt/{name}"),
        };
        let mut entries: Vec<(String, u64, String)> = Vec::new();
        for idx in st.apt_indexes.iter().filter(|i| i.suite == dist) {
            let dir = index_subdir(idx);
            let text = if idx.stanzas.is_empty() {
                String::new()
            } else {
                let mut t = idx.stanzas.join("\n\n");
                t.push('\n');
                t
            };
            let (gz, xz) = compress_index(&text);
            for (file, bytes, mt) in [
                ("Packages", text.as_bytes(), "text/plain; charset=utf-8"),
                ("Packages.gz", gz.as_slice(), "application/gzip"),
                ("Packages.xz", xz.as_slice(), "application/x-xz"),
            ] {
                let rel = format!("{dir}{file}");
                let a = put(
                    cas,
                    ArtifactKind::AptIndex,
                    Some(name),
                    format!("{root}/{rel}"),
                    bytes,
                    mt,
                )?;
                entries.push((rel, a.size, a.digest.hex()));
                if dist.is_some() {
                    let mut by_hash = a.clone();
                    by_hash.path = format!("{root}/{dir}by-hash/SHA256/{}", a.digest.hex());
                    out.push(by_hash);
                }
                out.push(a);
            }
        }
        let info = st
            .apt_suites
            .iter()
            .find(|s| s.dist == dist)
            .cloned()
            .unwrap_or_default();
        let fields = ReleaseFields {
            origin: info.origin.unwrap_or_else(|| name.to_owned()),
            label: info.label.unwrap_or_else(|| name.to_owned()),
            suite: dist
                .as_ref()
                .map(|d| info.suite.clone().unwrap_or_else(|| d.clone())),
            codename: if dist.is_some() {
                info.codename.clone()
            } else {
                None
            },
            date: now,
            architectures: architectures.to_vec(),
            components: if dist.is_some() {
                components.to_vec()
            } else {
                Vec::new()
            },
            description: info.description,
            acquire_by_hash: dist.is_some(),
            not_automatic: info.not_automatic,
            but_automatic_upgrades: info.but_automatic_upgrades,
        };
        let release = render_release(&fields, &entries);
        let inrelease = repo_key.sign_inrelease(&release)?;
        let release_gpg = repo_key.sign_detached(&release)?;
        for (file, bytes) in [
            ("Release", release.as_bytes()),
            ("InRelease", inrelease.as_bytes()),
            ("Release.gpg", release_gpg.as_bytes()),
        ] {
            out.push(put(
                cas,
                ArtifactKind::AptRelease,
                Some(name),
                format!("{root}/{file}"),
                bytes,
                "text/plain; charset=utf-8",
            )?);
        }
    }
    Ok(out)
}

fn index_subdir(idx: &AptIndexState) -> String {
    match (&idx.component, &idx.architecture) {
        (Some(c), Some(a)) => format!("{c}/binary-{a}/"),
        _ => String::new(),
    }
}
