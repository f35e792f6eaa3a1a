//! Reading into a caller's memory: the types of [`ObjectStore::get_into`] and the generic
//! implementation that drains a body stream into the destination.
//!
//! The reservation happens after the backend knows the payload's length (a file's size from
//! its open descriptor, a response's `Content-Length`) and before it reads the payload, so a
//! caller whose memory is full holds the fetch back instead of buffering it.
//!
//! [`ObjectStore::get_into`]: crate::ObjectStore::get_into

use async_trait::async_trait;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::store::{GetResult, ObjectMeta};

/// Memory a payload is written into, exactly as long as the payload. `Any` lets the caller
/// that reserved it take its own type back from the returned box.
pub trait Destination: std::any::Any + Send {
    fn as_mut_slice(&mut self) -> &mut [u8];
}

/// Hands out the destination of one payload once its length is known.
#[async_trait]
pub trait Reserve: Send {
    /// Returns a destination of exactly `len` (≥ 1) bytes, waiting for room if needed.
    ///
    /// # Errors
    /// Typically [`Error::ResourceExhausted`]: the payload can never fit, or the caller left.
    async fn reserve(&mut self, len: u64) -> Result<Box<dyn Destination>>;

    /// A handle that takes room without waiting, from any thread, or `None` if this caller
    /// has no such path. A backend that learns the length and can read the payload in the
    /// same blocking call (local files) uses it to do both in one trip to the blocking pool.
    fn try_now(&self) -> Option<std::sync::Arc<dyn TryReserve>> {
        None
    }
}

/// The waiting-free half of [`Reserve`]: see [`Reserve::try_now`].
pub trait TryReserve: Send + Sync {
    /// A destination of exactly `len` (≥ 1) bytes if there is room now and nobody is waiting
    /// ahead; `None` otherwise, and the caller then goes through [`Reserve::reserve`] (which
    /// also reports a payload that can never fit).
    fn try_reserve(&self, len: u64) -> Option<Box<dyn Destination>>;
}

/// What [`crate::ObjectStore::get_into`] returns: the metadata, the resolved range, and the
/// filled destination (`None` for an empty range: nothing was reserved).
pub struct GetIntoResult {
    pub meta: ObjectMeta,
    pub range: std::ops::Range<u64>,
    pub dest: Option<Box<dyn Destination>>,
}

impl std::fmt::Debug for GetIntoResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetIntoResult")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .field("filled", &self.dest.is_some())
            .finish()
    }
}

/// Reserves the range's length, then copies the body's chunks into it as they arrive.
///
/// # Errors
/// The body's first error, the reservation's error, or [`Error::Io`] if the body is longer
/// or shorter than the announced range.
pub async fn drain_into(result: GetResult, reserve: &mut dyn Reserve) -> Result<GetIntoResult> {
    let GetResult {
        meta,
        range,
        mut body,
    } = result;
    let len = range.end - range.start;
    if len == 0 {
        return Ok(GetIntoResult {
            meta,
            range,
            dest: None,
        });
    }
    let mut dest = reserve.reserve(len).await?;
    let buf = dest.as_mut_slice();
    let mut filled = 0usize;
    let wrong_length = |what: &str| Error::Io {
        op: "get",
        uri: meta.location.to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("body {what} than the {len} bytes announced"),
        ),
    };
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        let end = filled + chunk.len();
        if end > buf.len() {
            return Err(wrong_length("longer"));
        }
        buf[filled..end].copy_from_slice(&chunk);
        filled = end;
    }
    if filled != buf.len() {
        return Err(wrong_length("shorter"));
    }
    Ok(GetIntoResult {
        meta,
        range,
        dest: Some(dest),
    })
}

/// A plain heap destination, for tests and callers without shared memory.
impl Destination for Vec<u8> {
    fn as_mut_slice(&mut self) -> &mut [u8] {
        self
    }
}
