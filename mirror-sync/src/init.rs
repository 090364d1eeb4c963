//! `mirror-sync init --from-host`: a starting configuration that mirrors what this host
//! already uses — its apt sources (one-line `sources.list(5)` files and deb822
//! `.sources` files) and pip's configured index (or pip's own default).
//!
//! The generated configuration syncs unedited apart from the `packages` and `projects`
//! lists: every enabled `deb` source becomes an `[[apt]]` upstream (security archives
//! included), the suites of one URL with the same components, architectures and keyring
//! are grouped into one upstream, components and architectures are carried over, and
//! the keyring is the source's `Signed-By` / `signed-by=` file or, when it names none,
//! the distribution's archive keyring that apt would use (`debian-archive-keyring.gpg`,
//! `ubuntu-archive-keyring.gpg` in `/usr/share/keyrings`). Entries mirror-sync cannot
//! use (`deb-src`, `cdrom:`, `file:` and other non-HTTP URIs, disabled or unreadable
//! entries) are skipped with a comment saying why.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;
use formats::apt::sources::{SourceEntry, parse_deb822_sources, parse_one_line};

/// Inputs of `init --from-host`.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Root of the host filesystem to read `etc/apt` from (`/` normally).
    pub root: PathBuf,
    /// `store =` value.
    pub store: String,
    /// `channel =` value.
    pub channel: String,
    /// `packages =` for every `[[apt]]` (empty: left for the user to fill in).
    pub packages: Vec<String>,
    /// `projects =` for every `[[pypi]]` (empty: left for the user to fill in).
    pub projects: Vec<String>,
    /// `python =` for every `[[pypi]]`.
    pub python: Vec<String>,
    /// `platforms =` for every `[[pypi]]`.
    pub platforms: Vec<String>,
    /// Python interpreter used to ask pip for its configuration.
    pub python_cmd: String,
}

/// One `[[apt]]` table to write.
#[derive(Debug, Clone, PartialEq)]
pub struct AptGuess {
    /// Upstream name.
    pub name: String,
    /// URL.
    pub url: String,
    /// Flat repository.
    pub flat: bool,
    /// Suites.
    pub suites: Vec<String>,
    /// Components.
    pub components: Vec<String>,
    /// Architectures.
    pub architectures: Vec<String>,
    /// `Signed-By` keyring as the source names it; after [`resolve_keyrings`], the
    /// keyring file to use (its path on the host), or `None` with
    /// [`AptGuess::keyring_note`] saying why.
    pub keyring: Option<String>,
    /// Why no keyring could be found (written as an `EDIT` comment).
    pub keyring_note: Option<String>,
    /// Where it was read from.
    pub origin: String,
}

/// One enabled host source: where it was read (`file:line` or `file`) and the entry.
pub type HostSource = (String, SourceEntry);

/// An entry of the host's apt sources that `init` leaves out, with the reason (written
/// as a comment into the generated configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// `file` or `file:line`.
    pub origin: String,
    /// The entry, shortened (`deb-src http://… bookworm main`).
    pub entry: String,
    /// Why it is skipped.
    pub reason: String,
}

/// Reads the host's enabled `deb` sources below `root/etc/apt` (see
/// [`host_apt_sources_detailed`], without the skipped entries).
///
/// Errors: a sources file cannot be read.
pub fn host_apt_sources(root: &Path) -> anyhow::Result<Vec<(String, SourceEntry)>> {
    Ok(host_apt_sources_detailed(root)?.0)
}

/// Whether mirror-sync can fetch from a source URI: `http` and `https` only.
fn supported_uri(uri: &str) -> Result<(), String> {
    match uri.split_once(':').map(|(scheme, _)| scheme) {
        Some("http") | Some("https") => Ok(()),
        Some(scheme) => Err(format!(
            "{scheme}: URIs are not supported by mirror-sync (http and https only)"
        )),
        None => Err("not a URI".into()),
    }
}

/// Reads the host's apt sources below `root/etc/apt`: `sources.list` and
/// `sources.list.d/*.list` (one-line, sources.list(5)) and `sources.list.d/*.sources`
/// (deb822). Returns the enabled `deb` entries with a supported URI (`(origin, entry)`,
/// origin `file:line` or `file`), and every entry left out with the reason: `deb-src`,
/// `cdrom:`, `file:` and other non-HTTP URIs, disabled stanzas, lines or files that do
/// not parse.
///
/// Errors: a sources file exists but cannot be read.
pub fn host_apt_sources_detailed(root: &Path) -> anyhow::Result<(Vec<HostSource>, Vec<Skipped>)> {
    let etc = root.join("etc/apt");
    let mut files = Vec::new();
    let main = etc.join("sources.list");
    if main.is_file() {
        files.push(main);
    }
    if let Ok(rd) = std::fs::read_dir(etc.join("sources.list.d")) {
        let mut more: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("list") | Some("sources")
                    )
            })
            .collect();
        more.sort();
        files.extend(more);
    }
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        // Origins name the file as it is on the host (without the test root).
        let shown = Path::new("/")
            .join(f.strip_prefix(root).unwrap_or(&f))
            .display()
            .to_string();
        let mut entries: Vec<(String, SourceEntry)> = Vec::new();
        if f.extension().and_then(|e| e.to_str()) == Some("sources") {
            match parse_deb822_sources(&text) {
                Ok(es) => entries.extend(es.into_iter().map(|e| (shown.clone(), e))),
                Err(e) => skipped.push(Skipped {
                    origin: shown.clone(),
                    entry: "the whole file".into(),
                    reason: format!("does not parse: {e}"),
                }),
            }
        } else {
            for (n, line) in text.lines().enumerate() {
                let t = line.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                let origin = format!("{shown}:{}", n + 1);
                // cdrom: URIs hold spaces inside [...], which the line grammar cannot
                // split; recognise them before parsing.
                if t.split_whitespace()
                    .nth(1)
                    .is_some_and(|w| w.starts_with("cdrom:"))
                {
                    skipped.push(Skipped {
                        origin,
                        entry: shorten(t),
                        reason:
                            "cdrom: URIs are not supported by mirror-sync (http and https only)"
                                .into(),
                    });
                    continue;
                }
                match parse_one_line(line).pop() {
                    Some(e) => entries.push((origin, e)),
                    None => skipped.push(Skipped {
                        origin,
                        entry: shorten(t),
                        reason: "not a deb line mirror-sync understands (sources.list(5))".into(),
                    }),
                }
            }
        }
        for (origin, mut e) in entries {
            let what = shorten(&format!(
                "{} {} {} {}",
                e.types.join(" "),
                e.uris.join(" "),
                e.suites.join(" "),
                e.components.join(" ")
            ));
            if !e.enabled {
                skipped.push(Skipped {
                    origin,
                    entry: what,
                    reason: "disabled (Enabled: no)".into(),
                });
                continue;
            }
            if !e.types.iter().any(|t| t == "deb") {
                skipped.push(Skipped {
                    origin,
                    entry: what,
                    reason: "source packages (deb-src) are not mirrored".into(),
                });
                continue;
            }
            let mut uris = Vec::new();
            for u in std::mem::take(&mut e.uris) {
                match supported_uri(&u) {
                    Ok(()) => uris.push(u),
                    Err(reason) => skipped.push(Skipped {
                        origin: origin.clone(),
                        entry: shorten(&format!("deb {u} {}", e.suites.join(" "))),
                        reason,
                    }),
                }
            }
            if !uris.is_empty() {
                e.uris = uris;
                out.push((origin, e));
            }
        }
    }
    Ok((out, skipped))
}

/// At most 100 characters of `s`, on one line.
fn shorten(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= 100 {
        one
    } else {
        let cut: String = one.chars().take(99).collect();
        format!("{cut}…")
    }
}

/// Turns host sources into `[[apt]]` tables: one per URI and flat suite, or per URI
/// and group of suites with the same components, architectures and `Signed-By`; named
/// after the URI's last path segment (`-security` appended for a security archive whose
/// URL does not say so; `-2`, `-3` for repeats). `default_arch` is used for entries
/// that name no architecture (apt uses the host's). The keyrings are the sources'
/// `Signed-By` values as written; [`resolve_keyrings`] turns them into files.
pub fn guess_apt(sources: &[(String, SourceEntry)], default_arch: &str) -> Vec<AptGuess> {
    let mut guesses: Vec<AptGuess> = Vec::new();
    for (origin, e) in sources {
        for uri in &e.uris {
            let uri = uri.trim_end_matches('/').to_owned();
            let arches = if e.architectures.is_empty() {
                vec![default_arch.to_owned()]
            } else {
                e.architectures.clone()
            };
            for suite in &e.suites {
                if suite.ends_with('/') {
                    let url = if suite == "/" || suite == "./" {
                        format!("{uri}/")
                    } else {
                        format!("{uri}/{}", suite.trim_start_matches("./"))
                    };
                    guesses.push(AptGuess {
                        name: String::new(),
                        url,
                        flat: true,
                        suites: vec![],
                        components: vec![],
                        architectures: arches.clone(),
                        keyring: e.signed_by.clone(),
                        keyring_note: None,
                        origin: origin.clone(),
                    });
                    continue;
                }
                if let Some(g) = guesses.iter_mut().find(|g| {
                    !g.flat
                        && g.url == uri
                        && g.components == e.components
                        && g.architectures == arches
                        && g.keyring == e.signed_by
                }) {
                    if !g.suites.contains(suite) {
                        g.suites.push(suite.clone());
                    }
                    continue;
                }
                guesses.push(AptGuess {
                    name: String::new(),
                    url: uri.clone(),
                    flat: false,
                    suites: vec![suite.clone()],
                    components: e.components.clone(),
                    architectures: arches.clone(),
                    keyring: e.signed_by.clone(),
                    keyring_note: None,
                    origin: origin.clone(),
                });
            }
        }
    }
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    for g in &mut guesses {
        let mut base = name_from_url(&g.url);
        // A security archive (all suites `*-security`) at a URL named like the main one
        // (Ubuntu's `…/ubuntu`) is told apart by its name.
        if !g.suites.is_empty()
            && g.suites.iter().all(|s| s.ends_with("-security"))
            && !base.contains("security")
        {
            base = format!("{base}-security");
        }
        let n = used.entry(base.clone()).or_insert(0);
        *n += 1;
        g.name = if *n == 1 { base } else { format!("{base}-{n}") };
    }
    guesses
}

/// The distribution whose archive keyring apt would use for `url` when the source
/// names no `Signed-By`: `debian` or `ubuntu`, from the URL's path, else from the host's
/// `os-release` (`ID`, then `ID_LIKE`).
fn distro_for(url: &str, os_release: &str) -> Option<&'static str> {
    let path = url::Url::parse(url)
        .map(|u| u.path().to_ascii_lowercase())
        .unwrap_or_default();
    if path.contains("ubuntu") {
        return Some("ubuntu");
    }
    if path.contains("debian") {
        return Some("debian");
    }
    for key in ["ID", "ID_LIKE"] {
        for line in os_release.lines() {
            let Some(v) = line.strip_prefix(key).and_then(|r| r.strip_prefix('=')) else {
                continue;
            };
            let v = v.trim().trim_matches('"').to_ascii_lowercase();
            for word in v.split_whitespace() {
                match word {
                    "ubuntu" => return Some("ubuntu"),
                    "debian" => return Some("debian"),
                    _ => {}
                }
            }
        }
    }
    None
}

/// `p` (absolute on the host) below `root`.
fn on_host(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

/// Turns each guess's `Signed-By` into the keyring file to use, below `root`:
///
/// - `Signed-By` naming files (apt accepts several, comma- or space-separated): the
///   first that exists on the host;
/// - no `Signed-By`: the distribution's archive keyring
///   (`/usr/share/keyrings/{debian,ubuntu}-archive-keyring.gpg`, the keys apt trusts by
///   default through `trusted.gpg.d`), when it exists;
/// - otherwise (fingerprints, an inline key, a missing file) no keyring, and
///   [`AptGuess::keyring_note`] says what to give.
///
/// The path written is the file's path as seen from `root` (`/usr/share/keyrings/…`
/// on a real host).
pub fn resolve_keyrings(root: &Path, guesses: &mut [AptGuess]) {
    let os_release = std::fs::read_to_string(root.join("etc/os-release"))
        .or_else(|_| std::fs::read_to_string(root.join("usr/lib/os-release")))
        .unwrap_or_default();
    for g in guesses {
        let named = g.keyring.take();
        match named {
            Some(v) => {
                let tokens: Vec<&str> = v
                    .split([',', ' '])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .collect();
                let files: Vec<&str> = tokens
                    .iter()
                    .copied()
                    .filter(|t| t.starts_with('/'))
                    .collect();
                if let Some(f) = files.iter().find(|f| on_host(root, f).is_file()) {
                    g.keyring = Some(on_host(root, f).display().to_string());
                } else if files.is_empty() {
                    g.keyring_note = Some(format!(
                        "Signed-By names key fingerprints ({v}); give the keyring file that holds them"
                    ));
                } else {
                    g.keyring_note = Some(format!(
                        "Signed-By names {v}, which is not on this host; give the repository's keyring file"
                    ));
                }
            }
            None => {
                let Some(distro) = distro_for(&g.url, &os_release) else {
                    g.keyring_note = Some(
                        "the source names no Signed-By keyring; give the repository's keyring file"
                            .into(),
                    );
                    continue;
                };
                let default = format!("/usr/share/keyrings/{distro}-archive-keyring.gpg");
                let p = on_host(root, &default);
                if p.is_file() {
                    g.keyring = Some(p.display().to_string());
                } else {
                    g.keyring_note = Some(format!(
                        "the source names no Signed-By and {default} is not on this host (install {distro}-archive-keyring); give the repository's keyring file"
                    ));
                }
            }
        }
    }
}

/// An upstream name from a URL: its last path segment (or host), lower-cased, with
/// characters outside `[a-z0-9._-]` replaced by `-`.
pub fn name_from_url(url: &str) -> String {
    let parsed = url::Url::parse(url).ok();
    let seg = parsed
        .as_ref()
        .and_then(|u| u.path_segments())
        .and_then(|mut s| {
            s.rfind(|p| !p.is_empty()).map(|p| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|u| u.host_str().map(str::to_owned))
        })
        .unwrap_or_else(|| "upstream".into());
    let mut name: String = seg
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_start_matches(['-', '.', '_']).to_owned();
    if name.is_empty() {
        name = "upstream".into();
    }
    name.truncate(64);
    name
}

/// Index URLs from `pip config list` output: `index-url` first, then `extra-index-url`
/// entries, in the order pip would use them (`:env:` over `install.` over `global.`).
pub fn parse_pip_config_list(text: &str) -> Vec<String> {
    let mut index = BTreeMap::new();
    let mut extra = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('\'').trim_matches('"').to_owned();
        let rank = if key.starts_with(":env:") {
            0
        } else if key.starts_with("install.") {
            1
        } else {
            2
        };
        if key.ends_with(".index-url") {
            index.insert(rank, value);
        } else if key.ends_with(".extra-index-url") {
            extra.extend(value.split_whitespace().map(str::to_owned));
        }
    }
    let mut out: Vec<String> = index.into_values().take(1).collect();
    for e in extra {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

/// The host's pip index URLs: configured ones, else pip's own default. `Err` when pip
/// cannot be asked at all.
pub fn host_pip_indexes(python: &str) -> anyhow::Result<(Vec<String>, &'static str)> {
    let out = Command::new(python)
        .args(["-m", "pip", "config", "list"])
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .output()
        .with_context(|| format!("cannot run `{python} -m pip config list`"))?;
    if out.status.success() {
        let urls = parse_pip_config_list(&String::from_utf8_lossy(&out.stdout));
        if !urls.is_empty() {
            return Ok((urls, "pip configuration"));
        }
    }
    let out = Command::new(python)
        .args([
            "-c",
            "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
        ])
        .output()
        .with_context(|| format!("cannot ask {python} for pip's default index"))?;
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    anyhow::ensure!(
        out.status.success() && !url.is_empty(),
        "pip did not report its default index"
    );
    Ok((vec![url], "pip's default index"))
}

fn host_arch() -> String {
    Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "amd64".into())
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn list(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

/// Renders the configuration text for this host.
///
/// `skipped` entries become comments above the `[[apt]]` tables.
pub fn render(
    opts: &InitOptions,
    apt: &[AptGuess],
    skipped: &[Skipped],
    pip: Result<(Vec<String>, &'static str), String>,
) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# mirror-sync configuration generated by `mirror-sync init --from-host`."
    );
    let _ = writeln!(
        t,
        "# Reference: docs/configuration.md. Relative paths are relative to this file."
    );
    let _ = writeln!(t, "store = {}", q(&opts.store));
    let _ = writeln!(t, "channel = {}", q(&opts.channel));
    let _ = writeln!(t, "\n[signing]");
    let _ = writeln!(
        t,
        "snapshot_key = \"keys/snapshot.key\"   # from `mirror-sync keys generate --out keys/`"
    );
    let _ = writeln!(t, "repo_key = \"keys/repo.key.asc\"");
    if !skipped.is_empty() {
        let _ = writeln!(t, "\n# Host apt sources left out:");
        for k in skipped {
            let _ = writeln!(t, "#   {}: {}: {}", k.origin, k.entry, k.reason);
        }
    }
    if !apt.is_empty() {
        let _ = writeln!(
            t,
            "\n# The [[apt]] upstreams below form one universe: packages are resolved over all of\n# them, as apt does with all its sources."
        );
    }
    for g in apt {
        let _ = writeln!(t, "\n# from {}", g.origin);
        let _ = writeln!(t, "[[apt]]");
        let _ = writeln!(t, "name = {}", q(&g.name));
        let _ = writeln!(t, "url = {}", q(&g.url));
        if g.flat {
            let _ = writeln!(t, "flat = true");
        } else {
            let _ = writeln!(t, "suites = {}", list(&g.suites));
            let _ = writeln!(t, "components = {}", list(&g.components));
        }
        let _ = writeln!(t, "architectures = {}", list(&g.architectures));
        if opts.packages.is_empty() {
            let _ = writeln!(
                t,
                "packages = []   # EDIT: packages to mirror (closed under Depends); empty mirrors every package"
            );
        } else {
            let _ = writeln!(t, "packages = {}", list(&opts.packages));
        }
        match &g.keyring {
            Some(k) => {
                let _ = writeln!(t, "keyring = {}", q(k));
            }
            None => {
                let _ = writeln!(
                    t,
                    "keyring = \"\"   # EDIT: {}",
                    g.keyring_note
                        .as_deref()
                        .unwrap_or("give the repository's keyring file")
                );
            }
        }
    }
    match pip {
        Ok((urls, origin)) => {
            for (i, url) in urls.iter().enumerate() {
                let _ = writeln!(t, "\n# from {origin}");
                let _ = writeln!(t, "[[pypi]]");
                let name = if i == 0 {
                    "pypi".to_owned()
                } else {
                    format!("pypi-{}", i + 1)
                };
                let _ = writeln!(t, "name = {}", q(&name));
                let _ = writeln!(t, "url = {}", q(url));
                if opts.projects.is_empty() {
                    let _ = writeln!(
                        t,
                        "projects = []   # EDIT: PEP 508 requirements to mirror, e.g. [\"requests>=2.31\"]"
                    );
                } else {
                    let _ = writeln!(t, "projects = {}", list(&opts.projects));
                }
                let _ = writeln!(t, "platforms = {}", list(&opts.platforms));
                let _ = writeln!(t, "python = {}", list(&opts.python));
                let _ = writeln!(t, "sdists = false");
            }
        }
        Err(e) => {
            let _ = writeln!(t, "\n# No [[pypi]] upstream: {e}");
        }
    }
    t
}

/// Runs `init --from-host`: reads the host and returns the configuration text.
pub fn init_from_host(opts: &InitOptions) -> anyhow::Result<String> {
    let (sources, skipped) = host_apt_sources_detailed(&opts.root)?;
    let mut apt = guess_apt(&sources, &host_arch());
    resolve_keyrings(&opts.root, &mut apt);
    let pip = host_pip_indexes(&opts.python_cmd).map_err(|e| format!("{e:#}"));
    Ok(render(opts, &apt, &skipped, pip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_line_and_deb822_sources() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc/apt/sources.list.d");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            dir.path().join("etc/apt/sources.list"),
            "# comment\ndeb [signed-by=/k/a.gpg] http://archive.example/debian bookworm main contrib\n\
             deb [signed-by=/k/a.gpg] http://archive.example/debian bookworm-updates main contrib\n\
             deb-src http://archive.example/debian bookworm main\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("cuda.sources"),
            "Types: deb\nURIs: http://flat.example/repos/x86_64\nSuites: /\nSigned-By: /k/cuda.gpg\n\n\
             Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /k/a.gpg\nEnabled: no\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("old.list.disabled"),
            "deb http://nope.example/x y z\n",
        )
        .unwrap();
        let src = host_apt_sources(dir.path()).unwrap();
        let guesses = guess_apt(&src, "amd64");
        assert_eq!(guesses.len(), 2, "{guesses:?}");
        assert_eq!(guesses[0].name, "debian");
        assert_eq!(guesses[0].suites, vec!["bookworm", "bookworm-updates"]);
        assert_eq!(guesses[0].components, vec!["main", "contrib"]);
        assert_eq!(guesses[0].keyring.as_deref(), Some("/k/a.gpg"));
        assert!(guesses[1].flat);
        assert_eq!(guesses[1].url, "http://flat.example/repos/x86_64/");
        assert_eq!(guesses[1].name, "x86_64");
        let opts = InitOptions {
            root: dir.path().into(),
            store: "/var/lib/mirror-sync".into(),
            channel: "cube-stable".into(),
            packages: vec!["jq".into()],
            projects: vec!["requests".into()],
            python: vec!["3.11".into()],
            platforms: vec!["manylinux_2_17_x86_64".into(), "any".into()],
            python_cmd: "python3".into(),
        };
        let text = render(
            &opts,
            &guesses,
            &[],
            Ok((vec!["https://index.example/simple/".into()], "test")),
        );
        // The output is a valid configuration.
        let path = dir.path().join("mirror.toml");
        std::fs::write(&path, &text).unwrap();
        let cfg = crate::config::Config::load(&path).unwrap();
        assert_eq!(cfg.apt.len(), 2);
        assert_eq!(cfg.apt[0].packages, vec!["jq"]);
        assert_eq!(cfg.pypi[0].url, "https://index.example/simple/");
    }

    #[test]
    fn pip_config_list_precedence() {
        let text = "global.index-url='https://global.example/simple'\n\
                    :env:.index-url='https://env.example/simple'\n\
                    global.extra-index-url='https://x.example/simple https://y.example/simple'\n";
        assert_eq!(
            parse_pip_config_list(text),
            vec![
                "https://env.example/simple",
                "https://x.example/simple",
                "https://y.example/simple"
            ]
        );
        assert!(parse_pip_config_list(":env:.cert='/x'\n").is_empty());
    }

    #[test]
    fn default_keyring_distribution() {
        assert_eq!(distro_for("http://h.example/ubuntu/", ""), Some("ubuntu"));
        assert_eq!(
            distro_for("http://h.example/debian-security", "ID=ubuntu"),
            Some("debian")
        );
        assert_eq!(
            distro_for(
                "http://h.example/repo",
                "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n"
            ),
            Some("ubuntu")
        );
        assert_eq!(distro_for("http://h.example/repo", "ID=fedora\n"), None);
    }

    #[test]
    fn keyrings_resolve_or_say_what_to_give() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/share/keyrings")).unwrap();
        std::fs::write(root.join("usr/share/keyrings/vendor.gpg"), b"k").unwrap();
        let g = |url: &str, k: Option<&str>| AptGuess {
            name: "x".into(),
            url: url.into(),
            flat: false,
            suites: vec!["s".into()],
            components: vec!["main".into()],
            architectures: vec!["amd64".into()],
            keyring: k.map(str::to_owned),
            keyring_note: None,
            origin: "test".into(),
        };
        let mut gs = vec![
            g(
                "http://h.example/v",
                Some("/missing.gpg,/usr/share/keyrings/vendor.gpg"),
            ),
            g(
                "http://h.example/v",
                Some("0123456789ABCDEF0123456789ABCDEF01234567"),
            ),
            g("http://h.example/debian", None),
            g("http://h.example/other", None),
        ];
        resolve_keyrings(root, &mut gs);
        assert_eq!(
            gs[0].keyring.as_deref(),
            Some(root.join("usr/share/keyrings/vendor.gpg").to_str().unwrap())
        );
        assert!(gs[1].keyring.is_none());
        assert!(
            gs[1]
                .keyring_note
                .as_deref()
                .unwrap()
                .contains("fingerprints")
        );
        assert!(gs[2].keyring.is_none());
        assert!(
            gs[2]
                .keyring_note
                .as_deref()
                .unwrap()
                .contains("/usr/share/keyrings/debian-archive-keyring.gpg is not on this host"),
            "{:?}",
            gs[2].keyring_note
        );
        assert!(
            gs[3]
                .keyring_note
                .as_deref()
                .unwrap()
                .contains("names no Signed-By")
        );
    }

    #[test]
    fn names_from_urls() {
        assert_eq!(name_from_url("http://archive.example/debian"), "debian");
        assert_eq!(name_from_url("http://archive.example/"), "archive.example");
        assert_eq!(name_from_url("http://h.example/Foo Bar/"), "foo-bar");
    }
}
