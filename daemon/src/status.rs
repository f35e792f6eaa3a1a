//! Every store error becomes a `tonic::Status` here, with an explicit code per variant and the
//! error's one-line message (operation, URI, the backend's own words).

use s3dlio_store::Error;
use tonic::{Code, Status};

/// The gRPC code a store error maps to.
pub fn code_of(err: &Error) -> Code {
    match err {
        Error::InvalidUri { .. } | Error::InvalidArgument { .. } => Code::InvalidArgument,
        Error::NotFound { .. } => Code::NotFound,
        Error::PermissionDenied { .. } => Code::PermissionDenied,
        Error::Unauthenticated { .. } => Code::Unauthenticated,
        Error::AlreadyExists { .. } => Code::AlreadyExists,
        Error::OutOfRange { .. } => Code::OutOfRange,
        Error::FailedPrecondition { .. } | Error::NotConfigured { .. } => Code::FailedPrecondition,
        Error::Unavailable { .. } => Code::Unavailable,
        Error::Timeout { .. } => Code::DeadlineExceeded,
        Error::ResourceExhausted { .. } => Code::ResourceExhausted,
        _ => Code::Internal,
    }
}

/// Converts a store error into a status.
pub fn to_status(err: Error) -> Status {
    Status::new(code_of(&err), err.to_string())
}

/// An invalid request, named by operation and URI.
pub fn invalid(op: &str, uri: &str, reason: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{op} {uri}: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages_survive_the_mapping() {
        let e = Error::OutOfRange {
            op: "get",
            uri: "file:///x".into(),
            offset: 10,
            size: 5,
        };
        let s = to_status(e);
        assert_eq!(s.code(), Code::OutOfRange);
        assert_eq!(
            s.message(),
            "get file:///x: range starts at byte 10 but the object has 5 bytes"
        );
        let s = to_status(s3dlio_store::Location::parse("ftp://x").unwrap_err());
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("ftp"));
    }
}
