//! PutObject for small objects, multipart upload for large ones.
//!
//! The body is read until `multipart_threshold` bytes have arrived: a body that ends first goes
//! out as one PutObject. Otherwise a multipart upload starts; parts of
//! [`S3Config::part_size_for`] bytes (adapted so the object fits in 10,000 parts) are uploaded
//! with at most `parts_in_flight` at once, so memory stays under
//! `(parts_in_flight + 1) × part_size`. Any failure (a part, the body stream, a size that does
//! not match the announced one) aborts the upload, so no parts are left behind, and S3 makes
//! nothing visible: a put is atomic as on every backend.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures::stream::FuturesUnordered;
use futures::StreamExt;

use crate::body::{check_size, fill};
use crate::error::Result;
use crate::store::{PutBody, PutOptions, PutResult};
use crate::uri::Location;

use super::config::S3Config;
use super::{error::from_sdk, S3Store, Target};

impl S3Store {
    pub(crate) async fn put_object(
        &self,
        location: &Location,
        mut body: PutBody,
        options: PutOptions,
    ) -> Result<PutResult> {
        location.require_object("put")?;
        let t = self.target("put", location)?;
        let uri = location.to_string();
        let cfg: &S3Config = &t.ep.config;
        let threshold = cfg.multipart_threshold;
        let part_size = cfg.part_size_for(options.size);

        // Read up to the threshold (or one part, if larger) before deciding.
        let first_len = threshold.max(part_size);
        let (first, ended) = fill(&mut body, first_len).await?;
        if ended && (first.len() as u64) < threshold {
            check_size(&uri, options.size, first.len() as u64)?;
            return single_put(&t, location, first, &options).await;
        }
        multipart(&t, location, body, first, part_size, &options).await
    }
}

async fn single_put(
    t: &Target<'_>,
    location: &Location,
    data: Bytes,
    options: &PutOptions,
) -> Result<PutResult> {
    let uri = location.to_string();
    let size = data.len() as u64;
    let out = t
        .retry()
        .run("put", &uri, || async {
            let _permit = t.ep.permit().await;
            t.client()
                .await?
                .put_object()
                .bucket(t.bucket)
                .key(&location.key)
                .set_content_type(options.content_type.clone())
                .content_length(size as i64)
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .map_err(|e| from_sdk("put", &uri, &t.ep.shown, e))
        })
        .await?;
    Ok(PutResult {
        size,
        etag: out.e_tag().map(str::to_string),
    })
}

async fn multipart(
    t: &Target<'_>,
    location: &Location,
    mut body: PutBody,
    first: Bytes,
    part_size: u64,
    options: &PutOptions,
) -> Result<PutResult> {
    let uri = location.to_string();
    let created = t
        .retry()
        .run("put", &uri, || async {
            let _permit = t.ep.permit().await;
            t.client()
                .await?
                .create_multipart_upload()
                .bucket(t.bucket)
                .key(&location.key)
                .set_content_type(options.content_type.clone())
                .send()
                .await
                .map_err(|e| from_sdk("put", &uri, &t.ep.shown, e))
        })
        .await?;
    let upload_id = created.upload_id().unwrap_or_default().to_string();
    let uploaded = upload_parts(t, location, &upload_id, &mut body, first, part_size).await;
    let result = match uploaded {
        Ok((parts, size)) => match check_size(&uri, options.size, size) {
            Ok(()) => complete(t, location, &upload_id, parts, size).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    if result.is_err() {
        abort(t, location, &upload_id).await;
    }
    result
}

/// Uploads the parts, `parts_in_flight` at a time; returns them in order with the total size.
async fn upload_parts(
    t: &Target<'_>,
    location: &Location,
    upload_id: &str,
    body: &mut PutBody,
    first: Bytes,
    part_size: u64,
) -> Result<(Vec<CompletedPart>, u64)> {
    let in_flight = t.ep.config.parts_in_flight;
    let mut running = FuturesUnordered::new();
    let mut done = Vec::new();
    let mut total = 0u64;
    let mut number = 0i32;
    // `first` may hold more than one part (threshold > part size).
    let mut pending = first;
    let mut ended = false;
    loop {
        while running.len() < in_flight {
            let part = if pending.len() as u64 >= part_size || (ended && !pending.is_empty()) {
                let n = (part_size as usize).min(pending.len());
                pending.split_to(n)
            } else if ended {
                break;
            } else {
                let want = part_size - pending.len() as u64;
                let (more, end) = fill(body, want).await?;
                ended = end;
                if pending.is_empty() {
                    pending = more;
                } else {
                    let mut b = BytesMut::with_capacity(pending.len() + more.len());
                    b.extend_from_slice(&pending);
                    b.extend_from_slice(&more);
                    pending = b.freeze();
                }
                continue;
            };
            number += 1;
            total += part.len() as u64;
            running.push(upload_part(t, location, upload_id, number, part));
        }
        match running.next().await {
            None => break,
            Some(r) => done.push(r?),
        }
    }
    done.sort_by_key(|p: &CompletedPart| p.part_number());
    Ok((done, total))
}

async fn upload_part(
    t: &Target<'_>,
    location: &Location,
    upload_id: &str,
    number: i32,
    data: Bytes,
) -> Result<CompletedPart> {
    let uri = location.to_string();
    let out = t
        .retry()
        .run("put", &uri, || async {
            let _permit = t.ep.permit().await;
            t.client()
                .await?
                .upload_part()
                .bucket(t.bucket)
                .key(&location.key)
                .upload_id(upload_id)
                .part_number(number)
                .content_length(data.len() as i64)
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .map_err(|e| from_sdk("put", &uri, &t.ep.shown, e))
        })
        .await?;
    Ok(CompletedPart::builder()
        .part_number(number)
        .set_e_tag(out.e_tag().map(str::to_string))
        .build())
}

async fn complete(
    t: &Target<'_>,
    location: &Location,
    upload_id: &str,
    parts: Vec<CompletedPart>,
    size: u64,
) -> Result<PutResult> {
    let uri = location.to_string();
    let upload = CompletedMultipartUpload::builder()
        .set_parts(Some(parts))
        .build();
    let out = t
        .retry()
        .run("put", &uri, || async {
            let _permit = t.ep.permit().await;
            t.client()
                .await?
                .complete_multipart_upload()
                .bucket(t.bucket)
                .key(&location.key)
                .upload_id(upload_id)
                .multipart_upload(upload.clone())
                .send()
                .await
                .map_err(|e| from_sdk("put", &uri, &t.ep.shown, e))
        })
        .await?;
    Ok(PutResult {
        size,
        etag: out.e_tag().map(str::to_string),
    })
}

/// Aborts an upload so no parts stay behind; a failure here is logged, the put's own error is
/// what the caller sees.
async fn abort(t: &Target<'_>, location: &Location, upload_id: &str) {
    let uri = location.to_string();
    let r = t
        .retry()
        .run("put", &uri, || async {
            let _permit = t.ep.permit().await;
            t.client()
                .await?
                .abort_multipart_upload()
                .bucket(t.bucket)
                .key(&location.key)
                .upload_id(upload_id)
                .send()
                .await
                .map_err(|e| from_sdk("put", &uri, &t.ep.shown, e))
        })
        .await;
    if let Err(e) = r {
        tracing::error!(uri, upload_id, error = %e, "cannot abort multipart upload; its parts remain until a lifecycle rule removes them");
    }
}
