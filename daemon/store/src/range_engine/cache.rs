//! The node-wide size cache: what recent listings, stats and reads taught the daemon about an
//! object's size and version, so the RangeEngine can split a read from its first request.
//!
//! Shared by every session and living as long as the daemon, it survives DataLoader worker
//! restarts. Bounded in entries (least recently used go first) and in age; an entry is only a
//! hint: every range still checks the version it gets, so a stale entry costs a retry, never
//! wrong bytes.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

/// What the cache knows of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub size: u64,
    pub etag: Option<String>,
}

/// A bounded map URI → [`Known`].
#[derive(Debug)]
pub struct SizeCache {
    entries: Option<Mutex<LruCache<String, (Known, Instant)>>>,
    ttl: Duration,
}

impl SizeCache {
    /// A cache of at most `capacity` entries (0: caching off), each trusted for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        SizeCache {
            entries: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
            ttl,
        }
    }

    /// What is known of `uri`, if it is recent enough.
    pub fn get(&self, uri: &str) -> Option<Known> {
        let mut entries = self
            .entries
            .as_ref()?
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match entries.get(uri) {
            Some((known, at)) if at.elapsed() < self.ttl => Some(known.clone()),
            Some(_) => {
                entries.pop(uri);
                None
            }
            None => None,
        }
    }

    /// Records the size and version of `uri`.
    pub fn put(&self, uri: String, known: Known) {
        if let Some(entries) = &self.entries {
            let mut entries = entries.lock().unwrap_or_else(|p| p.into_inner());
            entries.put(uri, (known, Instant::now()));
        }
    }

    /// Forgets `uri` (it was written, deleted, or found to differ).
    pub fn forget(&self, uri: &str) {
        if let Some(entries) = &self.entries {
            entries.lock().unwrap_or_else(|p| p.into_inner()).pop(uri);
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries
            .as_ref()
            .map_or(0, |e| e.lock().unwrap_or_else(|p| p.into_inner()).len())
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(size: u64) -> Known {
        Known {
            size,
            etag: Some(format!("e{size}")),
        }
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let c = SizeCache::new(2, Duration::from_secs(60));
        c.put("a".into(), known(1));
        c.put("b".into(), known(2));
        assert_eq!(c.get("a"), Some(known(1))); // a is now the most recent
        c.put("c".into(), known(3));
        assert_eq!(c.get("b"), None);
        assert_eq!(c.get("a"), Some(known(1)));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn old_entries_are_not_trusted_and_forget_removes() {
        let c = SizeCache::new(8, Duration::ZERO);
        c.put("a".into(), known(1));
        assert_eq!(c.get("a"), None);
        let c = SizeCache::new(8, Duration::from_secs(60));
        c.put("a".into(), known(1));
        c.forget("a");
        assert!(c.is_empty());
    }

    #[test]
    fn capacity_zero_turns_caching_off() {
        let c = SizeCache::new(0, Duration::from_secs(60));
        c.put("a".into(), known(1));
        assert_eq!(c.get("a"), None);
    }
}
