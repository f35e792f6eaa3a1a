//! Memory files and mappings: the system calls under the arena, and the typed views into the
//! control region. Every `unsafe` block of the crate that touches a raw pointer is here or in
//! `arena.rs` / `client.rs`, each with its `// SAFETY:` comment.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};

use crate::error::ShmError;
use crate::layout::{ControlHeader, ReleaseEntry, RING_OFFSET};

/// Creates an anonymous memory file of `size` bytes that can be sealed.
pub(crate) fn memfd(name: &str, size: u64) -> Result<OwnedFd, ShmError> {
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
        .map_err(ShmError::os("memfd_create"))?;
    rustix::fs::ftruncate(&fd, size).map_err(ShmError::os("ftruncate memfd"))?;
    Ok(fd)
}

/// Seals a memory file's size (a peer that shrank it would make our mapping fault), and with
/// `read_only_after` also any *new* writable mapping or write, from any descriptor: existing
/// mappings (the daemon's) keep writing, the client can only ever read.
pub(crate) fn seal(fd: &OwnedFd, read_only_after: bool) -> Result<(), ShmError> {
    let mut seals = SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL;
    if read_only_after {
        seals |= SealFlags::FUTURE_WRITE;
    }
    rustix::fs::fcntl_add_seals(fd, seals).map_err(ShmError::os("sealing the arena"))
}

/// Checks that a received memory file has `len` bytes and cannot shrink.
pub(crate) fn check_received(fd: BorrowedFd<'_>, len: u64, what: &str) -> Result<(), ShmError> {
    let seals = rustix::fs::fcntl_get_seals(fd).map_err(ShmError::os("reading seals"))?;
    if !seals.contains(SealFlags::SHRINK) {
        return Err(bad(format!(
            "the {what} region is not sealed against shrinking"
        )));
    }
    let st = rustix::fs::fstat(fd).map_err(ShmError::os("fstat arena"))?;
    if st.st_size as u64 != len {
        return Err(bad(format!(
            "the {what} region has {} bytes, the header announces {len}",
            st.st_size
        )));
    }
    Ok(())
}

pub(crate) fn bad(reason: String) -> ShmError {
    ShmError::BadLayout {
        expected: crate::layout::LAYOUT_VERSION,
        reason,
    }
}

/// A shared mapping of a whole memory file; unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory owned by this value; access to its bytes is
// governed by the typed views (atomics for the control region, leases for the data region).
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only hands out atomics or lease-checked slices.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd`, shared, readable, and writable if asked.
    pub(crate) fn map(fd: impl AsFd, len: u64, writable: bool) -> Result<Self, ShmError> {
        let len = usize::try_from(len).map_err(|_| bad(format!("{len} bytes cannot be mapped")))?;
        if len == 0 {
            return Err(bad("an empty region cannot be mapped".into()));
        }
        let prot = if writable {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        // SAFETY: a fresh mapping at an address the kernel picks (null hint) cannot alias any
        // Rust object; `len` is the file's size, checked by the callers.
        let ptr =
            unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, MapFlags::SHARED, fd, 0) }
                .map_err(ShmError::os("mmap arena"))?;
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| bad("mmap returned null".into()))?;
        Ok(Mapping { ptr, len })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The header and the release ring of a control region with `capacity` entries.
    pub(crate) fn control(&self, capacity: u32) -> (&ControlHeader, &[ReleaseEntry]) {
        let needed = RING_OFFSET as usize + capacity as usize * std::mem::size_of::<ReleaseEntry>();
        assert!(self.len >= needed, "control region too small for its ring");
        // SAFETY: the mapping is page-aligned (≥ the 8-byte alignment of both types) and at
        // least `needed` bytes long (checked above); both types consist only of atomics, valid
        // for any bit pattern, and every access to them is atomic, so a concurrent write by
        // the peer process is not a data race; the borrow lives no longer than `self`.
        unsafe {
            let header = &*(self.ptr.as_ptr() as *const ControlHeader);
            let ring = std::slice::from_raw_parts(
                self.ptr.as_ptr().add(RING_OFFSET as usize) as *const ReleaseEntry,
                capacity as usize,
            );
            (header, ring)
        }
    }

    /// The header alone (any capacity), for validating a region before trusting its sizes.
    pub(crate) fn header(&self) -> &ControlHeader {
        self.control(0).0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, and no view outlives `self`.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
