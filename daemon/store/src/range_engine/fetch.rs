//! How the RangeEngine reads: the first request, the split, the range tasks, the version check.
//!
//! `get_into` (shared memory, or any destination): every range task sends its body chunks,
//! tagged with the range's index, through one bounded channel to the reading task, which copies
//! each at its own offset in the one destination reserved for the whole read. The copy out of
//! the network buffer is the only one.
//!
//! `get` (inline delivery, a stream in order): range tasks fetch ahead, each into one buffer of
//! its range's size, handed on whole and in order; at most `max_ranges_per_object` ranges are
//! held at once, which bounds the memory of one read.

use std::ops::Range;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::{mpsc, Semaphore};

use super::cache::Known;
use super::{plan, RangeConfig, RangedStore};
use crate::error::{Error, Result};
use crate::into::{drain_into, GetIntoResult, Reserve};
use crate::range::GetRange;
use crate::retry::RetryPolicy;
use crate::store::{GetOptions, GetResult, ObjectMeta, ObjectStore};
use crate::uri::Location;

/// Why a read could not finish.
enum Fail {
    /// The object is not the version the read started with.
    Changed(Error),
    Other(Error),
}

impl Fail {
    fn into_error(self) -> Error {
        match self {
            Fail::Changed(e) | Fail::Other(e) => e,
        }
    }
}

/// A range task's report to the reading task.
enum Msg {
    Data(usize, Bytes),
    /// The range failed and starts again from its first byte.
    Restart(usize),
    Done(usize, ObjectMeta),
    Failed(Fail),
}

/// `GetOptions` for bytes `r` of the version `known`.
fn ranged(r: &Range<u64>, known: &Known) -> GetOptions {
    GetOptions {
        range: Some(GetRange {
            offset: r.start,
            length: Some(r.end - r.start),
        }),
        chunk_size: 0,
        if_match: known.etag.clone(),
    }
}

fn known_of(meta: &ObjectMeta) -> Known {
    Known {
        size: meta.size,
        etag: meta.etag.clone(),
    }
}

fn changed(uri: &str, before: &Known, now: &str) -> Fail {
    Fail::Changed(Error::FailedPrecondition {
        op: "get",
        uri: uri.to_string(),
        reason: format!(
            "the object changed while it was read (it had {} bytes, ETag {}; {now}); read it again",
            before.size,
            before.etag.as_deref().unwrap_or("none"),
        ),
    })
}

/// The first request of a read: bytes `[offset, offset + chunk)` (cut to what was asked).
fn first_options(wanted: GetRange, cfg: &RangeConfig) -> GetOptions {
    let length = wanted
        .length
        .map_or(cfg.chunk_size, |l| l.min(cfg.chunk_size));
    GetOptions {
        range: Some(GetRange {
            offset: wanted.offset,
            length: Some(length),
        }),
        chunk_size: 0,
        if_match: None,
    }
}

pub(super) async fn get_into(
    s: &RangedStore,
    location: &Location,
    options: GetOptions,
    reserve: &mut dyn Reserve,
) -> Result<GetIntoResult> {
    let uri = location.to_string();
    let wanted = options.range.unwrap_or_default();
    if wanted.length.is_some_and(|l| l <= s.cfg.chunk_size) {
        // One chunk or less was asked for: one plain request, read straight into place.
        return s.inner.get_into(location, options, reserve).await;
    }
    if let Some(known) = s.engine.cache.get(&uri) {
        if let Ok(range) = wanted.resolve("get", &uri, known.size) {
            if range.end - range.start > s.cfg.split_threshold {
                match split_into(s, location, range, known, None, reserve).await {
                    Ok(done) => return Ok(done),
                    // The size was stale: forget it and read as if it had never been known.
                    Err(Fail::Changed(_)) => s.engine.cache.forget(&uri),
                    Err(Fail::Other(e)) => return Err(e),
                }
            }
        }
    }
    let first = s.inner.get(location, first_options(wanted, &s.cfg)).await?;
    s.engine.learn(&first.meta);
    let range = wanted.resolve("get", &uri, first.meta.size)?;
    if first.range == range {
        return drain_into(first, reserve).await;
    }
    let known = known_of(&first.meta);
    split_into(s, location, range, known, Some(first), reserve)
        .await
        .map_err(Fail::into_error)
}

/// Reads `range` of version `known` into one destination, the chunks concurrently. `first`,
/// if given, is the answer to the first chunk, already on its way.
async fn split_into(
    s: &RangedStore,
    location: &Location,
    range: Range<u64>,
    known: Known,
    first: Option<GetResult>,
    reserve: &mut dyn Reserve,
) -> std::result::Result<GetIntoResult, Fail> {
    let uri = location.to_string();
    let parts = match &first {
        Some(f) => {
            let mut v = vec![f.range.clone()];
            v.extend(plan::rest(range.clone(), f.range.clone(), s.cfg.chunk_size));
            v
        }
        None => plan::chunks(range.clone(), s.cfg.chunk_size),
    };
    let mut dest = reserve
        .reserve(range.end - range.start)
        .await
        .map_err(Fail::Other)?;

    let (tx, mut rx) = mpsc::channel::<Msg>(2 * s.cfg.max_ranges_per_object);
    let per_object = Arc::new(Semaphore::new(s.cfg.max_ranges_per_object));
    let mut tasks = tokio::task::JoinSet::new();
    let mut meta = None;
    let mut todo = parts.iter().enumerate();
    if let Some(f) = first {
        let _ = todo.next();
        meta = Some(f.meta.clone());
        let tx = tx.clone();
        tasks.spawn(forward_first(f, tx));
    }
    for (idx, part) in todo {
        let fetch = RangeFetch {
            inner: s.inner.clone(),
            location: location.clone(),
            range: part.clone(),
            known: known.clone(),
            cfg: s.cfg.clone(),
        };
        let permits = [per_object.clone(), s.engine.node.clone()];
        tasks.spawn(range_task(fetch, idx, permits, tx.clone()));
    }
    drop(tx);

    let buf = dest.as_mut_slice();
    let base = range.start;
    let bounds: Vec<Range<usize>> = parts
        .iter()
        .map(|p| (p.start - base) as usize..(p.end - base) as usize)
        .collect();
    let mut cursor: Vec<usize> = bounds.iter().map(|b| b.start).collect();
    let mut left = parts.len();
    let wrong = |what: String| {
        Fail::Other(Error::Io {
            op: "get",
            uri: uri.clone(),
            source: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, what),
        })
    };
    while left > 0 {
        match rx.recv().await {
            Some(Msg::Data(idx, bytes)) => {
                let at = cursor[idx];
                let end = at + bytes.len();
                if end > bounds[idx].end {
                    return Err(wrong(format!(
                        "range {:?} sent more bytes than asked",
                        parts[idx]
                    )));
                }
                buf[at..end].copy_from_slice(&bytes);
                cursor[idx] = end;
            }
            Some(Msg::Restart(idx)) => cursor[idx] = bounds[idx].start,
            Some(Msg::Done(idx, m)) => {
                if cursor[idx] != bounds[idx].end {
                    return Err(wrong(format!("range {:?} ended early", parts[idx])));
                }
                meta.get_or_insert(m);
                left -= 1;
            }
            Some(Msg::Failed(f)) => return Err(f),
            None => return Err(wrong("a range task stopped without a result".into())),
        }
    }
    let mut meta = meta.expect("at least one range completed");
    meta.location = location.clone();
    Ok(GetIntoResult {
        meta,
        range,
        dest: Some(dest),
    })
}

/// Sends the first answer's body on as range 0.
async fn forward_first(first: GetResult, tx: mpsc::Sender<Msg>) {
    let GetResult { meta, mut body, .. } = first;
    while let Some(chunk) = body.next().await {
        let msg = match chunk {
            Ok(b) => Msg::Data(0, b),
            Err(e) => Msg::Failed(Fail::Other(e)),
        };
        let failed = matches!(msg, Msg::Failed(_));
        if tx.send(msg).await.is_err() || failed {
            return;
        }
    }
    let _ = tx.send(Msg::Done(0, meta)).await;
}

/// One range to fetch: bytes `range` of version `known`.
struct RangeFetch {
    inner: Arc<dyn ObjectStore>,
    location: Location,
    range: Range<u64>,
    known: Known,
    cfg: RangeConfig,
}

/// Where a range's bytes go.
enum Sink<'a> {
    Channel(&'a mpsc::Sender<Msg>, usize),
    Buffer(&'a mut BytesMut),
}

impl Sink<'_> {
    /// `false`: the reader went away.
    async fn put(&mut self, b: Bytes) -> bool {
        match self {
            Sink::Channel(tx, idx) => tx.send(Msg::Data(*idx, b)).await.is_ok(),
            Sink::Buffer(buf) => {
                buf.extend_from_slice(&b);
                true
            }
        }
    }

    async fn restart(&mut self) -> bool {
        match self {
            Sink::Channel(tx, idx) => tx.send(Msg::Restart(*idx)).await.is_ok(),
            Sink::Buffer(buf) => {
                buf.clear();
                true
            }
        }
    }
}

/// Fetches range `idx` into the reader's channel once it holds a permit of each semaphore
/// (the object's bound, then the node's).
async fn range_task(
    t: RangeFetch,
    idx: usize,
    permits: [Arc<Semaphore>; 2],
    tx: mpsc::Sender<Msg>,
) {
    let [object, node] = permits;
    let _object = object.acquire_owned().await;
    let _node = node.acquire_owned().await;
    let msg = match fetch_range(&t, &mut Sink::Channel(&tx, idx)).await {
        Ok(meta) => Msg::Done(idx, meta),
        Err(f) => Msg::Failed(f),
    };
    let _ = tx.send(msg).await;
}

/// Fetches one range into `sink`, with the configured timeout and retries.
async fn fetch_range(t: &RangeFetch, sink: &mut Sink<'_>) -> std::result::Result<ObjectMeta, Fail> {
    let uri = t.location.to_string();
    let backoff = RetryPolicy::default();
    let mut attempt = 1;
    loop {
        let once = tokio::time::timeout(t.cfg.range_timeout, fetch_once(t, &uri, sink)).await;
        let err = match once {
            Ok(Ok(meta)) => return Ok(meta),
            Ok(Err(Fail::Changed(e))) => return Err(Fail::Changed(e)),
            Ok(Err(Fail::Other(e))) => e,
            Err(_) => Error::Timeout {
                op: "get",
                uri: uri.clone(),
                reason: format!(
                    "bytes {}-{} took longer than {:?}",
                    t.range.start,
                    t.range.end - 1,
                    t.cfg.range_timeout
                ),
            },
        };
        if !RetryPolicy::is_retryable(&err) || attempt > t.cfg.range_retries {
            return Err(Fail::Other(err));
        }
        let pause = backoff.backoff(attempt);
        crate::retry::note_retry("get", &uri, attempt, pause, &err);
        if !sink.restart().await {
            return Err(Fail::Other(err));
        }
        tokio::time::sleep(pause).await;
        attempt += 1;
    }
}

async fn fetch_once(
    t: &RangeFetch,
    uri: &str,
    sink: &mut Sink<'_>,
) -> std::result::Result<ObjectMeta, Fail> {
    let got = t
        .inner
        .get(&t.location, ranged(&t.range, &t.known))
        .await
        .map_err(|e| match e {
            // The If-Match condition failed: another version is there now.
            Error::FailedPrecondition { .. } if t.known.etag.is_some() => {
                changed(uri, &t.known, &format!("the server said: {e}"))
            }
            e => Fail::Other(e),
        })?;
    if got.meta.size != t.known.size || (t.known.etag.is_some() && got.meta.etag != t.known.etag) {
        return Err(changed(
            uri,
            &t.known,
            &format!(
                "now {} bytes, ETag {}",
                got.meta.size,
                got.meta.etag.as_deref().unwrap_or("none")
            ),
        ));
    }
    if got.range != t.range {
        return Err(Fail::Other(Error::Io {
            op: "get",
            uri: uri.to_string(),
            source: std::io::Error::other(format!(
                "asked for bytes {:?}, the backend answered {:?}",
                t.range, got.range
            )),
        }));
    }
    let GetResult { meta, mut body, .. } = got;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(Fail::Other)?;
        if !sink.put(chunk).await {
            return Err(Fail::Other(Error::ResourceExhausted {
                op: "get",
                uri: uri.to_string(),
                reason: "the reader went away".into(),
            }));
        }
    }
    Ok(meta)
}

/// A read delivered as a stream in order (inline delivery).
pub(super) async fn get(
    s: &RangedStore,
    location: &Location,
    options: GetOptions,
) -> Result<GetResult> {
    let uri = location.to_string();
    let wanted = options.range.unwrap_or_default();
    if wanted.length.is_some_and(|l| l <= s.cfg.chunk_size) {
        return s.inner.get(location, options).await;
    }
    let first = s.inner.get(location, first_options(wanted, &s.cfg)).await?;
    s.engine.learn(&first.meta);
    let range = wanted.resolve("get", &uri, first.meta.size)?;
    if first.range == range {
        return Ok(first);
    }
    let known = known_of(&first.meta);
    let mut parts = vec![Part::First(first.body, first.range.clone())];
    parts.extend(
        plan::rest(range.clone(), first.range.clone(), s.cfg.chunk_size)
            .into_iter()
            .map(Part::Range),
    );
    let (inner, node, cfg) = (s.inner.clone(), s.engine.node.clone(), s.cfg.clone());
    let loc = location.clone();
    // `buffered` starts the first `max_ranges_per_object` parts at once (the first answer's
    // body among them) and hands them on in order: at most that many are held at a time.
    let body = futures::stream::iter(parts)
        .map(move |part| {
            let t = RangeFetch {
                inner: inner.clone(),
                location: loc.clone(),
                range: part.range(),
                known: known.clone(),
                cfg: cfg.clone(),
            };
            let node = node.clone();
            let uri = uri.clone();
            let handle = tokio::spawn(async move {
                let mut buf = BytesMut::with_capacity((t.range.end - t.range.start) as usize);
                match part {
                    Part::First(mut body, _) => {
                        while let Some(chunk) = body.next().await {
                            buf.extend_from_slice(&chunk?);
                        }
                    }
                    Part::Range(_) => {
                        let _node = node.acquire_owned().await;
                        fetch_range(&t, &mut Sink::Buffer(&mut buf))
                            .await
                            .map_err(Fail::into_error)?;
                    }
                }
                if buf.len() as u64 != t.range.end - t.range.start {
                    return Err(Error::Io {
                        op: "get",
                        uri: t.location.to_string(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("range {:?} ended after {} bytes", t.range, buf.len()),
                        ),
                    });
                }
                Ok(buf.freeze())
            });
            async move {
                handle.await.unwrap_or_else(|e| {
                    Err(Error::Io {
                        op: "get",
                        uri,
                        source: std::io::Error::other(format!("range task failed: {e}")),
                    })
                })
            }
        })
        .buffered(s.cfg.max_ranges_per_object);
    Ok(GetResult {
        meta: first.meta,
        range,
        body: Box::pin(body),
    })
}

/// One piece of an inline read.
enum Part {
    /// The first answer's body, already on its way.
    First(crate::store::BoxStream<'static, Result<Bytes>>, Range<u64>),
    Range(Range<u64>),
}

impl Part {
    fn range(&self) -> Range<u64> {
        match self {
            Part::First(_, r) | Part::Range(r) => r.clone(),
        }
    }
}
