//! The client's side of an arena: maps what the daemon sent (data read-only), turns each
//! announced [`Slice`] into a [`Payload`] that reads in place and releases its space when
//! dropped, through the release ring (no gRPC call).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use crate::error::ShmError;
use crate::layout::{self, Slice, LAYOUT_VERSION, MAGIC, PAGE_SIZE, RING_OFFSET};
use crate::map::{self, Mapping};
use crate::ring::Ring;
use crate::sync::Ordering;

/// A mapped arena, as a client holds it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ClientArena {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    data: Mapping,
    ctl: Mapping,
    size: u64,
    capacity: u32,
    /// The producer's copy of the release ring's tail; the lock makes the ring's single
    /// producer out of any number of threads.
    tail: Mutex<u64>,
}

impl ClientArena {
    /// Maps the two memory files received from the daemon: `[data, control]`.
    ///
    /// # Errors
    /// [`ShmError::BadLayout`] for anything but an s3dliod arena of this layout version;
    /// [`ShmError::Os`] if mapping fails.
    pub fn map(fds: Vec<OwnedFd>) -> Result<Self, ShmError> {
        let [data_fd, ctl_fd]: [OwnedFd; 2] = fds
            .try_into()
            .map_err(|v: Vec<_>| map::bad(format!("expected 2 descriptors, got {}", v.len())))?;
        let ctl_len = rustix::fs::fstat(&ctl_fd)
            .map_err(ShmError::os("fstat control region"))?
            .st_size as u64;
        if ctl_len < RING_OFFSET {
            return Err(map::bad(format!("control region of {ctl_len} bytes")));
        }
        map::check_received(ctl_fd.as_fd(), ctl_len, "control")?;
        let ctl = Mapping::map(&ctl_fd, ctl_len, true)?;
        let h = ctl.header();
        let magic = h.magic.load(Ordering::Acquire);
        let version = h.version.load(Ordering::Relaxed);
        if magic != MAGIC || version != LAYOUT_VERSION {
            return Err(map::bad(format!(
                "magic {magic:#x}, layout version {version}"
            )));
        }
        let size = h.arena_size.load(Ordering::Relaxed);
        let capacity = h.ring_capacity.load(Ordering::Relaxed);
        if h.page_size.load(Ordering::Relaxed) != PAGE_SIZE
            || h.ring_offset.load(Ordering::Relaxed) != RING_OFFSET
            || layout::control_size(capacity) != ctl_len
            || u64::from(capacity) * u64::from(PAGE_SIZE) != size
        {
            return Err(map::bad("inconsistent sizes in the header".into()));
        }
        map::check_received(data_fd.as_fd(), size, "data")?;
        let data = Mapping::map(&data_fd, size, false)?;
        let tail = h.release_tail.load(Ordering::Acquire);
        Ok(ClientArena {
            inner: Arc::new(Inner {
                data,
                ctl,
                size,
                capacity,
                tail: Mutex::new(tail),
            }),
        })
    }

    /// Size of the data region in bytes.
    pub fn size(&self) -> u64 {
        self.inner.size
    }

    /// Wraps a slice the daemon announced; the payload releases its space when dropped.
    ///
    /// # Errors
    /// [`ShmError::OutOfBounds`] if the slice does not lie inside the arena.
    pub fn payload(&self, slice: Slice) -> Result<Payload, ShmError> {
        let fits = slice
            .offset
            .checked_add(slice.len)
            .is_some_and(|end| end <= self.inner.size);
        if !fits || !slice.offset.is_multiple_of(u64::from(PAGE_SIZE)) {
            return Err(ShmError::OutOfBounds {
                offset: slice.offset,
                len: slice.len,
                arena: self.inner.size,
            });
        }
        Ok(Payload {
            arena: self.clone(),
            slice,
        })
    }

    /// Publishes a release of `(lease, generation)` on the ring. `false` only if the ring is
    /// full, which a client that releases each payload once never sees (the ring has one
    /// entry per page). Public so that tests can forge releases; payloads call it on drop.
    pub fn release(&self, lease: u64, generation: u64) -> bool {
        let (h, entries) = self.inner.ctl.control(self.inner.capacity);
        let mut tail = self.inner.tail.lock().unwrap_or_else(|p| p.into_inner());
        Ring::new(h, entries).push(&mut tail, lease, generation)
    }
}

/// One payload in the arena: derefs to its bytes, in place; gives its space back on drop.
#[derive(Debug)]
pub struct Payload {
    arena: ClientArena,
    slice: Slice,
}

impl Payload {
    /// Where it lies in the arena (what the daemon announced).
    pub fn slice(&self) -> Slice {
        self.slice
    }
}

impl std::ops::Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ClientArena::payload` checked that [offset, offset + len) lies inside the
        // read-only data mapping, which `self.arena` keeps alive. The daemon finished writing
        // these bytes before announcing the slice and does not write them again until this
        // payload is released, which happens only when `self` is dropped.
        unsafe {
            std::slice::from_raw_parts(
                self.arena
                    .inner
                    .data
                    .as_ptr()
                    .add(self.slice.offset as usize),
                self.slice.len as usize,
            )
        }
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        self.arena.release(self.slice.lease, self.slice.generation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Arena;

    /// The whole cycle in one process: reserve, write, publish, map as a client, read in
    /// place, release out of order through the ring, and reuse.
    #[test]
    fn payloads_round_trip_and_release_out_of_order() {
        let arena = Arena::create(8 * u64::from(PAGE_SIZE)).unwrap();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        arena.send_fds(&a, b"arena").unwrap();
        let mut buf = [0u8; 16];
        let (n, fds) = crate::fdpass::recv_fds(&b, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"arena");
        let client = ClientArena::map(fds).unwrap();

        let mut payloads = vec![];
        for i in 0..4u8 {
            let mut lease = arena.try_reserve(5000).unwrap().expect("space");
            lease.as_mut_slice().fill(i);
            payloads.push(client.payload(lease.publish()).unwrap());
        }
        assert!(arena.try_reserve(1).unwrap().is_none(), "4 × 2 pages: full");
        for (i, p) in payloads.iter().enumerate() {
            assert_eq!(p.len(), 5000);
            assert!(p.iter().all(|&x| x == i as u8));
        }
        payloads.swap(0, 2);
        drop(payloads.pop()); // the fourth
        drop(payloads.remove(0)); // the third
        let reused = arena.try_reserve(4 * u64::from(PAGE_SIZE)).unwrap();
        assert!(reused.is_some(), "released pages coalesce and are reused");
        assert_eq!(arena.bad_releases(), 0);

        // Forged, stale and double releases are refused and counted.
        let first = payloads[1].slice();
        assert!(client.release(3, 1));
        assert!(client.release(first.lease, first.generation + 100));
        drop(payloads);
        assert!(client.release(first.lease, first.generation));
        arena.collect_releases();
        assert_eq!(arena.bad_releases(), 3);
        drop(reused);
        assert_eq!(arena.in_use(), 0);
        assert!(matches!(
            arena.try_reserve(9 * u64::from(PAGE_SIZE)),
            Err(ShmError::TooLarge { .. })
        ));
    }

    #[test]
    fn the_client_cannot_write_the_data_region() {
        let arena = Arena::create(u64::from(PAGE_SIZE)).unwrap();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        arena.send_fds(&a, b"x").unwrap();
        let (_, fds) = crate::fdpass::recv_fds(&b, &mut [0u8; 1]).unwrap();
        let err = Mapping::map(&fds[0], u64::from(PAGE_SIZE), true).unwrap_err();
        assert!(matches!(err, ShmError::Os { .. }), "{err}");
        assert!(rustix::fs::ftruncate(&fds[0], 1).is_err(), "sealed size");
    }

    #[test]
    fn offsets_outside_the_arena_are_refused() {
        let arena = Arena::create(u64::from(PAGE_SIZE)).unwrap();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        arena.send_fds(&a, b"x").unwrap();
        let (_, fds) = crate::fdpass::recv_fds(&b, &mut [0u8; 1]).unwrap();
        let client = ClientArena::map(fds).unwrap();
        let bad = Slice {
            offset: 0,
            len: u64::from(PAGE_SIZE) + 1,
            lease: 0,
            generation: 1,
        };
        assert!(client.payload(bad).is_err());
        let overflow = Slice {
            offset: u64::MAX - 1,
            len: 4,
            ..bad
        };
        assert!(client.payload(overflow).is_err());
    }
}
