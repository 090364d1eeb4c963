//! Phase 2, [`select`]: every upstream's requests resolved over the universe
//! ([`crate::apt::resolve`]), mapped back to each upstream's indexes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::bail;

use super::universe::AptUniverse;
use crate::apt::resolve::{self, Entry, IndexInfo, Request, Sym, Unsatisfied};
use crate::config::Config;

/// What phase 2 picked from one upstream.
#[derive(Debug, Default)]
pub struct UpstreamSelection {
    /// Distinct `(name, version, architecture)` selected from this upstream.
    pub selected: usize,
    /// Each `.deb` to fetch: its `Filename` (without `./`) → the entry (universe index).
    pub by_file: BTreeMap<String, usize>,
    /// The selected entries of each of this upstream's indexes, by universe index
    /// position of the index; served as that suite's `Packages`.
    pub(super) stanzas: BTreeMap<u32, Vec<usize>>,
    /// Unsatisfied dependencies of entries of this upstream.
    pub unsatisfied: Vec<String>,
    /// Why this upstream's selection is unusable (an inconsistent upstream), if so.
    pub error: Option<String>,
}

/// The outcome of phase 2.
#[derive(Debug, Default)]
pub struct Selection {
    /// One per [`AptUniverse::upstreams`], aligned with it.
    pub upstreams: Vec<UpstreamSelection>,
    /// Every unsatisfied dependency, `[[apt]] NAME: …`, with its chain.
    pub unsatisfied: Vec<String>,
    /// Every request that matches nothing, `[[apt]] NAME[, NAME…]: …` (one line per
    /// request, naming every upstream that lists it).
    pub missing: Vec<String>,
}

/// Phase 2: resolves every fetched upstream's `packages` over the universe and maps the
/// selected entries back to every index of the same upstream that lists an identical
/// copy (same name, version, architecture, size and hash): a package listed in two
/// suites of an upstream is served by both. A version several upstreams list is taken
/// from the first in config order (apt's tie rule) and stored under that upstream only;
/// a client configured with every served repository finds it there.
///
/// # Errors
/// An invalid request string in the configuration (all of them are listed).
pub fn select(cfg: &Config, uni: &AptUniverse) -> anyhow::Result<Selection> {
    let mut bad = Vec::new();
    let sources: Vec<resolve::Source> = uni
        .upstreams
        .iter()
        .map(|fu| {
            let up = &cfg.apt[fu.config_index];
            let requests = up
                .packages
                .iter()
                .filter_map(|s| match s.parse::<Request>() {
                    Ok(r) => Some(r),
                    Err(e) => {
                        bad.push(format!("[[apt]] {}: package {s:?}: {e}", up.name));
                        None
                    }
                })
                .collect();
            resolve::Source {
                name: up.name.clone(),
                architectures: up.architectures.clone(),
                requests,
                with_recommends: up.recommends,
            }
        })
        .collect();
    if !bad.is_empty() {
        bail!("{}", bad.join("\n"));
    }
    let infos: Vec<IndexInfo> = uni
        .indexes
        .iter()
        .map(|o| IndexInfo {
            source: o.upstream,
            priority: o.priority,
        })
        .collect();
    let resolution = resolve::resolve(resolve::Universe {
        entries: &uni.entries,
        index_of: &uni.index_of,
        indexes: &infos,
        sources: &sources,
    });
    let name_of = |s: usize| sources[s].name.as_str();
    let mut sel = Selection {
        upstreams: (0..uni.upstreams.len())
            .map(|_| UpstreamSelection::default())
            .collect(),
        unsatisfied: resolution
            .unsatisfied
            .iter()
            .map(|u: &Unsatisfied| format!("[[apt]] {}: {u}", name_of(u.source)))
            .collect(),
        missing: Vec::new(),
    };
    // The same request in several upstreams' lists (init writes one list into each) is
    // reported once, naming them all.
    let mut missing: Vec<(String, Vec<&str>)> = Vec::new();
    for m in &resolution.missing {
        let text = m.to_string();
        match missing.iter_mut().find(|(t, _)| *t == text) {
            Some((_, names)) => names.push(name_of(m.source)),
            None => missing.push((text, vec![name_of(m.source)])),
        }
    }
    sel.missing = missing
        .into_iter()
        .map(|(text, names)| format!("[[apt]] {}: {text}", names.join(", ")))
        .collect();
    for u in &resolution.unsatisfied {
        sel.upstreams[u.source].unsatisfied.push(u.to_string());
    }

    // Identity of a selected copy: (name, version, arch) → (size, sha256, sha512).
    type Key<'a> = (Sym, &'a str, Sym);
    fn key(e: Entry<'_>) -> Key<'_> {
        (e.name_sym(), e.version(), e.arch_sym())
    }
    let mut chosen: HashMap<Key<'_>, Vec<usize>> = HashMap::new();
    for &i in &resolution.selected {
        chosen.entry(key(uni.entries.entry(i))).or_default().push(i);
    }
    // SHA512 is kept only for entries without SHA256, so an entry listing both is the
    // same as another only by SHA256.
    let same = |a: Entry<'_>, b: Entry<'_>| {
        a.size() == b.size()
            && match (a.sha256(), b.sha256()) {
                (Some(x), Some(y)) => x == y,
                _ => a.sha512().is_some() && a.sha512() == b.sha512(),
            }
    };
    let mut triples: Vec<BTreeSet<Key<'_>>> = vec![BTreeSet::new(); uni.upstreams.len()];
    for e in uni.entries.iter() {
        let i = e.index();
        let key = key(e);
        let Some(picks) = chosen.get(&key) else {
            continue;
        };
        let origin = uni.origin(i);
        if !picks.iter().any(|&j| {
            j == i || (uni.origin(j).upstream == origin.upstream && same(uni.entries.entry(j), e))
        }) {
            continue;
        }
        let us = &mut sel.upstreams[origin.upstream];
        triples[origin.upstream].insert(key);
        let file = e.filename().trim_start_matches("./").to_owned();
        if let Some(&j) = us.by_file.get(&file) {
            let other = uni.entries.entry(j);
            if other.sha256() != e.sha256()
                || other.sha512() != e.sha512()
                || other.size() != e.size()
            {
                us.error.get_or_insert_with(|| {
                    format!(
                        "[[apt]] {}: {} is listed with different hashes in two indexes; the upstream is inconsistent",
                        name_of(origin.upstream),
                        e.filename()
                    )
                });
            }
        } else {
            us.by_file.insert(file, i);
        }
        us.stanzas.entry(uni.index_of[i]).or_default().push(i);
    }
    for (us, t) in sel.upstreams.iter_mut().zip(triples) {
        us.selected = t.len();
    }
    drop(chosen);
    super::universe::release_free_memory();
    Ok(sel)
}
