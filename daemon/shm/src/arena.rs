//! The daemon's side of an arena: creates the memory files, hands out page runs as
//! [`Lease`]s the backends write into, and takes space back from the release ring.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::alloc::PageAlloc;
use crate::error::{ReleaseError, ShmError};
use crate::layout::{self, Slice, LAYOUT_VERSION, MAGIC, PAGE_SIZE, RING_OFFSET};
use crate::map::{self, Mapping};
use crate::ring::Ring;
use crate::sync::{AtomicU64, Ordering};

/// One session's arena, as the daemon holds it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Arena {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    data: Mapping,
    ctl: Mapping,
    data_fd: OwnedFd,
    ctl_fd: OwnedFd,
    size: u64,
    capacity: u32,
    state: Mutex<State>,
    bad_releases: AtomicU64,
}

#[derive(Debug)]
struct State {
    alloc: PageAlloc,
    /// The daemon's own copy of the release ring's head.
    head: u64,
}

impl Arena {
    /// Creates an arena of at least `size` bytes (rounded up to whole pages).
    ///
    /// # Errors
    /// [`ShmError::Os`] if the memory files cannot be created, sized, mapped or sealed.
    pub fn create(size: u64) -> Result<Self, ShmError> {
        let page = u64::from(PAGE_SIZE);
        let pages = u32::try_from(size.div_ceil(page).max(1))
            .map_err(|_| map::bad(format!("an arena of {size} bytes has too many pages")))?;
        let size = u64::from(pages) * page;
        let data_fd = map::memfd("s3dliod-arena", size)?;
        let ctl_fd = map::memfd("s3dliod-arena-ctl", layout::control_size(pages))?;
        let data = Mapping::map(&data_fd, size, true)?;
        let ctl = Mapping::map(&ctl_fd, layout::control_size(pages), true)?;
        map::seal(&data_fd, true)?;
        map::seal(&ctl_fd, false)?;
        let (h, _) = ctl.control(pages);
        h.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        h.header_size.store(RING_OFFSET as u32, Ordering::Relaxed);
        h.arena_size.store(size, Ordering::Relaxed);
        h.page_size.store(PAGE_SIZE, Ordering::Relaxed);
        h.ring_capacity.store(pages, Ordering::Relaxed);
        h.ring_offset.store(RING_OFFSET, Ordering::Relaxed);
        // Written last: a reader that sees the magic sees the rest.
        h.magic.store(MAGIC, Ordering::Release);
        Ok(Arena {
            inner: Arc::new(Inner {
                data,
                ctl,
                data_fd,
                ctl_fd,
                size,
                capacity: pages,
                state: Mutex::new(State {
                    alloc: PageAlloc::new(pages),
                    head: 0,
                }),
                bad_releases: AtomicU64::new(0),
            }),
        })
    }

    /// Size of the data region in bytes.
    pub fn size(&self) -> u64 {
        self.inner.size
    }

    /// Bytes held by payloads not yet released (whole pages).
    pub fn in_use(&self) -> u64 {
        u64::from(self.state().alloc.used()) * u64::from(PAGE_SIZE)
    }

    /// Payloads not yet released.
    pub fn live(&self) -> usize {
        self.state().alloc.live()
    }

    /// Releases refused so far (forged, stale or repeated).
    pub fn bad_releases(&self) -> u64 {
        self.inner.bad_releases.load(Ordering::Relaxed)
    }

    /// Sends the two memory files (data, control) over a connected Unix socket with
    /// `SCM_RIGHTS`, with `message` as the bytes that carry them.
    ///
    /// # Errors
    /// [`ShmError::Os`] if `sendmsg` fails.
    pub fn send_fds(&self, socket: impl AsFd, message: &[u8]) -> Result<(), ShmError> {
        crate::fdpass::send_fds(
            socket,
            message,
            &[self.inner.data_fd.as_fd(), self.inner.ctl_fd.as_fd()],
        )
        .map_err(|source| ShmError::Os {
            what: "sending the arena",
            source,
        })
    }

    /// Takes back the space of every release the client published. Returns how many releases
    /// were taken; refused ones are counted in [`Arena::bad_releases`].
    pub fn collect_releases(&self) -> usize {
        let mut state = self.state();
        self.drain_locked(&mut state)
    }

    fn drain_locked(&self, state: &mut State) -> usize {
        let (h, entries) = self.inner.ctl.control(self.inner.capacity);
        let State { alloc, head } = state;
        let mut bad = 0;
        let drained = Ring::new(h, entries).drain(head, |lease, generation| {
            if alloc.release(lease, generation).is_err() {
                bad += 1;
            }
        });
        let n = drained.unwrap_or_else(|_| {
            bad += 1;
            0
        });
        if bad > 0 {
            self.inner.bad_releases.fetch_add(bad, Ordering::Relaxed);
        }
        n
    }

    /// Reserves space for a payload of `len` bytes (≥ 1), after taking back released space.
    /// `Ok(None)`: not enough contiguous space right now; try again after releases.
    ///
    /// # Errors
    /// [`ShmError::TooLarge`] if `len` exceeds the arena: it would never fit.
    pub fn try_reserve(&self, len: u64) -> Result<Option<Lease>, ShmError> {
        if len > self.inner.size {
            return Err(ShmError::TooLarge {
                len,
                arena: self.inner.size,
            });
        }
        let pages = len.div_ceil(u64::from(PAGE_SIZE)).max(1) as u32;
        let mut state = self.state();
        // Take released space back first, every time: first fit then reuses the pages the
        // last payloads used, which both sides have mapped and in cache, instead of walking
        // through the whole arena's fresh pages (a page fault on each side per 4 KiB) before
        // any reuse. An empty ring costs two atomic loads.
        self.drain_locked(&mut state);
        let got = state.alloc.alloc(pages);
        Ok(got.map(|(start, generation)| Lease {
            inner: self.inner.clone(),
            start,
            len,
            generation,
            published: false,
        }))
    }

    /// Releases a payload directly (not through the ring).
    ///
    /// # Errors
    /// [`ReleaseError`] for a forged, stale or repeated release (also counted).
    pub fn release(&self, lease: u64, generation: u64) -> Result<(), ReleaseError> {
        let r = self.state().alloc.release(lease, generation);
        if r.is_err() {
            self.inner.bad_releases.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Space reserved for one payload. The backend fills it through [`Lease::as_mut_slice`];
/// [`Lease::publish`] hands it to the client. Dropped unpublished, the space is freed.
#[derive(Debug)]
pub struct Lease {
    inner: Arc<Inner>,
    start: u32,
    len: u64,
    generation: u64,
    published: bool,
}

impl Lease {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the payload goes.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let offset = u64::from(self.start) * u64::from(PAGE_SIZE);
        assert!(offset + self.len <= self.inner.data.len() as u64);
        // SAFETY: the allocator gave this lease pages [start, start + ceil(len/page)) of the
        // data mapping (bounds asserted above) and gives them to nobody else until the lease
        // is released; `Lease` is not `Clone` and this borrow is tied to `&mut self`, so the
        // slice is the only reference into these bytes in this process. The client can only
        // read them (its descriptor's mapping is read-only and the file is sealed against new
        // writable mappings). The mapping lives as long as `inner`, which we hold.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.inner.data.as_ptr().add(offset as usize),
                self.len as usize,
            )
        }
    }

    /// Hands the payload to the client: the space stays reserved until the client releases
    /// `(lease, generation)`.
    pub fn publish(mut self) -> Slice {
        self.published = true;
        Slice {
            offset: u64::from(self.start) * u64::from(PAGE_SIZE),
            len: self.len,
            lease: u64::from(self.start),
            generation: self.generation,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.published {
            let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
            let _ = state.alloc.release(u64::from(self.start), self.generation);
        }
    }
}
