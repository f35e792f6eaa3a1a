//! Rust client of s3dliod.
//!
//! [`Client`] connects to the daemon's Unix socket (or a TCP address) and offers every call of
//! the `Storage` and `Admin` services as typed async methods. Payloads arrive inline in chunks;
//! `get` returns one `Bytes` (a single chunk is passed through without a copy). On the Unix
//! socket, [`Client::attach`] maps a shared-memory arena and [`ShmClient`] returns payloads as
//! read-only views into it ([`ShmPayload`]), released when dropped.
//!
//! Depends only on the proto and shared-memory crates: never on the daemon or the store.

mod connect;
mod error;
mod shm;
mod storage;

pub use connect::{resolve_socket, unix_channel, Client};
pub use error::{Error, Result};
pub use s3dlio_proto::v1;
pub use shm::{ShmClient, ShmItem, ShmPayload, ShmRequest};
pub use storage::{DeleteTarget, ManyItem, ManyResult};
