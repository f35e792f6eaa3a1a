//! GetObject (whole or ranged, streamed) and HeadObject.
//!
//! A get costs one request: the range goes out as a `Range` header and the object's size comes
//! back in `Content-Range`, so no HEAD precedes it. Only when S3 answers 416 (a range starting
//! at or past the end) does a HEAD follow, to report the size in the [`Error::OutOfRange`] the
//! shared rules of [`GetRange::resolve`] require (or, for offset 0 on an empty object, to read
//! the empty object as every backend does).
//!
//! The body is handed on chunk by chunk as the SDK receives it; nothing is buffered whole.
//! The connection permit travels with the body stream and is released when it ends.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::range::check_answer;
use crate::store::{GetOptions, GetResult, ObjectMeta};
use crate::uri::Location;

use super::{error::from_sdk, S3Store, Target};

impl S3Store {
    pub(crate) async fn get_object(
        &self,
        location: &Location,
        options: GetOptions,
    ) -> Result<GetResult> {
        location.require_object("get")?;
        let t = self.target("get", location)?;
        let uri = location.to_string();
        let range = options.range;
        let if_match = options.if_match;
        if range.is_some_and(|r| r.length == Some(0)) {
            // Let the shared rules phrase the error.
            range.unwrap_or_default().resolve("get", &uri, u64::MAX)?;
        }
        let header = range.map(|r| match r.length {
            None => format!("bytes={}-", r.offset),
            Some(len) => format!("bytes={}-{}", r.offset, r.offset.saturating_add(len) - 1),
        });
        let attempt = t
            .retry()
            .run("get", &uri, || async {
                let permit = t.ep.permit().await;
                let out = t
                    .client()
                    .await?
                    .get_object()
                    .bucket(t.bucket)
                    .key(&location.key)
                    .set_range(header.clone())
                    .set_if_match(if_match.clone())
                    .send()
                    .await;
                match out {
                    Ok(o) => Ok(Ok((o, permit))),
                    Err(e)
                        if e.as_service_error().and_then(|s| s.code()) == Some("InvalidRange")
                            || e.raw_response().map(|r| r.status().as_u16()) == Some(416) =>
                    {
                        Ok(Err(()))
                    }
                    Err(e) => Err(from_sdk("get", &uri, &t.ep.shown, e)),
                }
            })
            .await?;
        let (out, permit) = match attempt {
            Ok(v) => v,
            Err(()) => {
                // 416: the range starts past the end. Learn the size and let the shared rules
                // decide: OutOfRange, or the empty object read from offset 0.
                let meta = self.head_object(location).await?;
                let r = range.unwrap_or_default().resolve("get", &uri, meta.size)?;
                debug_assert!(r.is_empty());
                return Ok(GetResult {
                    meta,
                    range: r,
                    body: Box::pin(futures::stream::empty()),
                });
            }
        };
        let length = out.content_length().unwrap_or_default().max(0) as u64;
        let (size, resolved) = check_answer(&uri, range, out.content_range(), length)?;
        let meta = ObjectMeta {
            location: location.clone(),
            size,
            last_modified: out.last_modified().and_then(to_system_time),
            etag: out.e_tag().map(str::to_string),
            content_type: out.content_type().map(str::to_string),
        };
        Ok(GetResult {
            meta,
            range: resolved,
            body: body_stream(out.body, uri, t.ep.shown.clone(), permit),
        })
    }

    pub(crate) async fn head_object(&self, location: &Location) -> Result<ObjectMeta> {
        location.require_object("stat")?;
        let t = self.target("stat", location)?;
        let uri = location.to_string();
        let out = t
            .retry()
            .run("stat", &uri, || async {
                let _permit = t.ep.permit().await;
                t.client()
                    .await?
                    .head_object()
                    .bucket(t.bucket)
                    .key(&location.key)
                    .send()
                    .await
                    .map_err(|e| from_sdk("stat", &uri, &t.ep.shown, e))
            })
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => return Err(self.diagnose(&t, location, e).await),
        };
        Ok(ObjectMeta {
            location: location.clone(),
            size: out.content_length().unwrap_or_default().max(0) as u64,
            last_modified: out.last_modified().and_then(to_system_time),
            etag: out.e_tag().map(str::to_string),
            content_type: out.content_type().map(str::to_string),
        })
    }
}

impl S3Store {
    /// A HEAD error has no body, so no S3 error code: a 404 may be a missing key or a missing
    /// bucket, a 403 wrong credentials or a missing permission. On that error path only, one
    /// ranged GET of the first byte asks again, and its coded error replaces the bare one.
    async fn diagnose(&self, t: &Target<'_>, location: &Location, bare: Error) -> Error {
        let uncoded = match &bare {
            Error::NotFound { reason, .. }
            | Error::PermissionDenied { reason, .. }
            | Error::Unauthenticated { reason, .. } => reason.starts_with("HTTP "),
            _ => false,
        };
        if !uncoded {
            return bare;
        }
        let uri = location.to_string();
        let Ok(client) = t.client().await else {
            return bare;
        };
        let _permit = t.ep.permit().await;
        match client
            .get_object()
            .bucket(t.bucket)
            .key(&location.key)
            .range("bytes=0-0")
            .send()
            .await
        {
            Err(e) => match from_sdk("stat", &uri, &t.ep.shown, e) {
                e @ (Error::NotFound { .. }
                | Error::PermissionDenied { .. }
                | Error::Unauthenticated { .. }) => e,
                _ => bare,
            },
            Ok(_) => bare,
        }
    }
}

pub(crate) fn to_system_time(t: &DateTime) -> Option<std::time::SystemTime> {
    std::time::SystemTime::try_from(*t).ok()
}

fn body_stream(
    body: ByteStream,
    uri: String,
    endpoint: String,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> crate::store::BoxStream<'static, Result<Bytes>> {
    Box::pin(futures::StreamExt::fuse(futures::stream::unfold(
        Some((body, permit)),
        move |state| {
            let (uri, endpoint) = (uri.clone(), endpoint.clone());
            async move {
                let (mut body, permit) = state?;
                match body.try_next().await {
                    Ok(Some(chunk)) => Some((Ok(chunk), Some((body, permit)))),
                    Ok(None) => None,
                    Err(e) => Some((
                        Err(Error::Unavailable {
                            op: "get",
                            uri,
                            reason: format!("body from {endpoint} broke off: {e}"),
                        }),
                        None,
                    )),
                }
            }
        },
    )))
}

impl Target<'_> {
    pub(crate) async fn client(&self) -> Result<&aws_sdk_s3::Client> {
        self.ep.client().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range::GetRange;

    #[test]
    fn a_zero_length_range_is_invalid_before_any_request() {
        let r = GetRange {
            offset: 0,
            length: Some(0),
        };
        assert!(matches!(
            r.resolve("get", "s3://b/k", u64::MAX),
            Err(Error::InvalidArgument { .. })
        ));
    }
}
