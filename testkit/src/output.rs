//! The captured result of an external command, and how to run one: [`run_command`]
//! (capture, never fail on the exit status) and [`run_checked`] (stdout, or an error
//! carrying the command line, status and both streams). [`Output::assert_success`] and
//! [`Output::assert_failure`] are the assert helpers every test uses.

use std::fmt;
use std::process::{Command, ExitStatus, Stdio};

/// The captured result of one external command (a client or a fixture tool).
///
/// `stdout` and `stderr` are decoded lossily as UTF-8. `command` is a printable
/// rendering of the program and its arguments, for failure messages.
#[derive(Debug, Clone)]
pub struct Output {
    /// Printable command line (program and arguments, space separated).
    pub command: String,
    /// Exit status of the process.
    pub status: ExitStatus,
    /// Everything the process wrote to standard output.
    pub stdout: String,
    /// Everything the process wrote to standard error.
    pub stderr: String,
}

impl Output {
    /// The result of a process that was started some other way (spawned, waited on),
    /// labelled `command`; both streams decoded lossily as UTF-8.
    pub fn from_std(command: String, out: std::process::Output) -> Output {
        Output {
            command,
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Whether the process exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics, printing the command, its status and both streams, unless it succeeded.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success(),
            "command failed but should have succeeded\n{self}"
        );
        self
    }

    /// Panics, printing the command, its status and both streams, if it succeeded.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(
            !self.success(),
            "command succeeded but should have failed\n{self}"
        );
        self
    }

    /// `stdout` followed by `stderr`, for substring checks that do not care which
    /// stream a client used.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        writeln!(f, "{}", self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// Printable rendering of a command line.
fn render_command(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Runs `cmd` to completion with stdin closed and both streams captured.
///
/// Errors: the program could not be started (not installed, not executable).
pub fn run_command(cmd: &mut Command) -> anyhow::Result<Output> {
    let command = render_command(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow::anyhow!("could not start `{command}`: {e}; is it installed?"))?;
    Ok(Output::from_std(command, out))
}

/// Runs `cmd` and returns its raw standard output, failing unless it exits with 0.
///
/// Errors: the program could not be started, or it failed; the message carries the
/// command line, status and standard error.
pub fn run_checked(cmd: &mut Command) -> anyhow::Result<Vec<u8>> {
    let command = render_command(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow::anyhow!("could not start `{command}`: {e}; is it installed?"))?;
    if !out.status.success() {
        anyhow::bail!(
            "`{command}` failed with {}\n--- stderr ---\n{}\n--- stdout ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_reports_both_streams() {
        let out =
            run_command(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert!(!out.success());
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        let shown = out.to_string();
        assert!(shown.contains("exit status: 3") && shown.contains("out") && shown.contains("err"));
        let r = std::panic::catch_unwind(|| {
            out.assert_success();
        });
        assert!(r.is_err());
        out.assert_failure();
        assert!(run_checked(Command::new("false").arg("x")).is_err());
        assert!(run_command(&mut Command::new("mirror-e2e-no-such-tool")).is_err());
    }
}
