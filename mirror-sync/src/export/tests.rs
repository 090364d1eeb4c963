use super::plan::hash_parts;
use super::render::{merge_oci, referrers_indexes};
use super::write::{copy_range, partial_name};
use super::*;
use anyhow::anyhow;
use formats::media;
use formats::oci::{COSIGN_SIMPLESIGNING, OCI_INDEX, OCI_MANIFEST, REF_NAME_ANNOTATION};
use formats::snapshot::{Artifact, ArtifactKind, Meta};
use serde_json::Value;
use std::collections::BTreeMap;
use store::Cas;

fn art(kind: ArtifactKind, path: &str, bytes: &[u8], meta: Meta) -> Artifact {
    Artifact {
        kind,
        upstream: Some("reg".into()),
        path: path.into(),
        digest: Digest::of(bytes),
        size: bytes.len() as u64,
        media_type: Some(OCI_MANIFEST.into()),
        meta,
    }
}

fn manifest(config_type: &str, extra: &str) -> Vec<u8> {
    let c = Digest::of(b"config");
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{config_type}","digest":"{c}","size":6}},"layers":[]{extra}}}"#
    )
    .into_bytes()
}

#[test]
fn referrers_are_grouped_by_repo_and_subject() {
    let image = manifest("application/vnd.oci.image.config.v1+json", "");
    let image_d = Digest::of(&image);
    let sig = manifest(
        "application/vnd.oci.image.config.v1+json",
        r#","annotations":{"created-by":"test"}"#,
    );
    let sbom = manifest(
        "application/vnd.oci.empty.v1+json",
        r#","artifactType":"application/spdx+json""#,
    );
    let repo = "v2/127.0.0.1__5000/team/app";
    let other = "v2/127.0.0.1__5000/team/other";
    let arts = vec![
        art(
            ArtifactKind::OciManifest,
            &format!("{repo}/manifests/{image_d}"),
            &image,
            Meta::default(),
        ),
        art(
            ArtifactKind::OciTag,
            &format!("{repo}/manifests/v1"),
            &image,
            Meta::default(),
        ),
        art(
            ArtifactKind::OciManifest,
            &format!("{repo}/manifests/{}", Digest::of(&sig)),
            &sig,
            Meta {
                subject: Some(image_d),
                artifact_type: Some(COSIGN_SIMPLESIGNING.into()),
                ..Meta::default()
            },
        ),
        art(
            ArtifactKind::OciManifest,
            &format!("{repo}/manifests/{}", Digest::of(&sbom)),
            &sbom,
            Meta {
                subject: Some(image_d),
                ..Meta::default()
            },
        ),
        // The same referrer in another repository gets its own index.
        art(
            ArtifactKind::OciManifest,
            &format!("{other}/manifests/{}", Digest::of(&sig)),
            &sig,
            Meta {
                subject: Some(image_d),
                ..Meta::default()
            },
        ),
    ];
    let store: BTreeMap<Digest, Vec<u8>> = [&image, &sig, &sbom]
        .into_iter()
        .map(|b| (Digest::of(b), b.clone()))
        .collect();
    let read = |d: &Digest| store.get(d).cloned().ok_or_else(|| anyhow!("missing {d}"));
    let out = referrers_indexes(&arts, read).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].0, format!("{repo}/referrers/{image_d}"));
    assert_eq!(out[0].1.as_deref(), Some("reg"));
    assert_eq!(out[1].0, format!("{other}/referrers/{image_d}"));
    let v: Value = serde_json::from_slice(&out[0].2).unwrap();
    assert_eq!(v["mediaType"], OCI_INDEX);
    assert_eq!(v["schemaVersion"], 2);
    let m = v["manifests"].as_array().unwrap();
    assert_eq!(m.len(), 2);
    let by_digest = |d: Digest| m.iter().find(|x| x["digest"] == d.to_string()).unwrap();
    let s = by_digest(Digest::of(&sig));
    assert_eq!(s["artifactType"], COSIGN_SIMPLESIGNING);
    assert_eq!(s["annotations"]["created-by"], "test");
    assert_eq!(s["size"], sig.len());
    assert_eq!(s["mediaType"], OCI_MANIFEST);
    // artifactType falls back to the manifest's own field.
    assert_eq!(
        by_digest(Digest::of(&sbom))["artifactType"],
        "application/spdx+json"
    );
    // Other repo: the config media type is the fallback of last resort.
    let v: Value = serde_json::from_slice(&out[1].2).unwrap();
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.oci.image.config.v1+json"
    );
    // A referrer whose bytes are missing is an error naming it.
    let e = referrers_indexes(&arts, |d: &Digest| Err(anyhow!("gone {d}"))).unwrap_err();
    assert!(format!("{e:#}").contains("gone"), "{e:#}");
    // No referrers, no index.
    assert!(referrers_indexes(&arts[..2], read).unwrap().is_empty());
}

#[test]
fn layout_index_lists_every_tag_with_its_reference() {
    let image = manifest("application/vnd.oci.image.config.v1+json", "");
    let mut tag = art(
        ArtifactKind::OciTag,
        "v2/docker.io/library/ubuntu/manifests/24.04",
        &image,
        Meta {
            reference: Some("docker.io/library/ubuntu:24.04".into()),
            ..Meta::default()
        },
    );
    tag.media_type = Some(OCI_INDEX.into());
    let no_ref = art(
        ArtifactKind::OciTag,
        "v2/127.0.0.1__5000/team/app/manifests/v1",
        &image,
        Meta::default(),
    );
    let digest_only = art(
        ArtifactKind::OciManifest,
        &format!(
            "v2/docker.io/library/ubuntu/manifests/{}",
            Digest::of(&image)
        ),
        &image,
        Meta::default(),
    );
    assert!(
        layout_index(std::slice::from_ref(&digest_only))
            .unwrap()
            .is_none()
    );
    let bytes = layout_index(&[tag, no_ref, digest_only]).unwrap().unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["schemaVersion"], 2);
    let m = v["manifests"].as_array().unwrap();
    assert_eq!(m.len(), 2);
    // Sorted by reference name.
    assert_eq!(
        m[0]["annotations"][REF_NAME_ANNOTATION],
        "127.0.0.1:5000/team/app:v1"
    );
    assert_eq!(m[0]["mediaType"], OCI_MANIFEST);
    assert_eq!(
        m[1]["annotations"][REF_NAME_ANNOTATION],
        "docker.io/library/ubuntu:24.04"
    );
    assert_eq!(m[1]["mediaType"], OCI_INDEX);
    assert_eq!(m[1]["digest"], Digest::of(&image).to_string());
    assert_eq!(m[1]["size"], image.len());
}

/// The file-system store without its local-file capability, as an object store would
/// be: every call goes to the real [`Cas`], except [`store::BlobStore::local`], left to
/// the trait's default (`None`), so export takes its read-and-write path.
struct NoLocalFiles(Cas);

impl store::BlobStore for NoLocalFiles {
    type Writer = store::BlobWriter;
    fn stat(&self, d: &Digest) -> Result<Option<u64>, store::CasError> {
        self.0.stat(d)
    }
    fn reader(&self, d: &Digest) -> Result<store::BlobReader, store::CasError> {
        self.0.reader(d)
    }
    fn open_range(
        &self,
        d: &Digest,
        range: std::ops::Range<u64>,
    ) -> Result<store::BlobReader, store::CasError> {
        self.0.open_range(d, range)
    }
    fn read_bytes(&self, d: &Digest, max: u64) -> Result<Vec<u8>, store::CasError> {
        self.0.read_bytes(d, max)
    }
    fn writer(&self) -> Result<store::BlobWriter, store::CasError> {
        store::BlobStore::writer(&self.0)
    }
    fn delete(&self, d: &Digest) -> Result<Option<u64>, store::CasError> {
        store::BlobStore::delete(&self.0, d)
    }
    fn list(&self) -> Result<Vec<Digest>, store::CasError> {
        store::BlobStore::list(&self.0)
    }
}

#[test]
fn copy_range_copies_many_chunks_and_part_ranges_exactly() {
    let t = tempfile::tempdir().unwrap();
    let cas = Cas::open(&t.path().join("store")).unwrap();
    // 5 chunks and a bit: the reader thread finishes well before the writer.
    let data: Vec<u8> = (0..(20 << 20) + 7u32)
        .map(|i| (i * 7 + i / 4099) as u8)
        .collect();
    let d = cas.put_bytes(&data).unwrap();
    assert!(store::BlobStore::local(&cas, &d).unwrap().is_some());
    assert!(
        store::BlobStore::local(&NoLocalFiles(cas.clone()), &d)
            .unwrap()
            .is_none()
    );
    // The kernel-copy path (the file-system store) and the read-and-write path.
    copy_range_cases(&t.path().join("kernel"), &cas, &data, d);
    copy_range_cases(&t.path().join("read"), &NoLocalFiles(cas.clone()), &data, d);
    // Part digests match the ranges they name.
    let parts = hash_parts(&cas, &d, data.len() as u64, 8 << 20).unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[1], Digest::of(&data[8 << 20..16 << 20]));
    assert_eq!(parts[2], Digest::of(&data[16 << 20..]));
    // A store file that rotted (same size, one byte changed) is caught on both paths and
    // leaves no temp file on the drive.
    let path = cas.blob_path(&d);
    let mut rotten = data.clone();
    rotten[(13 << 20) + 1] ^= 0x40;
    std::fs::write(&path, &rotten).unwrap();
    let whole = media::PlannedFile {
        blob: d,
        part: None,
        offset: 0,
        size: data.len() as u64,
        volume: 1,
    };
    let progress = Progress::hidden();
    for (name, err) in [
        (
            "k",
            copy_range(&cas, &whole, &d, &t.path().join("rot-k"), &progress),
        ),
        (
            "r",
            copy_range(
                &NoLocalFiles(cas.clone()),
                &whole,
                &d,
                &t.path().join("rot-r"),
                &progress,
            ),
        ),
    ] {
        let msg = format!("{:#}", err.expect_err("a rotten blob must be refused"));
        assert!(msg.contains("no longer matches its name"), "{msg}");
        assert!(!partial_name(&t.path().join(format!("rot-{name}"))).exists());
    }
    // A store file that shrank is refused too, before anything is copied.
    std::fs::write(&path, &data[..1 << 20]).unwrap();
    assert!(copy_range(&cas, &whole, &d, &t.path().join("short"), &progress).is_err());
    assert!(!partial_name(&t.path().join("short")).exists());
}

/// The copies of [`copy_range_copies_many_chunks_and_part_ranges_exactly`] from `cas`
/// into directory `dir`: the whole blob, one part, a wrong digest.
fn copy_range_cases<S: store::BlobStore>(dir: &std::path::Path, cas: &S, data: &[u8], d: Digest) {
    std::fs::create_dir_all(dir).unwrap();
    let t = dir;
    let progress = Progress::hidden();
    let whole = media::PlannedFile {
        blob: d,
        part: None,
        offset: 0,
        size: data.len() as u64,
        volume: 1,
    };
    let dst = t.join("whole");
    let (f, tmp) = copy_range(cas, &whole, &d, &dst, &progress).unwrap();
    drop(f);
    assert_eq!(std::fs::read(&tmp).unwrap(), data);
    let (off, len) = (5usize << 20, (9usize << 20) + 3);
    let range = &data[off..off + len];
    let part = media::PlannedFile {
        blob: d,
        part: Some(1),
        offset: off as u64,
        size: len as u64,
        volume: 1,
    };
    let dst = t.join("part");
    let (_, tmp) = copy_range(cas, &part, &Digest::of(range), &dst, &progress).unwrap();
    assert_eq!(std::fs::read(&tmp).unwrap(), range);
    // A wrong expected digest is refused and leaves no temp file.
    let dst = t.join("bad");
    assert!(copy_range(cas, &part, &d, &dst, &progress).is_err());
    assert!(!partial_name(&dst).exists());
}

#[test]
fn equal_paths_from_two_upstreams_must_agree() {
    let mut into = BTreeMap::new();
    let a = art(
        ArtifactKind::OciTag,
        "v2/r.example/a/manifests/v1",
        b"one",
        Meta::default(),
    );
    merge_oci(&mut into, std::slice::from_ref(&a)).unwrap();
    merge_oci(&mut into, std::slice::from_ref(&a)).unwrap();
    assert_eq!(into.len(), 1);
    let b = art(
        ArtifactKind::OciTag,
        "v2/r.example/a/manifests/v1",
        b"two",
        Meta::default(),
    );
    assert!(merge_oci(&mut into, &[b]).is_err());
}
