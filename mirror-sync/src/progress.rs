//! Progress display for one command run.
//!
//! - On a terminal: indicatif bars on stderr (a total bar with the phase, and one bar per
//!   file larger than 8 MiB).
//! - Off a terminal (cron, CI, systemd, `| tee`): plain lines on stderr, one at least every
//!   [`DEFAULT_INTERVAL`] (10 s; the environment variable [`INTERVAL_ENV`] sets another
//!   interval in seconds, fractions allowed), whether or not anything moved, and a last
//!   one when the run finishes:
//!
//!   ```text
//!   progress: fixture: downloading: files 3/10, bytes 1.2 MiB/4.0 MiB, rate 300.0 KiB/s, eta 10s, elapsed 20s
//!   ```
//!
//!   `files done/total` counts the files completed (downloaded, or found in the store)
//!   against the totals announced with [`Progress::add_total_files`] and
//!   [`Progress::add_total`]; a file or bytes no announced total covers (index files,
//!   pages) join the total as they complete, so done never exceeds total and nothing is
//!   counted twice. `bytes` also counts files still streaming; `rate` is the mean since
//!   the run started; `eta` is `unknown` while the rate or the remaining bytes are.
//! - Nothing with `--quiet` or `--json` (the caller passes `want = false`).

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use indicatif::{
    HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, WeakProgressBar,
};

pub use formats::progress_line::{DEFAULT_INTERVAL, INTERVAL_ENV};
use formats::progress_line::{human_duration, rate_and_eta};

/// Progress for one command run; cheap to clone.
#[derive(Clone)]
pub struct Progress {
    inner: Option<Arc<Inner>>,
    plain: Option<Arc<Ticker>>,
    quiet: bool,
}

struct Inner {
    multi: MultiProgress,
    total: ProgressBar,
}

/// Counters of the plain (off-terminal) display, shared with its printing thread.
struct Plain {
    started: Instant,
    interval: Duration,
    phase: Mutex<String>,
    bytes_total: AtomicU64,
    bytes_done: AtomicU64,
    files_total: AtomicU64,
    files_done: AtomicU64,
    /// Bars of files still streaming (hidden; only their positions are read). Weak: a
    /// download that fails drops its bar, which then no longer counts.
    streaming: Mutex<Vec<WeakProgressBar>>,
    /// Set when the run finishes; wakes the thread.
    stop: Mutex<bool>,
    wake: Condvar,
}

/// Owned by the [`Progress`] clones only: dropping the last clone stops the thread.
struct Ticker {
    plain: Arc<Plain>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.plain.stop_thread();
        if let Ok(mut t) = self.thread.lock()
            && let Some(h) = t.take()
        {
            let _ = h.join();
        }
    }
}

/// The interval [`INTERVAL_ENV`] sets, else [`DEFAULT_INTERVAL`]
/// ([`formats::progress_line::interval`]).
pub fn interval_from_env() -> Duration {
    formats::progress_line::interval(std::env::var(INTERVAL_ENV).ok().as_deref())
}

impl Plain {
    fn new(interval: Duration) -> Plain {
        Plain {
            started: Instant::now(),
            interval,
            phase: Mutex::new("starting".to_owned()),
            bytes_total: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            files_total: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            streaming: Mutex::new(Vec::new()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        }
    }

    /// Bytes of files still streaming (their bars are dropped once finished).
    fn streaming_bytes(&self) -> u64 {
        let Ok(mut bars) = self.streaming.lock() else {
            return 0;
        };
        let live: Vec<ProgressBar> = bars
            .iter()
            .filter_map(WeakProgressBar::upgrade)
            .filter(|b| !b.is_finished())
            .collect();
        *bars = live.iter().map(ProgressBar::downgrade).collect();
        live.iter().map(ProgressBar::position).sum()
    }

    /// One progress line (without the trailing newline).
    fn line(&self) -> String {
        let phase = self.phase.lock().map(|p| p.clone()).unwrap_or_default();
        let done = self.bytes_done.load(Ordering::Relaxed) + self.streaming_bytes();
        let total = self.bytes_total.load(Ordering::Relaxed).max(done);
        let files_total = self.files_total.load(Ordering::Relaxed);
        let files_done = self.files_done.load(Ordering::Relaxed);
        let elapsed = self.started.elapsed().as_secs_f64();
        let (rate, eta) = rate_and_eta(done, total, elapsed);
        format!(
            "progress: {phase}: files {files_done}/{files_total}, bytes {}/{}, rate {}/s, eta {eta}, elapsed {}",
            HumanBytes(done),
            HumanBytes(total),
            HumanBytes(rate as u64),
            human_duration(elapsed as u64)
        )
    }

    fn stop_thread(&self) {
        if let Ok(mut s) = self.stop.lock() {
            *s = true;
        }
        self.wake.notify_all();
    }

    /// The printing thread: a line every interval until stopped.
    fn run(&self) {
        let Ok(mut stopped) = self.stop.lock() else {
            return;
        };
        let mut next = Instant::now() + self.interval;
        loop {
            if *stopped {
                return;
            }
            let now = Instant::now();
            if now >= next {
                eprintln!("{}", self.line());
                next = now + self.interval;
                continue;
            }
            match self.wake.wait_timeout(stopped, next - now) {
                Ok((g, _)) => stopped = g,
                Err(_) => return,
            }
        }
    }
}

impl Progress {
    /// Bars when `want` and stderr is a terminal; plain periodic lines (see the module
    /// docs) when `want` and stderr is not a terminal; `quiet` silences both and
    /// [`Progress::println`].
    pub fn new(want: bool, quiet: bool) -> Progress {
        if !want || quiet {
            return Progress {
                inner: None,
                plain: None,
                quiet,
            };
        }
        if !std::io::stderr().is_terminal() {
            return Progress::plain(interval_from_env(), quiet);
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
            plain: None,
            quiet,
        }
    }

    /// The plain display (off a terminal): a line on stderr every `interval`, and one at
    /// [`Progress::finish`].
    pub fn plain(interval: Duration, quiet: bool) -> Progress {
        let plain = Arc::new(Plain::new(interval));
        let for_thread = plain.clone();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || for_thread.run())
            .ok();
        Progress {
            inner: None,
            plain: Some(Arc::new(Ticker {
                plain,
                thread: Mutex::new(thread),
            })),
            quiet,
        }
    }

    /// A disabled display.
    pub fn hidden() -> Progress {
        Progress {
            inner: None,
            plain: None,
            quiet: true,
        }
    }

    fn counters(&self) -> Option<&Plain> {
        self.plain.as_deref().map(|t| &*t.plain)
    }

    /// Sets the phase shown next to the total bar (or in the plain lines).
    pub fn phase(&self, msg: &str) {
        if let Some(i) = &self.inner {
            i.total
                .set_message(formats::display::escape(msg).into_owned());
        }
        if let Some(p) = self.counters()
            && let Ok(mut phase) = p.phase.lock()
        {
            msg.clone_into(&mut phase);
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
            i.total
                .set_message(formats::display::escape(msg).into_owned());
        }
        // Off a terminal the plain lines count the whole run: the phase's bytes join
        // the run's total and its name replaces the phase shown.
        if let Some(p) = self.counters() {
            if let Ok(mut phase) = p.phase.lock() {
                msg.clone_into(&mut phase);
            }
            if let Some(t) = total {
                p.bytes_total.fetch_add(t, Ordering::Relaxed);
            }
        }
    }

    /// Adds to the expected total bytes.
    pub fn add_total(&self, bytes: u64) {
        if let Some(i) = &self.inner {
            i.total.inc_length(bytes);
        }
        if let Some(p) = self.counters() {
            p.bytes_total.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Adds `files` files of `bytes` bytes in all to the expected totals: the files
    /// column of the plain lines counts completions against it ([`Progress::file_done`]).
    pub fn add_total_files(&self, files: u64, bytes: u64) {
        self.add_total(bytes);
        if let Some(p) = self.counters() {
            p.files_total.fetch_add(files, Ordering::Relaxed);
        }
    }

    /// Counts bytes as done (downloaded or already present). Bytes that no announced
    /// total covers (index files, pages, manifests fetched before a download phase
    /// announces its total) are added to the total as they complete, so done never
    /// exceeds the total and every byte is counted once.
    pub fn inc_done(&self, bytes: u64) {
        if let Some(i) = &self.inner {
            i.total.inc(bytes);
            let pos = i.total.position();
            if i.total.length().is_some_and(|len| pos > len) {
                i.total.set_length(pos);
            }
        }
        if let Some(p) = self.counters() {
            let done = p.bytes_done.fetch_add(bytes, Ordering::Relaxed) + bytes;
            p.bytes_total.fetch_max(done, Ordering::Relaxed);
        }
    }

    /// Counts one file as completed (downloaded, or found in the store). Like bytes, a
    /// file no announced total covers ([`Progress::add_total_files`]) is added to the
    /// total as it completes, so `files` never reads more done than total.
    pub fn file_done(&self) {
        if let Some(p) = self.counters() {
            let done = p.files_done.fetch_add(1, Ordering::Relaxed) + 1;
            p.files_total.fetch_max(done, Ordering::Relaxed);
        }
    }

    /// A per-file bar: drawn on a terminal for files over 8 MiB; off a terminal a hidden
    /// bar whose position counts into the plain lines' bytes while the file streams
    /// (finish it when the file is done, before counting the file with
    /// [`Progress::inc_done`]); hidden otherwise.
    pub fn file_bar(&self, label: &str, size: Option<u64>) -> ProgressBar {
        if let Some(p) = self.counters() {
            let b = ProgressBar::with_draw_target(size, ProgressDrawTarget::hidden());
            if let Ok(mut bars) = p.streaming.lock() {
                bars.retain(|w| w.upgrade().is_some_and(|b| !b.is_finished()));
                bars.push(b.downgrade());
            }
            return b;
        }
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
                b.set_message(formats::display::escape(label).into_owned());
                b
            }
            _ => ProgressBar::hidden(),
        }
    }

    /// Prints a line above the bars (or to stderr when there are none and not quiet).
    pub fn println(&self, line: &str) {
        // Lines name upstream files and quote upstream errors: escaped (formats::display).
        let line = formats::display::escape_text(line);
        let line = line.as_ref();
        match &self.inner {
            Some(i) => {
                let _ = i.multi.println(line);
            }
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    /// Prints a warning line (`warning: …`, escaped with [`formats::display::escape_text`])
    /// on stderr above the bars, also with `--quiet` and `--json`: a warning is never
    /// silenced.
    pub fn warn(&self, message: &str) {
        let line = format!("warning: {}", formats::display::escape_text(message));
        match &self.inner {
            Some(i) => {
                let _ = i.multi.println(&line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// The current plain progress line (off a terminal), `None` for the other displays.
    pub fn plain_line(&self) -> Option<String> {
        self.counters().map(Plain::line)
    }

    /// Clears the bars; off a terminal, stops the periodic lines and prints a last one
    /// (`progress: finished: …`).
    pub fn finish(&self) {
        if let Some(i) = &self.inner {
            i.total.finish_and_clear();
            let _ = i.multi.clear();
        }
        if let Some(p) = self.counters() {
            let was_running = p.stop.lock().map(|s| !*s).unwrap_or(false);
            p.stop_thread();
            if was_running {
                if let Ok(mut phase) = p.phase.lock() {
                    *phase = "finished".to_owned();
                }
                eprintln!("{}", p.line());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line_fields() {
        let p = Progress::plain(Duration::from_secs(3600), false);
        p.phase("up: downloading");
        p.add_total_files(4, 4000);
        p.inc_done(1000);
        p.file_done();
        let bar = p.file_bar("f", Some(3000));
        bar.inc(500);
        let line = p.plain_line().unwrap();
        assert!(
            line.starts_with(
                "progress: up: downloading: files 1/4, bytes 1.46 KiB/3.91 KiB, rate "
            ),
            "{line}"
        );
        assert!(line.contains(", eta "), "{line}");
        assert!(line.contains(", elapsed "), "{line}");
        bar.finish_and_clear();
        p.inc_done(3000);
        for _ in 0..3 {
            p.file_done();
        }
        let line = p.plain_line().unwrap();
        // Streaming bytes are not counted twice once the file is done.
        assert!(
            line.contains("files 4/4, bytes 3.91 KiB/3.91 KiB"),
            "{line}"
        );
        assert!(line.contains("eta 0s"), "{line}");
        // A file no total announced (an index) joins the total: done never exceeds it.
        p.inc_done(1024);
        p.file_done();
        let line = p.plain_line().unwrap();
        assert!(
            line.contains("files 5/5, bytes 4.91 KiB/4.91 KiB"),
            "{line}"
        );
        p.finish();
        assert!(Progress::hidden().plain_line().is_none());
    }
}
