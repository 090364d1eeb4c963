//! `mirror-sync plan`: what a sync would fetch, from the indexes alone.
//!
//! A plan fetches and verifies the upstream indexes exactly as `sync` does (signatures,
//! hashes), resolves the selection the same way, and reports per upstream how many files
//! and bytes would be fetched and how much of that is already in the store. It downloads
//! no package file and writes nothing: no blob, no state (the store is only read, and
//! need not exist).
//!
//! The report is one type for every kind of upstream ([`UpstreamPlan`]): APT and PyPI are
//! planned fully (PyPI: project pages and core metadata only; a wheel without a PEP 658
//! sidecar is read into a scratch store that is deleted afterwards); OCI images are
//! listed with [`UpstreamPlan::planned`] `false` and a note saying so.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use indicatif::HumanBytes;
use serde::Serialize;

use crate::apt::sync::{self as apt_sync, AptUniverse, Selection};
use crate::config::Config;
use crate::progress::Progress;
use crate::state::State;

/// One file a sync would fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanFile {
    /// Path the file gets in the snapshot (`apt/<upstream>/<Filename>`), the same as the
    /// artifact path a sync records.
    pub path: String,
    /// Package (or project) name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Size in bytes, from the index.
    pub size: u64,
    /// SHA-256 from the index (lowercase hex); `None` for an index that lists only
    /// SHA512.
    pub sha256: Option<String>,
    /// Already in the store (verified by an earlier sync), so not downloaded again.
    pub in_store: bool,
}

/// The plan of one upstream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpstreamPlan {
    /// `apt`, `pypi` or `oci`.
    pub kind: String,
    /// Upstream name.
    pub name: String,
    /// Whether this upstream was planned; `false` when its kind has no plan yet, or its
    /// indexes did not verify (see `note`).
    pub planned: bool,
    /// Why it was not planned, or a remark.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Entries read from its indexes.
    pub candidates: usize,
    /// Packages selected from it.
    pub selected: usize,
    /// Files a sync would hold for it.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Of those, files already in the store.
    pub present_files: usize,
    /// Of those, bytes already in the store.
    pub present_bytes: u64,
    /// Every file, sorted by path.
    pub items: Vec<PlanFile>,
}

impl UpstreamPlan {
    /// A planned upstream of `kind` (`apt`, `pypi`, `oci`) with no file yet; the plug-in
    /// point for a resolver: fill `candidates`/`selected`, then [`UpstreamPlan::push_file`]
    /// each file.
    pub fn planned(kind: &str, name: &str) -> UpstreamPlan {
        UpstreamPlan {
            kind: kind.to_owned(),
            name: name.to_owned(),
            planned: true,
            ..UpstreamPlan::default()
        }
    }

    /// Adds one file and its size to the counters (`files`, `bytes`, and the `present_*`
    /// ones when it is in the store).
    pub fn push_file(&mut self, file: PlanFile) {
        self.files += 1;
        self.bytes += file.size;
        if file.in_store {
            self.present_files += 1;
            self.present_bytes += file.size;
        }
        self.items.push(file);
    }
}

/// The whole plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanReport {
    /// One per configured upstream, in config order (APT, then PyPI, then OCI).
    pub upstreams: Vec<UpstreamPlan>,
    /// Files over all planned upstreams.
    pub files: usize,
    /// Bytes over all planned upstreams.
    pub bytes: u64,
    /// Bytes already in the store.
    pub present_bytes: u64,
    /// Bytes a sync would download (`bytes - present_bytes`).
    pub to_fetch_bytes: u64,
    /// Dependencies nothing satisfies (a sync warns about them), with their chains.
    pub unsatisfied: Vec<String>,
    /// Requests in no source (a sync fails on them).
    pub missing: Vec<String>,
    /// Upstreams whose indexes did not verify, with the reason (a sync fails on them).
    pub failed: Vec<String>,
}

impl PlanReport {
    /// Whether a sync of this configuration would fail (missing requests or failing
    /// upstreams).
    pub fn would_fail(&self) -> bool {
        !self.missing.is_empty() || !self.failed.is_empty()
    }

    /// The human form: one line per upstream, the totals, then warnings and errors.
    pub fn render(&self) -> String {
        let mut s = String::from("plan (indexes only: nothing downloaded, nothing written)\n");
        for u in &self.upstreams {
            if !u.planned {
                s.push_str(&format!(
                    "{:<4} {:<16} not planned: {}\n",
                    u.kind,
                    u.name,
                    u.note.as_deref().unwrap_or("")
                ));
                continue;
            }
            let what = if u.kind == "pypi" {
                format!("{} releases", u.selected)
            } else {
                format!("{} packages selected of {}", u.selected, u.candidates)
            };
            s.push_str(&format!(
                "{:<4} {:<16} {what}: {} files, {} ({} files, {} already in the store; {} to fetch)\n",
                u.kind,
                u.name,
                u.files,
                HumanBytes(u.bytes),
                u.present_files,
                HumanBytes(u.present_bytes),
                HumanBytes(u.bytes - u.present_bytes),
            ));
        }
        s.push_str(&format!(
            "total: {} files, {}; {} already in the store; {} to fetch\n",
            self.files,
            HumanBytes(self.bytes),
            HumanBytes(self.present_bytes),
            HumanBytes(self.to_fetch_bytes)
        ));
        for w in &self.unsatisfied {
            s.push_str(&format!("warning: {w}\n"));
        }
        for e in self.missing.iter().chain(&self.failed) {
            s.push_str(&format!("error: {e}\n"));
        }
        s
    }
}

/// Builds the plan of `cfg` (see the module docs). The store is read through
/// [`store::Cas::at`] (nothing is created); the state database, when the store has one,
/// is opened read-only ([`State::upstream_read_only`]) to know the files of SHA512-only
/// indexes synced before.
///
/// # Errors
/// The HTTP client or the async runtime cannot be built. Upstream failures are not
/// errors: they are in [`PlanReport::failed`].
pub fn plan(cfg: &Config, progress: &Progress) -> anyhow::Result<PlanReport> {
    let store_dir = cfg.store_dir();
    let cas = Arc::new(store::Cas::at(&store_dir));
    let fetcher = cfg.sync.fetcher(cas.clone(), progress.clone())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (uni, failed) = rt.block_on(apt_sync::fetch_universe(&fetcher, cfg, false));
    let mut report = PlanReport {
        failed: failed.iter().map(|(_, e)| format!("{e:#}")).collect(),
        ..PlanReport::default()
    };
    let sel = apt_sync::select(cfg, &uni)?;
    for up in &cfg.apt {
        let k = uni
            .upstreams
            .iter()
            .position(|fu| cfg.apt[fu.config_index].name == up.name);
        let p = match k {
            Some(k) => {
                if let Some(e) = &sel.upstreams[k].error {
                    report.failed.push(e.clone());
                }
                apt_plan(cfg, &uni, &sel, k, &cas)
            }
            None => UpstreamPlan {
                kind: "apt".into(),
                name: up.name.clone(),
                planned: false,
                note: Some("its indexes did not verify (see the errors below)".into()),
                ..UpstreamPlan::default()
            },
        };
        report.upstreams.push(p);
    }
    report.unsatisfied = sel.unsatisfied;
    report.missing = sel.missing;
    if !cfg.pypi.is_empty() {
        match pypi_plans(cfg, &rt, &cas, progress) {
            Ok(plans) => report.upstreams.extend(plans),
            Err(e) => {
                report.failed.push(format!("[[pypi]]: {e:#}"));
                for p in &cfg.pypi {
                    report.upstreams.push(UpstreamPlan {
                        kind: "pypi".into(),
                        name: p.name.clone(),
                        planned: false,
                        note: Some("the resolution failed (see the errors below)".into()),
                        ..UpstreamPlan::default()
                    });
                }
            }
        }
    }
    progress.finish();
    for o in &cfg.oci {
        report.upstreams.push(UpstreamPlan {
            kind: "oci".into(),
            name: o.name.clone(),
            planned: false,
            note: Some(format!(
                "images are not planned (sizes are known only from their manifests); configured: {}",
                o.images.join(", ")
            )),
            ..UpstreamPlan::default()
        });
    }
    for o in &cfg.osv {
        report.upstreams.push(UpstreamPlan {
            kind: "osv".into(),
            name: o.name.clone(),
            planned: false,
            note: Some(format!(
                "OSV exports are not planned (their size is known only once fetched); configured: {}",
                o.ecosystems.join(", ")
            )),
            ..UpstreamPlan::default()
        });
    }
    for u in report.upstreams.iter().filter(|u| u.planned) {
        report.files += u.files;
        report.bytes += u.bytes;
        report.present_bytes += u.present_bytes;
    }
    report.to_fetch_bytes = report.bytes - report.present_bytes;
    Ok(report)
}

/// The plans of every `[[pypi]]` table, resolved as a sync resolves them
/// ([`crate::pypi::sync::plan`]: project pages and core metadata only). A wheel whose
/// core metadata is available no other way (no PEP 658 sidecar) is read whole into a
/// scratch store that is deleted afterwards, so the real store is only read: `in_store`
/// is checked against it.
fn pypi_plans(
    cfg: &Config,
    rt: &tokio::runtime::Runtime,
    cas: &store::Cas,
    progress: &Progress,
) -> anyhow::Result<Vec<UpstreamPlan>> {
    let scratch = tempfile::Builder::new()
        .prefix("mirror-sync-plan-")
        .tempdir()
        .context("cannot create a scratch directory for the PyPI plan")?;
    let scratch_cas = store::Cas::open(scratch.path()).with_context(|| {
        format!(
            "cannot create a scratch store in {}",
            scratch.path().display()
        )
    })?;
    let fetcher = cfg.sync.fetcher(Arc::new(scratch_cas), progress.clone())?;
    let planned = rt.block_on(crate::pypi::sync::plan(&fetcher, cfg))?;
    let mut out = Vec::new();
    for (up, pu) in cfg.pypi.iter().zip(planned.upstreams) {
        let mut p = UpstreamPlan::planned("pypi", &up.name);
        let releases: std::collections::BTreeSet<(String, String)> = pu
            .files
            .iter()
            .map(|f| (f.project.clone(), f.version.clone()))
            .collect();
        p.selected = releases.len();
        p.candidates = releases.len();
        let unknown = pu.files.iter().filter(|f| f.size.is_none()).count();
        if unknown > 0 {
            p.note = Some(format!(
                "{unknown} file(s) of unknown size (the index announces none; counted as 0)"
            ));
        }
        for f in pu.files {
            let in_store = formats::digest::Digest::from_hex(&f.sha256)
                .ok()
                .is_some_and(|d| cas.contains(&d).ok().flatten().is_some());
            p.push_file(PlanFile {
                path: format!("simple/{}/{}", f.project, f.filename),
                name: f.project,
                version: f.version,
                size: f.size.unwrap_or(0),
                sha256: Some(f.sha256),
                in_store,
            });
        }
        p.items.sort_by(|a, b| a.path.cmp(&b.path));
        out.push(p);
    }
    Ok(out)
}

/// The plan of the APT upstream at `k` in [`AptUniverse::upstreams`].
fn apt_plan(
    cfg: &Config,
    uni: &AptUniverse,
    sel: &Selection,
    k: usize,
    cas: &store::Cas,
) -> UpstreamPlan {
    let fu = &uni.upstreams[k];
    let us = &sel.upstreams[k];
    let up = &cfg.apt[fu.config_index];
    // The previous sync, read-only, for the files of SHA512-only indexes; unreadable
    // (another mirror-sync writing) only means those count as not in the store.
    let known_sha512: HashMap<(String, String), formats::digest::Digest> =
        State::upstream_read_only(&cfg.store_dir(), &up.name)
            .ok()
            .flatten()
            .map(|prev| apt_sync::sha512_digests(&prev, &up.name))
            .unwrap_or_default();
    let mut p = UpstreamPlan {
        note: us.error.clone(),
        candidates: fu.candidates,
        selected: us.selected,
        ..UpstreamPlan::planned("apt", &up.name)
    };
    for (file, &i) in &us.by_file {
        let e = uni.entries.entry(i);
        let in_store = apt_sync::expected_of(e, file, &known_sha512)
            .digest
            .is_some_and(|d| cas.contains(&d).ok().flatten() == Some(e.size()));
        p.push_file(PlanFile {
            path: format!("apt/{}/{file}", up.name),
            name: e.name().to_owned(),
            version: e.version().to_owned(),
            size: e.size(),
            sha256: e.sha256_hex(),
            in_store,
        });
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64, in_store: bool) -> PlanFile {
        PlanFile {
            path: path.into(),
            name: "foo".into(),
            version: "1.1".into(),
            size,
            sha256: None,
            in_store,
        }
    }

    #[test]
    fn counters_and_the_human_form() {
        let mut apt = UpstreamPlan {
            candidates: 7,
            selected: 2,
            ..UpstreamPlan::planned("apt", "security")
        };
        apt.push_file(file("apt/security/pool/f/foo_1.1_amd64.deb", 2048, true));
        apt.push_file(file("apt/security/pool/l/libx_2_amd64.deb", 1024, false));
        assert_eq!((apt.files, apt.bytes), (2, 3072));
        assert_eq!((apt.present_files, apt.present_bytes), (1, 2048));
        let r = PlanReport {
            files: 2,
            bytes: 3072,
            present_bytes: 2048,
            to_fetch_bytes: 1024,
            upstreams: vec![
                apt,
                UpstreamPlan {
                    kind: "oci".into(),
                    name: "hub".into(),
                    note: Some("images are not planned".into()),
                    ..UpstreamPlan::default()
                },
            ],
            unsatisfied: vec!["[[apt]] security: x 1 depends on y: no candidate".into()],
            missing: vec!["[[apt]] security: no package matches request \"z\"".into()],
            failed: vec![],
        };
        assert!(r.would_fail());
        assert_eq!(
            r.render(),
            "plan (indexes only: nothing downloaded, nothing written)\n\
             apt  security         2 packages selected of 7: 2 files, 3.00 KiB (1 files, 2.00 KiB already in the store; 1.00 KiB to fetch)\n\
             oci  hub              not planned: images are not planned\n\
             total: 2 files, 3.00 KiB; 2.00 KiB already in the store; 1.00 KiB to fetch\n\
             warning: [[apt]] security: x 1 depends on y: no candidate\n\
             error: [[apt]] security: no package matches request \"z\"\n"
        );
    }
}
