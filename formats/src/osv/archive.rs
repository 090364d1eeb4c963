//! Reading an OSV export: a zip archive holding one OSV JSON record per `.json` member
//! (the layout of the per-ecosystem `<base>/<ecosystem>/all.zip` exports), from a byte
//! slice, with every size bounded ([`MAX_ARCHIVE_BYTES`], [`MAX_RECORDS`],
//! [`MAX_RECORD_BYTES`], [`MAX_TOTAL_BYTES`]).

use std::io::{Cursor, Read};

use super::OsvError;
use super::ecosystem;
use super::record::Vulnerability;

/// Largest OSV archive accepted, in bytes (1 GiB).
pub const MAX_ARCHIVE_BYTES: u64 = 1 << 30;
/// Most members an archive may have (2,000,000).
pub const MAX_RECORDS: usize = 2_000_000;
/// Largest uncompressed record, in bytes (16 MiB).
pub const MAX_RECORD_BYTES: u64 = 16 << 20;
/// Largest sum of uncompressed records, in bytes (8 GiB).
pub const MAX_TOTAL_BYTES: u64 = 8 << 30;
/// Longest advisory id, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// The records of one OSV archive, with figures about them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Database {
    /// Every record, withdrawn ones included, in archive order.
    pub records: Vec<Vulnerability>,
    /// How many of them are withdrawn (§withdrawn).
    pub withdrawn: u64,
    /// The latest `modified` time over the records (RFC 3339 UTC), if there is a record:
    /// how fresh the data is.
    pub newest_modified: Option<String>,
}

/// Parses an OSV archive (see the module docs).
///
/// Errors ([`OsvError`]): more than [`MAX_ARCHIVE_BYTES`]; not a zip archive, or one
/// using a compression method other than stored/deflate, or encrypted; more than
/// [`MAX_RECORDS`] members; a member that is not a `.json` file; a record over
/// [`MAX_RECORD_BYTES`] or the sum over [`MAX_TOTAL_BYTES`]; a record that is not OSV
/// JSON, or whose `id` is empty or longer than [`MAX_ID_LEN`], or whose `modified` or
/// `withdrawn` is not an RFC 3339 date-time; a damaged member (CRC mismatch). Each error
/// names the member.
pub fn parse_archive(bytes: &[u8]) -> Result<Database, OsvError> {
    if bytes.len() as u64 > MAX_ARCHIVE_BYTES {
        return Err(OsvError::TooLarge {
            what: "archive".into(),
            max: MAX_ARCHIVE_BYTES,
        });
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| OsvError::Archive(format!("not a readable zip archive: {e}")))?;
    if zip.len() > MAX_RECORDS {
        return Err(OsvError::Archive(format!(
            "{} members, more than the {MAX_RECORDS} accepted",
            zip.len()
        )));
    }
    let mut db = Database::default();
    let mut total: u64 = 0;
    let mut buf = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| OsvError::Archive(format!("member #{i}: {e}")))?;
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        if f.is_dir() {
            continue;
        }
        let bad = |reason: String| OsvError::Record {
            member: crate::display::escape(&name).into_owned(),
            reason,
        };
        if !name.ends_with(".json") {
            return Err(bad(
                "not a .json member: an OSV export holds only JSON records".into(),
            ));
        }
        if f.encrypted() {
            return Err(bad("encrypted".into()));
        }
        buf.clear();
        (&mut f)
            .take(MAX_RECORD_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|e| bad(format!("cannot decompress: {e}")))?;
        if buf.len() as u64 > MAX_RECORD_BYTES {
            return Err(bad(format!("larger than {MAX_RECORD_BYTES} bytes")));
        }
        total += buf.len() as u64;
        if total > MAX_TOTAL_BYTES {
            return Err(OsvError::TooLarge {
                what: "the archive's records together".into(),
                max: MAX_TOTAL_BYTES,
            });
        }
        let rec: Vulnerability =
            serde_json::from_slice(&buf).map_err(|e| bad(format!("not an OSV record: {e}")))?;
        check_record(&rec).map_err(bad)?;
        if rec.withdrawn.is_some() {
            db.withdrawn += 1;
        }
        if db
            .newest_modified
            .as_deref()
            .is_none_or(|m| newer(&rec.modified, m))
        {
            db.newest_modified = Some(rec.modified.clone());
        }
        db.records.push(rec);
    }
    Ok(db)
}

/// True when RFC 3339 time `a` is later than `b` (both already checked).
fn newer(a: &str, b: &str) -> bool {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(x), Ok(y)) => x > y,
        _ => a > b,
    }
}

/// The rules of one record the types cannot express (see [`parse_archive`]).
fn check_record(rec: &Vulnerability) -> Result<(), String> {
    if rec.id.is_empty() || rec.id.len() > MAX_ID_LEN || rec.id.chars().any(char::is_control) {
        return Err(format!(
            "id {:?} is empty, longer than {MAX_ID_LEN} bytes or holds control characters",
            crate::display::escape(&rec.id)
        ));
    }
    for (field, value) in [
        ("modified", Some(&rec.modified)),
        ("withdrawn", rec.withdrawn.as_ref()),
        ("published", rec.published.as_ref()),
    ] {
        if let Some(v) = value
            && chrono::DateTime::parse_from_rfc3339(v).is_err()
        {
            return Err(format!(
                "{}: {field} {:?} is not an RFC 3339 date-time",
                rec.id,
                crate::display::escape(v)
            ));
        }
    }
    Ok(())
}

/// Whether `ecosystem` may name an OSV artifact (the `meta.name` of an `osv` artifact):
/// see [`ecosystem::is_supported`].
pub fn check_ecosystem(ecosystem: &str) -> Result<(), OsvError> {
    if ecosystem::is_supported(ecosystem) {
        Ok(())
    } else {
        Err(OsvError::Ecosystem(
            crate::display::escape(ecosystem).into_owned(),
        ))
    }
}
