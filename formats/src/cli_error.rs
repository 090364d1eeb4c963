//! The `--json` error document both command-line tools print when a command fails
//! (docs/user-guide.md, the opening section).
//!
//! Shape: `{"ok": false, "error": "<message>: <cause>: …", "causes": ["<message>",
//! "<cause>", …]}`. `error` is the whole context chain on one line, `causes` the same
//! chain split, outermost first.

/// The error document of a failed command, from its context chain (outermost first, as
/// `anyhow::Error::chain` yields it). In `error`, a cause whose text the previous one
/// already contains is not repeated (as in the human `caused by:` lines); `causes` keeps
/// every entry.
pub fn document(causes: &[String]) -> serde_json::Value {
    let mut error = String::new();
    let mut last = "";
    for c in causes {
        if error.is_empty() {
            error.push_str(c);
        } else if !last.contains(c.as_str()) {
            error.push_str(": ");
            error.push_str(c);
        }
        last = c;
    }
    serde_json::json!({
        "ok": false,
        "error": error,
        "causes": causes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_on_one_line_without_repeats() {
        let causes = vec![
            "cannot load keyring k.gpg".to_owned(),
            "k.gpg: no public key".to_owned(),
            "no public key".to_owned(),
        ];
        let v = document(&causes);
        assert_eq!(v["ok"], false);
        assert_eq!(
            v["error"],
            "cannot load keyring k.gpg: k.gpg: no public key"
        );
        assert_eq!(v["causes"].as_array().unwrap().len(), 3);
        assert_eq!(document(&[])["error"], "");
    }
}
