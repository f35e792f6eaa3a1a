//! Object reads (whole or ranged, streamed) and object metadata.
//!
//! A read is one media request (`alt=media`) with a `Range` header; the size comes from
//! `Content-Range` (or `Content-Length` for a whole read) and the generation from
//! `x-goog-generation`. `if_match` becomes `ifGenerationMatch`, so a read of the wrong version
//! fails at the server where it can (412 → [`Error::FailedPrecondition`]). Only when GCS
//! answers 416 (a range starting past the end) does a metadata request follow, so the shared
//! rules of [`GetRange::resolve`] phrase the [`Error::OutOfRange`]. The connection permit
//! travels with the body stream.
//!
//! [`GetRange::resolve`]: crate::GetRange::resolve

use bytes::Bytes;
use futures::StreamExt;
use gcloud_storage::http::objects::get::GetObjectRequest;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{chain, Error, Result};
use crate::range::check_answer;
use crate::store::{BoxStream, GetOptions, GetResult, ObjectMeta};
use crate::uri::Location;

use super::client::Gcs;
use super::error::{from_reqwest, from_response};
use super::{etag_of, meta_of};

/// What stays as it is in a JSON API path segment (object names escape `/` too).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `{endpoint}/storage/v1/b/BUCKET/o/OBJECT`.
pub(crate) fn object_url(gcs: &Gcs, location: &Location) -> String {
    format!(
        "{}/storage/v1/b/{}/o/{}",
        gcs.endpoint,
        utf8_percent_encode(&location.bucket, SEGMENT),
        utf8_percent_encode(&location.key, SEGMENT)
    )
}

pub(crate) async fn get(gcs: &Gcs, location: &Location, options: GetOptions) -> Result<GetResult> {
    location.require_object("get")?;
    let uri = location.to_string();
    let range = options.range;
    if range.is_some_and(|r| r.length == Some(0)) {
        range.unwrap_or_default().resolve("get", &uri, u64::MAX)?;
    }
    let url = format!("{}?alt=media", object_url(gcs, location));
    let generation = options
        .if_match
        .as_deref()
        .and_then(|e| e.parse::<i64>().ok());
    let timeout = gcs.config.operation_timeout;
    let attempt = gcs
        .config
        .retry
        .run("get", &uri, || async {
            let authed = gcs.authed("get", &uri).await?;
            let permit = gcs.permit().await;
            let mut request = gcs
                .request(authed, "get", &uri, reqwest::Method::GET, &url)
                .await?;
            if let Some(g) = generation {
                request = request.query(&[("ifGenerationMatch", g)]);
            }
            if let Some(r) = range {
                let value = match r.length {
                    None => format!("bytes={}-", r.offset),
                    Some(len) => format!("bytes={}-{}", r.offset, r.offset.saturating_add(len - 1)),
                };
                request = request.header(reqwest::header::RANGE, value);
            }
            match tokio::time::timeout(timeout, request.send()).await {
                Err(_) => Err(Error::Timeout {
                    op: "get",
                    uri: uri.clone(),
                    reason: format!("no response from {} in {timeout:?}", gcs.endpoint),
                }),
                Ok(Err(e)) => Err(from_reqwest("get", &uri, &gcs.endpoint, &e)),
                Ok(Ok(r)) if r.status().as_u16() == 416 => Ok(Err(())),
                Ok(Ok(r)) if !r.status().is_success() => {
                    Err(from_response("get", &uri, &gcs.endpoint, r).await)
                }
                Ok(Ok(r)) => Ok(Ok((r, permit))),
            }
        })
        .await?;
    let (response, permit) = match attempt {
        Ok(v) => v,
        Err(()) => {
            let meta = head(gcs, location).await?;
            let r = range.unwrap_or_default().resolve("get", &uri, meta.size)?;
            return Ok(GetResult {
                meta,
                range: r,
                body: Box::pin(futures::stream::empty()),
            });
        }
    };
    let headers = response.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let length = response.content_length().unwrap_or_default();
    let (size, resolved) = check_answer(&uri, range, text("content-range"), length)?;
    let meta = ObjectMeta {
        location: location.clone(),
        size,
        last_modified: text("last-modified").and_then(|t| httpdate::parse_http_date(t).ok()),
        etag: text("x-goog-generation")
            .and_then(|g| g.parse().ok())
            .and_then(etag_of),
        content_type: text("content-type").map(str::to_string),
    };
    let endpoint = gcs.endpoint.clone();
    let body_uri = uri.clone();
    let body: BoxStream<'static, Result<Bytes>> =
        Box::pin(response.bytes_stream().map(move |chunk| {
            let _held = &permit;
            chunk.map_err(|e| Error::Unavailable {
                op: "get",
                uri: body_uri.clone(),
                reason: format!("body from {endpoint} broke off: {}", chain(&e)),
            })
        }));
    Ok(GetResult {
        meta,
        range: resolved,
        body,
    })
}

pub(crate) async fn head(gcs: &Gcs, location: &Location) -> Result<ObjectMeta> {
    location.require_object("stat")?;
    let uri = location.to_string();
    let request = GetObjectRequest {
        bucket: location.bucket.clone(),
        object: location.key.clone(),
        ..GetObjectRequest::default()
    };
    let object = gcs
        .call("stat", &uri, |a| {
            let request = request.clone();
            async move { a.sdk.get_object(&request).await }
        })
        .await?;
    Ok(meta_of(location.clone(), &object))
}
