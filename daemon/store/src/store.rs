//! The [`ObjectStore`] trait: the small core every backend implements.
//!
//! After `object_store`: a few required operations, conveniences built on top of them, payloads
//! as `bytes::Bytes` chunks that are never concatenated behind the caller's back.

use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use crate::error::{Error, Result};
use crate::into::{GetIntoResult, Reserve};
use crate::range::GetRange;
use crate::uri::Location;

/// A boxed, sendable stream, as the trait returns them.
pub type BoxStream<'a, T> = Pin<Box<dyn Stream<Item = T> + Send + 'a>>;

/// Metadata of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub location: Location,
    pub size: u64,
    pub last_modified: Option<SystemTime>,
    /// Entity tag where the backend has one (file backends derive one from inode, size and
    /// modification time, so it changes whenever the content is replaced).
    pub etag: Option<String>,
    pub content_type: Option<String>,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    Object(ObjectMeta),
    /// A common prefix (a directory for file backends); its key ends with `/`.
    Prefix(Location),
}

impl ListEntry {
    /// The entry's location.
    pub fn location(&self) -> &Location {
        match self {
            ListEntry::Object(m) => &m.location,
            ListEntry::Prefix(l) => l,
        }
    }
}

/// Options of [`ObjectStore::get`].
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    /// `None`: the whole object.
    pub range: Option<GetRange>,
    /// Preferred size of body chunks; 0 lets the backend choose.
    pub chunk_size: usize,
    /// Read only this version (the ETag of an earlier answer): a backend that can make the
    /// condition part of the request (S3 `If-Match`) fails with
    /// [`Error::FailedPrecondition`] when the object is another version now. Backends that
    /// cannot leave the check to the caller, which compares the ETag of the answer.
    pub if_match: Option<String>,
}

/// What [`ObjectStore::get`] returns: the object's metadata, the resolved byte range, and the
/// body as a stream of chunks in order.
pub struct GetResult {
    pub meta: ObjectMeta,
    pub range: std::ops::Range<u64>,
    pub body: BoxStream<'static, Result<Bytes>>,
}

impl std::fmt::Debug for GetResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetResult")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish()
    }
}

impl GetResult {
    /// Collects the body into one buffer. A single-chunk body is returned as is (no copy);
    /// otherwise the chunks are copied once into a buffer allocated at the final size.
    ///
    /// # Errors
    /// The first error of the body stream, or [`Error::Io`] if the body is shorter or longer
    /// than the range it announced.
    pub async fn bytes(mut self) -> Result<Bytes> {
        let expected = self.range.end - self.range.start;
        let first = match self.body.next().await {
            None => Bytes::new(),
            Some(chunk) => chunk?,
        };
        let out = if first.len() as u64 == expected {
            first
        } else {
            let mut buf = BytesMut::with_capacity(expected as usize);
            buf.extend_from_slice(&first);
            while let Some(chunk) = self.body.next().await {
                buf.extend_from_slice(&chunk?);
            }
            buf.freeze()
        };
        if out.len() as u64 != expected || self.body.next().await.is_some() {
            return Err(Error::Io {
                op: "get",
                uri: self.meta.location.to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("body length differs from the {expected} bytes announced"),
                ),
            });
        }
        Ok(out)
    }
}

/// The body of a put: chunks in order. An `Err` item aborts the put (nothing becomes visible).
pub type PutBody = BoxStream<'static, Result<Bytes>>;

/// Options of [`ObjectStore::put`].
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Total size if known in advance; the put fails, leaving nothing behind, if the body
    /// does not match it.
    pub size: Option<u64>,
    pub content_type: Option<String>,
}

/// What a successful put reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    pub size: u64,
    pub etag: Option<String>,
}

/// Options of [`ObjectStore::list`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ListOptions {
    /// Every object below the prefix (`true`), or one level with deeper levels folded into
    /// [`ListEntry::Prefix`] entries (`false`).
    pub recursive: bool,
}

/// A storage backend. Methods take validated [`Location`]s of the backend's own scheme.
///
/// Every error names the operation and the URI and keeps the backend's message.
#[async_trait]
pub trait ObjectStore: Send + Sync + std::fmt::Debug + 'static {
    /// Reads an object or a byte range of it (rules in [`GetRange::resolve`]).
    async fn get(&self, location: &Location, options: GetOptions) -> Result<GetResult>;

    /// Writes an object from a stream of chunks, atomically: readers see the old object or the
    /// new one whole, never a part. On any error nothing is left behind.
    async fn put(
        &self,
        location: &Location,
        body: PutBody,
        options: PutOptions,
    ) -> Result<PutResult>;

    /// Lists entries whose key starts with `prefix.key`, sorted by key, streamed.
    fn list(
        &self,
        prefix: &Location,
        options: ListOptions,
    ) -> BoxStream<'static, Result<ListEntry>>;

    /// Metadata of one object.
    async fn head(&self, location: &Location) -> Result<ObjectMeta>;

    /// Deletes one object. Deleting a missing object is [`Error::NotFound`].
    async fn delete(&self, location: &Location) -> Result<()>;

    /// How many listed objects [`ObjectStore::delete_listed`] removes with one request: 1
    /// for backends without a batch API (the default), 1,000 for S3's DeleteObjects.
    fn delete_batch_size(&self) -> usize {
        1
    }

    /// Deletes objects that a listing has just returned, in as few requests as the backend
    /// allows; one outcome per location, in any order. A key removed by someone else since
    /// the listing may be reported as deleted (S3 cannot tell). The default deletes them one
    /// by one with [`ObjectStore::delete`].
    async fn delete_listed(&self, locations: Vec<Location>) -> Vec<(Location, Result<()>)> {
        let mut out = Vec::with_capacity(locations.len());
        for l in locations {
            let r = self.delete(&l).await;
            out.push((l, r));
        }
        out
    }

    /// Creates a bucket, container or directory. Creating one that exists is not an error.
    async fn create_bucket(&self, location: &Location) -> Result<()>;

    /// Deletes an empty bucket, container or directory ([`Error::FailedPrecondition`] if it is
    /// not empty, [`Error::NotFound`] if it does not exist).
    async fn delete_bucket(&self, location: &Location) -> Result<()>;

    /// Reads an object or a range of it straight into a destination the caller reserves once
    /// the length is known and before the payload is read (a shared-memory arena slice).
    ///
    /// The default drains [`ObjectStore::get`]'s chunks into the destination as they arrive
    /// (one copy, never buffered whole), so every backend supports it; backends that can
    /// read into memory directly (files: `read_at` into the slice) override it.
    ///
    /// # Errors
    /// As [`ObjectStore::get`], the reservation's own error, or [`Error::Io`] for a body
    /// whose length differs from the range it announced.
    async fn get_into(
        &self,
        location: &Location,
        options: GetOptions,
        reserve: &mut dyn Reserve,
    ) -> Result<GetIntoResult> {
        let result = self.get(location, options).await?;
        crate::into::drain_into(result, reserve).await
    }
}
