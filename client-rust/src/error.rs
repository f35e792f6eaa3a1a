//! Client errors: a failed connection, or a status from the daemon with its one-line message.

use std::path::PathBuf;

use tonic::Code;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The daemon could not be reached.
    #[error("cannot connect to s3dliod at {target}: {reason} (is the daemon running? see --socket / S3DLIOD_SOCKET)")]
    Connect { target: String, reason: String },
    /// The daemon answered with an error; `message` names the operation and the URI.
    #[error("{message}")]
    Status { code: Code, message: String },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Local {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The daemon's answer broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
}

impl Error {
    /// The gRPC code for daemon errors; `Unavailable` for connection failures.
    pub fn code(&self) -> Code {
        match self {
            Error::Status { code, .. } => *code,
            Error::Connect { .. } => Code::Unavailable,
            Error::Local { .. } => Code::InvalidArgument,
            Error::Protocol(_) => Code::Internal,
        }
    }
}

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Self {
        let message = if s.message().is_empty() {
            format!("{:?}", s.code())
        } else {
            s.message().to_string()
        };
        Error::Status {
            code: s.code(),
            message,
        }
    }
}
