//! The store's audit log, `STORE/audit.log`: append-only JSON lines, chained by SHA-256.
//!
//! Every record is one line (no newline inside, `\n` after it), a JSON object whose first
//! keys are, in this order:
//!
//! ```text
//! {"seq":7,"time":"2026-11-22T10:00:00.123Z","actor":{"uid":1000,"user":"ops"},
//!  "event":"rollback","snapshot":"stable/11", …event fields…,
//!  "prev":"sha256:<hex>"}
//! ```
//!
//! - `seq`: the record's 1-based line number in the file (so a removed or inserted line
//!   shifts every later `seq`);
//! - `time`: RFC 3339, UTC, milliseconds;
//! - `actor`: the real uid of the process (from `/proc/self/status`, else the owner of a
//!   file it just created) and the user name `/etc/passwd` gives for it, when known;
//! - `event`: `import`, `import-refused`, `rollback`, `gc`, `pin`, `unpin`,
//!   `trusted-keys-changed`, `verify` ([`crate::verify::record_outcome`]), …;
//! - `snapshot`: the snapshot concerned, when there is one;
//! - `prev`: `sha256:` and the lowercase hex SHA-256 of the previous line's bytes (without
//!   its newline). The first line of the file has the SHA-256 of the empty string,
//!   [`GENESIS`].
//!
//! **Legacy lines.** Older versions of `import` wrote records without `seq` and `prev`.
//! [`verify`] accepts such lines only before the first chained record and counts them; the
//! first chained record after them has `seq` = its line number and `prev` = the hash of
//! the last legacy line, so the legacy lines are covered by the chain from then on.
//!
//! **Head file.** After each append, `STORE/audit.head` is replaced atomically with
//! `{"seq":N,"sha256":"sha256:<hex of line N>"}`. The chain alone cannot show that
//! records were removed from the end, or that the last record was edited; the head file
//! can, unless it was rewritten too. The log is tamper-evident against edits of the log
//! alone; copy `mirror-server audit show --last 1 --json` off the machine to anchor it.
//!
//! **Concurrency and durability.** [`append`] takes an exclusive `flock` on
//! `STORE/audit.log` itself (`std::fs::File::lock`), reads the last line, writes the new
//! line with one `write` in append mode and fsyncs before unlocking. A crash can leave a
//! last line without its newline; the next append terminates it, and [`verify`] reports
//! it as broken (it is evidence of the crash).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

pub use store::layout::{AUDIT_HEAD, AUDIT_LOG};
/// `prev` of the first line: the SHA-256 of the empty string.
pub const GENESIS: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Event name of the record [`note_trusted_keys`] appends.
pub const TRUSTED_KEYS_CHANGED: &str = "trusted-keys-changed";
/// Keys every record sets itself; [`append`] refuses them in the caller's fields.
pub const RESERVED_KEYS: [&str; 5] = ["seq", "time", "actor", "event", "prev"];

/// Errors of the audit log. Messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The caller passed a field the record sets itself (a programming error).
    #[error(
        "audit record field {key:?} is reserved (seq, time, actor, event and prev are set by the log)"
    )]
    Reserved {
        /// The offending key.
        key: String,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> AuditError + '_ {
    move |source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Who appended a record.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Actor {
    /// Real user id of the process; `None` when it cannot be found out.
    pub uid: Option<u32>,
    /// The user name of `uid` in `/etc/passwd`, when there is one.
    pub user: Option<String>,
}

impl Actor {
    /// The actor of this process. `scratch_dir` is where a file may be created (and
    /// removed) to learn the uid when `/proc/self/status` is not readable.
    pub fn current(scratch_dir: &Path) -> Actor {
        let uid = uid_from_proc().or_else(|| uid_from_new_file(scratch_dir));
        let user = uid.and_then(user_name);
        Actor { uid, user }
    }
}

/// The real uid from the `Uid:` line of `/proc/self/status` (Linux, proc(5)).
fn uid_from_proc() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|u| u.parse().ok())
}

/// The owner of a file this process creates (its effective uid).
fn uid_from_new_file(dir: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let path = dir.join(format!(".audit-uid-{}", std::process::id()));
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .ok()?;
    let uid = f.metadata().ok().map(|m| m.uid());
    drop(f);
    let _ = fs::remove_file(&path);
    uid
}

/// The name `/etc/passwd` gives `uid` (passwd(5): `name:password:uid:…`).
fn user_name(uid: u32) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut parts = l.split(':');
        let name = parts.next()?;
        let _password = parts.next()?;
        let id: u32 = parts.next()?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

/// `sha256:<hex>` of `bytes`.
pub fn line_hash(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// One record as appended (or read back).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditRecord {
    /// The record's sequence number (= its 1-based line number).
    pub seq: u64,
    /// RFC 3339 time, UTC.
    pub time: String,
    /// Who appended it.
    pub actor: Actor,
    /// The event name.
    pub event: String,
    /// `sha256:<hex>` of the previous line (or [`GENESIS`]).
    pub prev: String,
    /// The other fields (including `snapshot`), as written.
    pub fields: Map<String, Value>,
    /// `sha256:<hex>` of this record's line (what the next record's `prev` will be).
    pub hash: String,
}

/// The last line of the log and where it stands.
struct Tail {
    /// Number of lines (a final line without newline counts).
    lines: u64,
    /// Bytes of the last line, without newline.
    last: Option<Vec<u8>>,
    /// The file is non-empty and does not end with a newline.
    torn: bool,
}

/// Reads the last line of `f` by scanning backwards from the end (64 KiB steps). When
/// the last line carries no usable `seq`, counts every line instead.
fn read_tail(f: &mut File, path: &Path) -> Result<Tail, AuditError> {
    let len = f.metadata().map_err(io_at(path))?.len();
    if len == 0 {
        return Ok(Tail {
            lines: 0,
            last: None,
            torn: false,
        });
    }
    const STEP: u64 = 64 * 1024;
    let mut end_byte = [0u8; 1];
    f.seek(SeekFrom::Start(len - 1)).map_err(io_at(path))?;
    f.read_exact(&mut end_byte).map_err(io_at(path))?;
    let torn = end_byte[0] != b'\n';
    // The last line spans (start..content_end).
    let content_end = if torn { len } else { len - 1 };
    let mut start = content_end;
    let mut buf = Vec::new();
    'scan: while start > 0 {
        let from = start.saturating_sub(STEP);
        let n = usize::try_from(start - from).unwrap_or(0);
        buf.resize(n, 0);
        f.seek(SeekFrom::Start(from)).map_err(io_at(path))?;
        f.read_exact(&mut buf).map_err(io_at(path))?;
        for i in (0..n).rev() {
            if buf.get(i) == Some(&b'\n') {
                start = from + i as u64 + 1;
                break 'scan;
            }
        }
        start = from;
    }
    let last_len = usize::try_from(content_end - start).unwrap_or(0);
    let mut last = vec![0u8; last_len];
    f.seek(SeekFrom::Start(start)).map_err(io_at(path))?;
    f.read_exact(&mut last).map_err(io_at(path))?;
    // A chained last line's seq is its line number; otherwise count.
    let seq = serde_json::from_slice::<Value>(&last)
        .ok()
        .filter(|v| v.get("prev").is_some())
        .and_then(|v| v.get("seq").and_then(Value::as_u64));
    let lines = match seq {
        Some(s) if !torn => s,
        _ => count_lines(f, path)?,
    };
    Ok(Tail {
        lines,
        last: Some(last),
        torn,
    })
}

fn count_lines(f: &mut File, path: &Path) -> Result<u64, AuditError> {
    f.seek(SeekFrom::Start(0)).map_err(io_at(path))?;
    let mut r = io::BufReader::new(f);
    let mut n = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = r.read_until(b'\n', &mut buf).map_err(io_at(path))?;
        if read == 0 {
            return Ok(n);
        }
        n += 1;
    }
}

/// The audit log, open and exclusively locked (see [`with_log`]).
struct LockedLog {
    file: File,
    path: PathBuf,
    store: PathBuf,
}

impl LockedLog {
    /// Appends one record (see [`append`]) to the locked log.
    fn append(
        &mut self,
        event: &str,
        mut fields: Map<String, Value>,
    ) -> Result<AuditRecord, AuditError> {
        if let Some(key) = RESERVED_KEYS.iter().find(|k| fields.contains_key(**k)) {
            return Err(AuditError::Reserved {
                key: (*key).to_owned(),
            });
        }
        let tail = read_tail(&mut self.file, &self.path)?;
        let prev = match &tail.last {
            Some(l) => line_hash(l),
            None => GENESIS.to_owned(),
        };
        let seq = tail.lines + 1;
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let actor = Actor::current(&self.store);
        let snapshot = fields.remove("snapshot");
        // Fixed key order for readability; the hash covers the bytes as written.
        let mut line = String::from("{");
        let mut put = |k: &str, v: &Value| {
            if line.len() > 1 {
                line.push(',');
            }
            line.push_str(&Value::String(k.to_owned()).to_string());
            line.push(':');
            line.push_str(&v.to_string());
        };
        put("seq", &Value::from(seq));
        put("time", &Value::String(time.clone()));
        put(
            "actor",
            &serde_json::to_value(&actor).unwrap_or(Value::Null),
        );
        put("event", &Value::String(event.to_owned()));
        if let Some(s) = &snapshot {
            put("snapshot", s);
        }
        for (k, v) in &fields {
            put(k, v);
        }
        put("prev", &Value::String(prev.clone()));
        line.push('}');
        let hash = line_hash(line.as_bytes());
        let mut out = Vec::with_capacity(line.len() + 2);
        if tail.torn {
            out.push(b'\n');
        }
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        self.file.write_all(&out).map_err(io_at(&self.path))?;
        self.file.sync_all().map_err(io_at(&self.path))?;
        if tail.lines == 0 {
            store::cas::sync_dir(&self.store).map_err(io_at(&self.store))?;
        }
        if let Err(e) = write_head(&self.store, seq, &hash) {
            tracing::warn!(error = %e, "cannot update {AUDIT_HEAD}; audit verify will report it");
        }
        if let Some(s) = snapshot {
            fields.insert("snapshot".into(), s);
        }
        Ok(AuditRecord {
            seq,
            time,
            actor,
            event: event.to_owned(),
            prev,
            fields,
            hash,
        })
    }

    /// Every line of the locked log, parsed where possible.
    fn lines(&mut self) -> Result<Vec<LogLine>, AuditError> {
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(io_at(&self.path))?;
        read_lines(&mut self.file, &self.path)
    }
}

/// Replaces `STORE/audit.head` atomically ([`store::fsio::write_atomic`]).
fn write_head(store: &Path, seq: u64, hash: &str) -> io::Result<()> {
    let line = format!("{}\n", serde_json::json!({ "seq": seq, "sha256": hash }));
    store::fsio::write_atomic(&store.join(AUDIT_HEAD), line.as_bytes(), 0o666)
}

/// Opens (creating) `STORE/audit.log`, locks it exclusively, runs `f`, unlocks.
fn with_log<T>(
    store: &Path,
    f: impl FnOnce(&mut LockedLog) -> Result<T, AuditError>,
) -> Result<T, AuditError> {
    let path = store.join(AUDIT_LOG);
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .map_err(io_at(&path))?;
    file.lock().map_err(io_at(&path))?;
    let mut log = LockedLog {
        file,
        path,
        store: store.to_path_buf(),
    };
    let out = f(&mut log);
    let _ = log.file.unlock();
    out
}

/// Appends one record of `event` with `fields` to `STORE/audit.log` (see the module docs
/// for the format), under an exclusive lock, fsynced before returning. A `snapshot` field
/// is written right after `event`; the other fields follow in `fields`' order.
///
/// Errors: [`AuditError::Reserved`] when `fields` holds `seq`, `time`, `actor`, `event` or
/// `prev`; [`AuditError::Io`] naming the file (the store directory must exist).
pub fn append(
    store: &Path,
    event: &str,
    fields: Map<String, Value>,
) -> Result<AuditRecord, AuditError> {
    with_log(store, |log| log.append(event, fields))
}

/// Records the set of trusted snapshot-signing keys: compares the key ids of `keys` with
/// the `keys` field of the last `trusted-keys-changed` record in the log and, when they
/// differ (or no such record exists yet), appends a `trusted-keys-changed` record with
/// `keys` (all ids, sorted), `added` and `removed` (ids) and `files` (id → file name).
/// Returns the appended record, `None` when the set is unchanged. The read and the
/// append happen under one lock.
///
/// Errors: [`AuditError::Io`].
pub fn note_trusted_keys(
    store: &Path,
    keys: &keys::snapshot::TrustedKeys,
) -> Result<Option<AuditRecord>, AuditError> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for (path, key) in keys.keys() {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.insert(key.key_id(), file);
    }
    let now: BTreeSet<String> = files.keys().cloned().collect();
    with_log(store, |log| {
        let last: Option<BTreeSet<String>> = log
            .lines()?
            .into_iter()
            .rev()
            .filter_map(|l| l.record)
            .find(|r| r.get("event").and_then(Value::as_str) == Some(TRUSTED_KEYS_CHANGED))
            .map(|r| {
                r.get("keys")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default()
            });
        if last.as_ref() == Some(&now) {
            return Ok(None);
        }
        let before = last.unwrap_or_default();
        let mut fields = Map::new();
        fields.insert("keys".into(), serde_json::json!(now));
        fields.insert(
            "added".into(),
            serde_json::json!(now.difference(&before).collect::<Vec<_>>()),
        );
        fields.insert(
            "removed".into(),
            serde_json::json!(before.difference(&now).collect::<Vec<_>>()),
        );
        fields.insert("files".into(), serde_json::json!(files));
        log.append(TRUSTED_KEYS_CHANGED, fields).map(Some)
    })
}

/// One line of the log as read back.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogLine {
    /// 1-based line number.
    pub line: u64,
    /// The record, when the line is a JSON object.
    pub record: Option<Map<String, Value>>,
    /// Why it is not, otherwise.
    pub error: Option<String>,
    /// `sha256:<hex>` of the line's bytes (without newline).
    pub hash: String,
    /// False for a last line without its newline (a torn write).
    pub terminated: bool,
}

fn read_lines(f: &mut File, path: &Path) -> Result<Vec<LogLine>, AuditError> {
    let mut r = io::BufReader::new(f);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(io_at(path))?;
        if n == 0 {
            return Ok(out);
        }
        let terminated = buf.last() == Some(&b'\n');
        if terminated {
            buf.pop();
        }
        let (record, error) = match serde_json::from_slice::<Value>(&buf) {
            Ok(Value::Object(m)) => (Some(m), None),
            Ok(_) => (None, Some("not a JSON object".to_owned())),
            Err(e) => (None, Some(format!("not JSON: {e}"))),
        };
        out.push(LogLine {
            line: out.len() as u64 + 1,
            record,
            error,
            hash: line_hash(&buf),
            terminated,
        });
    }
}

/// Every line of `STORE/audit.log` (read under a shared lock), parsed where possible.
/// An absent log reads as no lines.
///
/// Errors: [`AuditError::Io`].
pub fn read_log(store: &Path) -> Result<Vec<LogLine>, AuditError> {
    let path = store.join(AUDIT_LOG);
    let mut f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_at(&path)(e)),
    };
    f.lock_shared().map_err(io_at(&path))?;
    let out = read_lines(&mut f, &path);
    let _ = f.unlock();
    out
}

/// The first line that breaks the chain, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BrokenLine {
    /// 1-based line number where the check failed.
    pub line: u64,
    /// What is wrong (names the line(s) concerned).
    pub reason: String,
}

/// Result of [`verify`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditReport {
    /// The log file.
    pub path: PathBuf,
    /// Whether the log exists.
    pub exists: bool,
    /// Number of lines.
    pub lines: u64,
    /// Legacy (unchained) lines before the first chained record.
    pub legacy: u64,
    /// Chained records.
    pub chained: u64,
    /// `sha256:<hex>` of the last line, if any.
    pub last_hash: Option<String>,
    /// The line number `audit.head` records, if the file exists.
    pub head_seq: Option<u64>,
    /// The first problem, `None` when the chain is intact.
    pub broken: Option<BrokenLine>,
}

impl AuditReport {
    /// True when nothing is broken.
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Checks the whole log: every line is a JSON object; legacy lines only before the first
/// chained record; in every chained record `seq` equals its line number, `time`, `actor`
/// and `event` are present, and `prev` is the hash of the previous line ([`GENESIS`] for
/// line 1); the last line ends with a newline; and `audit.head`, when present, matches
/// the line it names and is at most one record behind the end.
///
/// Returns the report with the first broken line (`Ok` even when broken; `Err` only when
/// the log cannot be read). An absent log is an empty, intact log.
pub fn verify(store: &Path) -> Result<AuditReport, AuditError> {
    let path = store.join(AUDIT_LOG);
    let exists = fs::symlink_metadata(&path).is_ok();
    let lines = read_log(store)?;
    let mut report = AuditReport {
        path: path.clone(),
        exists,
        lines: lines.len() as u64,
        legacy: 0,
        chained: 0,
        last_hash: lines.last().map(|l| l.hash.clone()),
        head_seq: None,
        broken: None,
    };
    let mut prev_hash = GENESIS.to_owned();
    let mut first_chained: Option<u64> = None;
    for l in &lines {
        if let Some(reason) = check_line(l, &prev_hash, first_chained) {
            report.broken = Some(BrokenLine {
                line: l.line,
                reason,
            });
            return Ok(report);
        }
        if l.record.as_ref().is_some_and(|r| r.contains_key("prev")) {
            report.chained += 1;
            first_chained.get_or_insert(l.line);
        } else {
            report.legacy += 1;
        }
        prev_hash = l.hash.clone();
    }
    // The head file.
    let head_path = store.join(AUDIT_HEAD);
    let head = match fs::read(&head_path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_at(&head_path)(e)),
    };
    if let Some(bytes) = head {
        let parsed = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
            Some((
                v.get("seq")?.as_u64()?,
                v.get("sha256")?.as_str()?.to_owned(),
            ))
        });
        let total = report.lines;
        let broken = |line: u64, reason: String| Some(BrokenLine { line, reason });
        report.broken = match parsed {
            None => broken(
                total,
                format!("{AUDIT_HEAD} is not {{\"seq\":N,\"sha256\":\"sha256:…\"}}"),
            ),
            Some((seq, hash)) => {
                report.head_seq = Some(seq);
                match lines.get(usize::try_from(seq).unwrap_or(usize::MAX).wrapping_sub(1)) {
                    None => broken(
                        total,
                        format!(
                            "the log ends at line {total} but {AUDIT_HEAD} records line {seq}: records were removed from the end"
                        ),
                    ),
                    Some(l) if l.hash != hash => broken(
                        seq,
                        format!(
                            "line {seq} hashes to {} but {AUDIT_HEAD} records {hash}: line {seq} was changed",
                            l.hash
                        ),
                    ),
                    Some(_) if total > seq + 1 => broken(
                        seq + 1,
                        format!(
                            "{} records after line {seq} (the last one {AUDIT_HEAD} records) were appended without updating it",
                            total - seq
                        ),
                    ),
                    Some(_) => None,
                }
            }
        };
    }
    Ok(report)
}

/// Checks one line against the hash of the line before; `Some(reason)` when broken.
fn check_line(l: &LogLine, prev_hash: &str, first_chained: Option<u64>) -> Option<String> {
    let n = l.line;
    let Some(r) = &l.record else {
        return Some(format!(
            "line {n} is {}",
            l.error.as_deref().unwrap_or("unreadable")
        ));
    };
    if !l.terminated {
        return Some(format!(
            "line {n} has no newline at its end (a torn write or an edit)"
        ));
    }
    let Some(prev) = r.get("prev") else {
        return first_chained.map(|first| {
            format!(
                "line {n} has no seq/prev but chained records begin at line {first}: it was appended outside the chain (by an older mirror-server or by hand)"
            )
        });
    };
    match r.get("seq").and_then(Value::as_u64) {
        Some(s) if s == n => {}
        Some(s) => {
            return Some(format!(
                "line {n} has seq {s}, expected {n}: a line was removed or inserted before it"
            ));
        }
        None => return Some(format!("line {n} has no numeric seq")),
    }
    let Some(prev) = prev.as_str() else {
        return Some(format!("line {n}: prev is not a string"));
    };
    if prev != prev_hash {
        return Some(if n == 1 {
            format!("line 1 has prev {prev}, expected the genesis value {GENESIS}")
        } else {
            let p = n - 1;
            format!(
                "line {n} has prev {prev} but line {p} hashes to {prev_hash}: line {p} was changed (or line {n}'s prev was)"
            )
        });
    }
    for key in ["time", "event"] {
        if !r.get(key).is_some_and(Value::is_string) {
            return Some(format!("line {n} has no {key}"));
        }
    }
    if !r.get("actor").is_some_and(Value::is_object) {
        return Some(format!("line {n} has no actor"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn genesis_is_sha256_of_nothing() {
        assert_eq!(line_hash(b""), GENESIS);
    }

    #[test]
    fn chain_appends_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path();
        let a = append(
            store,
            "pin",
            fields(serde_json::json!({"reason": "x", "snapshot": "s/1"})),
        )
        .unwrap();
        assert_eq!((a.seq, a.prev.as_str()), (1, GENESIS));
        let b = append(store, "gc", Map::new()).unwrap();
        assert_eq!(b.seq, 2);
        assert_eq!(b.prev, a.hash);
        let text = fs::read_to_string(store.join(AUDIT_LOG)).unwrap();
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("{\"seq\":1,\"time\":\""),
            "key order: {first}"
        );
        assert!(first.contains("\"event\":\"pin\",\"snapshot\":\"s/1\",\"reason\":\"x\""));
        assert!(first.ends_with(&format!("\"prev\":\"{GENESIS}\"}}")));
        assert_eq!(line_hash(first.as_bytes()), a.hash);
        let r = verify(store).unwrap();
        assert!(r.ok(), "{r:?}");
        assert_eq!(
            (r.lines, r.chained, r.legacy, r.head_seq),
            (2, 2, 0, Some(2))
        );
        assert!(matches!(
            append(store, "x", fields(serde_json::json!({"seq": 1}))),
            Err(AuditError::Reserved { .. })
        ));
    }

    #[test]
    fn legacy_lines_first_then_chain() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path();
        fs::write(
            store.join(AUDIT_LOG),
            "{\"time\":\"t\",\"event\":\"import\"}\n{\"time\":\"t\",\"event\":\"import\"}\n",
        )
        .unwrap();
        let r = verify(store).unwrap();
        assert!(r.ok());
        assert_eq!(r.legacy, 2);
        let rec = append(store, "rollback", Map::new()).unwrap();
        assert_eq!(rec.seq, 3);
        assert_eq!(
            rec.prev,
            line_hash(b"{\"time\":\"t\",\"event\":\"import\"}")
        );
        let r = verify(store).unwrap();
        assert!(r.ok(), "{r:?}");
        assert_eq!((r.legacy, r.chained), (2, 1));
        // A legacy line after the chain began is refused.
        let mut f = OpenOptions::new()
            .append(true)
            .open(store.join(AUDIT_LOG))
            .unwrap();
        writeln!(f, "{{\"event\":\"import\"}}").unwrap();
        let r = verify(store).unwrap();
        let b = r.broken.unwrap();
        assert_eq!(b.line, 4);
        assert!(b.reason.contains("outside the chain"), "{}", b.reason);
    }

    #[test]
    fn torn_last_line_is_terminated_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path();
        append(store, "a", Map::new()).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(store.join(AUDIT_LOG))
            .unwrap();
        write!(f, "{{\"seq\":2,\"ti").unwrap();
        let rec = append(store, "b", Map::new()).unwrap();
        assert_eq!(rec.seq, 3);
        assert_eq!(rec.prev, line_hash(b"{\"seq\":2,\"ti"));
        let r = verify(store).unwrap();
        assert_eq!(r.broken.unwrap().line, 2);
    }

    #[test]
    fn head_catches_truncation_and_last_line_edit() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path();
        for e in ["a", "b", "c"] {
            append(store, e, Map::new()).unwrap();
        }
        let log = store.join(AUDIT_LOG);
        let text = fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Drop the last line: the chain is intact, the head is not.
        fs::write(&log, format!("{}\n{}\n", lines[0], lines[1])).unwrap();
        let b = verify(store).unwrap().broken.unwrap();
        assert!(b.reason.contains("removed from the end"), "{}", b.reason);
        // Edit the last line.
        fs::write(
            &log,
            format!(
                "{}\n{}\n{}\n",
                lines[0],
                lines[1],
                lines[2].replace("\"c\"", "\"d\"")
            ),
        )
        .unwrap();
        let b = verify(store).unwrap().broken.unwrap();
        assert_eq!(b.line, 3);
        assert!(b.reason.contains("line 3 was changed"), "{}", b.reason);
    }

    #[test]
    fn actor_is_known() {
        let dir = tempfile::tempdir().unwrap();
        let a = Actor::current(dir.path());
        assert!(a.uid.is_some());
        assert_eq!(uid_from_new_file(dir.path()), a.uid);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
