//! `GET /ui/clients`: the client configuration `mirror-server client-config` prints
//! ([`crate::client_config::build`]) for the live snapshot, for the base URL the browser
//! reached the console at (the request's `Host`, `https` when the server speaks TLS).
//!
//! The page has no `--ca-cert`: for an HTTPS server it notes, as the verb does, that
//! clients must already trust the certificate, and points to the verb for the CA files.
//! Answers: `200`; `400` when the `Host` is not a usable origin; `500` when a served
//! `Release` cannot be read.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;

use super::{blocking, error_page, render};
use crate::client_config::{self, ClientConfigError, ClientFile, DEFAULT_KEYRING_PATH};
use crate::serve::AppState;

/// The client-setup page.
#[derive(Template)]
#[template(path = "ui/clients.html")]
pub struct ClientsPage {
    /// Page title.
    pub title: String,
    /// The base URL the configuration is for.
    pub base_url: String,
    /// The live snapshot it was made from, or empty.
    pub snapshot: String,
    /// Shell commands to run first (installing the repository key).
    pub commands: Vec<String>,
    /// The repository key's fingerprints.
    pub fingerprints: Vec<String>,
    /// The files to install.
    pub files: Vec<ClientFile>,
    /// What is not configured and why.
    pub notes: Vec<String>,
}

/// The origin the request reached: `http(s)://` and its `Host` header (HTTP/1.1) or URI
/// authority (HTTP/2), `None` when it has neither.
pub fn request_origin(tls: bool, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))?;
    let scheme = if tls { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
}

/// Builds the page for `base_url` (blocking). `Ok(Err(message))` when the base URL is
/// not a usable origin (a `400`).
///
/// Errors: a served `Release` cannot be read or parsed.
pub fn build(state: &AppState, base_url: &str) -> Result<Result<ClientsPage, String>, String> {
    let live = state.snapshot();
    let config = match client_config::build(
        live.as_deref(),
        &state.store,
        &client_config::Options {
            base_url,
            keyring_path: DEFAULT_KEYRING_PATH,
            registries: &[],
            tls: None,
        },
    ) {
        Ok(c) => c,
        Err(e @ ClientConfigError::Oci(_)) => {
            return Ok(Err(format!(
                "The address this page was requested at cannot be a mirror URL: {e}"
            )));
        }
        Err(e) => return Err(e.to_string()),
    };
    let mut notes = config.notes.clone();
    if live.is_none() {
        notes.push("no snapshot imported yet: run mirror-server import first".into());
    }
    Ok(Ok(ClientsPage {
        title: "Client setup".into(),
        base_url: config.base_url.clone(),
        snapshot: config.snapshot.clone().unwrap_or_default(),
        commands: config.commands.clone(),
        fingerprints: config
            .repo_key
            .as_ref()
            .map(|k| k.fingerprints.clone())
            .unwrap_or_default(),
        files: config.files.clone(),
        notes,
    }))
}

/// `GET /ui/clients`.
pub async fn page(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let Some(base) = request_origin(state.ui.tls, &headers, &uri) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The request names no host (no Host header): the client setup is made for the address the console is reached at.",
        );
    };
    match blocking(move || build(&state, &base)).await {
        Ok(Ok(p)) => render(StatusCode::OK, &p),
        Ok(Err(m)) => error_page(StatusCode::BAD_REQUEST, m),
        Err(r) => r,
    }
}
