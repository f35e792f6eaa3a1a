//! put and delete.
//!
//! A put writes into a hidden temporary file beside its target
//! (`.<name>.s3dlio-tmp-<16 hex digits>`, created with `O_EXCL`, mode 0644 less the umask,
//! owned by the caller since the caller's credentials create it), consuming the body chunk by
//! chunk (each chunk written on the blocking pool, as the caller, while the next one is
//! awaited), checks the announced size, optionally fsyncs, and renames the file into place:
//! readers see the old object or the new one whole. Missing parent directories are created first (mode 0755 less
//! the umask), as an object store has no directories to create.
//!
//! On any error, including an `Err` item in the body, the temporary file is removed before
//! the put returns; if the put's future is dropped mid-body, the removal runs in the
//! background. A crash can leave a temporary file behind: listings skip them, and their
//! names say what they are.
//!
//! A put or delete changes a directory entry: a symlink at the target is replaced or
//! removed, never followed (see `confine.rs`).

use std::ffi::{OsStr, OsString};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;

use super::direct::{self, AlignedWriter};
use super::identity::Access;
use super::{etag, is_a_directory, join_error, FileBackend, FileStore, MAX_CHUNK};
use crate::error::{Error, Result};
use crate::store::{PutBody, PutOptions, PutResult};
use crate::uri::Location;

const PUT: &str = "put";
const DELETE: &str = "delete";
const TEMP_MARK: &str = ".s3dlio-tmp-";
/// Longest part of the target's name kept in a temporary name, so that the temporary name
/// stays under the 255-byte limit of file names.
const TEMP_NAME_KEEP: usize = 200;

/// Writes an object atomically (see the module doc).
pub(super) async fn put(
    store: &FileStore,
    location: &Location,
    body: PutBody,
    options: PutOptions,
) -> Result<PutResult> {
    location.require_object(PUT)?;
    let uri = location.to_string();
    let (key, u) = (PathBuf::from(&location.key), uri.clone());
    let staged = store
        .run(PUT, &uri, move |b| create_temp(b, &key, &u))
        .await?;
    let mut cleanup = TempCleanup {
        path: Some(staged.temp.clone()),
        access: store.access.clone(),
    };
    let result = write_and_rename(store, &uri, staged, body, options.size).await;
    if result.is_ok() {
        cleanup.path = None;
    } else {
        cleanup.remove_now().await;
    }
    result
}

/// Deletes one object: a regular file, or a symlink (the link itself).
pub(super) async fn delete(store: &FileStore, location: &Location) -> Result<()> {
    location.require_object(DELETE)?;
    let uri = location.to_string();
    let (key, u) = (PathBuf::from(&location.key), uri.clone());
    store
        .run(DELETE, &uri, move |b| {
            let (dir, name) = b.roots.resolve_entry(DELETE, &u, &key)?;
            let path = dir.join(name);
            let md = std::fs::symlink_metadata(&path).map_err(|e| Error::from_io(DELETE, &u, e))?;
            if md.is_dir() {
                return Err(is_a_directory(DELETE, &u));
            }
            std::fs::remove_file(&path).map_err(|e| Error::from_io(DELETE, &u, e))
        })
        .await
}

/// True for the name of a put's temporary file (listings skip them).
pub(super) fn is_temp_name(name: &str) -> bool {
    name.starts_with('.')
        && name.len() > TEMP_MARK.len() + 16
        && name.get(name.len() - 16 - TEMP_MARK.len()..name.len() - 16) == Some(TEMP_MARK)
        && name[name.len() - 16..]
            .bytes()
            .all(|c| c.is_ascii_hexdigit())
}

/// A temporary file open for writing, and where it goes.
struct Staged {
    sink: Sink,
    temp: PathBuf,
    target: PathBuf,
    dir: PathBuf,
}

/// Where body chunks go: the file itself, or O_DIRECT's aligned buffer.
enum Sink {
    Buffered(File),
    Direct(AlignedWriter),
}

impl Sink {
    fn write(&mut self, data: &[u8], uri: &str) -> Result<()> {
        match self {
            Sink::Buffered(f) => f.write_all(data).map_err(|e| Error::from_io(PUT, uri, e)),
            Sink::Direct(w) => w
                .write(data)
                .map_err(|e| direct::io_error(PUT, uri, w.alignment(), e)),
        }
    }

    fn finish(self, fsync: bool, uri: &str) -> Result<File> {
        let file = match self {
            Sink::Buffered(f) => f,
            Sink::Direct(w) => {
                let align = w.alignment();
                w.finish()
                    .map_err(|e| direct::io_error(PUT, uri, align, e))?
            }
        };
        if fsync {
            file.sync_all().map_err(|e| Error::from_io(PUT, uri, e))?;
        }
        Ok(file)
    }
}

/// Resolves the target, creates its directory and the temporary file.
fn create_temp(b: &FileBackend, key: &Path, uri: &str) -> Result<Staged> {
    let (dir, name) = b.roots.resolve_entry(PUT, uri, key)?;
    let target = dir.join(&name);
    if std::fs::symlink_metadata(&target).is_ok_and(|md| md.is_dir()) {
        return Err(Error::FailedPrecondition {
            op: PUT,
            uri: uri.to_string(),
            reason: "is a directory; an object cannot replace it".into(),
        });
    }
    if b.direct {
        // Before creating anything: the nearest existing directory tells the file system.
        let existing = dir.ancestors().find(|p| p.exists()).unwrap_or(&dir);
        direct::check_dir(existing, PUT, uri)?;
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&dir)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory => {
                Error::FailedPrecondition {
                    op: PUT,
                    uri: uri.to_string(),
                    reason: format!(
                        "cannot create directory {}: a file is in the way",
                        dir.display()
                    ),
                }
            }
            _ => Error::from_io(PUT, uri, e),
        })?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true).mode(0o644);
    if b.direct {
        options.custom_flags(direct::O_DIRECT);
    }
    let mut attempts = 0;
    loop {
        let temp = dir.join(temp_name(&name));
        match options.open(&temp) {
            Ok(file) => {
                let sink = if b.direct {
                    let align = b.config.alignment;
                    let buf = b.config.read_chunk.min(MAX_CHUNK).next_multiple_of(align);
                    Sink::Direct(AlignedWriter::new(file, buf, align))
                } else {
                    Sink::Buffered(file)
                };
                return Ok(Staged {
                    sink,
                    temp,
                    target,
                    dir,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => attempts += 1,
            Err(e) if b.direct && direct::is_refusal(&e) => return Err(direct::refused(PUT, uri)),
            Err(e) => return Err(Error::from_io(PUT, uri, e)),
        }
    }
}

/// `.<name>.s3dlio-tmp-<16 hex digits>`, the name cut to [`TEMP_NAME_KEEP`] bytes (at a
/// character boundary when it is UTF-8).
fn temp_name(name: &OsStr) -> OsString {
    let bytes = name.as_bytes();
    let mut keep = bytes.len().min(TEMP_NAME_KEEP);
    if let Ok(s) = std::str::from_utf8(bytes) {
        while !s.is_char_boundary(keep) {
            keep -= 1;
        }
    }
    let mut out = OsString::from(".");
    out.push(OsStr::from_bytes(&bytes[..keep]));
    out.push(format!("{TEMP_MARK}{:016x}", random_u64()));
    out
}

/// A fresh random number per call, from std's randomly keyed hasher.
fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::hash::RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Streams the body into the temporary file, then finishes it and renames it into place.
async fn write_and_rename(
    store: &FileStore,
    uri: &str,
    staged: Staged,
    mut body: PutBody,
    announced: Option<u64>,
) -> Result<PutResult> {
    let Staged {
        sink,
        temp,
        target,
        dir,
    } = staged;
    let wrong_size = |got: u64, expected: u64| Error::InvalidArgument {
        op: PUT,
        uri: uri.to_string(),
        reason: format!("the body has {got} bytes or more but the request announced {expected}"),
    };
    let mut sink = Some(sink);
    let mut pending: Option<tokio::task::JoinHandle<(Sink, Result<()>)>> = None;
    let mut size = 0u64;
    loop {
        // The next chunk arrives while the previous one is being written.
        let item = body.next().await;
        if let Some(write) = pending.take() {
            let (s, written) = write.await.map_err(|e| join_error(PUT, uri, e))?;
            written?;
            sink = Some(s);
        }
        let chunk: Bytes = match item {
            None => break,
            Some(Err(e)) => return Err(e),
            Some(Ok(chunk)) => chunk,
        };
        size += chunk.len() as u64;
        if let Some(expected) = announced.filter(|&n| size > n) {
            return Err(wrong_size(size, expected));
        }
        if chunk.is_empty() {
            continue;
        }
        let mut s = sink
            .take()
            .expect("the previous write handed the sink back");
        let (access, u) = (store.access.clone(), uri.to_string());
        pending = Some(tokio::task::spawn_blocking(move || {
            // As the caller: space reserved for root and quotas apply to it, not the daemon.
            let written = access
                .enter(PUT, &u)
                .and_then(|_as_caller| s.write(&chunk, &u));
            (s, written)
        }));
    }
    if let Some(expected) = announced.filter(|&n| size != n) {
        return Err(Error::InvalidArgument {
            op: PUT,
            uri: uri.to_string(),
            reason: format!("the body has {size} bytes but the request announced {expected}"),
        });
    }
    let sink = sink.expect("no write is pending after the body ended");
    let fsync = store.backend.config.fsync;
    let u = uri.to_string();
    store
        .run(PUT, uri, move |_| {
            let file = sink.finish(fsync, &u)?;
            let md = file.metadata().map_err(|e| Error::from_io(PUT, &u, e))?;
            drop(file);
            std::fs::rename(&temp, &target).map_err(|e| Error::from_io(PUT, &u, e))?;
            if fsync {
                // Makes the rename itself durable. Should this fail, the object is in place
                // but the put still reports the error: its durability is not assured.
                File::open(&dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| Error::from_io(PUT, &u, e))?;
            }
            Ok(PutResult {
                size: md.len(),
                etag: Some(etag_of(&md)),
            })
        })
        .await
}

fn etag_of(md: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    etag(md.ino(), md.len(), md.mtime(), md.mtime_nsec())
}

/// Removes a put's temporary file unless disarmed (`path = None`): at once on the error
/// path, in the background if the put's future is dropped.
struct TempCleanup {
    path: Option<PathBuf>,
    access: Arc<Access>,
}

impl TempCleanup {
    async fn remove_now(&mut self) {
        if let Some(path) = self.path.take() {
            let access = self.access.clone();
            let _ = tokio::task::spawn_blocking(move || remove_temp(&access, &path)).await;
        }
    }
}

impl Drop for TempCleanup {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else { return };
        let access = self.access.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(move || remove_temp(&access, &path))),
            Err(_) => remove_temp(&access, &path),
        }
    }
}

fn remove_temp(access: &Access, path: &Path) {
    let result = access
        .enter(PUT, &path.display().to_string())
        .map_err(|e| e.to_string())
        .and_then(|_as_caller| match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        });
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), "cannot remove a failed put's temporary file: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{body, failing_body, fixture, get_range, pattern, put_bytes};
    use super::*;
    use crate::store::{GetOptions, ObjectStore};

    fn names_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn a_failing_body_keeps_the_old_object_and_leaves_no_temporary_file() {
        for direct in [false, true] {
            let fx = fixture(direct);
            let store = fx.store();
            let loc = fx.loc("d/obj");
            put_bytes(&store, &loc, b"old content", 0).await.unwrap();
            let e = store
                .put(&loc, failing_body(&pattern(100_000)), PutOptions::default())
                .await
                .unwrap_err();
            assert!(matches!(e, Error::Unavailable { .. }), "{e}");
            assert_eq!(
                get_range(&store, &loc, None, 0).await.unwrap(),
                &b"old content"[..]
            );
            assert_eq!(names_in(&fx.path("d")), vec!["obj"]);
        }
    }

    #[tokio::test]
    async fn a_body_that_differs_from_the_announced_size_is_refused_and_leaves_nothing() {
        let fx = fixture(false);
        let store = fx.store();
        for (len, announced) in [(10usize, 11u64), (10, 9), (0, 1)] {
            let loc = fx.loc("sized");
            let options = PutOptions {
                size: Some(announced),
                content_type: None,
            };
            let e = store
                .put(&loc, body(&pattern(len), 3), options)
                .await
                .unwrap_err();
            assert!(matches!(e, Error::InvalidArgument { op: "put", .. }), "{e}");
            assert!(names_in(&fx.root).is_empty(), "{:?}", names_in(&fx.root));
        }
        let options = PutOptions {
            size: Some(10),
            content_type: None,
        };
        store
            .put(&fx.loc("sized"), body(&pattern(10), 3), options)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_reader_keeps_the_version_it_opened_while_a_put_replaces_it() {
        let fx = fixture(false);
        let store = fx.store();
        let loc = fx.loc("v");
        let old = pattern(64 * 1024);
        put_bytes(&store, &loc, &old, 0).await.unwrap();
        let reading = store
            .get(
                &loc,
                GetOptions {
                    range: None,
                    chunk_size: 4096,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        put_bytes(&store, &loc, &vec![7u8; 100_000], 0)
            .await
            .unwrap();
        assert_eq!(reading.bytes().await.unwrap(), old);
        assert_eq!(
            get_range(&store, &loc, None, 0).await.unwrap().len(),
            100_000
        );
    }

    #[tokio::test]
    async fn put_creates_parents_and_refuses_to_replace_a_directory() {
        let fx = fixture(false);
        let store = fx.store();
        put_bytes(&store, &fx.loc("x/y/z/obj"), b"1", 0)
            .await
            .unwrap();
        assert!(fx.path("x/y/z").is_dir());
        let e = put_bytes(&store, &fx.loc("x/y"), b"1", 0)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition { .. }), "{e}");
        let e = put_bytes(&store, &fx.loc("x/y/z/obj/below"), b"1", 0)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition { .. }), "{e}");
        let e = put_bytes(&store, &fx.loc("x/"), b"1", 0).await.unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    }

    #[tokio::test]
    async fn put_and_delete_change_a_symlink_itself_never_its_target() {
        let fx = fixture(false);
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("target");
        std::fs::write(&target, b"outside").unwrap();
        std::os::unix::fs::symlink(&target, fx.path("link")).unwrap();
        let store = fx.store();
        // Reading through it is refused: it leads out of the roots.
        let e = get_range(&store, &fx.loc("link"), None, 0)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
        put_bytes(&store, &fx.loc("link"), b"inside", 0)
            .await
            .unwrap();
        assert!(!fx.path("link").is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"outside");
        std::os::unix::fs::symlink(&target, fx.path("link2")).unwrap();
        store.delete(&fx.loc("link2")).await.unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"outside");
    }

    #[tokio::test]
    async fn delete_removes_objects_only() {
        let fx = fixture(false);
        let store = fx.store();
        put_bytes(&store, &fx.loc("dir/obj"), b"1", 0)
            .await
            .unwrap();
        store.delete(&fx.loc("dir/obj")).await.unwrap();
        assert!(fx.path("dir").is_dir(), "directories are left in place");
        let e = store.delete(&fx.loc("dir/obj")).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { op: "delete", .. }), "{e}");
        let e = store.delete(&fx.loc("dir")).await.unwrap_err();
        assert!(
            e.to_string().contains("is a directory, not an object"),
            "{e}"
        );
        assert!(fx.path("dir").is_dir());
    }

    #[tokio::test]
    async fn a_dropped_put_removes_its_temporary_file_in_the_background() {
        let fx = fixture(false);
        let store = std::sync::Arc::new(fx.store());
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(1);
        let body: PutBody = Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
        let loc = fx.loc("slow");
        let task = tokio::spawn({
            let store = store.clone();
            async move { store.put(&loc, body, PutOptions::default()).await }
        });
        tx.send(Ok(Bytes::from_static(b"first"))).await.unwrap();
        let mut seen = false;
        for _ in 0..1000 {
            if names_in(&fx.root).iter().any(|n| is_temp_name(n)) {
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(seen, "the put never created its temporary file");
        task.abort();
        let _ = task.await;
        for _ in 0..1000 {
            if names_in(&fx.root).is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("temporary file left behind: {:?}", names_in(&fx.root));
    }

    #[test]
    fn temporary_names_are_recognised_and_stay_short() {
        let t = temp_name(OsStr::new("model.safetensors"));
        let t = t.to_str().unwrap();
        assert!(t.starts_with(".model.safetensors.s3dlio-tmp-"), "{t}");
        assert!(is_temp_name(t));
        assert!(!is_temp_name("model.safetensors"));
        assert!(!is_temp_name(".x.s3dlio-tmp-notahexnumber!"));
        let long = "é".repeat(127);
        let t = temp_name(OsStr::new(&long));
        assert!(t.len() <= 255 && t.to_str().is_some(), "{}", t.len());
        assert!(is_temp_name(t.to_str().unwrap()));
    }
}
