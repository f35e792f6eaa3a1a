//! `file://` and `direct://`: local files, confined to configured roots, acting with the
//! caller's own permissions.
//!
//! Layout of this module:
//! - `mod.rs`: configuration, [`FileBackend`] / [`FileStore`], and the one helper that runs
//!   every blocking step on tokio's blocking pool with the caller's credentials;
//! - `confine.rs`: resolution of paths inside the configured roots;
//! - `identity.rs`: who a request acts as, and per-thread impersonation;
//! - `read.rs` (get, stat), `write.rs` (put, delete), `bucket.rs` (directories),
//!   `list.rs` (the sorted, streamed walk), `direct.rs` (O_DIRECT aligned I/O).
//!
//! Invariants:
//! - no blocking system call runs on a runtime worker: each one runs inside [`FileStore::run`]
//!   (or the listing walker), on the blocking pool, with the caller's credentials;
//! - every path is resolved inside the roots before use (see `confine.rs` for the TOCTOU
//!   window that remains);
//! - a put becomes visible by `rename` only, so readers see the old object or the new one;
//! - a directory is never an object: get, stat and delete of one are [`Error::NotFound`]
//!   ("is a directory, not an object"), as an object store reports a key that only exists as
//!   a prefix.

mod bucket;
mod confine;
mod direct;
mod identity;
mod list;
mod read;
mod write;

#[cfg(test)]
mod testutil;

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::identity::Caller;
use crate::into::{GetIntoResult, Reserve};
use crate::store::{
    BoxStream, GetOptions, GetResult, ListEntry, ListOptions, ObjectMeta, ObjectStore, PutBody,
    PutOptions, PutResult,
};
use crate::uri::Location;

use confine::Roots;
use identity::Access;

/// Largest body chunk a get hands out, whatever the caller asks for: bounds the memory one
/// request can pin (two chunks are in flight per stream).
const MAX_CHUNK: usize = 64 * 1024 * 1024;

/// Page-cache advice given to the kernel for `file://` reads (`posix_fadvise`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Fadvise {
    /// No advice.
    None,
    /// `POSIX_FADV_SEQUENTIAL`: whole-object reads; doubles kernel read-ahead.
    #[default]
    Sequential,
    /// `POSIX_FADV_RANDOM`: small random ranges; disables read-ahead.
    Random,
    /// `POSIX_FADV_DONTNEED` after each read: stream data through without keeping it cached.
    Dontneed,
}

/// Configuration of one local-file backend (`[file]` or `[direct]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Directories the backend may touch; every path is resolved (symlinks included) and must
    /// stay inside one of them. Default `["/"]`: the caller's own permissions still apply.
    pub roots: Vec<PathBuf>,
    /// Read size per I/O call, in bytes (default 4 MiB); also the write buffer of `direct://`.
    pub read_chunk: usize,
    /// Page-cache advice for reads (`file://` only; O_DIRECT bypasses the cache).
    pub fadvise: Fadvise,
    /// O_DIRECT alignment of offsets, lengths and buffers, in bytes (`direct://` only).
    pub alignment: usize,
    /// fsync a file (and its directory after the rename) before a put returns: durable puts.
    pub fsync: bool,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            roots: vec![PathBuf::from("/")],
            read_chunk: 4 * 1024 * 1024,
            fadvise: Fadvise::Sequential,
            alignment: 4096,
            fsync: false,
        }
    }
}

/// A local-file backend shared by every request; [`FileBackend::for_caller`] binds it to the
/// identity of one request.
#[derive(Debug)]
pub struct FileBackend {
    config: FileConfig,
    /// `direct://`: O_DIRECT for reads and writes.
    direct: bool,
    /// The canonical roots every path must stay inside.
    roots: Roots,
    /// The daemon's effective uid when the backend was built: decides whether callers can be
    /// impersonated (root) or must be the daemon's own user.
    daemon_euid: u32,
}

impl FileBackend {
    /// Validates the configuration (roots must exist and are canonicalised).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (op `configure`) for a root that does not exist or is not a
    /// directory, no roots at all, a zero `read_chunk`, or (`direct://`) an alignment that is
    /// not a power of two between 512 bytes and 1 MiB.
    pub fn new(config: &FileConfig, direct: bool) -> Result<Self> {
        let scheme = if direct { "direct" } else { "file" };
        let bad = |reason: String| Error::InvalidArgument {
            op: "configure",
            uri: format!("{scheme}://"),
            reason,
        };
        if config.read_chunk == 0 {
            return Err(bad("read_chunk must be at least 1 byte".into()));
        }
        if direct
            && !(config.alignment.is_power_of_two() && (512..=1 << 20).contains(&config.alignment))
        {
            return Err(bad(format!(
                "alignment {} must be a power of two between 512 and 1048576 bytes",
                config.alignment
            )));
        }
        Ok(FileBackend {
            roots: Roots::new(&config.roots, scheme)?,
            config: config.clone(),
            direct,
            daemon_euid: rustix::process::geteuid().as_raw(),
        })
    }

    /// One line for `Admin.Status`.
    pub fn describe(&self) -> String {
        let mode = if self.direct {
            format!("O_DIRECT aligned to {} bytes", self.config.alignment)
        } else {
            format!("fadvise {:?}", self.config.fadvise).to_lowercase()
        };
        let who = if self.daemon_euid == 0 {
            "acting as each local caller".to_string()
        } else {
            format!("serving uid {} only", self.daemon_euid)
        };
        format!(
            "roots {:?}, read chunk {} bytes, {mode}, fsync {}, {who}",
            self.roots.paths(),
            self.config.read_chunk,
            if self.config.fsync { "on" } else { "off" },
        )
    }

    /// The store acting for `caller`.
    pub fn for_caller(self: &Arc<Self>, caller: Caller) -> FileStore {
        FileStore {
            access: Arc::new(Access::new(caller, self.daemon_euid)),
            backend: self.clone(),
        }
    }

    /// Body chunk size for a get: the caller's preference or the configured one, at most
    /// [`MAX_CHUNK`], and a multiple of the alignment for `direct://`.
    fn chunk_size(&self, requested: usize) -> usize {
        let chunk = if requested == 0 {
            self.config.read_chunk
        } else {
            requested
        }
        .min(MAX_CHUNK);
        if self.direct {
            chunk.next_multiple_of(self.config.alignment)
        } else {
            chunk
        }
    }
}

/// A local-file store acting for one caller.
#[derive(Debug)]
pub struct FileStore {
    backend: Arc<FileBackend>,
    access: Arc<Access>,
}

impl FileStore {
    /// Runs `f` on the blocking pool with the caller's credentials (refusing callers the
    /// backend cannot act for before anything is spawned).
    async fn run<T, F>(&self, op: &'static str, uri: &str, f: F) -> Result<T>
    where
        F: FnOnce(&FileBackend) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        self.access.check(op, uri)?;
        let backend = self.backend.clone();
        let access = self.access.clone();
        let owned_uri = uri.to_string();
        tokio::task::spawn_blocking(move || {
            let _as_caller = access.enter(op, &owned_uri)?;
            f(&backend)
        })
        .await
        .map_err(|e| join_error(op, uri, e))?
    }
}

#[async_trait]
impl ObjectStore for FileStore {
    async fn get(&self, location: &Location, options: GetOptions) -> Result<GetResult> {
        read::get(self, location, options).await
    }

    async fn get_into(
        &self,
        location: &Location,
        options: GetOptions,
        reserve: &mut dyn Reserve,
    ) -> Result<GetIntoResult> {
        read::get_into(self, location, options, reserve).await
    }

    async fn put(
        &self,
        location: &Location,
        body: PutBody,
        options: PutOptions,
    ) -> Result<PutResult> {
        write::put(self, location, body, options).await
    }

    fn list(
        &self,
        prefix: &Location,
        options: ListOptions,
    ) -> BoxStream<'static, Result<ListEntry>> {
        list::list(self, prefix, options)
    }

    async fn head(&self, location: &Location) -> Result<ObjectMeta> {
        read::head(self, location).await
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        write::delete(self, location).await
    }

    async fn create_bucket(&self, location: &Location) -> Result<()> {
        bucket::create(self, location).await
    }

    async fn delete_bucket(&self, location: &Location) -> Result<()> {
        bucket::delete(self, location).await
    }
}

/// A blocking task that panicked or was cancelled (the runtime shutting down).
fn join_error(op: &'static str, uri: &str, err: tokio::task::JoinError) -> Error {
    Error::Io {
        op,
        uri: uri.to_string(),
        source: std::io::Error::other(format!("blocking file task failed: {err}")),
    }
}

/// The entity tag of a file: inode, size and modification time in nanoseconds, as hex.
/// A put creates a new inode, so the tag changes whenever the content is replaced.
fn etag(ino: u64, size: u64, mtime_sec: i64, mtime_nsec: i64) -> String {
    let nanos = i128::from(mtime_sec) * 1_000_000_000 + i128::from(mtime_nsec);
    format!("{ino:x}-{size:x}-{nanos:x}")
}

/// Metadata of a regular file at `location`.
fn object_meta(location: Location, md: &std::fs::Metadata) -> ObjectMeta {
    ObjectMeta {
        location,
        size: md.len(),
        last_modified: md.modified().ok(),
        etag: Some(etag(md.ino(), md.len(), md.mtime(), md.mtime_nsec())),
        content_type: None,
    }
}

/// The error for a directory where an object was expected.
fn is_a_directory(op: &'static str, uri: &str) -> Error {
    Error::NotFound {
        op,
        uri: uri.to_string(),
        reason: "is a directory, not an object".into(),
    }
}

/// The error for a FIFO, socket or device where an object was expected.
fn not_regular(op: &'static str, uri: &str) -> Error {
    Error::FailedPrecondition {
        op,
        uri: uri.to_string(),
        reason: "not a regular file (a FIFO, socket or device is not an object)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{fixture_with, get_range, pattern, put_bytes};
    use super::*;

    #[test]
    fn bad_configurations_are_refused_when_the_backend_is_built() {
        let cases = [
            (
                FileConfig {
                    read_chunk: 0,
                    ..FileConfig::default()
                },
                false,
                "read_chunk",
            ),
            (
                FileConfig {
                    alignment: 1000,
                    ..FileConfig::default()
                },
                true,
                "power of two",
            ),
            (
                FileConfig {
                    alignment: 256,
                    ..FileConfig::default()
                },
                true,
                "between 512",
            ),
            (
                FileConfig {
                    roots: vec!["/no/such/root".into()],
                    ..FileConfig::default()
                },
                false,
                "cannot be resolved",
            ),
            (
                FileConfig {
                    roots: vec![],
                    ..FileConfig::default()
                },
                false,
                "no roots",
            ),
        ];
        for (config, direct, why) in cases {
            let e = FileBackend::new(&config, direct).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::InvalidArgument {
                        op: "configure",
                        ..
                    }
                ),
                "{e}"
            );
            assert!(e.to_string().contains(why), "{e}");
        }
        // The alignment matters only to direct://.
        let odd = FileConfig {
            alignment: 1000,
            ..FileConfig::default()
        };
        assert!(FileBackend::new(&odd, false).is_ok());
    }

    #[test]
    fn the_default_configuration_serves_the_whole_file_system_and_says_so() {
        let registry = crate::Registry::new(&crate::StoreConfig::default()).unwrap();
        let status = registry.status();
        assert!(
            status[0].detail.contains("roots [\"/\"]"),
            "{}",
            status[0].detail
        );
        assert!(
            status[0].detail.contains("fadvise sequential"),
            "{}",
            status[0].detail
        );
        assert!(
            status[1].detail.contains("O_DIRECT aligned to 4096 bytes"),
            "{}",
            status[1].detail
        );
    }

    #[test]
    fn chunks_are_bounded_and_aligned_for_direct() {
        let file = FileBackend::new(&FileConfig::default(), false).unwrap();
        assert_eq!(file.chunk_size(0), 4 << 20);
        assert_eq!(file.chunk_size(1000), 1000);
        assert_eq!(file.chunk_size(usize::MAX), MAX_CHUNK);
        let direct = FileBackend::new(&FileConfig::default(), true).unwrap();
        assert_eq!(direct.chunk_size(1000), 4096);
        assert_eq!(direct.chunk_size(8193), 3 * 4096);
    }

    #[test]
    fn etags_differ_when_inode_size_or_time_differ() {
        let base = etag(1, 2, 3, 4);
        assert_eq!(base, "1-2-b2d05e04");
        assert_ne!(base, etag(9, 2, 3, 4));
        assert_ne!(base, etag(1, 9, 3, 4));
        assert_ne!(base, etag(1, 2, 3, 5));
    }

    #[tokio::test]
    async fn durable_puts_round_trip_on_both_schemes() {
        for direct in [false, true] {
            let config = FileConfig {
                fsync: true,
                read_chunk: 8192,
                ..FileConfig::default()
            };
            let fx = fixture_with(config, direct);
            let store = fx.store();
            let data = pattern(100_003);
            let loc = fx.loc("durable/obj");
            put_bytes(&store, &loc, &data, 10_000).await.unwrap();
            assert_eq!(get_range(&store, &loc, None, 0).await.unwrap(), data);
        }
    }

    use crate::GetRange;

    /// Reserves plain heap buffers and remembers the lengths asked for.
    struct HeapReserve(Vec<u64>);

    #[async_trait]
    impl Reserve for HeapReserve {
        async fn reserve(&mut self, len: u64) -> Result<Box<dyn crate::Destination>> {
            self.0.push(len);
            Ok(Box::new(vec![0u8; len as usize]))
        }
    }

    #[tokio::test]
    async fn get_into_fills_the_reserved_destination_on_both_schemes() {
        for direct in [false, true] {
            let fx = fixture_with(FileConfig::default(), direct);
            let store = fx.store();
            let data = pattern(300_001);
            let loc = fx.loc("into/obj");
            put_bytes(&store, &loc, &data, 65_536).await.unwrap();
            for (range, want) in [
                (None, &data[..]),
                (
                    Some(GetRange {
                        offset: 4097,
                        length: Some(200_003),
                    }),
                    &data[4097..204_100],
                ),
                (
                    Some(GetRange {
                        offset: data.len() as u64 - 10,
                        length: None,
                    }),
                    &data[data.len() - 10..],
                ),
            ] {
                let mut reserve = HeapReserve(vec![]);
                let options = GetOptions {
                    range,
                    chunk_size: 0,
                    ..Default::default()
                };
                let got = store.get_into(&loc, options, &mut reserve).await.unwrap();
                assert_eq!(reserve.0, vec![want.len() as u64], "one reservation, exact");
                let mut dest = got.dest.expect("filled");
                assert_eq!(dest.as_mut_slice(), want, "direct={direct}");
            }
            let empty = fx.loc("into/empty");
            put_bytes(&store, &empty, &[], 1).await.unwrap();
            let mut reserve = HeapReserve(vec![]);
            let got = store
                .get_into(&empty, GetOptions::default(), &mut reserve)
                .await
                .unwrap();
            assert!(
                got.dest.is_none() && reserve.0.is_empty(),
                "nothing reserved"
            );
        }
    }
}
