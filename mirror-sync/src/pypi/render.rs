//! Step 4 of the PyPI upstreams, the render: one merged PEP 503 HTML and PEP 691 JSON
//! simple index over every `[[pypi]]` upstream, generated from their synced states when a
//! snapshot is cut. Called by the export's cut (`export/cut.rs`).

use std::collections::BTreeMap;

use anyhow::anyhow;
use formats::pypi::simple::{self, ServedFile};
use formats::snapshot::{Artifact, ArtifactKind};
use store::Cas;

use crate::render::{merge_by_path, put};
use crate::state::UpstreamState;

/// Merges the files of every PyPI upstream into one simple index and renders its pages.
pub(crate) fn render_simple(cas: &Cas, states: &[&UpstreamState]) -> anyhow::Result<Vec<Artifact>> {
    let mut by_path: BTreeMap<String, Artifact> = BTreeMap::new();
    for st in states {
        merge_by_path(
            &mut by_path,
            st.artifacts.iter().filter(|a| {
                matches!(
                    a.kind,
                    ArtifactKind::Wheel | ArtifactKind::Sdist | ArtifactKind::CoreMetadata
                )
            }),
            "remove it from one of them",
        )?;
    }
    let mut projects: BTreeMap<String, Vec<&Artifact>> = BTreeMap::new();
    for a in by_path.values() {
        if !matches!(a.kind, ArtifactKind::Wheel | ArtifactKind::Sdist) {
            continue;
        }
        let project = a
            .path
            .strip_prefix("simple/")
            .and_then(|r| r.split_once('/'))
            .map(|(p, _)| p.to_owned())
            .ok_or_else(|| anyhow!("unexpected path {}", a.path))?;
        projects.entry(project).or_default().push(a);
    }
    let mut out: Vec<Artifact> = by_path.values().cloned().collect();
    let mut names = Vec::new();
    for (project, files) in &projects {
        let display = files
            .iter()
            .find_map(|a| a.meta.name.clone())
            .unwrap_or_else(|| project.clone());
        names.push(display.clone());
        let served: Vec<ServedFile> = files
            .iter()
            .map(|a| {
                let filename = a
                    .meta
                    .filename
                    .clone()
                    .unwrap_or_else(|| a.path.rsplit('/').next().unwrap_or("").to_owned());
                ServedFile {
                    href: filename.clone(),
                    filename,
                    sha256: a.digest.hex(),
                    requires_python: a.meta.requires_python.clone(),
                    yanked: a.meta.yanked.clone(),
                    core_metadata_sha256: a.meta.core_metadata.map(|d| d.hex()),
                    size: a.size,
                    upload_time: a.meta.upload_time.clone(),
                }
            })
            .collect();
        let html = simple::render_project_html(&display, &served);
        let json = simple::render_project_json(&display, &served);
        out.extend(simple_pages(
            cas,
            &format!("simple/{project}"),
            &html,
            &json,
        )?);
    }
    let html = simple::render_index_html(&names);
    let json = simple::render_index_json(&names);
    out.extend(simple_pages(cas, "simple", &html, &json)?);
    Ok(out)
}

/// The PEP 503 HTML and PEP 691 JSON renderings of one page, as `<dir>/index.html` and
/// `<dir>/index.json` (the server picks one by content negotiation).
fn simple_pages(cas: &Cas, dir: &str, html: &str, json: &[u8]) -> anyhow::Result<[Artifact; 2]> {
    Ok([
        put(
            cas,
            ArtifactKind::SimplePage,
            None,
            format!("{dir}/index.html"),
            html.as_bytes(),
            "text/html; charset=utf-8",
        )?,
        put(
            cas,
            ArtifactKind::SimplePage,
            None,
            format!("{dir}/index.json"),
            json,
            simple::JSON_MEDIA_TYPE,
        )?,
    ])
}
