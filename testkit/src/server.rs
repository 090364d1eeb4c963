//! A throwaway static HTTP server on `127.0.0.1`, used as the "upstream" in tests.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

/// How long [`StaticServer::start`] waits for the server's first line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// `python3 -u -m http.server 0 --bind 127.0.0.1 --directory DIR`, killed on drop.
///
/// Serves `GET` and `HEAD` (no `Range`, HTTP/1.0, directory `index.html` files, a 301
/// from `/dir` to `/dir/`). Every request line the server logs is kept; see
/// [`StaticServer::request_log`].
pub struct StaticServer {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// TCP port the server listens on.
    pub port: u16,
    child: Child,
    log: tempfile::NamedTempFile,
}

impl StaticServer {
    /// Starts serving `dir` on an ephemeral port and waits (up to [`START_TIMEOUT`]) for
    /// the `Serving HTTP on 127.0.0.1 port N ...` line.
    ///
    /// Errors: `python3` cannot be started, exits early, or does not report a port in
    /// time (its standard error is included).
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        // The request log goes straight to a file: http.server writes each line before
        // it sends the response body, so a client that got its answer finds its
        // request in the file (no reader thread to race with).
        let log = tempfile::Builder::new()
            .prefix("static-server-log-")
            .tempfile()?;
        let mut cmd = Command::new("python3");
        cmd.args([
            "-u",
            "-m",
            "http.server",
            "0",
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log.reopen()?));
        let mut child = cmd
            .spawn()
            .context("starting `python3 -m http.server`; is python3 installed?")?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("http.server started without a captured stdout");
        };

        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            if reader.read_line(&mut first).unwrap_or(0) > 0 {
                let _ = tx.send(first);
            }
            // Keep draining so the server never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });

        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(log.path()).unwrap_or_default();
                bail!(
                    "python3 -m http.server for {} did not report its port within {:?} ({e}); output:\n{log}",
                    dir.display(),
                    START_TIMEOUT
                );
            }
        };
        let port = parse_port(&line);
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("cannot parse the port from http.server's first line: {line:?}");
        };
        Ok(StaticServer {
            url: format!("http://127.0.0.1:{port}"),
            port,
            child,
            log,
        })
    }

    /// Every line the server has logged so far (one line per request, Common Log
    /// Format-like: `127.0.0.1 - - [date] "GET /path HTTP/1.1" 200 -`).
    pub fn request_log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Request paths logged so far for `method` (e.g. `"GET"`), in order, as sent
    /// (percent-encoding kept).
    pub fn requests(&self, method: &str) -> Vec<String> {
        let needle = format!("\"{method} ");
        self.request_log()
            .lines()
            .filter_map(|l| {
                let start = l.find(&needle)? + needle.len();
                let rest = l.get(start..)?;
                Some(rest.split(' ').next()?.to_string())
            })
            .collect()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ...` -> 41234.
fn parse_port(line: &str) -> Option<u16> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == "port")?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_server_banner() {
        assert_eq!(
            parse_port("Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ...\n"),
            Some(41234)
        );
        assert_eq!(parse_port("something else"), None);
    }
}
