//! Who is asking: the identity a request runs as, from the socket's peer credentials.

/// A local user: uid, primary gid, and supplementary groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// The caller of a storage operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A process on this node, identified by the Unix socket's peer credentials. Local-file
    /// backends act with exactly its permissions.
    Local(Identity),
    /// A client over TCP: no credentials, so local-file backends refuse it.
    Remote,
    /// The daemon itself (tests, internal work): its own permissions.
    Daemon,
}
