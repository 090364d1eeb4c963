//! SPDX 2.3 JSON (ISO/IEC 5962 successor; schema `spdx-schema.json` of spdx-spec v2.3).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::cyclonedx::{sha256_of, split_generator};
use super::license::is_spdx_expression;
use super::{
    Component, Model, ReferrerKind, Role, SbomError, Stated, check_size, component_from,
    document_uuid, timestamp, to_pretty, valid_url,
};
use crate::snapshot::Manifest;

const NOASSERTION: &str = "NOASSERTION";
const DOCUMENT_ID: &str = "SPDXRef-DOCUMENT";

#[derive(Serialize)]
struct Doc {
    #[serde(rename = "spdxVersion")]
    spdx_version: &'static str,
    #[serde(rename = "dataLicense")]
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdxid: &'static str,
    name: String,
    #[serde(rename = "documentNamespace")]
    document_namespace: String,
    #[serde(rename = "creationInfo")]
    creation_info: CreationInfo,
    packages: Vec<Package>,
    relationships: Vec<Relationship>,
    #[serde(
        rename = "hasExtractedLicensingInfos",
        skip_serializing_if = "Vec::is_empty"
    )]
    extracted: Vec<Extracted>,
}

#[derive(Serialize)]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
    comment: String,
}

#[derive(Serialize)]
struct Package {
    #[serde(rename = "SPDXID")]
    spdxid: String,
    name: String,
    #[serde(rename = "versionInfo", skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    #[serde(rename = "packageFileName", skip_serializing_if = "Option::is_none")]
    package_file_name: Option<String>,
    #[serde(rename = "supplier")]
    supplier: String,
    #[serde(rename = "downloadLocation")]
    download_location: String,
    #[serde(rename = "sourceInfo", skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    #[serde(rename = "filesAnalyzed")]
    files_analyzed: bool,
    checksums: Vec<Checksum>,
    #[serde(rename = "licenseConcluded")]
    license_concluded: &'static str,
    #[serde(rename = "licenseDeclared")]
    license_declared: String,
    #[serde(rename = "copyrightText")]
    copyright_text: &'static str,
    #[serde(rename = "externalRefs", skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    #[serde(rename = "primaryPackagePurpose")]
    primary_package_purpose: &'static str,
}

#[derive(Serialize)]
struct Checksum {
    algorithm: &'static str,
    #[serde(rename = "checksumValue")]
    checksum_value: String,
}

#[derive(Serialize)]
struct ExternalRef {
    #[serde(rename = "referenceCategory")]
    reference_category: &'static str,
    #[serde(rename = "referenceType")]
    reference_type: &'static str,
    #[serde(rename = "referenceLocator")]
    reference_locator: String,
}

#[derive(Serialize)]
struct Relationship {
    #[serde(rename = "spdxElementId")]
    spdx_element_id: String,
    #[serde(rename = "relationshipType")]
    relationship_type: &'static str,
    #[serde(rename = "relatedSpdxElement")]
    related_spdx_element: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

#[derive(Serialize)]
struct Extracted {
    #[serde(rename = "licenseId")]
    license_id: String,
    #[serde(rename = "extractedText")]
    extracted_text: String,
    name: String,
}

fn hex16(label: &str, s: &str) -> String {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update(b"\n");
    h.update(s.as_bytes());
    let d: [u8; 32] = h.finalize().into();
    hex::encode(&d[..16])
}

/// The SPDX identifier of the snapshot's own package, the root of the document.
const SNAPSHOT_ID: &str = "SPDXRef-snapshot";

/// SPDX 2.3 §7.5 `PackageSupplier`: `Organization: <name> (<email>)`, `NOASSERTION`
/// without a supplier. The name has no parentheses ([`super::Supplier::parse`]).
fn supplier_field(s: Option<&super::Supplier>) -> String {
    match s {
        Some(s) => match &s.email {
            Some(e) => format!("Organization: {} ({e})", s.name),
            None => format!("Organization: {}", s.name),
        },
        None => NOASSERTION.to_owned(),
    }
}

/// Reads [`supplier_field`] back.
fn parse_supplier_field(v: &str) -> Option<super::Supplier> {
    let rest = v
        .strip_prefix("Organization:")
        .or_else(|| v.strip_prefix("Person:"))?
        .trim();
    let (name, email) = match rest.strip_suffix(')').and_then(|r| r.rsplit_once('(')) {
        Some((n, e)) => (n.trim(), Some(e.trim().to_owned())),
        None => (rest, None),
    };
    (!name.is_empty()).then(|| super::Supplier {
        name: name.to_owned(),
        email,
    })
}

/// A download location SPDX tools accept: a URL whose host is a name. `spdx-tools`
/// (pyspdxtools) refuses IP-address hosts, so those URLs go to `sourceInfo` instead.
fn download_location(url: Option<&str>) -> (String, Option<String>) {
    let Some(u) = valid_url(url) else {
        return (NOASSERTION.to_owned(), None);
    };
    let ip_host = url::Url::parse(u).ok().is_some_and(|p| {
        matches!(
            p.host(),
            Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) | None
        )
    });
    if ip_host {
        (NOASSERTION.to_owned(), Some(format!("downloaded from {u}")))
    } else {
        (u.to_owned(), None)
    }
}

/// The `LicenseRef-` identifiers an expression uses.
fn license_refs(expr: &str) -> impl Iterator<Item = &str> {
    expr.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| w.starts_with("LicenseRef-"))
}

/// The SPDX identifier of the package for a logical path: `SPDXRef-` and 32 hex digits
/// of SHA-256 over the path.
fn spdx_id(path: &str) -> String {
    format!("SPDXRef-{}", hex16("path", path))
}

/// Renders the snapshot's SPDX 2.3 JSON SBOM (pretty, trailing newline).
///
/// Deterministic like [`super::cyclonedx`]. Shape (SPDX 2.3 §6 document creation
/// information, §7 package information, §11 relationships):
/// - `documentNamespace` `urn:uuid:<uuid>` (a version-5-style UUID from SHA-256 over
///   the snapshot name, `created` and the component list); `creationInfo.created` =
///   the manifest's `created` (UTC); creator `Tool: <generator>-<version>`.
/// - one package per [`super::is_component`] artifact, sorted by logical path:
///   `SPDXID` `SPDXRef-<32 hex of SHA-256 of the path>`, `name`, `versionInfo`,
///   `packageFileName` = the logical path (what [`parse_spdx`] reads back as
///   `bom_ref`), `downloadLocation` = `meta.upstream_url` or `NOASSERTION`,
///   `filesAnalyzed` false, `checksums` SHA256, `licenseConcluded` `NOASSERTION`,
///   `licenseDeclared` = `meta.license` when it is an SPDX expression, a
///   `LicenseRef-mirror-<hex>` defined in `hasExtractedLicensingInfos` for other license
///   text, else `NOASSERTION`; `externalRefs` PACKAGE-MANAGER `purl`;
///   `primaryPackagePurpose` LIBRARY (deb, wheel), SOURCE (sdist), CONTAINER (OCI image
///   or index) or OTHER (OCI referrer).
/// - relationships: `SPDXRef-DOCUMENT DESCRIBES` every package, `DEPENDS_ON` per
///   dependency, and for OCI referrers `<referrer> DESCRIBES <subject>` (SBOMs) or
///   `<referrer> OTHER <subject>` with a comment (signatures, attestations, others).
pub fn spdx(m: &Manifest) -> Vec<u8> {
    let model = Model::new(m);
    let uuid = document_uuid(&model, "spdx");
    let entries = &model.entries;
    let ids: Vec<String> = entries.iter().map(|e| spdx_id(&e.a.path)).collect();

    let mut extracted: BTreeMap<String, Extracted> = BTreeMap::new();
    let mut packages = Vec::with_capacity(entries.len());
    for (e, id) in entries.iter().zip(&ids) {
        let a = e.a;
        let license_declared = match e.license.as_deref() {
            Some(l) if is_spdx_expression(l) => {
                for r in license_refs(l) {
                    extracted.entry(r.to_owned()).or_insert_with(|| Extracted {
                        license_id: r.to_owned(),
                        extracted_text: format!(
                            "The license the package's own metadata names {:?}; its text is in the package.",
                            r.trim_start_matches("LicenseRef-")
                        ),
                        name: r.trim_start_matches("LicenseRef-").to_owned(),
                    });
                }
                l.to_owned()
            }
            Some(l) => {
                let lid = format!("LicenseRef-mirror-{}", hex16("license", l));
                extracted.entry(lid.clone()).or_insert_with(|| Extracted {
                    license_id: lid.clone(),
                    extracted_text: l.to_owned(),
                    name: l.to_owned(),
                });
                lid
            }
            _ => NOASSERTION.to_owned(),
        };
        let (download_location, source_info) = download_location(a.meta.upstream_url.as_deref());
        packages.push(Package {
            spdxid: id.clone(),
            name: e.name.clone(),
            version_info: (!e.version.is_empty()).then(|| e.version.clone()),
            package_file_name: Some(a.path.clone()),
            supplier: supplier_field(e.supplier.as_ref()),
            download_location,
            source_info,
            files_analyzed: false,
            checksums: vec![Checksum {
                algorithm: "SHA256",
                checksum_value: a.digest.hex(),
            }],
            license_concluded: NOASSERTION,
            license_declared,
            copyright_text: NOASSERTION,
            external_refs: e
                .purl
                .iter()
                .map(|p| ExternalRef {
                    reference_category: "PACKAGE-MANAGER",
                    reference_type: "purl",
                    reference_locator: p.clone(),
                })
                .collect(),
            primary_package_purpose: match e.role {
                Role::Library => "LIBRARY",
                Role::Source => "SOURCE",
                Role::Container => "CONTAINER",
                Role::Referrer(_) => "OTHER",
            },
        });
    }

    let rel = |from: &str, ty: &'static str, to: &str, comment: Option<String>| Relationship {
        spdx_element_id: from.to_owned(),
        relationship_type: ty,
        related_spdx_element: to.to_owned(),
        comment,
    };
    // The snapshot is the root: the document describes it, it contains every package.
    let (tool, version) = split_generator(&m.generator);
    let author = super::author(m);
    packages.insert(
        0,
        Package {
            spdxid: SNAPSHOT_ID.to_owned(),
            name: m.name(),
            version_info: Some(m.sequence.to_string()),
            package_file_name: None,
            supplier: supplier_field(Some(&author)),
            download_location: NOASSERTION.to_owned(),
            source_info: Some(format!(
                "mirror snapshot {} signed by snapshot key {}",
                m.name(),
                m.signer
            )),
            files_analyzed: false,
            checksums: Vec::new(),
            license_concluded: NOASSERTION,
            license_declared: NOASSERTION.to_owned(),
            copyright_text: NOASSERTION,
            external_refs: Vec::new(),
            primary_package_purpose: "ARCHIVE",
        },
    );
    let mut relationships: Vec<Relationship> =
        vec![rel(DOCUMENT_ID, "DESCRIBES", SNAPSHOT_ID, None)];
    relationships.extend(ids.iter().map(|id| rel(SNAPSHOT_ID, "CONTAINS", id, None)));
    for (e, id) in entries.iter().zip(&ids) {
        for &j in &e.depends {
            if let Some(to) = ids.get(j) {
                relationships.push(rel(id, "DEPENDS_ON", to, None));
            }
        }
        if let (Role::Referrer(kind), Some(to)) = (e.role, e.subject.and_then(|j| ids.get(j))) {
            let mut comment = format!("OCI referrer ({}) of its subject", kind.describe());
            if let Some(t) = &e.a.meta.artifact_type {
                comment.push_str(&format!("; artifactType {t}"));
            }
            let ty = if kind == ReferrerKind::Sbom {
                "DESCRIBES"
            } else {
                "OTHER"
            };
            relationships.push(rel(id, ty, to, Some(comment)));
        }
    }

    let creator = match version {
        Some(v) => format!("Tool: {tool}-{v}"),
        None => format!("Tool: {tool}"),
    };
    let doc = Doc {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdxid: DOCUMENT_ID,
        name: format!("mirror snapshot {}", m.name()),
        document_namespace: format!("urn:uuid:{uuid}"),
        creation_info: CreationInfo {
            created: timestamp(&m.created),
            creators: vec![supplier_field(Some(&author)), creator],
            comment: format!(
                "Snapshot {} signed by {}; each package is one artifact, packageFileName is its logical path.",
                m.name(),
                m.signer
            ),
        },
        packages,
        relationships,
        extracted: extracted.into_values().collect(),
    };
    to_pretty(&doc)
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct DocIn {
    #[serde(rename = "spdxVersion")]
    spdx_version: String,
    #[serde(default)]
    packages: Vec<PackageIn>,
    #[serde(rename = "hasExtractedLicensingInfos", default)]
    extracted: Vec<ExtractedIn>,
}

#[derive(Deserialize)]
struct ExtractedIn {
    #[serde(rename = "licenseId")]
    license_id: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct PackageIn {
    #[serde(rename = "SPDXID")]
    spdxid: String,
    name: String,
    #[serde(rename = "versionInfo")]
    version_info: Option<String>,
    #[serde(rename = "packageFileName")]
    package_file_name: Option<String>,
    supplier: Option<String>,
    #[serde(rename = "licenseDeclared")]
    license_declared: Option<String>,
    #[serde(default)]
    checksums: Vec<ChecksumIn>,
    #[serde(rename = "externalRefs", default)]
    external_refs: Vec<ExternalRefIn>,
}

#[derive(Deserialize)]
struct ChecksumIn {
    algorithm: String,
    #[serde(rename = "checksumValue")]
    checksum_value: String,
}

#[derive(Deserialize)]
struct ExternalRefIn {
    #[serde(rename = "referenceType")]
    reference_type: String,
    #[serde(rename = "referenceLocator")]
    reference_locator: String,
}

/// Parses an SPDX 2.3 (or 2.2) JSON SBOM written by [`spdx`] back into components, one
/// per package in document order: `bom_ref` from `packageFileName`, `sha256` from the
/// `SHA256` checksum, the purl from the `purl` external reference.
///
/// # Errors
/// [`SbomError::TooLarge`] over [`super::MAX_SBOM_BYTES`]; [`SbomError::Malformed`] for
/// invalid JSON, a duplicate key (serde's derived structs refuse duplicate fields),
/// another `spdxVersion`, or a package without `packageFileName` or with no (or two
/// different) `SHA256` checksums.
pub fn parse_spdx(bytes: &[u8]) -> Result<Vec<Component>, SbomError> {
    check_size(bytes)?;
    let doc: DocIn =
        serde_json::from_slice(bytes).map_err(|e| SbomError::Malformed(e.to_string()))?;
    if !matches!(doc.spdx_version.as_str(), "SPDX-2.3" | "SPDX-2.2") {
        return Err(SbomError::Malformed(format!(
            "spdxVersion {:?} is not supported (SPDX-2.2 or SPDX-2.3)",
            doc.spdx_version
        )));
    }
    // License text the writer replaced by `LicenseRef-mirror-<hex>` comes back by name.
    let texts: BTreeMap<String, String> = doc
        .extracted
        .into_iter()
        .filter(|x| x.license_id.starts_with("LicenseRef-mirror-"))
        .filter_map(|x| x.name.map(|n| (x.license_id, n)))
        .collect();
    doc.packages
        .into_iter()
        .filter(|p| p.spdxid != SNAPSHOT_ID)
        .map(|p| {
            let bom_ref = p
                .package_file_name
                .filter(|f| !f.is_empty())
                .ok_or_else(|| {
                    SbomError::Malformed(format!("package {} has no packageFileName", p.spdxid))
                })?;
            let sha = sha256_of(
                &bom_ref,
                p.checksums
                    .iter()
                    .map(|c| (c.algorithm.as_str(), c.checksum_value.as_str())),
                "SHA256",
            )?;
            let purl = p
                .external_refs
                .into_iter()
                .find(|r| r.reference_type == "purl")
                .map(|r| r.reference_locator);
            let license = p
                .license_declared
                .filter(|l| l != NOASSERTION && l != "NONE")
                .map(|l| texts.get(&l).cloned().unwrap_or(l));
            component_from(Stated {
                bom_ref,
                name: p.name,
                version: p.version_info,
                purl,
                sha256: sha,
                supplier: p.supplier.as_deref().and_then(parse_supplier_field),
                license,
            })
        })
        .collect()
}
