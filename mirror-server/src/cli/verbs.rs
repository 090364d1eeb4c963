//! The verbs behind the command line: each `run_*` turns its arguments into a call of the
//! module that does the work and renders the result (text or `--json`).

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::Context as _;
use formats::display::Escaped;

use super::args::*;
use super::print_json;
use crate::import::{ImportOptions, ImportSummary, import};

pub(super) fn run_client_config(a: ClientConfigArgs) -> anyhow::Result<()> {
    let live = crate::client_config::live_snapshot(a.store.as_deref(), &a.registries)?;
    let store = a.store.clone().unwrap_or_default();
    let config = crate::client_config::build(
        live.as_ref(),
        &store,
        &crate::client_config::Options {
            base_url: &a.listen_url,
            keyring_path: &a.keyring_path,
            registries: &a.registries,
            tls: a
                .ca_cert
                .as_deref()
                .map(|ca| crate::client_config::TlsOptions {
                    ca_cert: ca,
                    client: a.client_cert.as_deref().zip(a.client_key.as_deref()),
                    dir: &a.tls_dir,
                }),
        },
    )?;
    if let Some(dir) = &a.write {
        let written = crate::client_config::write_files(&config, live.as_ref(), &store, dir)?;
        if !a.json {
            esay!("wrote {} files under {}", written.len(), dir.display());
        }
    }
    if a.json {
        print_json(&config, true)?;
    } else {
        print!(
            "{}",
            formats::display::escape_text(&crate::client_config::render_text(&config))
        );
    }
    Ok(())
}

pub(super) fn run_snapshots(a: SnapshotsArgs) -> anyhow::Result<()> {
    let rows = crate::lifecycle::held_snapshots(&a.store.store)?;
    if a.json {
        print_json(&rows, true)?;
        return Ok(());
    }
    say!(
        "{:<4} {:<3} {:<28} {:<20} {:>8} {:<22} {:<26} {:>10} {:>9}",
        "live",
        "pin",
        "snapshot",
        "channel",
        "sequence",
        "created",
        "signer",
        "size",
        "artifacts"
    );
    for r in &rows {
        say!(
            "{:<4} {:<3} {:<28} {:<20} {:>8} {:<22} {:<26} {:>10} {:>9}",
            if r.live { "*" } else { "" },
            if r.pinned { "P" } else { "" },
            Escaped(&r.record.name),
            Escaped(&r.record.channel),
            r.record.sequence,
            Escaped(&r.record.created),
            Escaped(&r.record.signer),
            human_bytes(r.record.bytes),
            r.record.artifacts
        );
    }
    let current = rows
        .iter()
        .find(|r| r.current)
        .map(|r| r.record.name.as_str());
    say!(
        "(* live on its channel, P pinned; served at the root: {})",
        current.unwrap_or("none")
    );
    Ok(())
}

pub(super) fn run_rollback(a: RollbackArgs) -> anyhow::Result<()> {
    let s = crate::lifecycle::rollback(&crate::lifecycle::RollbackOptions {
        store: a.store.store,
        to: a.to,
        channel: a.channel,
    })?;
    if a.json {
        print_json(&s, false)?;
    } else {
        say!(
            "rolled back channel {}: {} -> {} (live and served at the root; generation {})",
            s.channel,
            s.from.as_deref().unwrap_or("none"),
            s.to,
            s.generation
        );
        say!(
            "  {} blobs checked present; running servers switch within a second",
            s.blobs_checked
        );
    }
    Ok(())
}

fn print_pin(s: &crate::lifecycle::PinSummary, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(s, false)?;
        return Ok(());
    }
    match (s.pinned, s.changed) {
        (true, true) => match &s.reason {
            Some(r) => say!("pinned {} ({r})", s.snapshot),
            None => say!("pinned {}", s.snapshot),
        },
        (true, false) => say!("{} was already pinned; nothing changed", s.snapshot),
        (false, true) => say!("unpinned {} (gc may now remove it)", s.snapshot),
        (false, false) => say!("{} was not pinned; nothing changed", s.snapshot),
    }
    Ok(())
}

pub(super) fn run_pin(a: PinArgs) -> anyhow::Result<()> {
    let s = crate::lifecycle::pin(&a.store.store, &a.name, a.reason.as_deref())?;
    print_pin(&s, a.json)
}

pub(super) fn run_unpin(a: UnpinArgs) -> anyhow::Result<()> {
    let s = crate::lifecycle::unpin(&a.store.store, &a.name)?;
    print_pin(&s, a.json)
}

pub(super) fn run_gc(a: GcArgs) -> anyhow::Result<()> {
    let s = crate::gc::gc(&crate::gc::GcOptions {
        store: a.store.store,
        keep: a.keep,
        dry_run: a.dry_run,
    })?;
    if a.json {
        print_json(&s, false)?;
        return Ok(());
    }
    let (remove, delete) = if s.dry_run {
        ("would remove", "would delete")
    } else {
        ("removed", "deleted")
    };
    let kept: Vec<String> = s
        .kept
        .iter()
        .map(|k| format!("{} ({})", k.name, k.reasons.join(", ")))
        .collect();
    say!("kept {} snapshots: {}", kept.len(), kept.join(", "));
    if s.snapshots_removed.is_empty() {
        say!("{remove} no snapshot");
    } else {
        say!(
            "{remove} {} snapshots: {}",
            s.snapshots_removed.len(),
            s.snapshots_removed.join(", ")
        );
    }
    say!(
        "{delete} {} blobs ({}); {} blobs kept; {} stale staging entries",
        s.blobs_removed,
        human_bytes(s.bytes_freed),
        s.blobs_kept,
        s.staging_removed
    );
    if s.dry_run {
        say!("dry run: nothing was changed");
    }
    Ok(())
}

pub(super) fn run_verify(a: VerifyArgs) -> anyhow::Result<()> {
    let r = crate::verify::verify(&crate::verify::VerifyOptions {
        store: a.store.store.clone(),
        progress: !a.json,
        threads: a.threads,
    })?;
    // The outcome goes to the audit log (the console shows it); a store this user cannot
    // write still gets its report.
    if let Err(e) = crate::verify::record_outcome(&r) {
        esay!("warning: the outcome was not recorded in the audit log: {e}");
    }
    if a.json {
        print_json(&r, true)?;
    } else {
        say!(
            "checked {} blobs ({}) of {} snapshots in {:.1} s",
            r.blobs_checked,
            human_bytes(r.bytes_hashed),
            r.snapshots,
            r.elapsed_secs
        );
        for p in &r.problems {
            say!("{}", p.describe());
        }
        if r.orphans > 0 {
            say!(
                "info: {} orphan blobs ({}) are referenced by no held snapshot (gc removes them)",
                r.orphans,
                human_bytes(r.orphan_bytes)
            );
        }
        if !r.stale_staging.is_empty() {
            say!(
                "info: {} stale staging entries in {} (gc removes them)",
                r.stale_staging.len(),
                a.store.store.join(store::layout::TMP_DIR).display()
            );
        }
        if r.ok {
            say!("store OK");
        }
    }
    if !r.ok {
        anyhow::bail!(
            "{}: {} problems found (listed above); re-import the affected snapshots from their drives",
            a.store.store.display(),
            r.problems.len()
        );
    }
    Ok(())
}

pub(super) fn run_audit_verify(a: AuditVerifyArgs) -> anyhow::Result<()> {
    let r = crate::audit::verify(&a.store.store)?;
    if a.json {
        print_json(&r, true)?;
    } else if !r.exists {
        say!("{}: no audit log (nothing recorded yet)", r.path.display());
    } else if r.ok() {
        say!(
            "{}: chain intact: {} lines ({} legacy before the chain, {} chained){}",
            r.path.display(),
            r.lines,
            r.legacy,
            r.chained,
            match r.head_seq {
                Some(h) => format!(", head at line {h}"),
                None => String::new(),
            }
        );
    }
    if let Some(b) = &r.broken {
        anyhow::bail!(
            "{}: broken at line {}: {}",
            r.path.display(),
            b.line,
            b.reason
        );
    }
    Ok(())
}

pub(super) fn run_audit_show(a: AuditShowArgs) -> anyhow::Result<()> {
    let lines = crate::audit::read_log(&a.store.store)?;
    let skip = a.last.map_or(0, |n| lines.len().saturating_sub(n));
    let shown = lines.get(skip..).unwrap_or_default();
    if a.json {
        let out: Vec<serde_json::Value> = shown
            .iter()
            .map(|l| match &l.record {
                Some(r) => serde_json::Value::Object(r.clone()),
                None => serde_json::json!({ "line": l.line, "error": l.error }),
            })
            .collect();
        print_json(&out, true)?;
        return Ok(());
    }
    const SHOWN_ELSEWHERE: [&str; 6] = ["seq", "time", "actor", "event", "snapshot", "prev"];
    for l in shown {
        let Some(r) = &l.record else {
            say!(
                "{:>5} (unreadable: {})",
                l.line,
                l.error.as_deref().unwrap_or("?")
            );
            continue;
        };
        let s = |k: &str| r.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
        let actor = r.get("actor").map_or(String::new(), |a| {
            match (a.get("user").and_then(|u| u.as_str()), a.get("uid")) {
                (Some(u), _) => u.to_owned(),
                (None, Some(uid)) if !uid.is_null() => format!("uid {uid}"),
                _ => "?".into(),
            }
        });
        let details: Vec<String> = r
            .iter()
            .filter(|(k, _)| !SHOWN_ELSEWHERE.contains(&k.as_str()))
            .map(|(k, v)| match v {
                serde_json::Value::String(t) => format!("{}={}", Escaped(k), Escaped(t)),
                other => format!("{}={other}", Escaped(k)),
            })
            .collect();
        let marker = if r.contains_key("prev") {
            ""
        } else {
            " (legacy)"
        };
        say!(
            "{:>5} {:<24} {:<10} {:<22} {:<24} {}{marker}",
            l.line,
            Escaped(s("time")),
            Escaped(&actor),
            Escaped(s("event")),
            Escaped(s("snapshot")),
            details.join(" ")
        );
    }
    Ok(())
}

pub(super) fn run_receipt(a: ReceiptArgs) -> anyhow::Result<()> {
    let (bytes, s) = crate::receipt::make_receipt(&a.store.store)?;
    match &a.out {
        Some(out) => store::fsio::write_atomic(out, &bytes, 0o666)
            .with_context(|| format!("cannot write the receipt to {}", out.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            std::io::Write::write_all(&mut stdout, &bytes)
                .and_then(|()| std::io::Write::flush(&mut stdout))
                .context("cannot write the receipt to stdout")?;
        }
    }
    if a.json {
        // The document (on stderr) carries the warnings; a text line would break it.
        eprintln!("{}", serde_json::to_string(&s)?);
        return Ok(());
    }
    for w in &s.warnings {
        esay!("warning: {w}");
    }
    if s.site_key_created {
        esay!(
            "created the site key; its public key is {}: give it to release engineering to pin",
            s.site_pub.display()
        );
    }
    let live: Vec<&str> = s.live.values().map(String::as_str).collect();
    esay!(
        "receipt of site {}: {} snapshots ({} pinned; live: {}), {} blobs; {}, {}{}",
        s.site,
        s.snapshots,
        s.pinned,
        if live.is_empty() {
            "none".to_owned()
        } else {
            live.join(", ")
        },
        s.blobs,
        human_bytes(s.bytes),
        s.sha256,
        match &a.out {
            Some(out) => format!("; written to {}", out.display()),
            None => String::new(),
        }
    );
    Ok(())
}

pub(super) fn run_import(a: ImportArgs) -> anyhow::Result<()> {
    let mut drives = a.drives.into_iter();
    let opts = ImportOptions {
        drive: drives.next().unwrap_or_default(),
        volumes: drives.collect(),
        store: a.store.store,
        trusted_keys: a.trusted_keys,
        snapshot: a.snapshot,
        allow_downgrade: a.allow_downgrade,
        policy: a.policy,
        progress: !a.quiet && !a.json,
    };
    let summary = import(&opts)?;
    if a.json {
        print_json(&summary, false)?;
    } else if !a.quiet {
        print!(
            "{}",
            formats::display::escape_text(&render_summary(&summary))
        );
    }
    Ok(())
}

/// Human-readable import summary (several lines, trailing newline).
pub fn render_summary(s: &ImportSummary) -> String {
    let mut out = format!(
        "imported snapshot {} (channel {}, sequence {})\n",
        s.snapshot, s.channel, s.sequence
    );
    out.push_str(&format!(
        "  signed by {} ({})\n",
        s.signer, s.signer_key_file
    ));
    out.push_str(&format!(
        "  {} artifacts, {} blobs: {} copied, {} already present{}{}\n",
        s.artifacts,
        s.blobs,
        s.blobs_copied,
        s.blobs_present,
        if s.blobs_resumed > 0 {
            format!(", {} verified by an earlier run", s.blobs_resumed)
        } else {
            String::new()
        },
        if s.blobs_joined > 0 {
            format!(", {} joined from parts", s.blobs_joined)
        } else {
            String::new()
        }
    ));
    if s.volumes_read.len() > 1 || s.volumes_read.first().is_some_and(|v| *v > 1) {
        out.push_str(&format!(
            "  volumes read: {}\n",
            s.volumes_read
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.push_str(&format!(
        "  copied {} in {:.1} s ({}/s)\n",
        human_bytes(s.bytes_copied),
        s.elapsed_secs,
        human_bytes(s.throughput_bytes_per_sec as u64)
    ));
    match &s.previous_live {
        Some(p) => out.push_str(&format!("  live on {} (was {p})", s.channel)),
        None => out.push_str(&format!("  live on {}", s.channel)),
    }
    if s.forced {
        out.push_str(" — downgrade forced, recorded in the audit log");
    }
    out.push('\n');
    out
}

/// `1536` → `"1.5 KiB"` (binary units, one decimal; bytes without one: `"10 B"`).
///
/// Not `indicatif::HumanBytes`: that prints two decimals (`"1.50 KiB"`), and the sizes
/// `snapshots`, `gc`, `verify`, `receipt` and `import` print keep their format.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS.get(u).copied().unwrap_or("B"))
    }
}

pub(super) fn run_serve(a: ServeArgs) -> anyhow::Result<()> {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let _ = match a.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(false)
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .try_init(),
    };
    // A typo in --store fails here, not as 503 forever (an empty directory still serves 503).
    crate::live::check_store_dir(&a.store.store)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let log_format = a.log_format;
    let a_drain = a.drain_timeout;
    let r = rt.block_on(async move {
        let workers = a
            .workers
            .map_or_else(crate::serve::default_workers, usize::from);
        let tls = match (a.tls_cert, a.tls_key) {
            (Some(cert), Some(key)) => Some(crate::serve::tls::TlsSettings {
                cert,
                key,
                client_ca: a.tls_client_ca,
            }),
            _ => None,
        };
        let opts = crate::serve::ServeOptions {
            workers,
            access_log: a
                .access_log
                .as_deref()
                .map(|t| crate::serve::AccessLogConfig {
                    target: crate::serve::AccessLogTarget::parse(t),
                    format: a.access_log_format,
                }),
            max_connections: a.max_connections.map(|n| n as usize),
            header_timeout: a.header_timeout,
            idle_timeout: a.idle_timeout,
            min_rate: a.min_rate,
            min_rate_period: a.min_rate_period,
            drain_timeout: a.drain_timeout,
            tls,
            ui: !a.no_ui,
        };
        let handle = crate::serve::start_with(a.store.store, a.listen, opts).await?;
        let scheme = if handle.tls.is_some() {
            "https"
        } else {
            "http"
        };
        // SIGHUP is caught from here on (before the address is announced).
        let _sighup = tokio::spawn(crate::serve::signals::reload_tls_on_sighup(
            handle.tls.clone(),
        )?);
        match log_format {
            LogFormat::Text => esay!("mirror-server listening on {scheme}://{}", handle.addr),
            // Every stderr line stays one JSON object.
            LogFormat::Json => tracing::info!(addr = %handle.addr, scheme, "listening"),
        }
        crate::serve::signals::wait_for_stop().await;
        tracing::info!(
            drain_timeout_s = a_drain.as_secs_f64(),
            "stopping: draining connections"
        );
        handle.shutdown().await;
        Ok(())
    });
    // Blocking reads still running (a snapshot load) get one second, not forever.
    rt.shutdown_timeout(Duration::from_secs(1));
    r
}

/// `mirror-server vulns`: the scan report (human or `--json`), the `--vex` document, and
/// with `--fail-on-findings` an error when there is a finding.
pub(super) fn run_vulns(a: VulnsArgs) -> anyhow::Result<()> {
    let loaded = crate::vulns::load(a.snapshot.as_deref(), a.store.store.as_deref())?;
    let report = loaded.scan();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if let Some(path) = &a.vex {
        let bytes = formats::osv::cyclonedx_vex(&report, &loaded.manifest, &now);
        std::fs::write(path, bytes)
            .with_context(|| format!("cannot write the VEX document {}", path.display()))?;
    }
    if a.json {
        print_json(&report, true)?;
    } else {
        print!(
            "{}",
            formats::display::escape_text(&formats::osv::render(&report, &now))
        );
        if let Some(path) = &a.vex {
            say!("VEX document (CycloneDX 1.6) written to {}", path.display());
        }
    }
    if a.fail_on_findings && !report.findings.is_empty() {
        anyhow::bail!(
            "{} vulnerability findings in {} (--fail-on-findings)",
            report.findings.len(),
            report.snapshot
        );
    }
    Ok(())
}
