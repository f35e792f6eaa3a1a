//! SDK errors → our [`Error`], keeping the service's code and message, the HTTP status, the URI
//! and, for connection failures, the endpoint that could not be reached.
//!
//! The mapping decides what the retry layer does: [`Error::Unavailable`] and [`Error::Timeout`]
//! are retried, everything else is final.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::Error;

/// Codes S3 uses for credentials it does not accept.
const AUTH_CODES: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
];

/// Codes of transient conditions, whatever their HTTP status.
const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "InternalError",
    "OperationAborted",
];

/// Converts an SDK error of operation `op` on `uri`; `endpoint` names the server for
/// connection failures.
pub(crate) fn from_sdk<E>(
    op: &'static str,
    uri: &str,
    endpoint: &str,
    err: SdkError<E, HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let uri = uri.to_string();
    match &err {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or_default().to_string();
            let message = se.err().message().unwrap_or_default();
            let reason = match (code.as_str(), message) {
                ("", "") => format!("HTTP {status} from {endpoint}"),
                (c, "") => format!("{c}, HTTP {status}"),
                ("", m) => format!("{m}, HTTP {status}"),
                (c, m) => format!("{c}: {m}, HTTP {status}"),
            };
            classify(op, uri, status, &code, reason)
        }
        SdkError::TimeoutError(_) => Error::Timeout {
            op,
            uri,
            reason: format!("no response from {endpoint} in time"),
        },
        SdkError::DispatchFailure(d) if d.is_timeout() => Error::Timeout {
            op,
            uri,
            reason: format!("{endpoint}: {}", DisplayErrorContext(&err)),
        },
        SdkError::DispatchFailure(d) if d.is_io() || d.is_other() => {
            let ctx = DisplayErrorContext(&err).to_string();
            if ctx.contains("credentials") || ctx.contains("identity") {
                Error::Unauthenticated {
                    op,
                    uri,
                    reason: ctx,
                }
            } else {
                Error::Unavailable {
                    op,
                    uri,
                    reason: format!("cannot reach {endpoint}: {ctx}"),
                }
            }
        }
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => Error::Unavailable {
            op,
            uri,
            reason: format!("{endpoint}: {}", DisplayErrorContext(&err)),
        },
        _ => {
            let ctx = DisplayErrorContext(&err).to_string();
            if ctx.contains("credentials") || ctx.contains("identity") {
                Error::Unauthenticated {
                    op,
                    uri,
                    reason: ctx,
                }
            } else {
                Error::InvalidArgument {
                    op,
                    uri,
                    reason: ctx,
                }
            }
        }
    }
}

/// Picks the variant from the HTTP status and the service's error code.
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
    if TRANSIENT_CODES.contains(&code) || status == 429 || status >= 500 {
        return Error::Unavailable { op, uri, reason };
    }
    match (status, code) {
        (_, "RequestTimeout") => Error::Timeout { op, uri, reason },
        (404, _) | (_, "NoSuchKey" | "NoSuchBucket" | "NoSuchUpload") => {
            Error::NotFound { op, uri, reason }
        }
        (403, _) | (_, "AccessDenied") => Error::PermissionDenied { op, uri, reason },
        (_, "BucketAlreadyExists") => Error::AlreadyExists { op, uri, reason },
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
                "s3://b/k".into(),
                status,
                code,
                format!("{code}: msg, HTTP {status}"),
            )
        };
        assert!(matches!(e(404, "NoSuchBucket"), Error::NotFound { .. }));
        assert!(matches!(
            e(403, "AccessDenied"),
            Error::PermissionDenied { .. }
        ));
        assert!(matches!(
            e(403, "InvalidAccessKeyId"),
            Error::Unauthenticated { .. }
        ));
        assert!(matches!(
            e(403, "SignatureDoesNotMatch"),
            Error::Unauthenticated { .. }
        ));
        assert!(matches!(e(503, "SlowDown"), Error::Unavailable { .. }));
        assert!(matches!(e(500, ""), Error::Unavailable { .. }));
        assert!(matches!(e(400, "RequestTimeout"), Error::Timeout { .. }));
        assert!(matches!(
            e(409, "BucketNotEmpty"),
            Error::FailedPrecondition { .. }
        ));
        assert_eq!(
            e(404, "NoSuchBucket").to_string(),
            "get s3://b/k: not found (NoSuchBucket: msg, HTTP 404)"
        );
    }
}
