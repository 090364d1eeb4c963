//! [`PackageTable`]: the package entries of a universe, compact. Names (packages,
//! virtual packages, architectures) are interned to `u32` ids, versions and file names
//! live in one string arena, digests are binary, and the relations of all entries are
//! one flat arena with group boundaries. No per-entry allocation: a Debian `main`
//! index (63k entries) takes about 15 MiB here, against about 150 MiB as owned
//! [`PackageEntry`] values.

use std::fmt;

use formats::apt::packages::PackageEntry;
use formats::apt::relation::{Relation, VersionOp};
use formats::apt::version;
use formats::digest::Digest;

/// An interned name (package, virtual package or architecture) of a [`PackageTable`].
pub type Sym = u32;

/// "No architecture qualifier" in [`Rel::arch`].
const NONE: u32 = u32::MAX;

/// Why an entry cannot be added: the table's `u32` offsets would overflow (more than
/// 4 GiB of names or strings, or 4 billion relations).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the package universe is too large ({0} overflows the table's 32-bit offsets)")]
pub struct TableFull(&'static str);

/// A string in [`PackageTable`]'s arena: `(offset, length)` in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span(u32, u32);

/// Interned strings: one arena, ids by insertion order, an open-addressing hash table
/// of ids (no second copy of the strings).
#[derive(Debug, Default, Clone)]
struct Interner {
    text: String,
    spans: Vec<Span>,
    /// `NONE` or an id; a power of two long, at most half full.
    slots: Vec<u32>,
}

/// FNV-1a, 64-bit: short keys, no allocation.
fn hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Interner {
    fn str(&self, id: Sym) -> &str {
        let Span(o, l) = self.spans[id as usize];
        &self.text[o as usize..(o + l) as usize]
    }

    /// The slot where `s` is, or the empty slot where it would go.
    fn slot(&self, s: &str) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = hash(s) as usize & mask;
        loop {
            let id = self.slots[i];
            if id == NONE || self.str(id) == s {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    fn get(&self, s: &str) -> Option<Sym> {
        if self.slots.is_empty() {
            return None;
        }
        let id = self.slots[self.slot(s)];
        (id != NONE).then_some(id)
    }

    fn intern(&mut self, s: &str) -> Result<Sym, TableFull> {
        if let Some(id) = self.get(s) {
            return Ok(id);
        }
        if (self.spans.len() + 1) * 2 > self.slots.len() {
            let mut slots = vec![NONE; (self.slots.len() * 2).max(1024)];
            let mask = slots.len() - 1;
            for (id, _) in self.spans.iter().enumerate() {
                let mut i = hash(self.str(id as u32)) as usize & mask;
                while slots[i] != NONE {
                    i = (i + 1) & mask;
                }
                slots[i] = id as u32;
            }
            self.slots = slots;
        }
        let id = u32::try_from(self.spans.len())
            .ok()
            .filter(|&id| id != NONE)
            .ok_or(TableFull("names"))?;
        let span = push_str(&mut self.text, s, "names")?;
        let slot = self.slot(s);
        self.spans.push(span);
        self.slots[slot] = id;
        Ok(id)
    }
}

fn push_str(arena: &mut String, s: &str, what: &'static str) -> Result<Span, TableFull> {
    let o = u32::try_from(arena.len()).map_err(|_| TableFull(what))?;
    let l = u32::try_from(s.len()).map_err(|_| TableFull(what))?;
    o.checked_add(l).ok_or(TableFull(what))?;
    arena.push_str(s);
    Ok(Span(o, l))
}

/// One alternative of a relation, or one `Provides` entry (12 bytes).
#[derive(Debug, Clone, Copy)]
struct Rel {
    name: Sym,
    /// The constraint's version (in `versions`), or `NONE`.
    version: u32,
    /// 0 none, else 1..=5 for `<<`, `<=`, `=`, `>=`, `>>`.
    op: u8,
    /// Whether it has an architecture qualifier (in `rel_arch`; rare).
    has_arch: bool,
}

const OPS: [VersionOp; 5] = [
    VersionOp::Lt,
    VersionOp::Le,
    VersionOp::Eq,
    VersionOp::Ge,
    VersionOp::Gt,
];

#[derive(Debug, Clone, Copy)]
struct Rec {
    name: Sym,
    arch: Sym,
    /// In `versions`.
    version: u32,
    filename: Span,
    size: u64,
    /// The `SHA256`, or all zero with `has_sha256` false.
    sha256: [u8; 32],
    has_sha256: bool,
    /// First group (in `groups`) of `Pre-Depends` + `Depends`, then `Recommends`, then
    /// one single-alternative group per `Provides` entry.
    groups: u32,
    n_depends: u32,
    n_recommends: u32,
    n_provides: u32,
}

/// The package entries of a universe (see the module docs). Entries are numbered from
/// 0 in the order they were pushed.
#[derive(Debug, Clone)]
pub struct PackageTable {
    names: Interner,
    /// Versions of entries and of relation constraints (many repeat).
    versions: Interner,
    /// File names.
    strings: String,
    recs: Vec<Rec>,
    rels: Vec<Rel>,
    /// Architecture qualifiers by relation number (ascending).
    rel_arch: Vec<(u32, Sym)>,
    /// Start of each group in `rels`, then a last element: group `g` is
    /// `rels[groups[g]..groups[g + 1]]`.
    groups: Vec<u32>,
    /// `SHA512` of the entries without `SHA256`, by entry number (ascending).
    sha512: Vec<(u32, [u8; 64])>,
}

impl Default for PackageTable {
    fn default() -> Self {
        PackageTable {
            names: Interner::default(),
            versions: Interner::default(),
            strings: String::new(),
            recs: Vec::new(),
            rels: Vec::new(),
            rel_arch: Vec::new(),
            groups: vec![0],
            sha512: Vec::new(),
        }
    }
}

fn hex_bytes<const N: usize>(h: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(h, &mut out).ok()?;
    Some(out)
}

impl PackageTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table of `entries`, in order (tests, tools).
    ///
    /// # Errors
    /// [`TableFull`].
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = &'a PackageEntry>,
    ) -> Result<Self, TableFull> {
        let mut t = Self::new();
        for e in entries {
            t.push(e)?;
        }
        Ok(t)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Drops the entries from `len` on (a failed upstream's), keeping the names.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.recs.len() {
            return;
        }
        let g = self.recs[len].groups as usize;
        let rels = self.groups[g];
        self.rels.truncate(rels as usize);
        self.rel_arch.retain(|&(k, _)| k < rels);
        self.groups.truncate(g + 1);
        self.strings.truncate(self.recs[len].filename.0 as usize);
        self.sha512.retain(|&(i, _)| (i as usize) < len);
        self.recs.truncate(len);
    }

    /// Frees the spare capacity of the growing vectors (after the last push).
    pub fn shrink_to_fit(&mut self) {
        self.strings.shrink_to_fit();
        self.recs.shrink_to_fit();
        self.rels.shrink_to_fit();
        self.rel_arch.shrink_to_fit();
        self.groups.shrink_to_fit();
        self.sha512.shrink_to_fit();
        self.names.text.shrink_to_fit();
        self.names.spans.shrink_to_fit();
        self.versions.text.shrink_to_fit();
        self.versions.spans.shrink_to_fit();
    }

    /// The id of `name` when some entry or relation names it.
    pub fn sym(&self, name: &str) -> Option<Sym> {
        self.names.get(name)
    }

    /// The name of `id`.
    pub fn name_of(&self, id: Sym) -> &str {
        self.names.str(id)
    }

    fn span(&self, s: Span) -> &str {
        &self.strings[s.0 as usize..(s.0 + s.1) as usize]
    }

    fn push_rel(&mut self, r: &Relation) -> Result<(), TableFull> {
        let (op, version) = match &r.constraint {
            Some((op, v)) => (
                OPS.iter().position(|o| o == op).map_or(0, |p| p as u8 + 1),
                self.versions.intern(v)?,
            ),
            None => (0, NONE),
        };
        let k = u32::try_from(self.rels.len()).map_err(|_| TableFull("relations"))?;
        if let Some(a) = &r.arch {
            let a = self.names.intern(a)?;
            self.rel_arch.push((k, a));
        }
        let rel = Rel {
            name: self.names.intern(&r.name)?,
            version,
            op,
            has_arch: r.arch.is_some(),
        };
        self.rels.push(rel);
        Ok(())
    }

    fn end_group(&mut self) -> Result<(), TableFull> {
        let end = u32::try_from(self.rels.len()).map_err(|_| TableFull("relations"))?;
        self.groups.push(end);
        Ok(())
    }

    /// Appends `e`'s typed fields (not its paragraph); returns its entry number. An
    /// entry with both digests keeps the `SHA256` only.
    ///
    /// # Errors
    /// [`TableFull`]; the table is unchanged then only up to the strings already added
    /// (call [`PackageTable::truncate`] to roll back a failed upstream).
    pub fn push(&mut self, e: &PackageEntry) -> Result<usize, TableFull> {
        let n = self.recs.len();
        let id = u32::try_from(n).map_err(|_| TableFull("entries"))?;
        let version = self.versions.intern(&e.version)?;
        let filename = push_str(&mut self.strings, &e.filename, "file names")?;
        let groups = u32::try_from(self.groups.len() - 1).map_err(|_| TableFull("groups"))?;
        let count = |n: usize| u32::try_from(n).map_err(|_| TableFull("groups"));
        for g in e.depends.iter().chain(&e.recommends) {
            for r in g {
                self.push_rel(r)?;
            }
            self.end_group()?;
        }
        for p in &e.provides {
            self.push_rel(p)?;
            self.end_group()?;
        }
        let sha256 = e.sha256.as_deref().and_then(hex_bytes::<32>);
        if sha256.is_none()
            && let Some(h) = e.sha512.as_deref().and_then(hex_bytes::<64>)
        {
            self.sha512.push((id, h));
        }
        self.recs.push(Rec {
            name: self.names.intern(&e.name)?,
            arch: self.names.intern(&e.architecture)?,
            version,
            filename,
            size: e.size,
            sha256: sha256.unwrap_or([0; 32]),
            has_sha256: sha256.is_some(),
            groups,
            n_depends: count(e.depends.len())?,
            n_recommends: count(e.recommends.len())?,
            n_provides: count(e.provides.len())?,
        });
        Ok(n)
    }

    /// Entry `i` (`i < len()`).
    ///
    /// # Panics
    /// When `i` is out of range, as slice indexing does.
    pub fn entry(&self, i: usize) -> Entry<'_> {
        Entry {
            t: self,
            i,
            r: &self.recs[i],
        }
    }

    /// All entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        (0..self.len()).map(|i| self.entry(i))
    }

    fn group(&self, g: u32) -> Group<'_> {
        Group {
            t: self,
            start: self.groups[g as usize],
            end: self.groups[g as usize + 1],
        }
    }
}

/// One entry of a [`PackageTable`].
#[derive(Clone, Copy)]
pub struct Entry<'t> {
    t: &'t PackageTable,
    i: usize,
    r: &'t Rec,
}

impl fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.name(),
            self.version(),
            self.architecture()
        )
    }
}

impl<'t> Entry<'t> {
    /// Its entry number.
    pub fn index(&self) -> usize {
        self.i
    }
    /// `Package`, interned.
    pub fn name_sym(&self) -> Sym {
        self.r.name
    }
    /// `Package`.
    pub fn name(&self) -> &'t str {
        self.t.names.str(self.r.name)
    }
    /// `Version`.
    pub fn version(&self) -> &'t str {
        self.t.versions.str(self.r.version)
    }
    /// `Architecture`, interned.
    pub fn arch_sym(&self) -> Sym {
        self.r.arch
    }
    /// `Architecture`.
    pub fn architecture(&self) -> &'t str {
        self.t.names.str(self.r.arch)
    }
    /// `Filename` as upstream wrote it (possibly with a leading `./`).
    pub fn filename(&self) -> &'t str {
        self.t.span(self.r.filename)
    }
    /// `Size`, in bytes.
    pub fn size(&self) -> u64 {
        self.r.size
    }
    /// `SHA256`, when listed.
    pub fn sha256(&self) -> Option<Digest> {
        self.r.has_sha256.then(|| Digest::from_bytes(self.r.sha256))
    }
    /// `SHA256` as lowercase hex, when listed.
    pub fn sha256_hex(&self) -> Option<String> {
        self.r.has_sha256.then(|| hex::encode(self.r.sha256))
    }
    /// `SHA512`, kept only for entries without `SHA256`.
    pub fn sha512(&self) -> Option<&'t [u8; 64]> {
        let id = self.i as u32;
        self.t
            .sha512
            .binary_search_by_key(&id, |&(i, _)| i)
            .ok()
            .map(|k| &self.t.sha512[k].1)
    }
    /// `SHA512` as lowercase hex, kept only for entries without `SHA256`.
    pub fn sha512_hex(&self) -> Option<String> {
        self.sha512().map(hex::encode)
    }
    fn groups(&self, skip: u32, n: u32) -> impl Iterator<Item = Group<'t>> + 't {
        let (t, g) = (self.t, self.r.groups + skip);
        (g..g + n).map(move |g| t.group(g))
    }
    /// `Pre-Depends` groups, then `Depends` groups.
    pub fn depends(&self) -> impl Iterator<Item = Group<'t>> + 't {
        self.groups(0, self.r.n_depends)
    }
    /// `Recommends` groups.
    pub fn recommends(&self) -> impl Iterator<Item = Group<'t>> + 't {
        self.groups(self.r.n_depends, self.r.n_recommends)
    }
    /// `Provides` entries.
    pub fn provides(&self) -> impl Iterator<Item = Rel1<'t>> + 't {
        self.groups(self.r.n_depends + self.r.n_recommends, self.r.n_provides)
            .filter_map(|g| g.iter().next())
    }
}

/// One group of alternatives (`a (>= 1) | b`).
#[derive(Clone, Copy)]
pub struct Group<'t> {
    t: &'t PackageTable,
    /// Its relations: `rels[start..end]`.
    start: u32,
    end: u32,
}

impl<'t> Group<'t> {
    /// Its alternatives, in order.
    pub fn iter(&self) -> impl Iterator<Item = Rel1<'t>> + Clone + 't {
        let t = self.t;
        (self.start..self.end).map(move |k| Rel1 {
            t,
            k,
            r: &t.rels[k as usize],
        })
    }
}

/// The group as written, alternatives joined by ` | `: `libfoo (>= 2) | libbar`.
impl fmt::Display for Group<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, r) in self.iter().enumerate() {
            if k > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// One alternative of a relation, or one `Provides` entry.
#[derive(Clone, Copy)]
pub struct Rel1<'t> {
    t: &'t PackageTable,
    /// Its relation number.
    k: u32,
    r: &'t Rel,
}

impl<'t> Rel1<'t> {
    /// The (possibly virtual) package name, interned.
    pub fn name_sym(&self) -> Sym {
        self.r.name
    }
    /// The (possibly virtual) package name.
    pub fn name(&self) -> &'t str {
        self.t.names.str(self.r.name)
    }
    /// The version constraint's version (the provided version of a `Provides`).
    pub fn version(&self) -> Option<&'t str> {
        (self.r.op != 0 && self.r.version != NONE).then(|| self.t.versions.str(self.r.version))
    }

    /// The architecture qualifier (`any`, `native`, `amd64`), if any.
    pub fn arch(&self) -> Option<&'t str> {
        if !self.r.has_arch {
            return None;
        }
        let arches = &self.t.rel_arch;
        let k = arches.binary_search_by_key(&self.k, |&(k, _)| k).ok()?;
        Some(self.t.names.str(arches[k].1))
    }
    /// Whether `version` satisfies the constraint (deb-version(7)); true without one.
    /// The name and architecture qualifier are not checked.
    pub fn satisfied_by(&self, version: &str) -> bool {
        let Some(want) = self.version() else {
            return true;
        };
        let ord = version::compare(version, want);
        match OPS[usize::from(self.r.op - 1)] {
            VersionOp::Lt => ord.is_lt(),
            VersionOp::Le => ord.is_le(),
            VersionOp::Eq => ord.is_eq(),
            VersionOp::Ge => ord.is_ge(),
            VersionOp::Gt => ord.is_gt(),
        }
    }
}

/// As in a control file: `name[:arch][ (op version)]`.
impl fmt::Display for Rel1<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if let Some(a) = self.arch() {
            write!(f, ":{a}")?;
        }
        if let Some(v) = self.version() {
            write!(f, " ({} {v})", OPS[usize::from(self.r.op - 1)])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::apt::packages::parse_packages;

    #[test]
    fn the_table_gives_back_every_field() {
        let text = format!(
            "Package: jq\nVersion: 1:1.6-2.1\nArchitecture: amd64\nPre-Depends: libc6 (>= 2.14)\nDepends: libjq1 (= 1:1.6-2.1), libonig5 | libonig4:any (>> 6)\nRecommends: jq-doc\nProvides: json-tool (= 1), jq-any\nFilename: pool/main/j/jq/jq_1.6-2.1_amd64.deb\nSize: 64556\nSHA256: {}\nSHA512: {}\n\nPackage: tk\nVersion: 1.0\nArchitecture: all\nFilename: ./tk_1.0_all.deb\nSize: 9\nSHA512: {}\n",
            "AB".repeat(32),
            "cd".repeat(64),
            "ef".repeat(64),
        );
        let es = parse_packages(&text).unwrap();
        let t = PackageTable::from_entries(&es).unwrap();
        assert_eq!(t.len(), 2);
        let jq = t.entry(0);
        assert_eq!(
            (jq.name(), jq.version(), jq.architecture()),
            ("jq", "1:1.6-2.1", "amd64")
        );
        assert_eq!(jq.filename(), "pool/main/j/jq/jq_1.6-2.1_amd64.deb");
        assert_eq!(jq.size(), 64556);
        assert_eq!(jq.sha256_hex().unwrap(), "ab".repeat(32));
        assert_eq!(jq.sha512(), None, "SHA512 is kept only without SHA256");
        let deps: Vec<String> = jq.depends().map(|g| g.to_string()).collect();
        assert_eq!(
            deps,
            [
                "libc6 (>= 2.14)",
                "libjq1 (= 1:1.6-2.1)",
                "libonig5 | libonig4:any (>> 6)"
            ]
        );
        // The same text as the owned relations render.
        let owned: Vec<String> = es[0]
            .depends
            .iter()
            .map(|g| {
                g.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect();
        assert_eq!(deps, owned);
        assert_eq!(
            jq.recommends().map(|g| g.to_string()).collect::<Vec<_>>(),
            ["jq-doc"]
        );
        let prov: Vec<(&str, Option<&str>)> =
            jq.provides().map(|p| (p.name(), p.version())).collect();
        assert_eq!(prov, [("json-tool", Some("1")), ("jq-any", None)]);
        let libc = jq.depends().next().unwrap().iter().next().unwrap();
        assert!(libc.satisfied_by("2.36-9") && !libc.satisfied_by("2.13"));
        let tk = t.entry(1);
        assert_eq!(tk.sha256(), None);
        assert_eq!(tk.sha512_hex().unwrap(), "ef".repeat(64));
        assert_eq!(tk.depends().count() + tk.provides().count(), 0);
        assert_eq!(t.sym("libonig4").map(|s| t.name_of(s)), Some("libonig4"));
        assert_eq!(t.sym("nosuch"), None);
    }

    #[test]
    fn many_names_intern_to_distinct_ids_and_truncate_rolls_back() {
        let mut t = PackageTable::new();
        let stanza = |i: usize| {
            format!(
                "Package: p{i}\nVersion: {i}\nArchitecture: amd64\nDepends: p{}\nFilename: p{i}.deb\nSize: {i}\nSHA256: {:064x}\n",
                i + 1,
                i
            )
        };
        for i in 0..5000 {
            let e = parse_packages(&stanza(i)).unwrap().remove(0);
            assert_eq!(t.push(&e).unwrap(), i);
        }
        for i in (0..5000).step_by(97) {
            let e = t.entry(i);
            assert_eq!(e.name(), format!("p{i}"));
            assert_eq!(e.version(), i.to_string());
            assert_eq!(e.size(), i as u64);
            assert_eq!(
                e.depends().next().unwrap().to_string(),
                format!("p{}", i + 1)
            );
            assert_eq!(t.sym(&format!("p{i}")), Some(e.name_sym()));
        }
        t.truncate(10);
        assert_eq!(t.len(), 10);
        let e = parse_packages(&stanza(77)).unwrap().remove(0);
        assert_eq!(t.push(&e).unwrap(), 10);
        assert_eq!(t.entry(10).name(), "p77");
        assert_eq!(t.entry(10).depends().next().unwrap().to_string(), "p78");
        assert_eq!(t.entry(9).depends().next().unwrap().to_string(), "p10");
    }
}
