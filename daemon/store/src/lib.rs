//! The storage layer of s3dliod.
//!
//! One [`ObjectStore`] trait, five backends addressed by URI (`s3://`, `az://`/`azure://`,
//! `gs://`/`gcs://`, `file://`, `direct://`), and the [`Registry`] that turns a URI and the
//! caller's identity into a store and a [`Location`]. This crate knows nothing of gRPC: the
//! daemon converts requests into these types and [`Error`]s into statuses.
//!
//! Invariants every backend keeps (see `docs/semantics.md`):
//! - a reader never sees half an object: puts become visible whole or not at all;
//! - listings are sorted by key and streamed, never collected whole;
//! - every error names the operation, the URI, and keeps the backend's own words.

pub mod azure;
mod body;
mod error;
pub mod file;
pub mod gcs;
mod identity;
mod into;
mod list;
mod range;
pub mod range_engine;
mod registry;
pub mod retry;
pub mod s3;
mod store;
mod tls;
mod uri;

pub use error::{Error, Result};
pub use identity::{Caller, Identity};
pub use into::{drain_into, Destination, GetIntoResult, Reserve, TryReserve};
pub use list::filter_listing;
pub use range::GetRange;
pub use registry::{BackendStatus, Registry, StoreConfig};
pub use store::{
    BoxStream, GetOptions, GetResult, ListEntry, ListOptions, ObjectMeta, ObjectStore, PutBody,
    PutOptions, PutResult,
};
pub use uri::{Location, Scheme};
