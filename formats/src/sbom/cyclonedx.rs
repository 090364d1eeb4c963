//! CycloneDX 1.6 JSON (ECMA-424, 1st edition; schema `bom-1.6.schema.json`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use super::license::is_spdx_expression;
use super::{
    Component, Model, ReferrerKind, Role, SbomError, Stated, check_size, component_from,
    document_uuid, timestamp, to_pretty, valid_url,
};
use crate::digest::Digest;
use crate::snapshot::Manifest;

#[derive(Serialize)]
struct Bom {
    #[serde(rename = "$schema")]
    schema: &'static str,
    #[serde(rename = "bomFormat")]
    bom_format: &'static str,
    #[serde(rename = "specVersion")]
    spec_version: &'static str,
    #[serde(rename = "serialNumber")]
    serial_number: String,
    version: u32,
    metadata: Metadata,
    components: Vec<CdxComponent>,
    dependencies: Vec<Dependency>,
}

#[derive(Serialize)]
struct Metadata {
    timestamp: String,
    tools: Tools,
    authors: Vec<Contact>,
    component: MetaComponent,
    properties: Vec<Property>,
}

/// CycloneDX 1.6 `organizationalEntity` (a supplier).
#[derive(Serialize, Deserialize)]
struct OrgEntity {
    name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    contact: Vec<Contact>,
}

/// CycloneDX 1.6 `organizationalContact`.
#[derive(Serialize, Deserialize)]
struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
}

fn org_entity(s: &super::Supplier) -> OrgEntity {
    OrgEntity {
        name: s.name.clone(),
        contact: s
            .email
            .iter()
            .map(|e| Contact {
                name: None,
                email: Some(e.clone()),
            })
            .collect(),
    }
}

/// The `bom-ref` of the snapshot itself (`metadata.component`), the dependency root.
fn root_ref(m: &Manifest) -> String {
    format!("urn:mirror:snapshot:{}", m.name())
}

#[derive(Serialize)]
struct Tools {
    components: Vec<Tool>,
}

#[derive(Serialize)]
struct Tool {
    #[serde(rename = "type")]
    ty: &'static str,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
}

#[derive(Serialize)]
struct MetaComponent {
    #[serde(rename = "type")]
    ty: &'static str,
    #[serde(rename = "bom-ref")]
    bom_ref: String,
    supplier: OrgEntity,
    name: String,
    version: String,
    description: String,
}

#[derive(Serialize)]
struct CdxComponent {
    #[serde(rename = "type")]
    ty: &'static str,
    #[serde(rename = "bom-ref")]
    bom_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<OrgEntity>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    hashes: Vec<Hash>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<LicenseItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(rename = "externalReferences", skip_serializing_if = "Vec::is_empty")]
    external_references: Vec<ExternalReference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
}

#[derive(Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum LicenseItem {
    Expression { expression: String },
    Named { license: NamedLicense },
}

#[derive(Serialize)]
struct NamedLicense {
    name: String,
}

#[derive(Serialize)]
struct ExternalReference {
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    #[serde(rename = "type")]
    ty: &'static str,
}

#[derive(Serialize)]
struct Property {
    name: String,
    value: String,
}

fn prop(name: &str, value: impl Into<String>) -> Property {
    Property {
        name: name.to_owned(),
        value: value.into(),
    }
}

#[derive(Serialize)]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(rename = "dependsOn")]
    depends_on: Vec<String>,
}

/// Bytes kept as they are in the fragment of a BOM-Link (the `bom-ref`): RFC 3986
/// unreserved characters plus `/`, `:` and `@`.
const FRAGMENT_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/')
    .remove(b':')
    .remove(b'@');

/// `mirror-sync 0.1.0` → (`mirror-sync`, `0.1.0`).
pub(crate) fn split_generator(generator: &str) -> (String, Option<String>) {
    match generator.trim().rsplit_once(' ') {
        Some((name, v)) if v.starts_with(|c: char| c.is_ascii_digit()) => {
            (name.trim().to_owned(), Some(v.to_owned()))
        }
        _ => (generator.trim().to_owned(), None),
    }
}

/// Renders the snapshot's CycloneDX 1.6 JSON SBOM (pretty, trailing newline).
///
/// Deterministic: the same manifest gives the same bytes, whatever the order of its
/// artifacts. Shape (CycloneDX 1.6 §metadata, §components, §dependencies):
/// - `serialNumber`: `urn:uuid:` + an RFC 4122 version-5-style UUID from SHA-256 over
///   the snapshot name, `created` and the sorted (`bom-ref`, SHA-256) list;
///   `version` 1; `metadata.timestamp` = the manifest's `created` (UTC);
///   `metadata.tools.components` = the manifest's generator; `metadata.component`
///   describes the snapshot (type `data`, name `<channel>/<sequence>`), with
///   `mirror:channel`, `mirror:sequence`, `mirror:signer`, `mirror:base` properties.
/// - one component per [`super::is_component`] artifact, sorted by `bom-ref` (the
///   logical path): `type` `library` (deb, wheel, sdist), `container` (OCI image or
///   index) or `data` (OCI referrer); `name`, `version`, `hashes` (`SHA-256`), `licenses`
///   from `meta.license` (an SPDX expression as `expression`, other text as
///   `license.name`), `purl` ([`super::purl`]), `externalReferences` (`distribution` =
///   `meta.upstream_url`; links to referrers, see the module docs) and `properties`
///   (`mirror:path`, `mirror:kind`, `mirror:upstream`, `mirror:filename`,
///   `mirror:mediaType`, `mirror:size`, `deb:suite`, `deb:component`, `oci:platform`,
///   `oci:artifactType`, `oci:subject`, `mirror:subject`, `mirror:signedBy`,
///   `pypi:requiresPython`, `pypi:yanked`).
/// - `dependencies`: one entry per component (`ref`, sorted `dependsOn`).
pub fn cyclonedx(m: &Manifest) -> Vec<u8> {
    let model = Model::new(m);
    let uuid = document_uuid(&model, "cyclonedx");
    let entries = &model.entries;

    let mut components = Vec::with_capacity(entries.len());
    for e in entries {
        let a = e.a;
        let ty = match e.role {
            Role::Library | Role::Source => "library",
            Role::Container => "container",
            Role::Referrer(_) => "data",
        };
        let licenses = match e.license.as_deref() {
            Some(l) if is_spdx_expression(l) => vec![LicenseItem::Expression {
                expression: l.to_owned(),
            }],
            Some(l) => vec![LicenseItem::Named {
                license: NamedLicense { name: l.to_owned() },
            }],
            _ => Vec::new(),
        };
        let mut external_references = Vec::new();
        if let Some(url) = valid_url(a.meta.upstream_url.as_deref()) {
            external_references.push(ExternalReference {
                url: url.to_owned(),
                comment: None,
                ty: "distribution",
            });
        }
        for r in e.referrers.iter().filter_map(|&j| entries.get(j)) {
            let Role::Referrer(kind) = r.role else {
                continue;
            };
            let ty = match kind {
                ReferrerKind::Sbom => "bom",
                ReferrerKind::Attestation => "attestation",
                ReferrerKind::Signature => "digital-signature",
                ReferrerKind::Other => "other",
            };
            let mut comment = format!("OCI referrer ({})", kind.describe());
            if let Some(t) = &r.a.meta.artifact_type {
                comment.push_str(&format!(", artifactType {t}"));
            }
            external_references.push(ExternalReference {
                url: format!(
                    "urn:cdx:{uuid}/1#{}",
                    utf8_percent_encode(&r.a.path, FRAGMENT_KEEP)
                ),
                comment: Some(comment),
                ty,
            });
        }
        let mut properties = vec![
            prop("mirror:path", &a.path),
            prop("mirror:kind", a.kind.name()),
        ];
        if let Some(u) = &a.upstream {
            properties.push(prop("mirror:upstream", u));
        }
        if let Some(f) = &a.meta.filename {
            properties.push(prop("mirror:filename", f));
        }
        if let Some(t) = &a.media_type {
            properties.push(prop("mirror:mediaType", t));
        }
        properties.push(prop("mirror:size", a.size.to_string()));
        if let Some(s) = &a.meta.suite {
            properties.push(prop("deb:suite", s));
        }
        if let Some(c) = &a.meta.component {
            properties.push(prop("deb:component", c));
        }
        if let Some(p) = &a.meta.platform {
            properties.push(prop("oci:platform", p));
        }
        if let Some(t) = &a.meta.artifact_type {
            properties.push(prop("oci:artifactType", t));
        }
        if let Some(s) = &a.meta.subject {
            properties.push(prop("oci:subject", s.to_string()));
        }
        if let Some(s) = e.subject.and_then(|j| entries.get(j)) {
            properties.push(prop("mirror:subject", &s.a.path));
        }
        for k in &a.meta.signed_by {
            properties.push(prop("mirror:signedBy", k));
        }
        if let Some(r) = &a.meta.requires_python {
            properties.push(prop("pypi:requiresPython", r));
        }
        if let Some(y) = &a.meta.yanked {
            properties.push(prop("pypi:yanked", y));
        }
        components.push(CdxComponent {
            ty,
            bom_ref: a.path.clone(),
            supplier: e.supplier.as_ref().map(org_entity),
            name: e.name.clone(),
            version: (!e.version.is_empty()).then(|| e.version.clone()),
            hashes: vec![Hash {
                alg: "SHA-256",
                content: a.digest.hex(),
            }],
            licenses,
            purl: e.purl.clone(),
            external_references,
            properties,
        });
    }

    let root = root_ref(m);
    let mut dependencies: Vec<Dependency> = vec![Dependency {
        reference: root.clone(),
        depends_on: entries.iter().map(|e| e.a.path.clone()).collect(),
    }];
    dependencies.extend(entries.iter().map(|e| {
        Dependency {
            reference: e.a.path.clone(),
            // `depends` holds indexes into the sorted entries: sorted paths.
            depends_on: e
                .depends
                .iter()
                .filter_map(|&j| entries.get(j))
                .map(|d| d.a.path.clone())
                .collect(),
        }
    }));

    let (tool, tool_version) = split_generator(&m.generator);
    let mut meta_props = vec![
        prop("mirror:channel", &m.channel),
        prop("mirror:sequence", m.sequence.to_string()),
        prop("mirror:signer", &m.signer),
    ];
    if let Some(b) = &m.base {
        meta_props.push(prop("mirror:base", b));
    }
    let bom = Bom {
        schema: "http://cyclonedx.org/schema/bom-1.6.schema.json",
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: format!("urn:uuid:{uuid}"),
        version: 1,
        metadata: Metadata {
            timestamp: timestamp(&m.created),
            tools: Tools {
                components: vec![Tool {
                    ty: "application",
                    name: tool,
                    version: tool_version,
                }],
            },
            authors: vec![Contact {
                name: Some(super::author(m).name),
                email: None,
            }],
            component: MetaComponent {
                ty: "data",
                bom_ref: root,
                supplier: org_entity(&super::author(m)),
                name: m.name(),
                version: m.sequence.to_string(),
                description: format!("mirror snapshot {}", m.name()),
            },
            properties: meta_props,
        },
        components,
        dependencies,
    };
    to_pretty(&bom)
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct BomIn {
    #[serde(rename = "bomFormat")]
    bom_format: String,
    #[serde(rename = "specVersion")]
    spec_version: String,
    #[serde(default)]
    components: Vec<ComponentIn>,
}

#[derive(Deserialize)]
struct ComponentIn {
    #[serde(rename = "bom-ref")]
    bom_ref: Option<String>,
    name: String,
    version: Option<String>,
    purl: Option<String>,
    #[serde(default)]
    hashes: Vec<HashIn>,
    supplier: Option<OrgEntity>,
    #[serde(default)]
    licenses: Vec<LicenseIn>,
}

#[derive(Deserialize)]
struct LicenseIn {
    expression: Option<String>,
    license: Option<NamedLicenseIn>,
}

#[derive(Deserialize)]
struct NamedLicenseIn {
    id: Option<String>,
    name: Option<String>,
}

#[derive(Deserialize)]
struct HashIn {
    alg: String,
    content: String,
}

/// The one SHA-256 of a component, from `(algorithm, hex)` pairs.
pub(crate) fn sha256_of<'a>(
    id: &str,
    hashes: impl Iterator<Item = (&'a str, &'a str)>,
    alg_name: &str,
) -> Result<Digest, SbomError> {
    let mut found: Option<Digest> = None;
    for (alg, hex) in hashes {
        if alg != alg_name {
            continue;
        }
        let d = Digest::from_hex(&hex.to_ascii_lowercase()).map_err(|_| {
            SbomError::Malformed(format!("component {id} has an invalid {alg_name} {hex:?}"))
        })?;
        if found.is_some_and(|f| f != d) {
            return Err(SbomError::Malformed(format!(
                "component {id} has two different {alg_name} values"
            )));
        }
        found = Some(d);
    }
    found.ok_or_else(|| SbomError::Malformed(format!("component {id} has no {alg_name} hash")))
}

/// Parses a CycloneDX JSON SBOM written by [`cyclonedx`] (spec versions 1.4 to 1.6)
/// back into its top-level components, in document order.
///
/// # Errors
/// [`SbomError::TooLarge`] over [`super::MAX_SBOM_BYTES`]; [`SbomError::Malformed`] for
/// invalid JSON, a duplicate key in the document or a component (serde's derived
/// structs refuse duplicate fields), a `bomFormat` other than `CycloneDX`, another
/// spec version, or a component without `bom-ref` or with no (or two different)
/// `SHA-256` hashes.
pub fn parse_cyclonedx(bytes: &[u8]) -> Result<Vec<Component>, SbomError> {
    check_size(bytes)?;
    let bom: BomIn =
        serde_json::from_slice(bytes).map_err(|e| SbomError::Malformed(e.to_string()))?;
    if bom.bom_format != "CycloneDX" {
        return Err(SbomError::Malformed(format!(
            "bomFormat is {:?}, not \"CycloneDX\"",
            bom.bom_format
        )));
    }
    if !matches!(bom.spec_version.as_str(), "1.4" | "1.5" | "1.6") {
        return Err(SbomError::Malformed(format!(
            "CycloneDX specVersion {:?} is not supported (1.4 to 1.6)",
            bom.spec_version
        )));
    }
    bom.components
        .into_iter()
        .map(|c| {
            let bom_ref = c.bom_ref.filter(|r| !r.is_empty()).ok_or_else(|| {
                SbomError::Malformed(format!("component {:?} has no bom-ref", c.name))
            })?;
            let sha = sha256_of(
                &bom_ref,
                c.hashes
                    .iter()
                    .map(|h| (h.alg.as_str(), h.content.as_str())),
                "SHA-256",
            )?;
            let license = c.licenses.into_iter().next().and_then(|l| {
                l.expression
                    .or_else(|| l.license.and_then(|n| n.id.or(n.name)))
            });
            let supplier = c.supplier.map(|s| super::Supplier {
                name: s.name,
                email: s.contact.into_iter().find_map(|c| c.email),
            });
            component_from(Stated {
                bom_ref,
                name: c.name,
                version: c.version,
                purl: c.purl,
                sha256: sha,
                supplier,
                license,
            })
        })
        .collect()
}
