//! PyPI: `pip.conf` ([`pip_conf`]) and `uv.toml` ([`uv_toml`]) for the mirror's simple
//! index.

/// `pip.conf` for the index at `index_url` (`<base>/simple/`). Plain HTTP to a host that is
/// not loopback also gets `trusted-host` (pip ignores an insecure index otherwise).
pub fn pip_conf(index_url: &str, trusted_host: Option<&str>) -> String {
    let mut s = format!(
        "# Install Python packages from the mirror (pip.conf(5): PIP_CONFIG_FILE, /etc/pip.conf).\n\
         [global]\nindex-url = {index_url}\n"
    );
    if let Some(h) = trusted_host {
        s.push_str(&format!("trusted-host = {h}\n"));
    }
    s
}

/// `uv.toml` for the index at `index_url`: the default index, and no interpreter downloads.
pub fn uv_toml(index_url: &str) -> String {
    format!(
        "# Install Python packages from the mirror (uv: --config-file, /etc/uv/uv.toml).\n\
         # No interpreter downloads: an air-gapped host uses the installed Python.\n\
         python-downloads = \"never\"\n\
         \n\
         [[index]]\nurl = \"{index_url}\"\ndefault = true\n"
    )
}
