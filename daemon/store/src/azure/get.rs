//! Get Blob (whole or ranged, streamed) and Get Blob Properties.
//!
//! A get is one request: the SDK's download with a single partition as large as the request,
//! so one ranged GET goes out and its body is handed on chunk by chunk as it arrives (the SDK's
//! parallel partitioned download, which buffers partitions, is not used). The object's size
//! comes back in `Content-Range`. Only when Azure answers 416 (a range starting past the end)
//! does a Get Blob Properties follow, so the shared rules of [`GetRange::resolve`] phrase the
//! [`Error::OutOfRange`]. The connection permit travels with the body stream.
//!
//! [`GetRange::resolve`]: crate::GetRange::resolve

use std::num::NonZero;
use std::time::SystemTime;

use azure_core::http::headers::{HeaderName, Headers};
use azure_storage_blob::models::{
    BlobClientDownloadOptions, BlobClientGetPropertiesResultHeaders, HttpRange,
};
use bytes::Bytes;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::range::check_answer;
use crate::store::{BoxStream, GetOptions, GetResult, ObjectMeta};
use crate::uri::Location;

use super::error::{chain, from_azure};
use super::{container_of, AzureStore};

impl AzureStore {
    pub(crate) async fn get_blob(
        &self,
        location: &Location,
        options: GetOptions,
    ) -> Result<GetResult> {
        location.require_object("get")?;
        let account = self.account("get", location)?;
        let uri = location.to_string();
        let range = options.range;
        if range.is_some_and(|r| r.length == Some(0)) {
            range.unwrap_or_default().resolve("get", &uri, u64::MAX)?;
        }
        let http_range = range.map(|r| match r.length {
            None => HttpRange::from_offset(r.offset),
            Some(len) => HttpRange::new(r.offset, len),
        });
        let timeout = account.config.operation_timeout;
        let attempt = account
            .config
            .retry
            .run("get", &uri, || async {
                let permit = account.permit().await;
                let blob = account.blob(container_of(location), &location.key, &uri)?;
                let opts = BlobClientDownloadOptions {
                    range: http_range.clone(),
                    parallel: Some(NonZero::<usize>::MIN),
                    partition_size: NonZero::new(usize::MAX / 2),
                    ..BlobClientDownloadOptions::default()
                };
                match tokio::time::timeout(timeout, blob.download(Some(opts))).await {
                    Err(_) => Err(Error::Timeout {
                        op: "get",
                        uri: uri.clone(),
                        reason: format!("no response from {} in {timeout:?}", account.service),
                    }),
                    Ok(Ok(r)) => Ok(Ok((r, permit))),
                    Ok(Err(e)) if e.http_status().map(u16::from) == Some(416) => Ok(Err(())),
                    Ok(Err(e)) => Err(from_azure("get", &uri, &account.service, e)),
                }
            })
            .await?;
        let (out, permit) = match attempt {
            Ok(v) => v,
            Err(()) => {
                let meta = self.head_blob(location).await?;
                let r = range.unwrap_or_default().resolve("get", &uri, meta.size)?;
                return Ok(GetResult {
                    meta,
                    range: r,
                    body: Box::pin(futures::stream::empty()),
                });
            }
        };
        let length = out.properties.content_length.unwrap_or_default();
        let (size, resolved) =
            check_answer(&uri, range, header(&out.headers, "content-range"), length)?;
        let meta = ObjectMeta {
            location: location.clone(),
            size,
            last_modified: out.properties.last_modified.map(SystemTime::from),
            etag: out.properties.etag.as_ref().map(|e| e.to_string()),
            content_type: out.properties.content_type.clone(),
        };
        let endpoint = account.service.clone();
        let body_uri = uri.clone();
        let body: BoxStream<'static, Result<Bytes>> = Box::pin(out.body.map(move |chunk| {
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

    pub(crate) async fn head_blob(&self, location: &Location) -> Result<ObjectMeta> {
        location.require_object("stat")?;
        let account = self.account("stat", location)?;
        let uri = location.to_string();
        let out = account
            .call("stat", &uri, || {
                let blob = account.blob(container_of(location), &location.key, &uri)?;
                Ok(async move { blob.get_properties(None).await })
            })
            .await?;
        Ok(ObjectMeta {
            location: location.clone(),
            size: out.content_length().ok().flatten().unwrap_or_default(),
            last_modified: out.last_modified().ok().flatten().map(SystemTime::from),
            etag: out.etag().ok().flatten().map(|e| e.to_string()),
            content_type: out.content_type().ok().flatten(),
        })
    }
}

fn header<'a>(headers: &'a Headers, name: &'static str) -> Option<&'a str> {
    headers.get_optional_str(&HeaderName::from_static(name))
}
