//! The signals `mirror-server serve` answers: SIGHUP re-reads the TLS files
//! ([`reload_tls_on_sighup`]); SIGTERM and SIGINT stop the server ([`wait_for_stop`]),
//! which then drains its connections ([`super::ServerHandle::shutdown`]).

use anyhow::Context as _;

/// Catches SIGHUP (from the call on) and returns the task that, on each one, re-reads the
/// TLS files ([`super::tls::Tls::reload`]: new connections use the new certificate;
/// a failed reload keeps the old one and logs why). Without TLS a SIGHUP is logged and
/// ignored, never the default action, which would end the server on `systemctl reload`.
///
/// Errors: the signal handler cannot be installed.
pub fn reload_tls_on_sighup(
    tls: Option<std::sync::Arc<super::tls::Tls>>,
) -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).context("cannot catch SIGHUP")?;
        Ok(async move {
            while hup.recv().await.is_some() {
                match &tls {
                    Some(t) => {
                        let _ = t.reload();
                    }
                    None => tracing::info!("SIGHUP: nothing to reload (serving plain HTTP)"),
                }
            }
        })
    }
    #[cfg(not(unix))]
    {
        let _ = tls;
        Ok(std::future::pending())
    }
}

/// Returns when the process gets SIGTERM or SIGINT (Ctrl-C): the signal to stop serving.
pub async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
