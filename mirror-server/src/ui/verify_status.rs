//! Whether `mirror-server verify` last passed, from the `verify` records it appends to
//! the audit log ([`crate::verify::record_outcome`]).

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use crate::audit::LogLine;
use crate::verify::AUDIT_EVENT;

/// The last `verify` record of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastVerify {
    /// When it was recorded (the record's `time`).
    pub time: String,
    /// When the run began (`started`; `time` for a record without it).
    pub started: Option<DateTime<FixedOffset>>,
    /// The run found no problem.
    pub ok: bool,
    /// How many problems it found.
    pub problems: u64,
    /// The snapshots a problem named (at most [`crate::verify::MAX_FAILED_LISTED`]).
    pub failed: Vec<String>,
    /// How many snapshots a problem named in all.
    pub failed_total: u64,
    /// The snapshots the run checked (`checked`), when the record lists them.
    pub checked: Option<Vec<String>>,
}

/// One snapshot's verify state, for the overview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotVerify {
    /// `verify` never ran on this store (no `verify` record).
    Never,
    /// The last run began before the snapshot was imported.
    NotSinceImport,
    /// The last run found no problem in it.
    Passed,
    /// The last run found a problem in it, or found problems without naming snapshots
    /// beyond the listed ones.
    Failed,
}

impl SnapshotVerify {
    /// The text the overview shows.
    pub fn label(self) -> &'static str {
        match self {
            SnapshotVerify::Never => "never verified",
            SnapshotVerify::NotSinceImport => "not verified since import",
            SnapshotVerify::Passed => "passed",
            SnapshotVerify::Failed => "FAILED",
        }
    }

    /// The CSS class the overview gives it.
    pub fn class(self) -> &'static str {
        match self {
            SnapshotVerify::Never | SnapshotVerify::NotSinceImport => "unknown",
            SnapshotVerify::Passed => "ok",
            SnapshotVerify::Failed => "bad",
        }
    }
}

fn parse_time(v: Option<&Value>) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(v?.as_str()?).ok()
}

fn names(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

fn from_record(r: &Map<String, Value>) -> LastVerify {
    let failed = names(r.get("failed")).unwrap_or_default();
    LastVerify {
        time: r
            .get("time")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        started: parse_time(r.get("started")).or_else(|| parse_time(r.get("time"))),
        ok: r.get("ok").and_then(Value::as_bool).unwrap_or(false),
        problems: r.get("problems").and_then(Value::as_u64).unwrap_or(0),
        failed_total: r
            .get("failed_total")
            .and_then(Value::as_u64)
            .unwrap_or(failed.len() as u64),
        failed,
        checked: names(r.get("checked")),
    }
}

/// The last `verify` record in `lines` (the audit log as read back), if any.
pub fn last_verify(lines: &[LogLine]) -> Option<LastVerify> {
    lines
        .iter()
        .rev()
        .filter_map(|l| l.record.as_ref())
        .find(|r| r.get("event").and_then(Value::as_str) == Some(AUDIT_EVENT))
        .map(from_record)
}

/// The verify state of snapshot `name`, imported at `imported_at` (RFC 3339), given the
/// last run `last`. A record that lists the snapshots it `checked` decides by name;
/// otherwise by time: the index records import times to the second, so a run that began
/// less than a second after the recorded time counts as not covering the snapshot.
pub fn snapshot_state(last: Option<&LastVerify>, name: &str, imported_at: &str) -> SnapshotVerify {
    let Some(last) = last else {
        return SnapshotVerify::Never;
    };
    match &last.checked {
        Some(checked) if !checked.iter().any(|c| c == name) => {
            return SnapshotVerify::NotSinceImport;
        }
        Some(_) => {}
        None => {
            let imported = DateTime::parse_from_rfc3339(imported_at).ok();
            match (last.started, imported) {
                (Some(started), Some(imported))
                    if imported + chrono::Duration::seconds(1) <= started => {}
                _ => return SnapshotVerify::NotSinceImport,
            }
        }
    }
    let unlisted_failures = last.failed_total > last.failed.len() as u64;
    if last.failed.iter().any(|f| f == name) || (!last.ok && unlisted_failures) {
        SnapshotVerify::Failed
    } else {
        SnapshotVerify::Passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64, v: Value) -> LogLine {
        LogLine {
            line: n,
            record: v.as_object().cloned(),
            error: None,
            hash: String::new(),
            terminated: true,
        }
    }

    #[test]
    fn last_record_decides() {
        let lines = vec![
            line(
                1,
                serde_json::json!({"event":"verify","time":"2026-11-22T10:00:00.000Z","started":"2026-11-22T09:59:00.000Z","ok":true,"failed":[]}),
            ),
            line(
                2,
                serde_json::json!({"event":"verify","time":"2026-11-23T10:00:00.000Z","started":"2026-11-23T09:59:00.000Z","ok":false,"problems":1,"failed":["stable/2"],"failed_total":1}),
            ),
            line(
                3,
                serde_json::json!({"event":"import","time":"2026-11-24T10:00:00.000Z"}),
            ),
        ];
        let last = last_verify(&lines).unwrap();
        assert!(!last.ok);
        assert_eq!(last.failed, ["stable/2"]);
        let at = "2026-11-20T00:00:00Z";
        assert_eq!(
            snapshot_state(Some(&last), "stable/2", at),
            SnapshotVerify::Failed
        );
        assert_eq!(
            snapshot_state(Some(&last), "stable/1", at),
            SnapshotVerify::Passed
        );
        assert_eq!(
            snapshot_state(Some(&last), "stable/3", "2026-11-24T10:00:00Z"),
            SnapshotVerify::NotSinceImport
        );
        assert_eq!(snapshot_state(None, "stable/1", at), SnapshotVerify::Never);
        // A record listing what it checked decides by name, whatever the times say.
        let listed = LastVerify {
            checked: Some(vec!["stable/1".into()]),
            ok: true,
            failed: vec![],
            failed_total: 0,
            ..last.clone()
        };
        let late = "2030-01-01T00:00:00Z";
        assert_eq!(
            snapshot_state(Some(&listed), "stable/1", late),
            SnapshotVerify::Passed
        );
        assert_eq!(
            snapshot_state(Some(&listed), "stable/2", at),
            SnapshotVerify::NotSinceImport
        );
        assert_eq!(last_verify(&lines[2..]), None);
    }
}
