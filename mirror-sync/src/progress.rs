//! Progress display: indicatif bars on a terminal, nothing when `--quiet`, `--json` or
//! when stderr is not a terminal.

use std::io::IsTerminal as _;
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress for one command run; cheap to clone.
#[derive(Clone)]
pub struct Progress {
    inner: Option<Arc<Inner>>,
    quiet: bool,
}

struct Inner {
    multi: MultiProgress,
    total: ProgressBar,
}

impl Progress {
    /// Bars only when `want` and stderr is a terminal; `quiet` also silences
    /// [`Progress::println`].
    pub fn new(want: bool, quiet: bool) -> Progress {
        if !want || quiet || !std::io::stderr().is_terminal() {
            return Progress { inner: None, quiet };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        total.set_prefix("total");
        Progress {
            inner: Some(Arc::new(Inner { multi, total })),
            quiet,
        }
    }

    /// A disabled display.
    pub fn hidden() -> Progress {
        Progress {
            inner: None,
            quiet: true,
        }
    }

    /// Sets the phase shown next to the total bar.
    pub fn phase(&self, msg: &str) {
        if let Some(i) = &self.inner {
            i.total.set_message(msg.to_owned());
        }
    }

    /// Starts a phase with its own counter: the total bar restarts at 0 with `total`
    /// bytes expected, or with no total (`None`: no percentage or eta is shown, so the
    /// bar never claims to be done while the phase's work is unknown).
    pub fn start_phase(&self, msg: &str, total: Option<u64>) {
        if let Some(i) = &self.inner {
            i.total.reset();
            match total {
                Some(t) => i.total.set_length(t),
                None => i.total.unset_length(),
            }
            i.total.set_message(msg.to_owned());
        }
    }

    /// Adds to the expected total bytes.
    pub fn add_total(&self, bytes: u64) {
        if let Some(i) = &self.inner {
            i.total.inc_length(bytes);
        }
    }

    /// Counts bytes as done (downloaded or already present).
    pub fn inc_done(&self, bytes: u64) {
        if let Some(i) = &self.inner {
            i.total.inc(bytes);
        }
    }

    /// A per-file bar (hidden when disabled).
    pub fn file_bar(&self, label: &str, size: Option<u64>) -> ProgressBar {
        match &self.inner {
            Some(i) if size.is_some_and(|s| s > 8 * 1024 * 1024) => {
                let b = i.multi.add(ProgressBar::new(size.unwrap_or(0)));
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                b.set_prefix("file");
                b.set_message(label.to_owned());
                b
            }
            _ => ProgressBar::hidden(),
        }
    }

    /// Prints a line above the bars (or to stderr when disabled and not quiet).
    pub fn println(&self, line: &str) {
        match &self.inner {
            Some(i) => {
                let _ = i.multi.println(line);
            }
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    /// Clears the bars.
    pub fn finish(&self) {
        if let Some(i) = &self.inner {
            i.total.finish_and_clear();
            let _ = i.multi.clear();
        }
    }
}
