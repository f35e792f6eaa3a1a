//! get and stat.
//!
//! A get opens the file, takes its metadata from the open descriptor, resolves the range and
//! reads the first chunk in one blocking call: an object no larger than a chunk costs one
//! trip to the blocking pool and comes back as a single chunk. Longer bodies are streamed:
//! each further chunk is one positional read (`read_at`) on the same descriptor, and the
//! next chunk is read while the caller consumes the current one (at most two chunks in
//! memory per stream). The descriptor pins the inode, so a put that replaces the object
//! mid-stream does not mix two versions; a file that shrinks mid-stream ends the body with
//! an error rather than a short body.

use std::fs::{File, OpenOptions};
use std::io;
use std::num::NonZeroU64;
use std::ops::Range;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use rustix::fs::Advice;

use super::{
    direct, is_a_directory, join_error, not_regular, object_meta, Fadvise, FileBackend, FileStore,
};
use crate::error::{Error, Result};
use crate::into::{drain_into, GetIntoResult, Reserve};
use crate::range::GetRange;
use crate::store::{BoxStream, GetOptions, GetResult, ObjectMeta};
use crate::uri::Location;

const GET: &str = "get";
const STAT: &str = "stat";

/// Reads an object or a range of it (see the module doc).
pub(super) async fn get(
    store: &FileStore,
    location: &Location,
    options: GetOptions,
) -> Result<GetResult> {
    location.require_object(GET)?;
    let uri = location.to_string();
    let chunk = store.backend.chunk_size(options.chunk_size) as u64;
    let requested = options.range.unwrap_or_default();
    let (loc, u) = (location.clone(), uri.clone());
    let opened = store
        .run(GET, &uri, move |b| {
            open_and_read_first(b, loc, &u, requested, chunk)
        })
        .await?;
    let rest = ChunkReader {
        file: Arc::new(opened.file),
        next: opened.first_end,
        end: opened.range.end,
        chunk,
        backend: store.backend.clone(),
        uri,
    };
    let first = (!opened.first.is_empty()).then_some(Ok(opened.first));
    // Fused: consumers such as `GetResult::bytes` poll once more after the end.
    let body: BoxStream<'static, Result<Bytes>> = if rest.next < rest.end {
        Box::pin(
            futures::stream::iter(first)
                .chain(rest.into_stream())
                .fuse(),
        )
    } else {
        Box::pin(futures::stream::iter(first))
    };
    Ok(GetResult {
        meta: opened.meta,
        range: opened.range,
        body,
    })
}

/// Reads an object or a range of it straight into the caller's destination: the open runs
/// as the caller (like every get); when the caller has room right now the same blocking call
/// reserves it and reads, else the reservation waits for room and one positional read on the
/// blocking pool fills the destination (no impersonation needed on an open descriptor).
/// `direct://` needs aligned buffers and keeps the generic path.
pub(super) async fn get_into(
    store: &FileStore,
    location: &Location,
    options: GetOptions,
    reserve: &mut dyn Reserve,
) -> Result<GetIntoResult> {
    if store.backend.direct {
        return drain_into(get(store, location, options).await?, reserve).await;
    }
    location.require_object(GET)?;
    let uri = location.to_string();
    let requested = options.range.unwrap_or_default();
    let (loc, u) = (location.clone(), uri.clone());
    // Usually the room is there: then the open, the reservation and the read are one trip to
    // the blocking pool instead of two (each trip is a thread hand-off both ways).
    let quick = reserve.try_now();
    let (file, meta, range, filled) = store
        .run(GET, &uri, move |b| {
            let (file, meta, range) = open_resolved(b, loc, &u, requested)?;
            let len = range.end - range.start;
            let Some(mut dest) = quick.filter(|_| len > 0).and_then(|q| q.try_reserve(len)) else {
                return Ok((file, meta, range, None));
            };
            read_exact_at(&file, dest.as_mut_slice(), range.start)
                .map_err(|e| read_error(b, &u, e))?;
            Ok((file, meta, range, Some(dest)))
        })
        .await?;
    if filled.is_some() || range.is_empty() {
        return Ok(GetIntoResult {
            meta,
            range,
            dest: filled,
        });
    }
    let mut dest = reserve.reserve(range.end - range.start).await?;
    let (backend, u, start) = (store.backend.clone(), uri.clone(), range.start);
    let dest = tokio::task::spawn_blocking(move || {
        read_exact_at(&file, dest.as_mut_slice(), start)
            .map_err(|e| read_error(&backend, &u, e))?;
        Ok::<_, Error>(dest)
    })
    .await
    .map_err(|e| join_error(GET, &uri, e))??;
    Ok(GetIntoResult {
        meta,
        range,
        dest: Some(dest),
    })
}

/// Fills `buf` from `offset` with positional reads; a file that ends early has shrunk.
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => return Err(shrank()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Metadata of one object (op `stat`).
pub(super) async fn head(store: &FileStore, location: &Location) -> Result<ObjectMeta> {
    location.require_object(STAT)?;
    let uri = location.to_string();
    let (loc, u) = (location.clone(), uri.clone());
    store
        .run(STAT, &uri, move |b| {
            let path = b.roots.resolve(STAT, &u, Path::new(&loc.key))?;
            let md = std::fs::metadata(&path).map_err(|e| Error::from_io(STAT, &u, e))?;
            if md.is_dir() {
                return Err(is_a_directory(STAT, &u));
            }
            if !md.is_file() {
                return Err(not_regular(STAT, &u));
            }
            Ok(object_meta(loc, &md))
        })
        .await
}

/// What the first blocking call of a get hands back.
struct Opened {
    file: File,
    meta: ObjectMeta,
    range: Range<u64>,
    first: Bytes,
    first_end: u64,
}

fn open_and_read_first(
    b: &FileBackend,
    loc: Location,
    uri: &str,
    requested: GetRange,
    chunk: u64,
) -> Result<Opened> {
    let (file, meta, range) = open_resolved(b, loc, uri, requested)?;
    let first_end = chunk_end(b, range.start, range.end, chunk);
    let first = read_range(b, &file, range.start..first_end).map_err(|e| read_error(b, uri, e))?;
    Ok(Opened {
        file,
        meta,
        range,
        first,
        first_end,
    })
}

/// Opens the object, resolves the range against its size, and gives the kernel the
/// configured read-ahead advice.
fn open_resolved(
    b: &FileBackend,
    loc: Location,
    uri: &str,
    requested: GetRange,
) -> Result<(File, ObjectMeta, Range<u64>)> {
    let path = b.roots.resolve(GET, uri, Path::new(&loc.key))?;
    let (file, md) = open_for_read(b, &path, uri)?;
    let range = requested.resolve(GET, uri, md.len())?;
    if !b.direct {
        let len = NonZeroU64::new(range.end - range.start);
        let advice = match b.config.fadvise {
            Fadvise::Sequential => Some(Advice::Sequential),
            Fadvise::Random => Some(Advice::Random),
            Fadvise::None | Fadvise::Dontneed => None,
        };
        if let Some(advice) = advice {
            // Advice only: a file system that ignores it reads correctly anyway.
            let _ = rustix::fs::fadvise(&file, range.start, len, advice);
        }
    }
    Ok((file, object_meta(loc, &md), range))
}

/// Opens a regular file for reading (O_DIRECT for `direct://`).
///
/// `O_NONBLOCK` keeps a FIFO from blocking the open; it changes nothing for regular files.
fn open_for_read(b: &FileBackend, path: &Path, uri: &str) -> Result<(File, std::fs::Metadata)> {
    let mut flags = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    if b.direct {
        flags |= direct::O_DIRECT;
    }
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(f) => f,
        Err(e) if b.direct && direct::is_refusal(&e) => return Err(direct::refused(GET, uri)),
        Err(e) => return Err(Error::from_io(GET, uri, e)),
    };
    let md = file.metadata().map_err(|e| Error::from_io(GET, uri, e))?;
    if md.is_dir() {
        return Err(is_a_directory(GET, uri));
    }
    if !md.is_file() {
        return Err(not_regular(GET, uri));
    }
    if b.direct {
        direct::check_file(&file, GET, uri)?;
    }
    Ok((file, md))
}

/// End of the chunk that starts at `start`: `direct://` chunks after the first start on
/// alignment boundaries, so only the first and last read of a range are unaligned.
fn chunk_end(b: &FileBackend, start: u64, end: u64, chunk: u64) -> u64 {
    let base = if b.direct {
        start - start % b.config.alignment as u64
    } else {
        start
    };
    end.min(base + chunk)
}

fn read_range(b: &FileBackend, file: &File, range: Range<u64>) -> io::Result<Bytes> {
    if b.direct {
        direct::read_aligned(file, range, b.config.alignment)
    } else {
        read_buffered(file, range, b.config.fadvise == Fadvise::Dontneed)
    }
}

fn read_error(b: &FileBackend, uri: &str, err: io::Error) -> Error {
    if b.direct {
        direct::io_error(GET, uri, b.config.alignment, err)
    } else {
        Error::from_io(GET, uri, err)
    }
}

/// Reads exactly `range` with positional reads.
fn read_buffered(file: &File, range: Range<u64>, dontneed: bool) -> io::Result<Bytes> {
    let len = usize::try_from(range.end - range.start).map_err(io::Error::other)?;
    if len == 0 {
        return Ok(Bytes::new());
    }
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], range.start + filled as u64) {
            Ok(0) => return Err(shrank()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if dontneed {
        let _ = rustix::fs::fadvise(
            file,
            range.start,
            NonZeroU64::new(len as u64),
            Advice::DontNeed,
        );
    }
    Ok(Bytes::from(buf))
}

/// The error for a file that ends before the size its metadata announced.
pub(super) fn shrank() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file shrank while being read (it was truncated in place)",
    )
}

/// The chunks of a get after the first one, each read on the blocking pool.
struct ChunkReader {
    file: Arc<File>,
    next: u64,
    end: u64,
    chunk: u64,
    backend: Arc<FileBackend>,
    uri: String,
}

type PendingChunk = tokio::task::JoinHandle<Result<Bytes>>;

impl ChunkReader {
    /// Starts reading the next chunk, if any is left.
    fn spawn_next(&mut self) -> Option<PendingChunk> {
        if self.next >= self.end {
            return None;
        }
        let range = self.next..chunk_end(&self.backend, self.next, self.end, self.chunk);
        self.next = range.end;
        let (file, backend, uri) = (self.file.clone(), self.backend.clone(), self.uri.clone());
        Some(tokio::task::spawn_blocking(move || {
            read_range(&backend, &file, range).map_err(|e| read_error(&backend, &uri, e))
        }))
    }

    /// The remaining chunks in order; one read ahead of the consumer, none after an error.
    fn into_stream(mut self) -> impl futures::Stream<Item = Result<Bytes>> + Send + 'static {
        let pending = self.spawn_next();
        futures::stream::unfold((self, pending), |(mut reader, pending)| async move {
            let chunk = match pending?.await {
                Ok(r) => r,
                Err(e) => Err(join_error(GET, &reader.uri, e)),
            };
            let next = if chunk.is_ok() {
                reader.spawn_next()
            } else {
                None
            };
            Some((chunk, (reader, next)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{fixture, get_range, pattern, put_bytes};
    use super::*;
    use crate::store::{GetOptions, ObjectStore};

    #[tokio::test]
    async fn file_round_trips_objects_of_every_size() {
        let fx = fixture(false);
        let store = fx.store();
        for size in [0usize, 1, 4095, 4097, (1 << 20) + 3] {
            let loc = fx.loc(&format!("a/b/obj-{size}"));
            let data = pattern(size);
            assert_eq!(
                put_bytes(&store, &loc, &data, 777).await.unwrap().size,
                size as u64
            );
            let got = get_range(&store, &loc, None, 0).await.unwrap();
            assert!(got == data[..], "size {size}");
        }
    }

    #[tokio::test]
    async fn ranges_cover_first_and_last_byte_and_refuse_past_the_end() {
        let fx = fixture(false);
        let store = fx.store();
        let data = pattern(10_000);
        let loc = fx.loc("r");
        put_bytes(&store, &loc, &data, 0).await.unwrap();
        let r = |offset, length| Some(GetRange { offset, length });
        assert_eq!(
            get_range(&store, &loc, r(0, Some(1)), 0).await.unwrap(),
            data[..1]
        );
        assert_eq!(
            get_range(&store, &loc, r(9_999, None), 0).await.unwrap(),
            data[9_999..]
        );
        assert_eq!(
            get_range(&store, &loc, r(9_000, Some(5_000)), 0)
                .await
                .unwrap(),
            data[9_000..]
        );
        let e = get_range(&store, &loc, r(10_000, None), 0)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::OutOfRange {
                    offset: 10_000,
                    size: 10_000,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn small_objects_come_in_one_chunk_and_large_ones_in_chunks_of_the_asked_size() {
        let fx = fixture(false);
        let store = fx.store();
        let data = pattern(10_000);
        let loc = fx.loc("c");
        put_bytes(&store, &loc, &data, 0).await.unwrap();
        let chunks = |chunk_size| {
            let store = &store;
            let loc = &loc;
            async move {
                let res = store
                    .get(
                        loc,
                        GetOptions {
                            range: None,
                            chunk_size,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                res.body.map(|c| c.unwrap().len()).collect::<Vec<_>>().await
            }
        };
        assert_eq!(chunks(0).await, vec![10_000]);
        assert_eq!(chunks(4096).await, vec![4096, 4096, 1808]);
        let empty = fx.loc("empty");
        put_bytes(&store, &empty, b"", 0).await.unwrap();
        let res = store.get(&empty, GetOptions::default()).await.unwrap();
        assert_eq!(res.range, 0..0);
        assert!(res.bytes().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn head_reports_size_and_the_etag_put_returned_and_directories_are_not_objects() {
        let fx = fixture(false);
        let store = fx.store();
        let loc = fx.loc("h/x");
        let put = put_bytes(&store, &loc, b"12345", 0).await.unwrap();
        let meta = store.head(&loc).await.unwrap();
        assert_eq!((meta.size, meta.etag.clone()), (5, put.etag.clone()));
        assert!(meta.last_modified.is_some() && meta.content_type.is_none());
        let again = put_bytes(&store, &loc, b"12345", 0).await.unwrap();
        assert_ne!(again.etag, put.etag, "a replaced object gets a new etag");
        for e in [
            store.head(&fx.loc("h")).await.unwrap_err(),
            store
                .get(&fx.loc("h"), GetOptions::default())
                .await
                .unwrap_err(),
        ] {
            assert!(matches!(e, Error::NotFound { .. }), "{e}");
            assert!(
                e.to_string().contains("is a directory, not an object"),
                "{e}"
            );
        }
        let e = store.head(&fx.loc("h/missing")).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { op: "stat", .. }), "{e}");
    }

    #[tokio::test]
    async fn fifos_are_refused_without_blocking() {
        let fx = fixture(false);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            fx.path("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let e = fx
            .store()
            .get(&fx.loc("fifo"), GetOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition { .. }), "{e}");
    }
}
