//! Byte progress of `import` and `verify`: an indicatif bar on stderr when it is a
//! terminal; off a terminal (systemd, cron, `| tee`) a plain line on stderr at least every
//! [`DEFAULT_INTERVAL`] (the environment variable [`INTERVAL_ENV`] sets another interval
//! in seconds, fractions allowed), and a last one when the bar is finished:
//!
//! ```text
//! progress: verifying cube-stable/42: bytes 1.2 GiB/4.0 GiB, rate 310.0 MiB/s, eta 10s, elapsed 4s
//! ```
//!
//! The same variable and line format as `mirror-sync` (its `progress` module).

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use formats::progress_line::{DEFAULT_INTERVAL, INTERVAL_ENV};
use formats::progress_line::{human_duration, rate_and_eta};

/// The interval [`INTERVAL_ENV`] sets, else [`DEFAULT_INTERVAL`]
/// ([`formats::progress_line::interval`]).
pub fn interval_from_env() -> Duration {
    formats::progress_line::interval(std::env::var(INTERVAL_ENV).ok().as_deref())
}

/// One plain line for `bar` (position and length in bytes), `elapsed` since it started.
pub fn line(bar: &ProgressBar, elapsed: Duration) -> String {
    let done = bar.position();
    let total = bar.length().unwrap_or(0);
    let secs = elapsed.as_secs_f64();
    let (rate, eta) = rate_and_eta(done, total, secs);
    format!(
        "progress: {}: bytes {}/{}, rate {}/s, eta {eta}, elapsed {}",
        bar.message(),
        HumanBytes(done),
        HumanBytes(total),
        HumanBytes(rate as u64),
        human_duration(secs as u64)
    )
}

/// Prefix that marks a bar reported by plain lines (never drawn, so never shown).
const PLAIN: &str = "plain";

/// Finishes `bar` (clearing a drawn one) and, for a bar reported by plain lines, prints
/// the last line now, so it is never lost to the process exiting first.
pub fn finish(bar: &ProgressBar) {
    let plain = bar.prefix() == PLAIN && !bar.is_finished();
    bar.finish_and_clear();
    if plain {
        eprintln!("{}", line(bar, bar.elapsed()));
    }
}

/// A byte bar of `total` bytes labelled `msg`: hidden when `!want`; drawn when stderr is
/// a terminal; otherwise hidden but reported by plain lines from a helper thread every
/// [`interval_from_env`]; [`finish`] prints its last line. The thread stops when the bar
/// is finished or every handle of it is dropped.
pub fn byte_bar(want: bool, total: u64, msg: &str) -> ProgressBar {
    if !want {
        return ProgressBar::hidden();
    }
    if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b.set_message(formats::display::escape(msg).into_owned());
        return b;
    }
    let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    b.set_message(formats::display::escape(msg).into_owned());
    b.set_prefix(PLAIN);
    b.reset_elapsed();
    let weak = b.downgrade();
    let interval = interval_from_env();
    let tick = interval.min(Duration::from_millis(100));
    let started = Instant::now();
    let _ = std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            let mut next = started + interval;
            loop {
                std::thread::sleep(tick);
                let Some(bar) = weak.upgrade() else {
                    return;
                };
                if bar.is_finished() {
                    // finish() printed the last line.
                    return;
                }
                if Instant::now() >= next {
                    eprintln!("{}", line(&bar, started.elapsed()));
                    next = Instant::now() + interval;
                }
            }
        });
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_fields() {
        let b = ProgressBar::with_draw_target(Some(4096), ProgressDrawTarget::hidden());
        b.set_message("verifying c/1");
        b.inc(1024);
        let l = line(&b, Duration::from_secs(2));
        assert_eq!(
            l,
            "progress: verifying c/1: bytes 1.00 KiB/4.00 KiB, rate 512 B/s, eta 6s, elapsed 2s"
        );
        b.inc(3072);
        assert!(line(&b, Duration::from_secs(3)).contains("eta 0s"));
    }
}
