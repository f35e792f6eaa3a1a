//! SDK errors → our [`Error`], keeping Azure's error code and message, the HTTP status, the
//! URI and, for connection failures, the account endpoint that could not be reached.
//!
//! As for S3, the mapping decides what the retry layer does: [`Error::Unavailable`] and
//! [`Error::Timeout`] are retried, everything else is final.

use azure_core::error::ErrorKind;
use azure_storage_blob::StorageError;

pub(crate) use crate::error::chain;
use crate::error::Error;

/// Codes Azure uses for credentials it does not accept.
const AUTH_CODES: &[&str] = &[
    "AuthenticationFailed",
    "InvalidAuthenticationInfo",
    "NoAuthenticationInformation",
    "InvalidCredentials",
];

/// Codes of transient conditions, whatever their HTTP status.
const TRANSIENT_CODES: &[&str] = &["ServerBusy", "InternalError", "OperationTimedOut"];

/// Converts an SDK error of operation `op` on `uri`; `endpoint` names the server.
pub(crate) fn from_azure(
    op: &'static str,
    uri: &str,
    endpoint: &str,
    err: azure_core::Error,
) -> Error {
    let uri = uri.to_string();
    match err.kind() {
        ErrorKind::HttpResponse { status, .. } => {
            let status = u16::from(*status);
            let (code, message) = match StorageError::try_from(err) {
                Ok(se) => (
                    se.error_code.map(|c| c.to_string()).unwrap_or_default(),
                    se.message
                        .as_deref()
                        .and_then(|m| m.lines().next())
                        .unwrap_or_default()
                        .to_string(),
                ),
                Err(_) => (String::new(), String::new()),
            };
            let reason = match (code.as_str(), message.as_str()) {
                ("", "") => format!("HTTP {status} from {endpoint}"),
                (c, "") => format!("{c}, HTTP {status}"),
                ("", m) => format!("{m}, HTTP {status}"),
                (c, m) => format!("{c}: {m}, HTTP {status}"),
            };
            classify(op, uri, status, &code, reason)
        }
        ErrorKind::Connection => Error::Unavailable {
            op,
            uri,
            reason: format!("cannot reach {endpoint}: {}", chain(&err)),
        },
        ErrorKind::Io => {
            let text = chain(&err);
            if text.contains("timed out") || text.contains("timeout") {
                Error::Timeout {
                    op,
                    uri,
                    reason: format!("{endpoint}: {text}"),
                }
            } else {
                Error::Unavailable {
                    op,
                    uri,
                    reason: format!("{endpoint}: {text}"),
                }
            }
        }
        ErrorKind::Credential => Error::Unauthenticated {
            op,
            uri,
            reason: chain(&err),
        },
        _ => Error::Io {
            op,
            uri,
            source: std::io::Error::other(chain(&err)),
        },
    }
}

/// Picks the variant from the HTTP status and Azure's error code.
pub(crate) fn classify(
    op: &'static str,
    uri: String,
    status: u16,
    code: &str,
    reason: String,
) -> Error {
    if AUTH_CODES.contains(&code) || status == 401 {
        return Error::Unauthenticated { op, uri, reason };
    }
    if code == "OperationTimedOut" {
        return Error::Timeout { op, uri, reason };
    }
    if TRANSIENT_CODES.contains(&code) || status == 429 || status >= 500 {
        return Error::Unavailable { op, uri, reason };
    }
    match (status, code) {
        (404, _) | (_, "ContainerNotFound" | "BlobNotFound" | "ResourceNotFound") => {
            Error::NotFound { op, uri, reason }
        }
        (403, _) => Error::PermissionDenied { op, uri, reason },
        (_, "ContainerAlreadyExists" | "BlobAlreadyExists") => {
            Error::AlreadyExists { op, uri, reason }
        }
        (409 | 412, _) => Error::FailedPrecondition { op, uri, reason },
        _ => Error::InvalidArgument { op, uri, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_decide_the_variant_and_the_message_is_kept() {
        let e = |status, code: &str| {
            classify(
                "get",
                "az://a/c/k".into(),
                status,
                code,
                format!("{code}: msg, HTTP {status}"),
            )
        };
        assert!(matches!(
            e(404, "ContainerNotFound"),
            Error::NotFound { .. }
        ));
        assert!(matches!(e(404, "BlobNotFound"), Error::NotFound { .. }));
        assert!(matches!(
            e(403, "AuthenticationFailed"),
            Error::Unauthenticated { .. }
        ));
        assert!(matches!(
            e(403, "AuthorizationPermissionMismatch"),
            Error::PermissionDenied { .. }
        ));
        assert!(matches!(e(503, "ServerBusy"), Error::Unavailable { .. }));
        assert!(matches!(e(500, "OperationTimedOut"), Error::Timeout { .. }));
        assert!(matches!(
            e(409, "ContainerBeingDeleted"),
            Error::FailedPrecondition { .. }
        ));
        assert_eq!(
            e(404, "BlobNotFound").to_string(),
            "get az://a/c/k: not found (BlobNotFound: msg, HTTP 404)"
        );
    }
}
