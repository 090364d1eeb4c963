//! Sync of one `[[oci]]` upstream: resolve the configured images to manifests, follow
//! indexes (platform filter), referrers (OCI 1.1 API and cosign tags), fetch every blob
//! into the store, and list the snapshot artifacts (docs/media-format.md §OCI).
//!
//! Phases:
//! 1. walk: for each image and tag, fetch the manifest and everything it reaches
//!    (manifests only, plus the small cosign signature payloads);
//! 2. policy: [`verify_image`] decides per image from its cosign signatures; a refused
//!    image contributes nothing to the snapshot;
//! 3. blobs: the config and layer blobs of the accepted images are downloaded
//!    concurrently (bounded by `[sync] concurrency`), verified against their descriptors.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use anyhow::{Context as _, anyhow, bail};
use formats::digest::Digest;
use formats::oci::{self, Descriptor, ImageRef, ManifestKind, ParsedManifest, Platform};
use formats::snapshot::{Artifact, ArtifactKind, Meta, Source, SourceKind};
use futures_util::StreamExt as _;
use serde::Serialize;

use super::client::{CredentialSource, FetchedManifest, RegistryClient};
use super::{
    ChildDecision, ImageSpec, Selection, decide_child, image_specs, platforms, select_tags,
};
use crate::config::{Config, OciUpstream};
use crate::fetch::{Fetcher, redact};
use crate::state::UpstreamState;

/// Deepest nesting of indexes followed (an index inside an index inside an index).
const MAX_INDEX_DEPTH: u32 = 3;
/// Cosign artifact tag suffixes looked up for each manifest (`sha256-<hex>.<suffix>`).
const COSIGN_SUFFIXES: [&str; 3] = ["sig", "att", "sbom"];

/// What the sync of one `[[oci]]` upstream did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct OciReport {
    /// Upstream name.
    pub name: String,
    /// Image references synced (one per selected tag or digest).
    pub images: usize,
    /// Tags written (including cosign `sha256-<hex>.sig|att|sbom` tags).
    pub tags: usize,
    /// Manifests and indexes kept (unique per repository and digest).
    pub manifests: usize,
    /// Referrer manifests kept (OCI 1.1 subjects and cosign tags).
    pub referrers: usize,
    /// Unique blobs (config and layers) referenced by the kept manifests.
    pub blobs: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Blobs that were already in the store (deduplicated; not downloaded).
    pub blobs_present: usize,
    /// Bytes of those blobs.
    pub bytes_present: u64,
    /// Index children left out by the platform filter: `<repo>@sha256:<hex> os/arch[/variant]`.
    pub omitted_platforms: Vec<String>,
    /// Non-distributable layers recorded but not fetched (`foreign_layers = false`):
    /// `<repo>@sha256:<hex> <media type> <size>`.
    pub foreign_layers_skipped: Vec<String>,
    /// Images refused by the signature policy, with the reason; not in the snapshot.
    pub refused: Vec<String>,
    /// Problems that did not stop the sync.
    pub warnings: Vec<String>,
}

/// One cosign signature found for an image (defined with the policy that consumes it).
/// The payload and manifest bytes are in the store (`Fetcher::cas`) under
/// `payload_digest` and `manifest_digest` by the time [`verify_image`] runs.
pub use super::policy::FoundSignature;

/// The cosign signatures a signature manifest carries: one per layer whose media type
/// is [`oci::COSIGN_SIMPLESIGNING`] and that has a
/// [`oci::COSIGN_SIGNATURE_ANNOTATION`]. Layers without one are ignored.
pub fn signatures_for(manifest_digest: Digest, manifest: &ParsedManifest) -> Vec<FoundSignature> {
    manifest
        .layers
        .iter()
        .filter(|l| l.media_type == oci::COSIGN_SIMPLESIGNING)
        .filter_map(|l| {
            l.annotations
                .get(oci::COSIGN_SIGNATURE_ANNOTATION)
                .filter(|s| !s.is_empty())
                .map(|s| FoundSignature {
                    manifest_digest,
                    payload_digest: l.digest,
                    signature_b64: s.clone(),
                })
        })
        .collect()
}

/// Largest cosign simple-signing payload read for verification (bytes).
const MAX_PAYLOAD_BYTES: u64 = 1024 * 1024;

/// POLICY HOOK: decides whether an image may go into the snapshot, from the cosign
/// signatures found for its manifest digest `subject` (the digest its tag resolves to,
/// or the pinned digest), with [`super::policy::check`]. `image_ref` is
/// `<registry>/<path>:<tag>` or `<registry>/<path>@sha256:<hex>`, with the registry host
/// as configured. Payloads are read from the store (they are fetched during the walk).
///
/// Returns the key ids whose signatures verified (recorded as `meta.signed_by` on the
/// image's manifest and tag), or an error that refuses the image.
pub fn verify_image(
    f: &Fetcher,
    policy: &super::policy::Policy,
    image_ref: &str,
    subject: &Digest,
    signatures: &[FoundSignature],
) -> anyhow::Result<Vec<String>> {
    super::policy::check(policy, image_ref, subject, signatures, |d| {
        Ok(f.cas().read_bytes(d, MAX_PAYLOAD_BYTES)?)
    })
}

/// A manifest waiting to be walked.
struct Work {
    digest: Digest,
    /// Bytes already fetched (the top manifest, cosign tags).
    fetched: Option<FetchedManifest>,
    /// The descriptor that pointed here (index child or referrer), to check the size.
    desc: Option<Descriptor>,
    platform: Option<String>,
    subject: Option<Digest>,
    artifact_type: Option<String>,
    depth: u32,
    /// Look up this manifest's referrers (off for referrers themselves).
    lookup_referrers: bool,
    /// Reached through a cosign `.sig` tag.
    cosign_sig: bool,
}

/// Everything one image reference reaches.
#[derive(Default)]
struct Walk {
    artifacts: BTreeMap<String, Artifact>,
    /// Blobs to download: descriptor, foreign.
    blobs: Vec<(Descriptor, bool)>,
    /// Signatures by the digest they sign.
    signatures: HashMap<Digest, Vec<FoundSignature>>,
    omitted: Vec<String>,
    foreign_skipped: Vec<String>,
}

struct Ctx<'a> {
    f: &'a Fetcher,
    up: &'a OciUpstream,
    client: RegistryClient,
    wanted: Vec<Platform>,
    /// Manifests fetched this run, by (upstream path, digest).
    cache: HashMap<(String, Digest), FetchedManifest>,
    /// Blobs downloaded during the walk (signature payloads), not to be counted again.
    fetched_early: HashSet<Digest>,
}

fn manifest_path(served: &str, reference: &str) -> anyhow::Result<String> {
    let p = format!("v2/{served}/manifests/{reference}");
    formats::path::validate(&p)?;
    Ok(p)
}

fn blob_path(served: &str, d: &Digest) -> anyhow::Result<String> {
    let p = format!("v2/{served}/blobs/{d}");
    formats::path::validate(&p)?;
    Ok(p)
}

impl Ctx<'_> {
    async fn manifest_by_digest(
        &mut self,
        repo: &str,
        digest: &Digest,
    ) -> anyhow::Result<FetchedManifest> {
        if let Some(m) = self.cache.get(&(repo.to_owned(), *digest)) {
            return Ok(m.clone());
        }
        let m = self.client.get_manifest(repo, &digest.to_string()).await?;
        self.cache.insert((repo.to_owned(), *digest), m.clone());
        Ok(m)
    }

    fn tag_artifact(
        &self,
        image: &ImageRef,
        tag: &str,
        m: &FetchedManifest,
        media_type: &str,
    ) -> anyhow::Result<Artifact> {
        Ok(Artifact {
            kind: ArtifactKind::OciTag,
            upstream: Some(self.up.name.clone()),
            path: manifest_path(&image.served_name(), tag)?,
            digest: m.digest,
            size: m.bytes.len() as u64,
            media_type: Some(media_type.to_owned()),
            meta: Meta {
                reference: Some(format!("{}/{}:{tag}", image.registry, image.repository)),
                upstream_url: Some(m.url.clone()),
                ..Meta::default()
            },
        })
    }

    /// Walks one image reference: `top` is its manifest, `tag` the tag to write.
    async fn walk(
        &mut self,
        image: &ImageRef,
        top: FetchedManifest,
        tag: Option<&str>,
    ) -> anyhow::Result<Walk> {
        let repo = image.repository.clone();
        let served = image.served_name();
        let mut walk = Walk::default();
        let mut seen: HashSet<Digest> = HashSet::new();
        let top_digest = top.digest;
        let top_parsed = oci::parse_manifest(&top.bytes, top.content_type.as_deref())
            .with_context(|| format!("{}: manifest {top_digest}", top.url))?;
        if let Some(t) = tag {
            let a = self.tag_artifact(image, t, &top, &top_parsed.media_type)?;
            walk.artifacts.insert(a.path.clone(), a);
        }
        let mut queue = VecDeque::from([Work {
            digest: top_digest,
            fetched: Some(top),
            desc: None,
            platform: None,
            subject: None,
            artifact_type: None,
            depth: 0,
            lookup_referrers: self.up.referrers,
            cosign_sig: false,
        }]);
        while let Some(w) = queue.pop_front() {
            if !seen.insert(w.digest) {
                continue;
            }
            let m = match w.fetched {
                Some(m) => m,
                None => self.manifest_by_digest(&repo, &w.digest).await?,
            };
            if let Some(d) = &w.desc
                && d.size != m.bytes.len() as u64
            {
                bail!(
                    "{}: manifest is {} bytes, its descriptor says {}",
                    m.url,
                    m.bytes.len(),
                    d.size
                );
            }
            let parsed = oci::parse_manifest(&m.bytes, m.content_type.as_deref())
                .with_context(|| format!("{}: manifest {}", m.url, m.digest))?;
            self.f
                .cas()
                .put_bytes(&m.bytes)
                .with_context(|| format!("cannot store manifest {}", m.digest))?;
            let subject = w.subject.or(parsed.subject.as_ref().map(|s| s.digest));
            // distribution-spec v1.1 §Listing Referrers: the manifest's own artifactType,
            // else (image manifests) its config's media type — never a layer's. The type
            // an upstream referrers list (or fallback index) gave only fills in for an
            // index, which has no config.
            let artifact_type = if subject.is_some() {
                parsed.referrer_artifact_type().or(w.artifact_type.clone())
            } else {
                parsed.artifact_type.clone().filter(|t| !t.is_empty())
            };
            let mut meta = Meta {
                platform: w.platform.clone(),
                subject,
                artifact_type,
                upstream_url: Some(m.url.clone()),
                ..Meta::default()
            };
            match parsed.kind {
                ManifestKind::Index => {
                    if w.depth >= MAX_INDEX_DEPTH {
                        bail!(
                            "{}: indexes nested deeper than {MAX_INDEX_DEPTH} levels",
                            m.url
                        );
                    }
                    for child in &parsed.manifests {
                        match decide_child(child, &self.wanted, self.up.referrers) {
                            ChildDecision::Keep { platform } => queue.push_back(Work {
                                digest: child.digest,
                                fetched: None,
                                desc: Some(child.clone()),
                                platform,
                                subject: None,
                                artifact_type: None,
                                depth: w.depth + 1,
                                lookup_referrers: w.lookup_referrers,
                                cosign_sig: false,
                            }),
                            ChildDecision::Omit(s) => {
                                walk.omitted.push(format!("{served}@{s}"));
                                meta.omitted.push(s);
                            }
                        }
                    }
                }
                ManifestKind::Image => {
                    if w.cosign_sig {
                        let sigs = signatures_for(m.digest, &parsed);
                        for s in &sigs {
                            // Payloads are small; the policy needs them before the
                            // layers of the image are downloaded.
                            if let Some(l) =
                                parsed.layers.iter().find(|l| l.digest == s.payload_digest)
                                && !self.client.fetch_blob(&repo, l).await?
                            {
                                self.fetched_early.insert(l.digest);
                            }
                        }
                        if let Some(subj) = subject {
                            walk.signatures.entry(subj).or_default().extend(sigs);
                        }
                    }
                    for b in parsed.blobs() {
                        let foreign = oci::is_foreign_layer(&b.media_type);
                        if foreign && !self.up.foreign_layers {
                            walk.foreign_skipped
                                .push(format!("{served}@{} {} {}", b.digest, b.media_type, b.size));
                            continue;
                        }
                        let path = blob_path(&served, &b.digest)?;
                        walk.artifacts.entry(path.clone()).or_insert(Artifact {
                            kind: ArtifactKind::OciBlob,
                            upstream: Some(self.up.name.clone()),
                            path,
                            digest: b.digest,
                            size: b.size,
                            media_type: Some(b.media_type.clone()),
                            meta: Meta::default(),
                        });
                        walk.blobs.push((b.clone(), foreign));
                    }
                }
            }
            let path = manifest_path(&served, &m.digest.to_string())?;
            walk.artifacts.entry(path.clone()).or_insert(Artifact {
                kind: ArtifactKind::OciManifest,
                upstream: Some(self.up.name.clone()),
                path,
                digest: m.digest,
                size: m.bytes.len() as u64,
                media_type: Some(parsed.media_type.clone()),
                meta,
            });
            if w.lookup_referrers {
                self.referrers_of(image, &m.digest, &mut queue, &mut walk)
                    .await?;
            }
        }
        Ok(walk)
    }

    /// The referrers of `digest` that a client without the referrers API published under
    /// the fallback tag `sha256-<hex>` (distribution-spec v1.1 §Referrers Tag Schema: when
    /// the API answers 404 a client MUST read it): the `manifests` of the image index
    /// tagged so. `None` when there is no such tag, or when it names something other than
    /// an image index (then it is not a referrers list).
    ///
    /// Errors: the tag cannot be fetched (other than 404), or its manifest is malformed.
    async fn referrers_from_fallback_tag(
        &mut self,
        repo: &str,
        digest: &Digest,
    ) -> anyhow::Result<Option<Vec<Descriptor>>> {
        let tag = oci::referrers_tag(digest);
        let Some(m) = self.client.get_manifest_optional(repo, &tag).await? else {
            return Ok(None);
        };
        let parsed = oci::parse_manifest(&m.bytes, m.content_type.as_deref())
            .with_context(|| format!("{}: referrers fallback tag {tag}", m.url))?;
        if parsed.kind != ManifestKind::Index {
            return Ok(None);
        }
        Ok(Some(parsed.manifests))
    }

    /// Queues the referrers of `digest`: the OCI 1.1 referrers API where the registry
    /// has it, else the referrers fallback tag `sha256-<hex>`
    /// ([`Self::referrers_from_fallback_tag`]), and the cosign `sha256-<hex>.sig|att|sbom`
    /// tags (cosign writes those even to registries with the API).
    async fn referrers_of(
        &mut self,
        image: &ImageRef,
        digest: &Digest,
        queue: &mut VecDeque<Work>,
        walk: &mut Walk,
    ) -> anyhow::Result<()> {
        let repo = &image.repository;
        let listed = match self.client.referrers(repo, digest).await? {
            Some(list) => Some(list),
            None => self.referrers_from_fallback_tag(repo, digest).await?,
        };
        if let Some(list) = listed {
            for d in list {
                queue.push_back(Work {
                    digest: d.digest,
                    fetched: None,
                    artifact_type: d.artifact_type.clone(),
                    desc: Some(d),
                    platform: None,
                    subject: Some(*digest),
                    depth: 0,
                    lookup_referrers: false,
                    cosign_sig: false,
                });
            }
        }
        for suffix in COSIGN_SUFFIXES {
            let tag = oci::cosign_tag(digest, suffix);
            let Some(m) = self.client.get_manifest_optional(repo, &tag).await? else {
                continue;
            };
            let parsed = oci::parse_manifest(&m.bytes, m.content_type.as_deref())
                .with_context(|| format!("{}: cosign manifest", m.url))?;
            let a = self.tag_artifact(image, &tag, &m, &parsed.media_type)?;
            walk.artifacts.insert(a.path.clone(), a);
            self.cache.insert((repo.clone(), m.digest), m.clone());
            queue.push_back(Work {
                digest: m.digest,
                fetched: Some(m),
                desc: None,
                platform: None,
                subject: Some(*digest),
                artifact_type: None,
                depth: 0,
                lookup_referrers: false,
                cosign_sig: suffix == "sig",
            });
        }
        Ok(())
    }
}

/// Syncs one `[[oci]]` upstream into the store and returns the state `export` cuts the
/// snapshot from (manifests, tags and blobs as artifacts; see the module docs) and a
/// report.
///
/// Errors (the upstream's previous state is then kept): the credentials cannot be
/// loaded; a manifest, tag list or blob cannot be fetched or does not verify; a
/// manifest is malformed. An image refused by the signature policy is not an error:
/// it is left out and listed in [`OciReport::refused`].
pub async fn sync(
    f: &Fetcher,
    cfg: &Config,
    up: &OciUpstream,
) -> anyhow::Result<(UpstreamState, OciReport)> {
    let base = up.api_base()?;
    let creds = match &up.credentials {
        Some(c) => Some(
            CredentialSource::parse(c)?
                .load(&up.registry, &cfg.base_dir)
                .with_context(|| format!("[[oci]] {}", up.name))?,
        ),
        None => None,
    };
    let specs = image_specs(up).with_context(|| format!("[[oci]] {}", up.name))?;
    let policy = super::policy::load(cfg, up)?;
    let mut ctx = Ctx {
        f,
        up,
        client: RegistryClient::new(f, &base, creds),
        wanted: platforms(up)?,
        cache: HashMap::new(),
        fetched_early: HashSet::new(),
    };
    let mut report = OciReport {
        name: up.name.clone(),
        ..OciReport::default()
    };
    let mut artifacts: BTreeMap<String, Artifact> = BTreeMap::new();
    let mut blobs: BTreeMap<Digest, (String, Descriptor, bool)> = BTreeMap::new();

    for spec in &specs {
        let ImageSpec { image, selection } = spec;
        let repo = &image.repository;
        let base_ref = format!("{}/{}", image.registry, repo);
        let refs: Vec<(String, Option<String>)> = match selection {
            Selection::Tag(t) => vec![(t.clone(), Some(t.clone()))],
            Selection::Digest { digest, tag } => vec![(digest.to_string(), tag.clone())],
            Selection::Tags(filter) => {
                f.progress()
                    .phase(&format!("{}: listing tags of {repo}", up.name));
                let all = ctx
                    .client
                    .list_tags(repo)
                    .await
                    .with_context(|| format!("[[oci]] {}: tags of {repo}", up.name))?;
                let chosen = select_tags(&all, filter);
                if chosen.is_empty() {
                    report.warnings.push(format!(
                        "{base_ref}: no tag of {} matches the configured filter",
                        all.len()
                    ));
                }
                chosen.into_iter().map(|t| (t.clone(), Some(t))).collect()
            }
        };
        for (reference, tag) in refs {
            f.progress()
                .phase(&format!("{}: {repo}:{reference}", up.name));
            let top = ctx
                .client
                .get_manifest(repo, &reference)
                .await
                .with_context(|| format!("[[oci]] {}: {base_ref}", up.name))?;
            let subject = top.digest;
            let walk = ctx
                .walk(image, top, tag.as_deref())
                .await
                .with_context(|| format!("[[oci]] {}: {base_ref}:{reference}", up.name))?;
            let image_ref = match &tag {
                Some(t) => format!("{base_ref}:{t}"),
                None => format!("{base_ref}@{subject}"),
            };
            let sigs = walk.signatures.get(&subject).cloned().unwrap_or_default();
            let signed_by = match verify_image(f, &policy, &image_ref, &subject, &sigs) {
                Ok(keys) => keys,
                Err(e) => {
                    f.progress().println(&format!(
                        "error: [[oci]] {}: refused {image_ref}: {e:#}",
                        up.name
                    ));
                    report.refused.push(format!("{image_ref}: {e:#}"));
                    continue;
                }
            };
            report.images += 1;
            report.omitted_platforms.extend(walk.omitted);
            report.foreign_layers_skipped.extend(walk.foreign_skipped);
            for (path, mut a) in walk.artifacts {
                if !signed_by.is_empty()
                    && a.digest == subject
                    && matches!(a.kind, ArtifactKind::OciManifest | ArtifactKind::OciTag)
                {
                    a.meta.signed_by = signed_by.clone();
                }
                match artifacts.get_mut(&path) {
                    None => {
                        artifacts.insert(path, a);
                    }
                    Some(prev) => {
                        if prev.digest != a.digest {
                            report.warnings.push(format!(
                                "{path}: reached as {} and as {}; keeping the first",
                                prev.digest, a.digest
                            ));
                        } else if prev.meta.signed_by.is_empty() {
                            prev.meta.signed_by = a.meta.signed_by;
                        }
                    }
                }
            }
            for (d, foreign) in walk.blobs {
                blobs
                    .entry(d.digest)
                    .or_insert_with(|| (repo.clone(), d, foreign));
            }
        }
    }
    report.omitted_platforms.sort();
    report.omitted_platforms.dedup();
    report.foreign_layers_skipped.sort();
    report.foreign_layers_skipped.dedup();

    // Blobs, concurrently; the Fetcher's semaphore bounds the downloads in flight.
    f.progress()
        .phase(&format!("{}: {} blobs", up.name, blobs.len()));
    f.progress().add_total_files(
        blobs.len() as u64,
        blobs.values().map(|(_, d, _)| d.size).sum(),
    );
    report.blobs = blobs.len();
    report.bytes = blobs.values().map(|(_, d, _)| d.size).sum();
    let client = &ctx.client;
    let early = &ctx.fetched_early;
    for (_, d, _) in blobs.values().filter(|(_, d, _)| early.contains(&d.digest)) {
        f.progress().inc_done(d.size);
        f.progress().file_done();
    }
    let todo = blobs
        .values()
        .filter(|(_, d, _)| !early.contains(&d.digest));
    let mut downloads = futures_util::stream::iter(todo.map(|(repo, d, foreign)| async move {
        let r = if *foreign {
            client.fetch_foreign(repo, d).await
        } else {
            client.fetch_blob(repo, d).await
        };
        r.map(|present| (present, d.size))
            .with_context(|| format!("blob {} of {repo}", d.digest))
    }))
    .buffer_unordered(cfg.sync.concurrency.max(1));
    while let Some(r) = downloads.next().await {
        let (present, size) = r.with_context(|| format!("[[oci]] {}", up.name))?;
        if present {
            report.blobs_present += 1;
            report.bytes_present += size;
        }
    }
    drop(downloads);
    // The SBOM's supplier of each image: its vendor annotation or label.
    for a in artifacts
        .values_mut()
        .filter(|a| a.kind == ArtifactKind::OciManifest && a.meta.subject.is_none())
    {
        a.meta.supplier = vendor::vendor_of(f.cas(), a);
    }

    let mut tags = BTreeSet::new();
    for a in artifacts.values() {
        match a.kind {
            ArtifactKind::OciTag => {
                tags.insert(a.path.clone());
            }
            ArtifactKind::OciManifest => {
                report.manifests += 1;
                if a.meta.subject.is_some() {
                    report.referrers += 1;
                }
            }
            _ => {}
        }
    }
    report.tags = tags.len();

    let mut source = Source::new(&up.name, SourceKind::Oci, &redact(ctx.client.base()));
    source.registry = Some(up.registry.clone());
    let state = UpstreamState {
        name: up.name.clone(),
        synced_at: crate::now_rfc3339(),
        source,
        artifacts: artifacts.into_values().collect(),
        apt_indexes: Vec::new(),
        apt_suites: Vec::new(),
    };
    if state.artifacts.is_empty() && report.refused.is_empty() {
        return Err(anyhow!(
            "[[oci]] {}: nothing selected (see the warnings: {})",
            up.name,
            report.warnings.join("; ")
        ));
    }
    Ok((state, report))
}

mod vendor;

#[cfg(test)]
mod tests;
