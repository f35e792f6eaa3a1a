//! The release ring: a single-producer (client), single-consumer (daemon) ring of fixed-size
//! entries in the control region, after io_uring's SQ.
//!
//! Memory ordering: the producer writes an entry's fields (relaxed), then publishes it by
//! storing `release_tail` with `Release`; the consumer loads `release_tail` with `Acquire`,
//! reads the entries, then stores `release_head` with `Release`; the producer loads
//! `release_head` with `Acquire` before reusing a slot. Indices are monotonic u64, slot =
//! index mod capacity.
//!
//! The consumer trusts nothing it reads: it keeps its own head (never reading the shared one
//! back), and a tail more than `capacity` ahead of it is an overrun, reported and skipped.

use crate::layout::{ControlHeader, ReleaseEntry};
use crate::sync::Ordering;

/// A view of one ring.
#[derive(Debug, Clone, Copy)]
pub struct Ring<'a> {
    header: &'a ControlHeader,
    entries: &'a [ReleaseEntry],
}

/// The ring's tail was more than `capacity` ahead of the head: the producer broke the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overrun;

impl<'a> Ring<'a> {
    pub fn new(header: &'a ControlHeader, entries: &'a [ReleaseEntry]) -> Self {
        Ring { header, entries }
    }

    /// Producer: publishes one release; `false` if the ring is full. `tail` is the producer's
    /// own copy of the tail (start at the shared value, 0 for a fresh arena).
    pub fn push(&self, tail: &mut u64, lease: u64, generation: u64) -> bool {
        let cap = self.entries.len() as u64;
        let head = self.header.release_head.load(Ordering::Acquire);
        if cap == 0 || tail.wrapping_sub(head) >= cap {
            return false;
        }
        let entry = &self.entries[(*tail % cap) as usize];
        entry.lease.store(lease, Ordering::Relaxed);
        entry.generation.store(generation, Ordering::Relaxed);
        *tail = tail.wrapping_add(1);
        self.header.release_tail.store(*tail, Ordering::Release);
        true
    }

    /// Consumer: hands every published entry to `f`, in order, then frees their slots.
    /// `head` is the consumer's own copy of the head.
    ///
    /// # Errors
    /// [`Overrun`] if the tail is out of bounds; the entries are skipped then.
    pub fn drain(&self, head: &mut u64, mut f: impl FnMut(u64, u64)) -> Result<usize, Overrun> {
        let cap = self.entries.len() as u64;
        let tail = self.header.release_tail.load(Ordering::Acquire);
        let avail = tail.wrapping_sub(*head);
        if avail > cap {
            *head = tail;
            self.header.release_head.store(tail, Ordering::Release);
            return Err(Overrun);
        }
        for i in 0..avail {
            let entry = &self.entries[(head.wrapping_add(i) % cap) as usize];
            f(
                entry.lease.load(Ordering::Relaxed),
                entry.generation.load(Ordering::Relaxed),
            );
        }
        *head = tail;
        self.header.release_head.store(tail, Ordering::Release);
        Ok(avail as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::ControlHeader;

    fn ring_memory(cap: usize) -> (Box<ControlHeader>, Vec<ReleaseEntry>) {
        let entries = (0..cap)
            .map(|_| ReleaseEntry {
                lease: 0.into(),
                generation: 0.into(),
            })
            .collect();
        (Box::new(ControlHeader::zeroed()), entries)
    }

    #[test]
    fn full_ring_refuses_and_drains_in_order() {
        let (h, e) = ring_memory(3);
        let ring = Ring::new(&h, &e);
        let (mut tail, mut head) = (0, 0);
        assert!(ring.push(&mut tail, 1, 10));
        assert!(ring.push(&mut tail, 2, 20));
        assert!(ring.push(&mut tail, 3, 30));
        assert!(!ring.push(&mut tail, 4, 40), "full");
        let mut seen = vec![];
        assert_eq!(ring.drain(&mut head, |l, g| seen.push((l, g))), Ok(3));
        assert_eq!(seen, vec![(1, 10), (2, 20), (3, 30)]);
        assert!(ring.push(&mut tail, 4, 40), "slots reused");
    }

    #[test]
    fn a_lying_tail_is_an_overrun_not_a_crash() {
        let (h, e) = ring_memory(4);
        let ring = Ring::new(&h, &e);
        h.release_tail.store(1000, Ordering::Release);
        let mut head = 0;
        assert_eq!(
            ring.drain(&mut head, |_, _| panic!("no entry")),
            Err(Overrun)
        );
        assert_eq!(ring.drain(&mut head, |_, _| panic!("no entry")), Ok(0));
    }

    /// Stress stand-in for a loom model: a producer and a consumer thread pass a million
    /// entries through a small ring; every entry arrives once, in order, intact.
    #[test]
    fn threads_pass_every_entry_once_in_order() {
        const N: u64 = 1_000_000;
        let (h, e) = ring_memory(64);
        let (h, e) = (&*h, &e[..]);
        std::thread::scope(|s| {
            s.spawn(move || {
                let ring = Ring::new(h, e);
                let mut tail = 0;
                let mut i = 0;
                while i < N {
                    if ring.push(&mut tail, i, i ^ 0xdead_beef) {
                        i += 1;
                    } else {
                        std::hint::spin_loop();
                    }
                }
            });
            let ring = Ring::new(h, e);
            let (mut head, mut next) = (0, 0);
            while next < N {
                ring.drain(&mut head, |l, g| {
                    assert_eq!((l, g), (next, next ^ 0xdead_beef));
                    next += 1;
                })
                .unwrap();
            }
        });
    }
}
