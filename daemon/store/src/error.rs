//! One error type for every backend, keyed to what the caller does next.
//!
//! Each variant renders as a single line `"<op> <uri>: <reason>"`, where `reason` keeps the
//! backend's own message (an errno string, an HTTP body, an SDK error).

use std::io;

/// Result alias for the store layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with a storage operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URI itself is malformed or names an unsupported scheme.
    #[error("invalid URI {uri:?}: {reason}")]
    InvalidUri { uri: String, reason: String },
    /// The request is well-formed but makes no sense for this object or backend.
    #[error("{op} {uri}: {reason}")]
    InvalidArgument {
        op: &'static str,
        uri: String,
        reason: String,
    },
    #[error("{op} {uri}: not found ({reason})")]
    NotFound {
        op: &'static str,
        uri: String,
        reason: String,
    },
    #[error("{op} {uri}: permission denied ({reason})")]
    PermissionDenied {
        op: &'static str,
        uri: String,
        reason: String,
    },
    /// The backend did not accept the credentials (unknown key, bad signature, expired
    /// token, none found at all).
    #[error("{op} {uri}: unauthenticated ({reason})")]
    Unauthenticated {
        op: &'static str,
        uri: String,
        reason: String,
    },
    #[error("{op} {uri}: already exists ({reason})")]
    AlreadyExists {
        op: &'static str,
        uri: String,
        reason: String,
    },
    /// A byte range that starts past the end of the object.
    #[error("{op} {uri}: range starts at byte {offset} but the object has {size} bytes")]
    OutOfRange {
        op: &'static str,
        uri: String,
        offset: u64,
        size: u64,
    },
    /// The target is in a state that forbids the operation (bucket not empty, a directory
    /// where an object was expected, a file system that refuses O_DIRECT...).
    #[error("{op} {uri}: {reason}")]
    FailedPrecondition {
        op: &'static str,
        uri: String,
        reason: String,
    },
    /// The URI's backend is not configured in this daemon.
    #[error("{op} {uri}: backend {scheme}:// is not configured ({reason})")]
    NotConfigured {
        op: &'static str,
        uri: String,
        scheme: &'static str,
        reason: String,
    },
    /// The backend cannot be reached or is overloaded; retrying later may help.
    #[error("{op} {uri}: unavailable ({reason})")]
    Unavailable {
        op: &'static str,
        uri: String,
        reason: String,
    },
    #[error("{op} {uri}: timed out ({reason})")]
    Timeout {
        op: &'static str,
        uri: String,
        reason: String,
    },
    /// The caller's destination has no room for the payload (a shared-memory arena smaller
    /// than the object), or the caller went away while space was awaited.
    #[error("{op} {uri}: {reason}")]
    ResourceExhausted {
        op: &'static str,
        uri: String,
        reason: String,
    },
    /// Anything else the backend reported.
    #[error("{op} {uri}: {source}")]
    Io {
        op: &'static str,
        uri: String,
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Classifies an OS error from operation `op` on `uri` by its kind, keeping its message.
    pub fn from_io(op: &'static str, uri: impl Into<String>, err: io::Error) -> Self {
        let uri = uri.into();
        let reason = strip_os_code(&err);
        match err.kind() {
            io::ErrorKind::NotFound => Error::NotFound { op, uri, reason },
            io::ErrorKind::PermissionDenied => Error::PermissionDenied { op, uri, reason },
            io::ErrorKind::AlreadyExists => Error::AlreadyExists { op, uri, reason },
            io::ErrorKind::DirectoryNotEmpty
            | io::ErrorKind::IsADirectory
            | io::ErrorKind::NotADirectory => Error::FailedPrecondition { op, uri, reason },
            io::ErrorKind::TimedOut => Error::Timeout { op, uri, reason },
            _ => Error::Io {
                op,
                uri,
                source: err,
            },
        }
    }

    /// The URI the error is about.
    pub fn uri(&self) -> &str {
        match self {
            Error::InvalidUri { uri, .. }
            | Error::InvalidArgument { uri, .. }
            | Error::NotFound { uri, .. }
            | Error::PermissionDenied { uri, .. }
            | Error::Unauthenticated { uri, .. }
            | Error::AlreadyExists { uri, .. }
            | Error::OutOfRange { uri, .. }
            | Error::FailedPrecondition { uri, .. }
            | Error::NotConfigured { uri, .. }
            | Error::Unavailable { uri, .. }
            | Error::Timeout { uri, .. }
            | Error::ResourceExhausted { uri, .. }
            | Error::Io { uri, .. } => uri,
        }
    }
}

/// `"No such file or directory (os error 2)"` → `"No such file or directory"`.
fn strip_os_code(err: &io::Error) -> String {
    let s = err.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

/// The error and its sources on one line (`reqwest` keeps "Connection refused" deep inside).
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_keep_the_os_message_and_name_uri_and_op() {
        let e = Error::from_io(
            "get",
            "file:///x",
            io::Error::from_raw_os_error(rustix::io::Errno::NOENT.raw_os_error()),
        );
        assert!(matches!(e, Error::NotFound { .. }));
        assert_eq!(
            e.to_string(),
            "get file:///x: not found (No such file or directory)"
        );
        let e = Error::from_io(
            "put",
            "file:///y",
            io::Error::from_raw_os_error(rustix::io::Errno::ACCESS.raw_os_error()),
        );
        assert!(matches!(e, Error::PermissionDenied { .. }));
        assert_eq!(e.uri(), "file:///y");
    }
}
