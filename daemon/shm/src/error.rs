//! Errors of the shared-memory layer: flat, `Copy`-friendly kinds with the OS error kept.

/// Creating, mapping or handing over an arena failed.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    /// A system call failed (memfd, seals, mmap, sendmsg...).
    #[error("{what}: {source}")]
    Os {
        what: &'static str,
        source: std::io::Error,
    },
    /// The control region does not start with the expected magic and version, or its sizes
    /// disagree with the files received.
    #[error("not an s3dliod arena of layout version {expected}: {reason}")]
    BadLayout { expected: u32, reason: String },
    /// A payload larger than the whole arena can never fit.
    #[error("a payload of {len} bytes is larger than the session's arena of {arena} bytes")]
    TooLarge { len: u64, arena: u64 },
    /// A slice announced by the daemon lies outside the arena.
    #[error("slice [{offset}, +{len}) lies outside the arena of {arena} bytes")]
    OutOfBounds { offset: u64, len: u64, arena: u64 },
}

impl ShmError {
    pub(crate) fn os(what: &'static str) -> impl FnOnce(rustix::io::Errno) -> ShmError {
        move |e| ShmError::Os {
            what,
            source: e.into(),
        }
    }
}

/// Why a release was refused. Refusals are counted, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// The lease names no live payload (a forged offset, or a release of space already
    /// released).
    #[error("lease {0} names no live payload")]
    Unknown(u64),
    /// The lease is live but under another generation (a stale or repeated release).
    #[error("lease {lease} is live under another generation than {generation}")]
    StaleGeneration { lease: u64, generation: u64 },
}
