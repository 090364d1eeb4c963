//! The plain progress lines both command-line tools print on stderr off a terminal
//! (systemd, cron, `| tee`): how often, and the rate, eta and elapsed fields.
//!
//! ```text
//! progress: <phase>: [files 3/10, ]bytes 1.2 MiB/4.0 MiB, rate 300.0 KiB/s, eta 10s, elapsed 20s
//! ```
//!
//! Pure rules; the callers read the environment and the clock.

use std::time::Duration;

/// Environment variable: seconds between plain progress lines off a terminal.
pub const INTERVAL_ENV: &str = "MIRROR_PROGRESS_INTERVAL";
/// Interval between plain progress lines when [`INTERVAL_ENV`] is unset.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// The interval an [`INTERVAL_ENV`] value sets (seconds, fractions allowed), else
/// [`DEFAULT_INTERVAL`]: values that are not a positive number of seconds are ignored;
/// the result is between 10 ms and one day.
pub fn interval(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(DEFAULT_INTERVAL, |s| {
            Duration::from_secs_f64(s.min(86_400.0)).max(Duration::from_millis(10))
        })
}

/// `95` → `"1m35s"`, `7` → `"7s"`, `3725` → `"1h2m5s"`.
pub fn human_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// The mean rate (bytes per second) of `done` bytes over `elapsed_secs`, and the eta of
/// the rest of `total`: `"0s"` once done reaches a known total, `"unknown"` while the
/// rate (under 1 B/s) or the remaining bytes are unknown.
pub fn rate_and_eta(done: u64, total: u64, elapsed_secs: f64) -> (f64, String) {
    let rate = if elapsed_secs > 0.0 {
        done as f64 / elapsed_secs
    } else {
        0.0
    };
    let eta = if rate >= 1.0 && total > done {
        human_duration(((total - done) as f64 / rate).ceil() as u64)
    } else if total > 0 && done >= total {
        "0s".to_owned()
    } else {
        "unknown".to_owned()
    };
    (rate, eta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(7), "7s");
        assert_eq!(human_duration(95), "1m35s");
        assert_eq!(human_duration(3725), "1h2m5s");
    }

    #[test]
    fn intervals() {
        assert_eq!(interval(None), DEFAULT_INTERVAL);
        assert_eq!(interval(Some("x")), DEFAULT_INTERVAL);
        assert_eq!(interval(Some("-1")), DEFAULT_INTERVAL);
        assert_eq!(interval(Some(" 0.5 ")), Duration::from_millis(500));
        assert_eq!(interval(Some("0.000001")), Duration::from_millis(10));
        assert_eq!(interval(Some("1e9")), Duration::from_secs(86_400));
    }

    #[test]
    fn rates_and_etas() {
        assert_eq!(rate_and_eta(100, 300, 2.0), (50.0, "4s".to_owned()));
        assert_eq!(rate_and_eta(300, 300, 2.0).1, "0s");
        assert_eq!(rate_and_eta(0, 300, 0.0), (0.0, "unknown".to_owned()));
        assert_eq!(rate_and_eta(0, 0, 1.0).1, "unknown");
    }
}
