//! GCS errors → our [`Error`], keeping Google's reason and message, the HTTP status, the URI
//! and, for connection failures, the endpoint that could not be reached.
//!
//! As for S3 and Azure, the mapping decides what the retry layer does: [`Error::Unavailable`]
//! and [`Error::Timeout`] are retried (408, 429, 5xx, connection failures), everything else is
//! final.

use gcloud_storage::http::Error as GcsError;

use crate::error::{chain, Error};

/// Converts an SDK error of operation `op` on `uri`; `endpoint` names the server.
pub(crate) fn from_gcs(op: &'static str, uri: &str, endpoint: &str, err: GcsError) -> Error {
    match err {
        GcsError::Response(r) => {
            let reason = r
                .errors
                .first()
                .map(|e| e.reason.as_str())
                .unwrap_or_default();
            let text = match reason {
                "" => format!("{}, HTTP {}", r.message, r.code),
                code => format!("{code}: {}, HTTP {}", r.message, r.code),
            };
            classify(op, uri, r.code, reason, text)
        }
        GcsError::HttpClient(e) => from_reqwest(op, uri, endpoint, &e),
        GcsError::TokenSource(e) => Error::Unauthenticated {
            op,
            uri: uri.to_string(),
            reason: format!("no usable Google credential: {}", chain(e.as_ref())),
        },
        other => Error::Io {
            op,
            uri: uri.to_string(),
            source: std::io::Error::other(chain(&other)),
        },
    }
}

/// An error answer read here (object reads do not go through the SDK): Google's JSON error
/// when there is one, else the first line of the body.
pub(crate) async fn from_response(
    op: &'static str,
    uri: &str,
    endpoint: &str,
    response: reqwest::Response,
) -> Error {
    #[derive(serde::Deserialize)]
    struct Wrapper {
        error: gcloud_storage::http::error::ErrorResponse,
    }
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    match serde_json::from_str::<Wrapper>(&body) {
        Ok(w) => from_gcs(op, uri, endpoint, GcsError::Response(w.error)),
        Err(_) => {
            let line = body.lines().next().unwrap_or_default().trim();
            let reason = if line.is_empty() {
                format!("HTTP {status} from {endpoint}")
            } else {
                format!("{line}, HTTP {status}")
            };
            classify(op, uri, status, "", reason)
        }
    }
}

/// A `reqwest` error: a status without a JSON body, or a transport failure.
pub(crate) fn from_reqwest(
    op: &'static str,
    uri: &str,
    endpoint: &str,
    e: &reqwest::Error,
) -> Error {
    if let Some(status) = e.status() {
        let status = status.as_u16();
        return classify(
            op,
            uri,
            status,
            "",
            format!("HTTP {status} from {endpoint}"),
        );
    }
    let text = chain(e);
    if e.is_timeout() {
        Error::Timeout {
            op,
            uri: uri.to_string(),
            reason: format!("{endpoint}: {text}"),
        }
    } else if e.is_connect() {
        Error::Unavailable {
            op,
            uri: uri.to_string(),
            reason: format!("cannot reach {endpoint}: {text}"),
        }
    } else {
        Error::Unavailable {
            op,
            uri: uri.to_string(),
            reason: format!("{endpoint}: {text}"),
        }
    }
}

/// Picks the variant from the HTTP status and Google's reason code.
pub(crate) fn classify(
    op: &'static str,
    uri: &str,
    status: u16,
    code: &str,
    reason: String,
) -> Error {
    let uri = uri.to_string();
    match (status, code) {
        (401, _) => Error::Unauthenticated { op, uri, reason },
        (403, _) => Error::PermissionDenied { op, uri, reason },
        (404, _) => Error::NotFound { op, uri, reason },
        (409, _) if op == "delete_bucket" => Error::FailedPrecondition { op, uri, reason },
        (409, _) => Error::AlreadyExists { op, uri, reason },
        (412, _) => Error::FailedPrecondition { op, uri, reason },
        (408 | 429, _) | (500..=599, _) => Error::Unavailable { op, uri, reason },
        (400, _) | (411, _) | (413, _) => Error::InvalidArgument { op, uri, reason },
        _ => Error::Io {
            op,
            uri,
            source: std::io::Error::other(reason),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(status: u16, code: &str) -> Error {
        classify(
            "get",
            "gs://b/k",
            status,
            code,
            format!("{code}: msg, HTTP {status}"),
        )
    }

    #[test]
    fn statuses_map_to_one_meaning() {
        assert!(matches!(e(401, "required"), Error::Unauthenticated { .. }));
        assert!(matches!(
            e(403, "forbidden"),
            Error::PermissionDenied { .. }
        ));
        assert!(matches!(e(404, "notFound"), Error::NotFound { .. }));
        assert!(matches!(
            e(429, "rateLimitExceeded"),
            Error::Unavailable { .. }
        ));
        assert!(matches!(e(503, "backendError"), Error::Unavailable { .. }));
        assert!(matches!(
            e(412, "conditionNotMet"),
            Error::FailedPrecondition { .. }
        ));
        assert_eq!(
            e(404, "notFound").to_string(),
            "get gs://b/k: not found (notFound: msg, HTTP 404)"
        );
    }
}
