//! Client configuration for the `/v2` registry: containerd `hosts.toml`, Docker
//! `daemon.json` and podman `registries.conf` (printed by `mirror-server client-config`).
//!
//! - containerd (`hosts.toml`, one per upstream registry, in
//!   `/etc/containerd/certs.d/<registry>/`): the mirror is a `[host."<url>"]` with
//!   capabilities `pull` and `resolve`; containerd then asks
//!   `/v2/<path>/…?ns=<registry>`, which the server maps to `<registry component>/<path>`.
//! - Docker (`/etc/docker/daemon.json`): `registry-mirrors` only applies to docker.io, and
//!   Docker asks `/v2/library/ubuntu/…`, which the server maps to `docker.io/library/ubuntu`.
//! - podman (`registries.conf` drop-in): one `[[registry]]` per upstream registry with a
//!   `[[registry.mirror]]` at `<mirror host>/<registry component>`, so podman asks
//!   `/v2/<component>/<path>/…`, a served name as is.
//!
//! Pure: no I/O. The registry component of `host:port` is `host__port`
//! ([`formats::oci::registry_to_component`]).

use formats::oci::{component_to_registry, registry_to_component};
use serde::Serialize;

use crate::serve::oci::DEFAULT_REGISTRY;
use crate::serve::routes::OciCatalog;

/// Directory containerd reads per-registry `hosts.toml` files from.
pub const CONTAINERD_CERTS_DIR: &str = "/etc/containerd/certs.d";
/// Docker daemon configuration file.
pub const DOCKER_DAEMON_JSON: &str = "/etc/docker/daemon.json";
/// podman (containers-registries.conf(5)) drop-in file this configuration is meant for.
pub const PODMAN_REGISTRIES_CONF: &str = "/etc/containers/registries.conf.d/50-mirror.conf";

/// Why a client configuration cannot be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientConfigError {
    /// The mirror URL is not an `http`/`https` origin.
    #[error(
        "invalid --listen-url {url:?}: {reason}; give the mirror's base URL, e.g. http://127.0.0.1:8080"
    )]
    ListenUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A registry host that breaks [`formats::oci::check_registry`].
    #[error("invalid registry {0:?}: expected host[:port], e.g. registry.example:5000")]
    Registry(String),
    /// Nothing to configure.
    #[error(
        "no registries to configure: the live snapshot serves no OCI images; import one, or name registries with --registry"
    )]
    NoRegistries,
}

/// One containerd `hosts.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerdHost {
    /// The upstream registry (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Where the file goes: `/etc/containerd/certs.d/<registry>/hosts.toml`.
    pub path: String,
    /// The file's content (TOML).
    pub hosts_toml: String,
}

/// Docker's `daemon.json` snippet (only when docker.io is served).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DockerConfig {
    /// Where the file goes: [`DOCKER_DAEMON_JSON`].
    pub path: String,
    /// `{"registry-mirrors": ["<mirror url>"]}`.
    pub daemon_json: serde_json::Value,
}

/// podman's `registries.conf` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodmanConfig {
    /// Where the file goes: [`PODMAN_REGISTRIES_CONF`].
    pub path: String,
    /// The file's content (TOML, containers-registries.conf(5) version 2).
    pub registries_conf: String,
}

/// Everything `client-config` prints (`--json` prints this object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientConfig {
    /// The mirror's base URL (`http://127.0.0.1:8080`, no trailing `/`).
    pub listen_url: String,
    /// The upstream registries configured, sorted.
    pub registries: Vec<String>,
    /// One `hosts.toml` per registry.
    pub containerd: Vec<ContainerdHost>,
    /// The Docker snippet; `None` when docker.io is not among the registries.
    pub docker: Option<DockerConfig>,
    /// The podman entries.
    pub podman: PodmanConfig,
}

/// The upstream registries a snapshot serves (`docker.io`, `127.0.0.1:5000`): the first
/// components of its repositories, mapped back with
/// [`formats::oci::component_to_registry`], sorted.
pub fn served_registries(catalog: &OciCatalog) -> Vec<String> {
    let mut v: Vec<String> = catalog
        .components
        .iter()
        .map(|c| component_to_registry(c))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A checked mirror base URL (see [`parse_base_url`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `scheme://host[:port]`, no trailing `/` (`http://127.0.0.1:8080`).
    pub origin: String,
    /// `host[:port]` (`127.0.0.1:8080`).
    pub authority: String,
    /// The host alone (`127.0.0.1`, `mirror.example`, `[::1]`).
    pub host: String,
    /// True for plain `http`.
    pub insecure: bool,
    /// True when the host is a loopback address or `localhost`.
    pub loopback: bool,
}

/// Checks the mirror's base URL: an `http` or `https` origin such as
/// `http://127.0.0.1:8080` (a trailing `/` is fine), without credentials, path, query or
/// fragment.
///
/// Errors: [`ClientConfigError::ListenUrl`] naming what is wrong.
pub fn parse_base_url(listen_url: &str) -> Result<BaseUrl, ClientConfigError> {
    let bad = |reason: &str| ClientConfigError::ListenUrl {
        url: listen_url.to_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(listen_url).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad("the scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials are not allowed"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "the mirror must be served at the root, without a query",
        ));
    }
    let Some(host) = url.host_str() else {
        return Err(bad("no host"));
    };
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let loopback = match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    Ok(BaseUrl {
        origin: format!("{}://{authority}", url.scheme()),
        authority,
        host: host.to_owned(),
        insecure: url.scheme() == "http",
        loopback,
    })
}

/// Builds the configuration for clients of the mirror at `listen_url` (an `http` or
/// `https` origin such as `http://127.0.0.1:8080`) pulling from `registries`
/// (`host[:port]`, case-insensitive).
///
/// Errors: [`ClientConfigError::ListenUrl`] (see [`parse_base_url`]),
/// [`ClientConfigError::Registry`], [`ClientConfigError::NoRegistries`].
pub fn client_config(
    listen_url: &str,
    registries: &[String],
) -> Result<ClientConfig, ClientConfigError> {
    let BaseUrl {
        origin,
        authority,
        insecure,
        ..
    } = parse_base_url(listen_url)?;

    let mut regs: Vec<String> = Vec::with_capacity(registries.len());
    for r in registries {
        let r = r.trim().to_ascii_lowercase();
        // The one registry-host rule (distribution's domain grammar, port 1-65535).
        if formats::oci::check_registry(&r).is_err() {
            return Err(ClientConfigError::Registry(r));
        }
        regs.push(r);
    }
    regs.sort();
    regs.dedup();
    if regs.is_empty() {
        return Err(ClientConfigError::NoRegistries);
    }

    let containerd = regs
        .iter()
        .map(|r| ContainerdHost {
            registry: r.clone(),
            path: format!("{CONTAINERD_CERTS_DIR}/{r}/hosts.toml"),
            hosts_toml: format!(
                "# Pull {r} images from the mirror; containerd adds ?ns={r} to each request.\n\
                 # The server line is the upstream, used only when the mirror cannot answer.\n\
                 server = \"https://{r}\"\n\
                 \n\
                 [host.\"{origin}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            ),
        })
        .collect();
    let docker = regs
        .iter()
        .any(|r| r == DEFAULT_REGISTRY)
        .then(|| DockerConfig {
            path: DOCKER_DAEMON_JSON.to_owned(),
            daemon_json: serde_json::json!({ "registry-mirrors": [origin] }),
        });
    let mut conf = String::from(
        "# Pull through the mirror; podman asks /v2/<registry component>/<path>/… .\n\
         # A host:port registry is served under host__port.\n",
    );
    for r in &regs {
        let component = registry_to_component(r);
        conf.push_str(&format!(
            "\n[[registry]]\nprefix = \"{r}\"\nlocation = \"{r}\"\n\n\
             [[registry.mirror]]\nlocation = \"{authority}/{component}\"\n"
        ));
        if insecure {
            conf.push_str("insecure = true\n");
        }
    }
    Ok(ClientConfig {
        listen_url: origin,
        registries: regs,
        containerd,
        docker,
        podman: PodmanConfig {
            path: PODMAN_REGISTRIES_CONF.to_owned(),
            registries_conf: conf,
        },
    })
}

/// Renders the configuration as text: each file preceded by a `### <path>` line.
pub fn render_text(c: &ClientConfig) -> String {
    let mut out = String::new();
    for h in &c.containerd {
        out.push_str(&format!("### containerd: {}\n{}\n", h.path, h.hosts_toml));
    }
    if let Some(d) = &c.docker {
        let json = serde_json::to_string_pretty(&d.daemon_json).unwrap_or_default();
        out.push_str(&format!(
            "### docker (docker.io only): {}\n{json}\n\n",
            d.path
        ));
    }
    out.push_str(&format!(
        "### podman: {}\n{}",
        c.podman.path, c.podman.registries_conf
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn builds_all_three() {
        let c = client_config(
            "http://127.0.0.1:8080/",
            &regs(&["docker.io", "127.0.0.1:5000"]),
        )
        .unwrap();
        assert_eq!(c.listen_url, "http://127.0.0.1:8080");
        assert_eq!(c.registries, regs(&["127.0.0.1:5000", "docker.io"]));
        assert_eq!(
            c.containerd[0].path,
            "/etc/containerd/certs.d/127.0.0.1:5000/hosts.toml"
        );
        let t: toml::Value = toml::from_str(&c.containerd[1].hosts_toml).unwrap();
        assert_eq!(t["server"].as_str(), Some("https://docker.io"));
        assert_eq!(
            t["host"]["http://127.0.0.1:8080"]["capabilities"],
            toml::Value::Array(vec!["pull".into(), "resolve".into()])
        );
        assert_eq!(
            c.docker.as_ref().unwrap().daemon_json,
            serde_json::json!({"registry-mirrors": ["http://127.0.0.1:8080"]})
        );
        let p: toml::Value = toml::from_str(&c.podman.registries_conf).unwrap();
        let r = p["registry"].as_array().unwrap();
        assert_eq!(r[0]["prefix"].as_str(), Some("127.0.0.1:5000"));
        assert_eq!(
            r[0]["mirror"][0]["location"].as_str(),
            Some("127.0.0.1:8080/127.0.0.1__5000")
        );
        assert_eq!(r[0]["mirror"][0]["insecure"].as_bool(), Some(true));
        assert_eq!(
            r[1]["mirror"][0]["location"].as_str(),
            Some("127.0.0.1:8080/docker.io")
        );
        let text = render_text(&c);
        assert!(text.contains("### docker (docker.io only): /etc/docker/daemon.json"));
    }

    #[test]
    fn https_and_no_docker() {
        let c = client_config("https://mirror.example", &regs(&["Registry.Example"])).unwrap();
        assert!(c.docker.is_none());
        assert!(!c.podman.registries_conf.contains("insecure"));
        assert!(
            c.containerd[0]
                .hosts_toml
                .contains("[host.\"https://mirror.example\"]")
        );
        assert!(
            c.podman
                .registries_conf
                .contains("location = \"mirror.example/registry.example\"")
        );
    }

    #[test]
    fn refusals() {
        for bad in [
            "ftp://x",
            "http://u:p@x",
            "http://x/sub",
            "http://x/?a=1",
            "nope",
        ] {
            assert!(
                matches!(
                    client_config(bad, &regs(&["docker.io"])),
                    Err(ClientConfigError::ListenUrl { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            client_config("http://x", &[]).unwrap_err(),
            ClientConfigError::NoRegistries
        );
        assert!(matches!(
            client_config("http://x", &regs(&["a/b"])),
            Err(ClientConfigError::Registry(_))
        ));
    }

    #[test]
    fn registries_of_a_catalog() {
        let cat = OciCatalog {
            components: regs(&["127.0.0.1__5000", "docker.io"]),
            ..OciCatalog::default()
        };
        assert_eq!(
            served_registries(&cat),
            regs(&["127.0.0.1:5000", "docker.io"])
        );
    }
}
