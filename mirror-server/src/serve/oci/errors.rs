//! OCI error responses (distribution-spec v1.1 §Error Codes).
//!
//! Every error under `/v2` is `{"errors":[{"code":"…","message":"…","detail":…}]}` with
//! `Content-Type: application/json` and the status the spec pairs with the code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use formats::oci::OciError;

/// The error codes this server emits. All but [`ErrorCode::Unavailable`] and
/// [`ErrorCode::Unknown`] are from the distribution-spec table; those two are the CNCF
/// distribution codes for `503` and `500`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN` (404): the repository has no blob with that digest.
    BlobUnknown,
    /// `DIGEST_INVALID` (400): the digest does not match the grammar, or uses an
    /// algorithm other than sha256.
    DigestInvalid,
    /// `MANIFEST_INVALID` (400): an invalid manifest. A read-only registry has no push to
    /// refuse, so no handler answers it today; a reference that is neither a valid tag nor
    /// a digest is [`ErrorCode::ManifestUnknown`] (the spec's endpoint table allows only
    /// 404 for a manifest `GET`/`HEAD`).
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN` (404): the repository has no manifest with that tag or digest.
    ManifestUnknown,
    /// `NAME_INVALID` (400): the repository name (or `ns`) does not match the grammar.
    NameInvalid,
    /// `NAME_UNKNOWN` (404): no such repository in the live snapshot.
    NameUnknown,
    /// `UNSUPPORTED` (405 for push methods, 404 for an unknown endpoint, 400 for a bad
    /// pagination parameter): the operation is not supported by this read-only registry.
    Unsupported,
    /// `UNAVAILABLE` (503): no snapshot has been imported yet.
    Unavailable,
    /// `UNKNOWN` (500): the store is damaged (a blob is missing or unreadable).
    Unknown,
}

impl ErrorCode {
    /// The code as it appears in the JSON body (`BLOB_UNKNOWN`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlobUnknown => "BLOB_UNKNOWN",
            Self::DigestInvalid => "DIGEST_INVALID",
            Self::ManifestInvalid => "MANIFEST_INVALID",
            Self::ManifestUnknown => "MANIFEST_UNKNOWN",
            Self::NameInvalid => "NAME_INVALID",
            Self::NameUnknown => "NAME_UNKNOWN",
            Self::Unsupported => "UNSUPPORTED",
            Self::Unavailable => "UNAVAILABLE",
            Self::Unknown => "UNKNOWN",
        }
    }

    /// The default HTTP status for the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BlobUnknown | Self::ManifestUnknown | Self::NameUnknown => StatusCode::NOT_FOUND,
            Self::DigestInvalid | Self::ManifestInvalid | Self::NameInvalid => {
                StatusCode::BAD_REQUEST
            }
            Self::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// One OCI error, ready to become a response.
#[derive(Debug, Clone, PartialEq)]
pub struct OciFailure {
    /// HTTP status (normally [`ErrorCode::status`]).
    pub status: StatusCode,
    /// The error code.
    pub code: ErrorCode,
    /// Human-readable message: what failed and on what.
    pub message: String,
    /// Structured detail (`{"name": …}`, `{"digest": …}`), `null` when none.
    pub detail: serde_json::Value,
}

impl OciFailure {
    /// An error with the code's default status and no detail.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> OciFailure {
        OciFailure {
            status: code.status(),
            code,
            message: message.into(),
            detail: serde_json::Value::Null,
        }
    }

    /// Sets the detail.
    pub fn detail(mut self, detail: serde_json::Value) -> OciFailure {
        self.detail = detail;
        self
    }

    /// Overrides the HTTP status.
    pub fn status(mut self, status: StatusCode) -> OciFailure {
        self.status = status;
        self
    }

    /// The JSON body, `{"errors":[{"code","message","detail"}]}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "errors": [{
                "code": self.code.as_str(),
                "message": self.message,
                "detail": self.detail,
            }]
        })
    }
}

impl IntoResponse for OciFailure {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    }
}

/// Maps a digest-parsing error from [`formats::oci::parse_digest`] to `400 DIGEST_INVALID`.
/// An unsupported algorithm (`sha512:…`) is also `DIGEST_INVALID`: the spec has no separate
/// code for it, and CNCF distribution answers the same way.
pub fn digest_failure(e: &OciError) -> OciFailure {
    let given = match e {
        OciError::InvalidDigest(s) | OciError::UnsupportedDigest(s) => s.clone(),
        other => other.to_string(),
    };
    OciFailure::new(ErrorCode::DigestInvalid, e.to_string())
        .detail(serde_json::json!({ "digest": given }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        assert_eq!(ErrorCode::BlobUnknown.status(), StatusCode::NOT_FOUND);
        assert_eq!(ErrorCode::DigestInvalid.as_str(), "DIGEST_INVALID");
        assert_eq!(ErrorCode::DigestInvalid.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ErrorCode::Unsupported.status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn body_shape() {
        let f = OciFailure::new(ErrorCode::NameUnknown, "no such repository")
            .detail(serde_json::json!({"name": "x/y"}));
        assert_eq!(
            f.body(),
            serde_json::json!({"errors": [{
                "code": "NAME_UNKNOWN",
                "message": "no such repository",
                "detail": {"name": "x/y"},
            }]})
        );
        let d = digest_failure(&OciError::UnsupportedDigest("sha512:ab".into()));
        assert_eq!(d.code, ErrorCode::DigestInvalid);
        assert_eq!(d.status, StatusCode::BAD_REQUEST);
        assert!(d.message.contains("only sha256"), "{}", d.message);
    }
}
