//! Shared-memory arenas of s3dliod.
//!
//! A session's arena is two anonymous memory files (`memfd_create`), sealed against growing
//! and shrinking, handed to the client over the Unix socket with `SCM_RIGHTS`:
//!
//! - the **data** region, where the daemon writes payloads; the client gets a read-only
//!   descriptor and maps it `PROT_READ`, so it can neither scribble on payloads nor on space
//!   the daemon is filling;
//! - the **control** region: a versioned `#[repr(C)]` header and the *release ring*, a
//!   single-producer single-consumer ring of fixed-size entries through which the client hands
//!   payload space back, in any order, without a gRPC call.
//!
//! Space is handed out in pages by [`alloc::PageAlloc`]; a payload is one contiguous run of
//! pages named by its first page (the *lease*) and a *generation* that is never reused, so a
//! stale, forged or repeated release is recognised and refused. The daemon trusts nothing it
//! reads from the control region: it keeps its own copy of every index and validates each
//! release against its allocator.
//!
//! The byte-level layout is specified in `docs/protocol.md`. This crate holds every `unsafe`
//! block of the project (mapping, and views into mappings), each with a `// SAFETY:` comment.

pub mod alloc;
mod arena;
mod client;
mod error;
pub mod fdpass;
pub mod layout;
mod map;
pub mod ring;
mod sync;

pub use arena::{Arena, Lease};
pub use client::{ClientArena, Payload};
pub use error::{ReleaseError, ShmError};
pub use layout::{Slice, LAYOUT_VERSION, MAGIC, PAGE_SIZE};
