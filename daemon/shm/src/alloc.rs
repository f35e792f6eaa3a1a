//! The arena's page allocator: contiguous runs of pages, released in any order.
//!
//! First fit over a free list kept sorted by page and coalesced on every release, so the
//! free space is always a set of maximal runs. There is no fragmentation deadlock: every
//! payload is eventually released, and once all are released the arena is one free run, so
//! any payload no larger than the arena fits eventually (the daemon serves waiters in FIFO
//! order, so a large payload is not starved by small ones).
//!
//! Each allocation gets a generation from a counter that never repeats; a release must name
//! both the first page and that generation.

use std::collections::BTreeMap;

use crate::error::ReleaseError;

/// Free list and live allocations of one arena (pure bookkeeping; no memory is touched).
#[derive(Debug)]
pub struct PageAlloc {
    pages: u32,
    /// Free runs: first page → length in pages. Never adjacent (coalesced).
    free: BTreeMap<u32, u32>,
    /// Live runs: first page → (length in pages, generation).
    live: BTreeMap<u32, (u32, u64)>,
    used: u32,
    next_generation: u64,
}

impl PageAlloc {
    /// An allocator of `pages` free pages.
    pub fn new(pages: u32) -> Self {
        let mut free = BTreeMap::new();
        if pages > 0 {
            free.insert(0, pages);
        }
        PageAlloc {
            pages,
            free,
            live: BTreeMap::new(),
            used: 0,
            next_generation: 1,
        }
    }

    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Pages currently allocated.
    pub fn used(&self) -> u32 {
        self.used
    }

    /// Payloads currently allocated.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Allocates `n` contiguous pages (n ≥ 1): `(first page, generation)`, or `None` if no
    /// free run is long enough right now.
    pub fn alloc(&mut self, n: u32) -> Option<(u32, u64)> {
        assert!(n > 0, "allocations are at least one page");
        let (&start, &len) = self.free.iter().find(|(_, &len)| len >= n)?;
        self.free.remove(&start);
        if len > n {
            self.free.insert(start + n, len - n);
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.live.insert(start, (n, generation));
        self.used += n;
        Some((start, generation))
    }

    /// Releases the run that starts at `start` if it is live under `generation`.
    ///
    /// # Errors
    /// [`ReleaseError`] for an unknown lease or a wrong generation; nothing changes then.
    pub fn release(&mut self, start: u64, generation: u64) -> Result<(), ReleaseError> {
        let key = u32::try_from(start).map_err(|_| ReleaseError::Unknown(start))?;
        let &(n, live_generation) = self.live.get(&key).ok_or(ReleaseError::Unknown(start))?;
        if live_generation != generation {
            return Err(ReleaseError::StaleGeneration {
                lease: start,
                generation,
            });
        }
        self.live.remove(&key);
        self.used -= n;
        let (mut first, mut len) = (key, n);
        if let Some((&prev, &plen)) = self.free.range(..key).next_back() {
            if prev + plen == key {
                self.free.remove(&prev);
                first = prev;
                len += plen;
            }
        }
        if let Some(&nlen) = self.free.get(&(key + n)) {
            self.free.remove(&(key + n));
            len += nlen;
        }
        self.free.insert(first, len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_of_order_release_coalesces_back_to_one_run() {
        let mut a = PageAlloc::new(10);
        let x = a.alloc(3).unwrap();
        let y = a.alloc(3).unwrap();
        let z = a.alloc(4).unwrap();
        assert!(a.alloc(1).is_none(), "full");
        a.release(u64::from(y.0), y.1).unwrap();
        assert!(a.alloc(4).is_none(), "a 3-page hole does not fit 4 pages");
        a.release(u64::from(z.0), z.1).unwrap();
        a.release(u64::from(x.0), x.1).unwrap();
        assert_eq!(a.used(), 0);
        assert_eq!(a.alloc(10).map(|r| r.0), Some(0), "one run again");
    }

    #[test]
    fn forged_stale_and_double_releases_are_refused() {
        let mut a = PageAlloc::new(8);
        let (start, generation) = a.alloc(2).unwrap();
        assert_eq!(a.release(5, generation), Err(ReleaseError::Unknown(5)));
        assert_eq!(a.release(u64::MAX, 1), Err(ReleaseError::Unknown(u64::MAX)));
        assert!(matches!(
            a.release(u64::from(start), generation + 7),
            Err(ReleaseError::StaleGeneration { .. })
        ));
        a.release(u64::from(start), generation).unwrap();
        assert_eq!(
            a.release(u64::from(start), generation),
            Err(ReleaseError::Unknown(u64::from(start)))
        );
        // Same first page, new generation: the old generation stays stale.
        let (again, g2) = a.alloc(2).unwrap();
        assert_eq!(again, start);
        assert_ne!(g2, generation);
        assert!(a.release(u64::from(start), generation).is_err());
        assert_eq!(a.used(), 2);
    }

    proptest! {
        /// Whatever the order of allocations and releases: live runs never overlap, the
        /// used count matches, and releasing everything leaves one free run.
        #[test]
        fn runs_never_overlap(ops in proptest::collection::vec((1u32..6, any::<bool>(), any::<prop::sample::Index>()), 1..200)) {
            let mut a = PageAlloc::new(32);
            let mut held: Vec<(u32, u32, u64)> = Vec::new();
            for (n, release, pick) in ops {
                if release && !held.is_empty() {
                    let (s, _, g) = held.swap_remove(pick.index(held.len()));
                    a.release(u64::from(s), g).unwrap();
                } else if let Some((s, g)) = a.alloc(n) {
                    for &(hs, hn, _) in &held {
                        prop_assert!(s + n <= hs || hs + hn <= s, "overlap");
                    }
                    prop_assert!(s + n <= 32);
                    held.push((s, n, g));
                }
                prop_assert_eq!(a.used(), held.iter().map(|h| h.1).sum::<u32>());
            }
            for (s, _, g) in held {
                a.release(u64::from(s), g).unwrap();
            }
            prop_assert_eq!(a.alloc(32).map(|r| r.0), Some(0));
        }
    }
}
