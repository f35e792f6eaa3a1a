//! Listing: a depth-first walk streamed in S3 key order, in bounded memory.
//!
//! Prefix semantics are S3's, on paths: the key `/data/tr` lists directory `/data`, entries
//! whose name starts with `tr`; `/data/train/` lists everything inside `/data/train`.
//!
//! Order: keys in byte order, exactly as S3 sorts them. Each directory's entries are sorted
//! by name, a directory's name taken with its trailing `/` (so `a-c` < `a/` < `a0`, as `-` <
//! `/` < `0`); since every key below directory `a` starts with `a/`, walking depth-first in
//! that order yields all keys sorted.
//!
//! Memory: the walker holds, per level of the current path, one directory's sorted names and
//! its open descriptor, never the listing; entries go out in batches through a bounded
//! channel, so a slow consumer pauses the walk and a dropped one stops it.
//!
//! What is listed:
//! - recursive: regular files at any depth, as objects; directories are walked, never shown;
//! - one level: regular files as objects, directories as [`ListEntry::Prefix`] (key ending in
//!   `/`, shown even when empty);
//! - symlinks to directories are not followed; a symlink to a regular file is an object (with
//!   its target's metadata) only if the target lies inside the roots;
//! - FIFOs, sockets, devices, the backend's own temporary files, and names that are not UTF-8
//!   (a key is a string; a warning is logged) are skipped;
//! - a prefix directory that does not exist (or is a file) lists nothing, as in S3; a
//!   directory that cannot be read ends the stream with [`Error::PermissionDenied`] (or the
//!   OS error) naming that directory's URI.
//!
//! Subdirectories are opened relative to their parent with `O_NOFOLLOW`, so the walk cannot
//! be diverted out of the listed tree by a directory swapped for a symlink.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, StatxFlags};
use rustix::io::Errno;
use tokio::sync::mpsc;

use super::identity::Access;
use super::write::is_temp_name;
use super::{etag, join_error, FileBackend, FileStore};
use crate::error::{Error, Result};
use crate::store::{BoxStream, ListEntry, ListOptions, ObjectMeta};
use crate::uri::Location;

const LIST: &str = "list";
/// Entries per message from the walker.
const BATCH: usize = 256;
/// Messages buffered between the walker and the consumer.
const CHANNEL_BATCHES: usize = 4;

type Batch = Vec<Result<ListEntry>>;

/// Lists `prefix` (see the module doc). Nothing happens until the stream is first polled.
pub(super) fn list(
    store: &FileStore,
    prefix: &Location,
    options: ListOptions,
) -> BoxStream<'static, Result<ListEntry>> {
    let uri = prefix.to_string();
    if let Err(e) = store.access.check(LIST, &uri) {
        return Box::pin(futures::stream::once(async { Err(e) }));
    }
    let walker = Walker {
        backend: store.backend.clone(),
        access: store.access.clone(),
        prefix: prefix.clone(),
        recursive: options.recursive,
    };
    let start = async move {
        let (tx, rx) = mpsc::channel::<Batch>(CHANNEL_BATCHES);
        let handle = tokio::task::spawn_blocking(move || walker.run(tx));
        // When the channel closes, the walker's outcome says whether the listing is whole:
        // a panicked walker must not look like a short listing.
        futures::stream::unfold((rx, Some(handle)), move |(mut rx, handle)| {
            let uri = uri.clone();
            async move {
                if let Some(batch) = rx.recv().await {
                    return Some((batch, (rx, handle)));
                }
                match handle?.await {
                    Ok(()) => None,
                    Err(e) => Some((vec![Err(join_error(LIST, &uri, e))], (rx, None))),
                }
            }
        })
        .flat_map(futures::stream::iter)
    };
    Box::pin(futures::stream::once(start).flatten().fuse())
}

/// Why the walk stopped early.
enum Halt {
    /// The consumer dropped the stream.
    Closed,
    /// An error that ends the listing.
    Failed(Error),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Halt::Failed(e)
    }
}

/// Batches entries into the channel.
struct Out {
    tx: mpsc::Sender<Batch>,
    batch: Batch,
}

impl Out {
    fn push(&mut self, entry: Result<ListEntry>) -> Result<(), Halt> {
        self.batch.push(entry);
        if self.batch.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Halt> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx.blocking_send(batch).map_err(|_| Halt::Closed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

/// One directory entry kept for the walk.
struct Entry {
    /// The name, with a trailing `/` for a directory: the sort key.
    key: String,
    kind: Kind,
}

impl Entry {
    fn name(&self) -> &str {
        match self.kind {
            Kind::File => &self.key,
            Kind::Dir => &self.key[..self.key.len() - 1],
        }
    }
}

/// One directory on the current path of the walk.
struct Level {
    /// Key of the directory, ending with `/`.
    key: String,
    path: PathBuf,
    fd: OwnedFd,
    entries: std::vec::IntoIter<Entry>,
}

struct Walker {
    backend: Arc<FileBackend>,
    access: Arc<Access>,
    prefix: Location,
    recursive: bool,
}

impl Walker {
    /// Walks with the caller's credentials, sending what it finds; always ends by flushing.
    fn run(self, tx: mpsc::Sender<Batch>) {
        let mut out = Out {
            tx,
            batch: Vec::with_capacity(BATCH),
        };
        let uri = self.prefix.to_string();
        let result = match self.access.enter(LIST, &uri) {
            Ok(_as_caller) => self.walk(&mut out),
            Err(e) => Err(Halt::Failed(e)),
        };
        if let Err(Halt::Failed(e)) = result {
            out.batch.push(Err(e));
        }
        let _ = out.flush();
    }

    fn walk(&self, out: &mut Out) -> Result<(), Halt> {
        let key = self.prefix.key.as_str();
        let cut = key.rfind('/').map_or(0, |i| i + 1);
        let (dir_key, name_prefix) = key.split_at(cut);
        let dir_uri = self.uri(dir_key);
        let dir_path =
            match self
                .backend
                .roots
                .resolve(LIST, &self.prefix.to_string(), Path::new(dir_key))
            {
                Ok(p) => p,
                // A missing directory or a file on the way: nothing has this prefix.
                Err(Error::NotFound { .. } | Error::FailedPrecondition { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
        let fd = match rustix::fs::openat(rustix::fs::CWD, &dir_path, dir_flags(), Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(()),
            Err(e) => return Err(Error::from_io(LIST, dir_uri, e.into()).into()),
        };
        let entries = self.read_sorted(&fd, &dir_path, &dir_uri, name_prefix)?;
        let mut stack = vec![Level {
            key: dir_key.to_string(),
            path: dir_path,
            fd,
            entries: entries.into_iter(),
        }];
        while let Some(level) = stack.last_mut() {
            let Some(entry) = level.entries.next() else {
                stack.pop();
                continue;
            };
            let key = format!("{}{}", level.key, entry.key);
            match entry.kind {
                Kind::File => {
                    if let Some(meta) = self.stat_object(level, &entry, key)? {
                        out.push(Ok(ListEntry::Object(meta)))?;
                    }
                }
                Kind::Dir if !self.recursive => {
                    out.push(Ok(ListEntry::Prefix(self.prefix.with_key(key))))?;
                }
                Kind::Dir => {
                    if out.tx.is_closed() {
                        return Err(Halt::Closed);
                    }
                    let uri = self.uri(&key);
                    let flags = dir_flags() | OFlags::NOFOLLOW;
                    let fd = match rustix::fs::openat(&level.fd, entry.name(), flags, Mode::empty())
                    {
                        Ok(fd) => fd,
                        // Gone, or replaced by a non-directory, since it was read.
                        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                        Err(e) => return Err(Error::from_io(LIST, uri, e.into()).into()),
                    };
                    let path = level.path.join(entry.name());
                    let entries = self.read_sorted(&fd, &path, &uri, "")?;
                    stack.push(Level {
                        key,
                        path,
                        fd,
                        entries: entries.into_iter(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The entries of one directory worth listing, sorted by key.
    fn read_sorted(
        &self,
        fd: &OwnedFd,
        path: &Path,
        uri: &str,
        name_prefix: &str,
    ) -> Result<Vec<Entry>> {
        let failed = |e: Errno| Error::from_io(LIST, uri, e.into());
        let mut entries = Vec::new();
        for item in Dir::read_from(fd).map_err(failed)? {
            let de = item.map_err(failed)?;
            let raw = de.file_name().to_bytes();
            if raw == b"." || raw == b".." {
                continue;
            }
            let Ok(name) = std::str::from_utf8(raw) else {
                tracing::warn!(dir = uri, name = %String::from_utf8_lossy(raw), "skipping a file name that is not UTF-8");
                continue;
            };
            if !name.starts_with(name_prefix) || is_temp_name(name) {
                continue;
            }
            let kind = match de.file_type() {
                FileType::RegularFile => Some(Kind::File),
                FileType::Directory => Some(Kind::Dir),
                FileType::Symlink => self.symlink_kind(fd, path, name),
                FileType::Unknown => match statx(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => match file_type(&st) {
                        FileType::RegularFile => Some(Kind::File),
                        FileType::Directory => Some(Kind::Dir),
                        FileType::Symlink => self.symlink_kind(fd, path, name),
                        _ => None,
                    },
                    Err(_) => None,
                },
                _ => None,
            };
            if let Some(kind) = kind {
                let key = if kind == Kind::Dir {
                    format!("{name}/")
                } else {
                    name.to_string()
                };
                entries.push(Entry { key, kind });
            }
        }
        entries.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(entries)
    }

    /// A symlink is listed as an object when it leads to a regular file inside the roots.
    fn symlink_kind(&self, fd: &OwnedFd, path: &Path, name: &str) -> Option<Kind> {
        let st = statx(fd, name, AtFlags::empty()).ok()?;
        let target = std::fs::canonicalize(path.join(name)).ok()?;
        (file_type(&st) == FileType::RegularFile && self.backend.roots.contains(&target))
            .then_some(Kind::File)
    }

    /// Metadata of a listed file, or `None` if it vanished or stopped being a regular file.
    fn stat_object(&self, level: &Level, entry: &Entry, key: String) -> Result<Option<ObjectMeta>> {
        match statx(&level.fd, entry.name(), AtFlags::empty()) {
            Ok(st) if file_type(&st) == FileType::RegularFile => {
                let (sec, nsec) = (st.stx_mtime.tv_sec, st.stx_mtime.tv_nsec);
                Ok(Some(ObjectMeta {
                    location: self.prefix.with_key(key),
                    size: st.stx_size,
                    last_modified: system_time(sec, nsec),
                    etag: Some(etag(st.stx_ino, st.stx_size, sec, i64::from(nsec))),
                    content_type: None,
                }))
            }
            Ok(_) | Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::from_io(LIST, self.uri(&key), e.into())),
        }
    }

    fn uri(&self, key: &str) -> String {
        self.prefix.with_key(key).to_string()
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

fn statx(fd: &OwnedFd, name: &str, flags: AtFlags) -> rustix::io::Result<rustix::fs::Statx> {
    rustix::fs::statx(fd, name, flags, StatxFlags::BASIC_STATS)
}

fn file_type(st: &rustix::fs::Statx) -> FileType {
    FileType::from_raw_mode(st.stx_mode.into())
}

/// The same `SystemTime` std's `Metadata::modified` gives for this timestamp.
fn system_time(sec: i64, nsec: u32) -> Option<SystemTime> {
    let base = if sec >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(sec.unsigned_abs()))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(sec.unsigned_abs()))
    };
    base?.checked_add(Duration::from_nanos(u64::from(nsec)))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{fixture, list_keys, put_bytes};
    use super::*;
    use crate::store::ObjectStore;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, rel.as_bytes()).unwrap();
    }

    fn rel(fx_root: &Path, keys: Vec<String>) -> Vec<String> {
        let base = format!("{}/", fx_root.display());
        keys.into_iter()
            .map(|k| k.strip_prefix(&base).unwrap().to_string())
            .collect()
    }

    #[tokio::test]
    async fn keys_come_in_s3_byte_order_with_directories_sorted_by_name_and_slash() {
        let fx = fixture(false);
        for f in ["a-c", "a/b", "a/c/d", "a0", "ab", "B", "a.x"] {
            touch(&fx.root, f);
        }
        std::fs::create_dir(fx.path("empty")).unwrap();
        let store = fx.store();
        let all = rel(
            &fx.root,
            list_keys(&store, &fx.loc(""), true).await.unwrap(),
        );
        assert_eq!(all, ["B", "a-c", "a.x", "a/b", "a/c/d", "a0", "ab"]);
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted);
        let one = rel(
            &fx.root,
            list_keys(&store, &fx.loc(""), false).await.unwrap(),
        );
        assert_eq!(one, ["B", "a-c", "a.x", "a/", "a0", "ab", "empty/"]);
        let inside = rel(
            &fx.root,
            list_keys(&store, &fx.loc("a/"), false).await.unwrap(),
        );
        assert_eq!(inside, ["a/b", "a/c/"]);
    }

    #[tokio::test]
    async fn a_prefix_without_slash_matches_names_in_its_directory() {
        let fx = fixture(false);
        for f in [
            "data/train/x",
            "data/train.txt",
            "data/training/y",
            "data/other",
            "data/tr",
        ] {
            touch(&fx.root, f);
        }
        let store = fx.store();
        let one = rel(
            &fx.root,
            list_keys(&store, &fx.loc("data/tr"), false).await.unwrap(),
        );
        assert_eq!(
            one,
            ["data/tr", "data/train.txt", "data/train/", "data/training/"]
        );
        let all = rel(
            &fx.root,
            list_keys(&store, &fx.loc("data/train"), true)
                .await
                .unwrap(),
        );
        assert_eq!(all, ["data/train.txt", "data/train/x", "data/training/y"]);
        let objects: Vec<_> = store
            .list(&fx.loc("data/train.txt"), ListOptions { recursive: true })
            .map(|e| e.unwrap())
            .collect()
            .await;
        let ListEntry::Object(meta) = &objects[0] else {
            panic!("{objects:?}")
        };
        assert_eq!(meta.size, "data/train.txt".len() as u64);
        assert_eq!(
            meta,
            &store.head(&fx.loc("data/train.txt")).await.unwrap(),
            "list and head agree"
        );
    }

    #[tokio::test]
    async fn a_missing_prefix_lists_nothing() {
        let fx = fixture(false);
        touch(&fx.root, "file");
        let store = fx.store();
        for p in ["nothing/", "nothing/here", "file/", "file/below/"] {
            assert!(
                list_keys(&store, &fx.loc(p), true)
                    .await
                    .unwrap()
                    .is_empty(),
                "{p}"
            );
        }
    }

    #[tokio::test]
    async fn twenty_thousand_files_in_one_directory_come_sorted() {
        let fx = fixture(false);
        let dir = fx.path("many");
        std::fs::create_dir(&dir).unwrap();
        let mut expected: Vec<String> = (0..20_000).map(|i| format!("f{i}")).collect();
        for name in &expected {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        expected.sort();
        let got = list_keys(&fx.store(), &fx.loc("many/"), false)
            .await
            .unwrap();
        let got: Vec<_> = got
            .iter()
            .map(|k| k.rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn symlinks_to_directories_are_not_followed_and_files_must_stay_inside() {
        let fx = fixture(false);
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        touch(&fx.root, "real/f");
        std::os::unix::fs::symlink(fx.path("real"), fx.path("dirlink")).unwrap();
        std::os::unix::fs::symlink(fx.path("real/f"), fx.path("filelink")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), fx.path("escape")).unwrap();
        std::os::unix::fs::symlink(fx.path("nowhere"), fx.path("dangling")).unwrap();
        let keys = rel(
            &fx.root,
            list_keys(&fx.store(), &fx.loc(""), true).await.unwrap(),
        );
        assert_eq!(keys, ["filelink", "real/f"]);
    }

    #[tokio::test]
    async fn temporary_files_of_puts_in_progress_are_skipped() {
        let fx = fixture(false);
        touch(&fx.root, "obj");
        touch(&fx.root, ".obj.s3dlio-tmp-0123456789abcdef");
        touch(&fx.root, ".hidden");
        let keys = rel(
            &fx.root,
            list_keys(&fx.store(), &fx.loc(""), true).await.unwrap(),
        );
        assert_eq!(keys, [".hidden", "obj"]);
    }

    #[tokio::test]
    async fn a_consumer_may_stop_early() {
        let fx = fixture(false);
        for i in 0..3000 {
            touch(&fx.root, &format!("d{}/f{i}", i % 7));
        }
        let store = fx.store();
        let first: Vec<_> = store
            .list(&fx.loc(""), ListOptions { recursive: true })
            .take(5)
            .collect()
            .await;
        assert_eq!(first.len(), 5);
        // The walker stopped (or will) on its own; a new listing is whole.
        assert_eq!(
            list_keys(&store, &fx.loc(""), true).await.unwrap().len(),
            3000
        );
        put_bytes(&store, &fx.loc("d0/f0"), b"x", 0).await.unwrap();
    }
}
