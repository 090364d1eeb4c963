//! Who supplies a component, and who authored the SBOM ([`Supplier`]).

use serde::Serialize;

use crate::snapshot::Manifest;

/// Who supplies a component: CycloneDX 1.6 `component.supplier` (an organizational
/// entity: `name`, `contact[].email`), SPDX 2.3 §7.5 `PackageSupplier`
/// (`Organization: <name> (<email>)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Supplier {
    /// The name, without `(`, `)`, `<`, `>` or control characters, at most 200 characters.
    pub name: String,
    /// An e-mail address (`local@domain`, no spaces or brackets), when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Supplier {
    /// Parses how upstream metadata names people: `Name <e-mail>` (Debian Policy §5.6.2
    /// `Maintainer`, RFC 5322 mailboxes in Python core metadata), `"Name" <e-mail>`, a bare
    /// e-mail address or a bare name. Of a comma-separated list of mailboxes the first is
    /// taken. `None` when nothing usable is left.
    pub fn parse(s: &str) -> Option<Supplier> {
        let s = s.trim();
        let (name, email) = match (s.find('<'), s.find('>')) {
            (Some(l), Some(r)) if l < r => (&s[..l], Some(&s[l + 1..r])),
            _ => {
                let first = s.split(',').next().unwrap_or(s).trim();
                if is_email(first) {
                    ("", Some(first))
                } else {
                    (s, None)
                }
            }
        };
        let email = email
            .map(str::trim)
            .filter(|e| is_email(e))
            .map(str::to_owned);
        let mut name: String = name
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .filter(|c| !matches!(c, '(' | ')' | '<' | '>' | '"'))
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        name = name
            .trim_matches(|c: char| c == ',' || c.is_whitespace())
            .to_owned();
        if name.is_empty() {
            name = email.clone()?;
        }
        Some(Supplier {
            name: name.chars().take(200).collect(),
            email,
        })
    }

    /// `Name <e-mail>`, or the name alone.
    pub fn display(&self) -> String {
        match &self.email {
            Some(e) if *e != self.name => format!("{} <{e}>", self.name),
            _ => self.name.clone(),
        }
    }
}

fn is_email(s: &str) -> bool {
    s.len() <= 254
        && s.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty()
                && d.contains('.')
                && !d.starts_with('.')
                && !d.ends_with('.')
                && !d.contains('@')
        })
        && !s.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '(' | ')' | '"' | ',' | ';')
        })
}

/// The author of the SBOM documents (CycloneDX `metadata.authors`, SPDX creator and the
/// snapshot package's supplier): the holder of the snapshot signing key, named by its key
/// id, the one identity a manifest records.
pub(crate) fn author(m: &Manifest) -> Supplier {
    Supplier::parse(&format!("snapshot signer {}", m.signer)).unwrap_or(Supplier {
        name: "snapshot signer".to_owned(),
        email: None,
    })
}
