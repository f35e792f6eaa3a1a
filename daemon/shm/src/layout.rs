//! The byte layout of the control region, shared by the daemon and every client (Rust,
//! Python, or a third party reading `docs/protocol.md`).
//!
//! Pointer-free and `#[repr(C)]`: only offsets cross processes. Every field is an atomic, so
//! that neither side ever holds a plain reference to memory the other process may write.
//!
//! ```text
//! control region (memfd, client maps it read-write)
//!   0   ControlHeader   (256 bytes, fields below)
//!   256 ReleaseEntry[ring_capacity]   (16 bytes each)
//! data region (memfd, client gets a read-only descriptor)
//!   0   arena_size bytes of payload pages (PAGE_SIZE each)
//! ```

use crate::sync::{AtomicU32, AtomicU64};

/// `"S3DLAREN"` read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"S3DLAREN");
/// Bumped on any incompatible change of this file.
pub const LAYOUT_VERSION: u32 = 1;
/// Unit of arena allocation; every payload starts on a page boundary.
pub const PAGE_SIZE: u32 = 4096;
/// Offset of the first release entry in the control region.
pub const RING_OFFSET: u64 = 256;

/// Head of the control region. Written once by the daemon before the descriptors are handed
/// over, except the two ring indices.
#[repr(C)]
#[derive(Debug)]
pub struct ControlHeader {
    /// [`MAGIC`].
    pub magic: AtomicU64,
    /// [`LAYOUT_VERSION`].
    pub version: AtomicU32,
    /// Size of this header in bytes (256).
    pub header_size: AtomicU32,
    /// Size of the data region in bytes (a multiple of `page_size`).
    pub arena_size: AtomicU64,
    /// [`PAGE_SIZE`].
    pub page_size: AtomicU32,
    /// Entries in the release ring (= pages in the arena, so the ring can never be full).
    pub ring_capacity: AtomicU32,
    /// Offset of the release ring in the control region ([`RING_OFFSET`]).
    pub ring_offset: AtomicU64,
    _pad0: [u8; 24],
    /// Release ring: entries published by the client (producer). Monotonic, wraps at 2^64.
    /// Offset 64, alone on its cache line.
    pub release_tail: AtomicU64,
    _pad1: [u8; 56],
    /// Release ring: entries consumed by the daemon (consumer). Offset 128.
    pub release_head: AtomicU64,
    _pad2: [u8; 56],
    _reserved: [u8; 64],
}

/// One release: the payload's lease and generation, as the daemon announced them.
#[repr(C)]
#[derive(Debug)]
pub struct ReleaseEntry {
    pub lease: AtomicU64,
    pub generation: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<ControlHeader>() == RING_OFFSET as usize);
const _: () = assert!(std::mem::offset_of!(ControlHeader, release_tail) == 64);
const _: () = assert!(std::mem::offset_of!(ControlHeader, release_head) == 128);
const _: () = assert!(std::mem::size_of::<ReleaseEntry>() == 16);

/// Size of the control region for a ring of `capacity` entries, rounded to whole pages.
pub fn control_size(capacity: u32) -> u64 {
    let raw = RING_OFFSET + u64::from(capacity) * 16;
    raw.div_ceil(u64::from(PAGE_SIZE)) * u64::from(PAGE_SIZE)
}

/// A payload in the arena, as announced to the client (the proto's `ShmSlice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// Byte offset in the data region (a multiple of [`PAGE_SIZE`]).
    pub offset: u64,
    pub len: u64,
    /// First page of the payload's space; what the client releases.
    pub lease: u64,
    /// Never reused within an arena: tells a fresh lease from a stale one.
    pub generation: u64,
}

impl ControlHeader {
    /// A header of zeros (the state of a fresh memory file), for ring tests.
    #[cfg(test)]
    pub(crate) fn zeroed() -> Self {
        ControlHeader {
            magic: AtomicU64::new(0),
            version: AtomicU32::new(0),
            header_size: AtomicU32::new(0),
            arena_size: AtomicU64::new(0),
            page_size: AtomicU32::new(0),
            ring_capacity: AtomicU32::new(0),
            ring_offset: AtomicU64::new(0),
            _pad0: [0; 24],
            release_tail: AtomicU64::new(0),
            _pad1: [0; 56],
            release_head: AtomicU64::new(0),
            _pad2: [0; 56],
            _reserved: [0; 64],
        }
    }
}
