//! Crash trials (issue 16): a process is started, killed with SIGKILL after a random
//! delay, and the test then checks what it left behind. The delays come from a seeded
//! generator whose seed the test prints, so that a failing trial can be replayed.
//!
//! Environment: `MIRROR_CRASH_TRIALS` (trials per test; each test has its default) and
//! `MIRROR_CRASH_SEED` (replay one run).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Trials per test: `MIRROR_CRASH_TRIALS`, else `default`.
pub fn trials(default: usize) -> usize {
    std::env::var("MIRROR_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed of a run of crash trials: `MIRROR_CRASH_SEED`, else the clock (odd, never 0:
/// [`Rng`] needs a non-zero state).
pub fn seed() -> u64 {
    std::env::var("MIRROR_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64 | 1)
        })
}

/// A small deterministic generator (xorshift64*); seed it with [`seed`].
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A delay drawn uniformly from `[0, span]` (microsecond steps).
    pub fn delay(&mut self, span: Duration) -> Duration {
        Duration::from_micros(self.next_u64() % (span.as_micros() as u64 + 1))
    }
}

/// Spawns `cmd` (stdout and stderr discarded), sleeps `delay`, sends SIGKILL and reaps it.
/// Returns true when the process had already finished with success before the kill.
///
/// Panics when the process cannot be started (test helper).
pub fn kill_after(cmd: &mut Command, delay: Duration) -> bool {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    std::thread::sleep(delay);
    let _ = child.kill(); // SIGKILL
    child.wait().expect("reap the killed process").success()
}

/// `cp -a FROM TO`: a store or drive copied with its modes and times, for a fresh trial.
///
/// Panics when the copy fails (test helper).
pub fn cp_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("run cp -a");
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}
