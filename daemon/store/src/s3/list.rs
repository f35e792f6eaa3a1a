//! ListObjectsV2, page by page (continuation tokens), streamed: a page is requested only when
//! the consumer has taken the previous one, and nothing is collected whole.
//!
//! S3 returns the objects and the common prefixes of a page as two sorted lists; they are
//! merged so the stream is sorted by key like every backend's. One-level listings use the
//! delimiter `/`, so deeper levels come back as prefixes ending in `/`.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::error::Result;
use crate::store::{BoxStream, ListEntry, ListOptions, ObjectMeta};
use crate::uri::Location;

use super::client::Endpoint;
use super::error::from_sdk;
use super::get::to_system_time;

/// Where a listing stands between pages.
struct Pager {
    ep: Arc<Endpoint>,
    bucket: String,
    prefix: Location,
    recursive: bool,
    token: Option<String>,
}

pub(crate) fn list(
    ep: Arc<Endpoint>,
    bucket: String,
    prefix: &Location,
    options: ListOptions,
) -> BoxStream<'static, Result<ListEntry>> {
    let pager = Pager {
        ep,
        bucket,
        prefix: prefix.clone(),
        recursive: options.recursive,
        token: None,
    };
    crate::list::paged(pager, |p| Box::pin(next_page(p)))
}

async fn next_page(p: &mut Pager) -> crate::list::Page {
    let uri = p.prefix.to_string();
    let ep = p.ep.clone();
    let out = ep
        .config
        .retry
        .run("list", &uri, || async {
            let _permit = ep.permit().await;
            ep.client()
                .await?
                .list_objects_v2()
                .bucket(&p.bucket)
                .prefix(&p.prefix.key)
                .set_delimiter((!p.recursive).then(|| "/".to_string()))
                .set_continuation_token(p.token.clone())
                .send()
                .await
                .map_err(|e| from_sdk("list", &uri, &ep.shown, e))
        })
        .await?;
    p.token = out.next_continuation_token().map(str::to_string);
    let last = !out.is_truncated().unwrap_or(false) || p.token.is_none();
    let mut objects = out
        .contents()
        .iter()
        .filter_map(|o| {
            Some(ListEntry::Object(ObjectMeta {
                location: p.prefix.with_key(o.key()?),
                size: o.size().unwrap_or_default().max(0) as u64,
                last_modified: o.last_modified().and_then(to_system_time),
                etag: o.e_tag().map(str::to_string),
                content_type: None,
            }))
        })
        .peekable();
    let mut prefixes = out
        .common_prefixes()
        .iter()
        .filter_map(|c| Some(ListEntry::Prefix(p.prefix.with_key(c.prefix()?))))
        .peekable();
    // Merge the two sorted lists.
    let mut merged = VecDeque::with_capacity(out.contents().len() + out.common_prefixes().len());
    loop {
        let take_object = match (objects.peek(), prefixes.peek()) {
            (Some(o), Some(d)) => o.location().key <= d.location().key,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_object {
            objects.next()
        } else {
            prefixes.next()
        };
        merged.extend(next);
    }
    Ok((merged, last))
}
