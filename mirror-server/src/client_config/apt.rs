//! APT: the repositories a snapshot serves ([`apt_repos`]) and their sources files, deb822
//! ([`deb822_stanza`]) and one-line ([`one_line`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::ClientConfigError;
use crate::serve::routes::Live;

/// Largest `Release` file read (a Debian `Release` is well under 1 MiB).
const MAX_RELEASE_BYTES: u64 = 16 * 1024 * 1024;

/// One APT repository the snapshot serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AptRepo {
    /// The `[[apt]]` name: the repository is served at `/apt/<name>/`.
    pub name: String,
    /// The repository URI clients use (`<base>/apt/<name>`; with a trailing `/` for a flat
    /// repository).
    pub uri: String,
    /// True for a flat repository (`Suites: /`).
    pub flat: bool,
    /// The served suites (`dists/<suite>`), sorted; empty for a flat repository.
    pub suites: Vec<String>,
    /// The components of all suites, in first-seen order (`Components:` of each `Release`).
    pub components: Vec<String>,
    /// The architectures of all suites without `all`, in first-seen order; empty when the
    /// `Release` files name none.
    pub architectures: Vec<String>,
}

/// The APT repositories of `live`: every `apt/<name>/dists/<suite>/Release` and
/// `apt/<name>/Release` route that has its `InRelease` beside it, with components and architectures read from those
/// `Release` files (blobs of the store at `store`). Sorted by name; suites sorted.
///
/// Errors: a `Release` blob cannot be read or does not parse.
pub fn apt_repos(
    live: &Live,
    store: &Path,
    base_url: &str,
) -> Result<Vec<AptRepo>, ClientConfigError> {
    // name -> (flat?, suite -> Release path)
    let mut found: BTreeMap<&str, (bool, BTreeMap<&str, &str>)> = BTreeMap::new();
    for path in live.routes.keys() {
        let Some(rest) = path.strip_prefix("apt/") else {
            continue;
        };
        let Some(dir) = rest.strip_suffix("/Release") else {
            continue;
        };
        // A repository root (suite or flat) has the signed InRelease export writes next to
        // its Release; a per-component `…/binary-<arch>/Release` has not.
        if live.get(&format!("apt/{dir}/InRelease")).is_none() {
            continue;
        }
        match dir.split_once('/') {
            None => found.entry(dir).or_default().0 = true,
            Some((name, tail)) => {
                if let Some(suite) = tail.strip_prefix("dists/")
                    && !suite.is_empty()
                {
                    found.entry(name).or_default().1.insert(suite, path);
                }
            }
        }
    }
    let cas = store::Cas::at(store);
    let mut out = Vec::new();
    for (name, (flat_release, suites)) in found {
        let mut components: Vec<String> = Vec::new();
        let mut architectures: Vec<String> = Vec::new();
        let flat = suites.is_empty() && flat_release;
        let release_paths: Vec<String> = if flat {
            vec![format!("apt/{name}/Release")]
        } else {
            suites.values().map(|p| (*p).to_owned()).collect()
        };
        for path in &release_paths {
            let Some(entry) = live.get(path) else {
                continue;
            };
            let bytes = cas
                .read_bytes(&entry.digest, MAX_RELEASE_BYTES)
                .map_err(|source| ClientConfigError::Release {
                    path: path.clone(),
                    digest: entry.digest,
                    source: Box::new(source),
                })?;
            let text = String::from_utf8_lossy(&bytes);
            let release = formats::apt::release::Release::parse(&text).map_err(|source| {
                ClientConfigError::ReleaseParse {
                    path: path.clone(),
                    source,
                }
            })?;
            for c in release.components() {
                if !components.contains(&c) {
                    components.push(c);
                }
            }
            for a in release.architectures() {
                if a != "all" && !architectures.contains(&a) {
                    architectures.push(a);
                }
            }
        }
        out.push(AptRepo {
            name: name.to_owned(),
            uri: if flat {
                format!("{base_url}/apt/{name}/")
            } else {
                format!("{base_url}/apt/{name}")
            },
            flat,
            suites: if flat {
                Vec::new()
            } else {
                suites.keys().map(|s| (*s).to_owned()).collect()
            },
            components,
            architectures,
        });
    }
    Ok(out)
}

/// The deb822 stanza of `repo` (sources.list(5)), ending in a newline.
pub fn deb822_stanza(repo: &AptRepo, keyring_path: &str) -> String {
    let mut s = format!(
        "# {} (served at /apt/{}/)\nTypes: deb\nURIs: {}\n",
        repo.name, repo.name, repo.uri
    );
    if repo.flat {
        s.push_str("Suites: /\n");
    } else {
        s.push_str(&format!("Suites: {}\n", repo.suites.join(" ")));
        if !repo.components.is_empty() {
            s.push_str(&format!("Components: {}\n", repo.components.join(" ")));
        }
    }
    if !repo.architectures.is_empty() {
        s.push_str(&format!(
            "Architectures: {}\n",
            repo.architectures.join(" ")
        ));
    }
    s.push_str(&format!("Signed-By: {keyring_path}\n"));
    s
}

/// The one-line form of `repo` (sources.list(5), "ONE-LINE-STYLE FORMAT"): one `deb` line
/// per suite (`deb [signed-by=K arch=A] URI SUITE COMPONENT…`), or `deb [signed-by=K] URI/ /`
/// for a flat repository. Each line ends in a newline.
pub fn one_line(repo: &AptRepo, keyring_path: &str) -> String {
    let mut options = format!("signed-by={keyring_path}");
    if !repo.architectures.is_empty() {
        options.push_str(&format!(" arch={}", repo.architectures.join(",")));
    }
    if repo.flat {
        return format!("deb [{options}] {} /\n", repo.uri);
    }
    repo.suites
        .iter()
        .map(|s| {
            format!(
                "deb [{options}] {} {s} {}\n",
                repo.uri,
                repo.components.join(" ")
            )
        })
        .collect()
}
