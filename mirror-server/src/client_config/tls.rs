//! TLS: the CA (and client certificate) files for an `https` mirror and each client's
//! settings for them (`tls_config`; see the [module docs](super)).

use std::path::Path;

use super::{
    APT_TLS_CONF_PATH, ClientConfigError, ClientFile, CopiedFile, DOCKER_CERTS_DIR,
    PODMAN_CERTS_DIR, TlsClientConfig, TlsOptions,
};

/// Largest certificate or key file read for `--ca-cert`, `--client-cert`, `--client-key`.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Reads a PEM file given on the command line (`flag` names it in errors) and returns
/// its bytes and the DER of its `CERTIFICATE` blocks (empty when `certs` is false).
fn read_pem(
    path: &Path,
    flag: &str,
    certs: bool,
) -> Result<(Vec<u8>, Vec<Vec<u8>>), ClientConfigError> {
    use std::io::Read as _;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |why: String| ClientConfigError::Tls(format!("{flag} {}: {why}", path.display()));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| bad(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(bad(format!(
            "larger than {MAX_PEM_BYTES} bytes: not a PEM file"
        )));
    }
    if !certs {
        PrivateKeyDer::from_pem_slice(&bytes)
            .map_err(|e| bad(format!("not a PEM private key ({e})")))?;
        return Ok((bytes, Vec::new()));
    }
    let ders = CertificateDer::pem_slice_iter(&bytes)
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not valid PEM ({e})")))?;
    if ders.is_empty() {
        return Err(bad(
            "holds no PEM certificate (no -----BEGIN CERTIFICATE----- block)".to_owned(),
        ));
    }
    Ok((bytes, ders))
}

/// The TLS files, copies and per-client settings for `tls` (see the module docs), added to
/// `files`; returns the TLS part.
pub(super) fn tls_config(
    tls: &TlsOptions<'_>,
    base: &super::oci::BaseUrl,
    files: &mut Vec<ClientFile>,
) -> Result<TlsClientConfig, ClientConfigError> {
    use sha2::Digest as _;
    let (ca_bytes, ca_ders) = read_pem(tls.ca_cert, "--ca-cert", true)?;
    let ca_text = String::from_utf8_lossy(&ca_bytes).into_owned();
    let dir = tls.dir.trim_end_matches('/');
    let ca_path = format!("{dir}/mirror-ca.crt");
    let mut copies = Vec::new();
    let (mut client_cert_path, mut client_key_path, mut client_pem_path) = (None, None, None);
    if let Some((cert, key)) = tls.client {
        read_pem(cert, "--client-cert", true)?;
        read_pem(key, "--client-key", false)?;
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        let mut copy = |kind: &str, from: &[&String], path: String, mode: u32| {
            copies.push(CopiedFile {
                kind: kind.to_owned(),
                from: from.iter().map(|s| (*s).clone()).collect(),
                path,
                mode,
            });
        };
        copy("client-cert", &[&cert], format!("{dir}/client.crt"), 0o644);
        copy("client-key", &[&key], format!("{dir}/client.key"), 0o600);
        copy(
            "client-pem",
            &[&key, &cert],
            format!("{dir}/client.pem"),
            0o600,
        );
        for (what, certs_dir) in [("docker", DOCKER_CERTS_DIR), ("podman", PODMAN_CERTS_DIR)] {
            let d = format!("{certs_dir}/{}", base.authority);
            copy(
                &format!("{what}-client-cert"),
                &[&cert],
                format!("{d}/client.cert"),
                0o644,
            );
            copy(
                &format!("{what}-client-key"),
                &[&key],
                format!("{d}/client.key"),
                0o600,
            );
        }
        client_cert_path = Some(format!("{dir}/client.crt"));
        client_key_path = Some(format!("{dir}/client.key"));
        client_pem_path = Some(format!("{dir}/client.pem"));
    }
    files.push(ClientFile {
        kind: "ca-cert".into(),
        path: ca_path.clone(),
        content: ca_text.clone(),
    });
    let host = &base.host;
    // apt.conf(5) scopes https options by host name: Acquire::https::<host>::CaInfo. An
    // IPv6 literal cannot be a configuration key (its `:` clash with apt's `::`), so for
    // one the options apply to every https source.
    let (scope, mut apt) = if host.starts_with('[') {
        (
            "Acquire::https".to_owned(),
            format!(
                "// Trust the mirror's CA for every https source: apt cannot scope options to the\n\
                 // IPv6 address {host} (use a host name in --base-url to scope them).\n"
            ),
        )
    } else {
        (
            format!("Acquire::https::{host}"),
            format!(
                "// Trust the mirror's CA for {host} only (apt.conf(5), Acquire::https::<host>).\n"
            ),
        )
    };
    apt.push_str(&format!("{scope}::CaInfo \"{ca_path}\";\n"));
    if let (Some(c), Some(k)) = (&client_cert_path, &client_key_path) {
        apt.push_str(&format!(
            "{scope}::SslCert \"{c}\";\n{scope}::SslKey \"{k}\";\n"
        ));
    }
    files.push(ClientFile {
        kind: "apt-tls".into(),
        path: APT_TLS_CONF_PATH.into(),
        content: apt,
    });
    for (kind, certs_dir) in [
        ("docker-ca", DOCKER_CERTS_DIR),
        ("podman-ca", PODMAN_CERTS_DIR),
    ] {
        files.push(ClientFile {
            kind: kind.into(),
            path: format!("{certs_dir}/{}/ca.crt", base.authority),
            content: ca_text.clone(),
        });
    }
    Ok(TlsClientConfig {
        ca_path,
        ca_sha256: ca_ders
            .iter()
            .map(|d| hex::encode(sha2::Sha256::digest(d)))
            .collect(),
        client_cert_path,
        client_key_path,
        client_pem_path,
        copies,
    })
}
