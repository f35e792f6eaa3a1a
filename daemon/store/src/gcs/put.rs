//! Simple uploads for small objects, resumable uploads in chunks for large ones.
//!
//! The body is read until `resumable_threshold` bytes have arrived: a body that ends first
//! goes out as one simple upload. Otherwise a resumable session is opened and the body is sent
//! in chunks of `chunk_size` bytes (a multiple of 256 KiB), one at a time as GCS requires,
//! reading one chunk ahead so that the last chunk carries the total size and completes the
//! object. Until then nothing is visible: readers see the old object or none. A failed put
//! (a chunk refused, a body error, a size that differs from the one announced) cancels the
//! session, so no upload is left open.

use std::borrow::Cow;

use bytes::Bytes;
use gcloud_storage::http::objects::upload::{Media, UploadObjectRequest, UploadType};
use gcloud_storage::http::objects::Object;
use gcloud_storage::http::resumable_upload_client::{
    ChunkSize, ResumableUploadClient, UploadStatus,
};

use crate::body::{check_size, fill};
use crate::error::{Error, Result};
use crate::store::{PutBody, PutOptions, PutResult};
use crate::uri::Location;

use super::client::Gcs;
use super::etag_of;

pub(crate) async fn put(
    gcs: &Gcs,
    location: &Location,
    mut body: PutBody,
    options: PutOptions,
) -> Result<PutResult> {
    location.require_object("put")?;
    let uri = location.to_string();
    let threshold = gcs.config.resumable_threshold;
    let (first, ended) = fill(&mut body, threshold.max(gcs.config.chunk_size)).await?;
    let request = UploadObjectRequest {
        bucket: location.bucket.clone(),
        ..UploadObjectRequest::default()
    };
    let media = Media {
        name: Cow::Owned(location.key.clone()),
        content_type: Cow::Owned(
            options
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
        ),
        content_length: None,
    };
    if ended && (first.len() as u64) < threshold {
        check_size(&uri, options.size, first.len() as u64)?;
        let size = first.len() as u64;
        let upload = UploadType::Simple(Media {
            content_length: Some(size),
            ..media
        });
        let object = gcs
            .call("put", &uri, |a| {
                let (request, upload, data) = (request.clone(), upload.clone(), first.clone());
                async move { a.sdk.upload_object(&request, data, &upload).await }
            })
            .await?;
        return Ok(result(size, &object));
    }
    let upload = UploadType::Simple(media);
    let session = gcs
        .call("put", &uri, |a| {
            let (request, upload) = (request.clone(), upload.clone());
            async move { a.sdk.prepare_resumable_upload(&request, &upload).await }
        })
        .await?;
    match send_chunks(gcs, &uri, &session, body, first, ended, options.size).await {
        Ok(r) => Ok(r),
        Err(e) => {
            // Best effort: the session expires by itself after a week if this fails too.
            let _ = session.cancel().await;
            Err(e)
        }
    }
}

fn result(size: u64, object: &Object) -> PutResult {
    PutResult {
        size,
        etag: etag_of(object.generation),
    }
}

/// Sends the body in chunks, reading one ahead; the last chunk completes the object.
async fn send_chunks(
    gcs: &Gcs,
    uri: &str,
    session: &ResumableUploadClient,
    mut body: PutBody,
    mut pending: Bytes,
    mut ended: bool,
    announced: Option<u64>,
) -> Result<PutResult> {
    let chunk_size = gcs.config.chunk_size as usize;
    let mut offset = 0u64;
    loop {
        // Top up to one chunk, and learn whether more follows it.
        while pending.len() <= chunk_size && !ended {
            let want = (chunk_size + 1 - pending.len()) as u64;
            let (more, end) = fill(&mut body, want).await?;
            ended = end;
            pending = concat(pending, more);
        }
        let last = ended && pending.len() <= chunk_size;
        let chunk = pending.split_to(chunk_size.min(pending.len()));
        let len = chunk.len() as u64;
        let total = last.then_some(offset + len);
        if let Some(total) = total {
            check_size(uri, announced, total)?;
        }
        let range = if len == 0 {
            // Only an empty body reaches here: a resumable upload needs at least one chunk.
            ChunkSize::new(0, 0, Some(0))
        } else {
            ChunkSize::new(offset, offset + len - 1, total)
        };
        let status = gcs
            .call("put", uri, |_| {
                let (chunk, range) = (chunk.clone(), range.clone());
                async move { session.upload_multiple_chunk(chunk, &range).await }
            })
            .await?;
        offset += len;
        match (status, total) {
            (UploadStatus::Ok(object), Some(total)) => return Ok(result(total, &object)),
            (UploadStatus::ResumeIncomplete(r), None) if r.last_byte + 1 == offset => {}
            (other, _) => {
                let seen = match other {
                    UploadStatus::Ok(_) => "completed the object early".to_string(),
                    UploadStatus::NotStarted => "has no bytes".to_string(),
                    UploadStatus::ResumeIncomplete(r) => {
                        format!("has bytes {}-{}", r.first_byte, r.last_byte)
                    }
                };
                return Err(Error::Io {
                    op: "put",
                    uri: uri.to_string(),
                    source: std::io::Error::other(format!(
                        "after {offset} bytes sent the resumable upload {seen}"
                    )),
                });
            }
        }
    }
}

fn concat(a: Bytes, b: Bytes) -> Bytes {
    if a.is_empty() {
        return b;
    }
    let mut out = bytes::BytesMut::with_capacity(a.len() + b.len());
    out.extend_from_slice(&a);
    out.extend_from_slice(&b);
    out.freeze()
}
