//! objects.list, page by page (`list_page_size` entries per page, default 1,000, always sent:
//! emulators return everything in one page otherwise), streamed: a page is requested only when
//! the consumer has taken the previous one.
//!
//! One-level listings send `delimiter=/`, so deeper levels come back as `prefixes`. GCS
//! returns a page's objects and prefixes as two sorted lists covering one range of names;
//! they are merged here. Emulators may repeat every prefix on every page (fake-gcs-server
//! does), so a prefix is held back until the listing has passed its name, and sent once.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use gcloud_storage::http::objects::list::ListObjectsRequest;

use crate::error::Result;
use crate::store::{BoxStream, ListEntry, ListOptions};
use crate::uri::Location;

use super::client::Gcs;
use super::meta_of;

struct Pager {
    gcs: Arc<Gcs>,
    prefix: Location,
    recursive: bool,
    token: Option<String>,
    /// Prefixes seen but not sent yet (beyond the names listed so far).
    held: BTreeSet<String>,
    /// The last key sent: nothing at or before it is sent again.
    sent: Option<String>,
}

pub(crate) fn list(
    gcs: Arc<Gcs>,
    prefix: &Location,
    options: ListOptions,
) -> BoxStream<'static, Result<ListEntry>> {
    let pager = Pager {
        gcs,
        prefix: prefix.clone(),
        recursive: options.recursive,
        token: None,
        held: BTreeSet::new(),
        sent: None,
    };
    crate::list::paged(pager, |p| Box::pin(next_page(p)))
}

async fn next_page(p: &mut Pager) -> crate::list::Page {
    let uri = p.prefix.to_string();
    let request = ListObjectsRequest {
        bucket: p.prefix.bucket.clone(),
        prefix: (!p.prefix.key.is_empty()).then(|| p.prefix.key.clone()),
        delimiter: (!p.recursive).then(|| "/".to_string()),
        max_results: Some(p.gcs.config.list_page_size as i32),
        page_token: p.token.clone(),
        ..ListObjectsRequest::default()
    };
    let page = p
        .gcs
        .call("list", &uri, |a| {
            let request = request.clone();
            async move { a.sdk.list_objects(&request).await }
        })
        .await?;
    p.token = page.next_page_token.filter(|t| !t.is_empty());
    let last = p.token.is_none();
    let objects: Vec<_> = page.items.unwrap_or_default();
    let prefixes = page.prefixes.unwrap_or_default();
    // How far this page reaches: its last object (or prefix); everything, on the last page.
    let reach = if last {
        None
    } else {
        objects
            .last()
            .map(|o| o.name.clone())
            .or_else(|| prefixes.last().cloned())
    };
    let fresh = |k: &str, sent: &Option<String>| sent.as_deref().is_none_or(|s| k > s);
    p.held
        .extend(prefixes.into_iter().filter(|d| fresh(d, &p.sent)));
    let ready: Vec<String> = match &reach {
        None => std::mem::take(&mut p.held).into_iter().collect(),
        Some(r) => {
            let later = p.held.split_off(&format!("{r}\u{0}"));
            std::mem::replace(&mut p.held, later).into_iter().collect()
        }
    };
    let mut entries: VecDeque<ListEntry> = objects
        .into_iter()
        .filter(|o| fresh(&o.name, &p.sent))
        .map(|o| ListEntry::Object(meta_of(p.prefix.with_key(o.name.clone()), &o)))
        .chain(
            ready
                .into_iter()
                .map(|d| ListEntry::Prefix(p.prefix.with_key(d))),
        )
        .collect();
    entries
        .make_contiguous()
        .sort_by(|a, b| a.location().key.cmp(&b.location().key));
    if let Some(last) = entries.back() {
        p.sent = Some(last.location().key.clone());
    }
    Ok((entries, last))
}
