//! `GET /ui/audit`: the store's audit log, newest first (at most [`MAX_ENTRIES`]), with
//! the hash chain's status as `mirror-server audit verify` reports it
//! ([`crate::audit::verify`]).

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{blocking, render};
use crate::audit::{AuditReport, LogLine, RESERVED_KEYS};
use crate::serve::AppState;

/// Most log entries the page shows (the newest).
pub const MAX_ENTRIES: usize = 500;

/// Longest rendering of a record's other fields, in characters.
pub const MAX_DETAIL_CHARS: usize = 600;

/// One log line as shown.
#[derive(Debug, Clone)]
pub struct EntryView {
    /// 1-based line number.
    pub line: u64,
    /// `time`.
    pub time: String,
    /// `event`.
    pub event: String,
    /// `snapshot`, or empty.
    pub snapshot: String,
    /// `actor.user` (or `uid N`), or empty.
    pub actor: String,
    /// The other fields as compact JSON (cut at [`MAX_DETAIL_CHARS`]), or why the line
    /// is not a record.
    pub details: String,
    /// This is the line where the chain breaks.
    pub broken: bool,
}

/// The audit page.
#[derive(Template)]
#[template(path = "ui/audit.html")]
pub struct AuditPage {
    /// Page title.
    pub title: String,
    /// Whether the chain is intact.
    pub intact: bool,
    /// The chain's status in words.
    pub status: String,
    /// Lines in the log.
    pub lines: u64,
    /// The newest entries, newest first.
    pub entries: Vec<EntryView>,
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn entry(l: &LogLine, broken_line: Option<u64>) -> EntryView {
    let broken = broken_line == Some(l.line);
    let Some(r) = &l.record else {
        return EntryView {
            line: l.line,
            time: String::new(),
            event: String::new(),
            snapshot: String::new(),
            actor: String::new(),
            details: l.error.clone().unwrap_or_default(),
            broken,
        };
    };
    let actor = match r.get("actor") {
        Some(a) => match (a.get("user").and_then(Value::as_str), a.get("uid")) {
            (Some(u), _) => u.to_owned(),
            (None, Some(uid)) if !uid.is_null() => format!("uid {uid}"),
            _ => String::new(),
        },
        None => String::new(),
    };
    let rest: serde_json::Map<String, Value> = r
        .iter()
        .filter(|(k, _)| !RESERVED_KEYS.contains(&k.as_str()) && k.as_str() != "snapshot")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut details = Value::Object(rest).to_string();
    if details.chars().count() > MAX_DETAIL_CHARS {
        details = details.chars().take(MAX_DETAIL_CHARS).collect::<String>() + "…";
    }
    EntryView {
        line: l.line,
        time: text(r.get("time")),
        event: text(r.get("event")),
        snapshot: text(r.get("snapshot")),
        actor,
        details,
        broken,
    }
}

fn status(r: &AuditReport) -> String {
    match &r.broken {
        Some(b) => format!("BROKEN at line {}: {}", b.line, b.reason),
        None if !r.exists => "no audit log yet (nothing recorded)".into(),
        None => format!(
            "chain intact: {} lines ({} legacy before the chain, {} chained){}",
            r.lines,
            r.legacy,
            r.chained,
            match r.head_seq {
                Some(h) => format!(", head at line {h}"),
                None => String::new(),
            }
        ),
    }
}

/// Builds the page (blocking).
///
/// Errors: the log cannot be read.
pub fn build(state: &AppState) -> Result<AuditPage, String> {
    let report = crate::audit::verify(&state.store)
        .map_err(|e| format!("cannot check the audit log: {e}"))?;
    let log = crate::audit::read_log(&state.store)
        .map_err(|e| format!("cannot read the audit log: {e}"))?;
    let broken_line = report.broken.as_ref().map(|b| b.line);
    let entries = log
        .iter()
        .rev()
        .take(MAX_ENTRIES)
        .map(|l| entry(l, broken_line))
        .collect();
    Ok(AuditPage {
        title: "Audit log".into(),
        intact: report.ok(),
        status: status(&report),
        lines: log.len() as u64,
        entries,
    })
}

/// `GET /ui/audit`.
pub async fn page(State(state): State<Arc<AppState>>) -> Response {
    match blocking(move || build(&state)).await {
        Ok(p) => render(StatusCode::OK, &p),
        Err(r) => r,
    }
}
