//! List Blobs, page by page (markers, `list_page_size` entries per page, default 5,000), streamed: a page is requested only when
//! the consumer has taken the previous one.
//!
//! One-level listings send `delimiter=/`, so deeper levels come back as `BlobPrefix` entries.
//! `azure_storage_blob` 1.1 has no delimiter option and its page model drops `BlobPrefix`, so
//! the delimiter is added to the container URL and the page's XML is read here, entries in the
//! page sorted by name (blobs and prefixes merged).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::SystemTime;

use azure_storage_blob::models::BlobContainerClientListBlobsOptions;
use futures::StreamExt;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::store::{BoxStream, ListEntry, ListOptions, ObjectMeta};
use crate::uri::Location;

use super::client::Account;
use super::container_of;

struct Pager {
    account: Arc<Account>,
    prefix: Location,
    recursive: bool,
    marker: Option<String>,
}

pub(crate) fn list(
    account: Arc<Account>,
    prefix: &Location,
    options: ListOptions,
) -> BoxStream<'static, Result<ListEntry>> {
    let pager = Pager {
        account,
        prefix: prefix.clone(),
        recursive: options.recursive,
        marker: None,
    };
    crate::list::paged(pager, |p| Box::pin(next_page(p)))
}

async fn next_page(p: &mut Pager) -> crate::list::Page {
    let uri = p.prefix.to_string();
    let account = p.account.clone();
    let container = container_of(&p.prefix);
    let delimiter = !p.recursive;
    let body = account
        .call("list", &uri, || {
            let client = account.container_listing(container, delimiter, &uri)?;
            let opts = BlobContainerClientListBlobsOptions {
                prefix: (!p.prefix.key.is_empty()).then(|| p.prefix.key.clone()),
                marker: p.marker.clone(),
                maxresults: Some(account.config.list_page_size as i32),
                ..BlobContainerClientListBlobsOptions::default()
            };
            let pager = client.list_blobs(Some(opts));
            Ok(async move {
                let mut pages = pager?.into_pages();
                match pages.next().await {
                    Some(page) => Ok(bytes::Bytes::from(page?.into_body())),
                    None => Ok(bytes::Bytes::new()),
                }
            })
        })
        .await?;
    let page: Enumeration = if body.is_empty() {
        Enumeration::default()
    } else {
        azure_core::xml::from_xml(&body).map_err(|e| Error::Io {
            op: "list",
            uri: uri.clone(),
            source: std::io::Error::other(format!(
                "cannot read the listing from {}: {e}",
                account.service
            )),
        })?
    };
    p.marker = page.next_marker.filter(|m| !m.is_empty());
    let last = p.marker.is_none();
    let mut entries: VecDeque<ListEntry> = page
        .blobs
        .items
        .into_iter()
        .map(|item| match item {
            Item::Blob(b) => ListEntry::Object(ObjectMeta {
                location: p.prefix.with_key(b.name),
                size: b.properties.content_length.unwrap_or_default(),
                last_modified: b
                    .properties
                    .last_modified
                    .as_deref()
                    .and_then(|t| azure_core::time::parse_rfc7231(t).ok())
                    .map(SystemTime::from),
                etag: b.properties.etag,
                content_type: b.properties.content_type,
            }),
            Item::BlobPrefix(d) => ListEntry::Prefix(p.prefix.with_key(d.name)),
        })
        .collect();
    // Within a page, Azure orders blobs and prefixes by name, but emulators may send all the
    // prefixes after the blobs; a page covers a contiguous range of names, so sorting each page
    // keeps the whole stream sorted.
    entries
        .make_contiguous()
        .sort_by(|a, b| a.location().key.cmp(&b.location().key));
    Ok((entries, last))
}

/// `<EnumerationResults>`: what the daemon reads of a List Blobs page.
#[derive(Debug, Default, Deserialize)]
struct Enumeration {
    #[serde(rename = "Blobs", default)]
    blobs: Blobs,
    #[serde(rename = "NextMarker", default)]
    next_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Blobs {
    #[serde(rename = "$value", default)]
    items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
enum Item {
    Blob(BlobXml),
    BlobPrefix(PrefixXml),
}

#[derive(Debug, Deserialize)]
struct BlobXml {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Properties")]
    properties: Properties,
}

#[derive(Debug, Deserialize)]
struct PrefixXml {
    #[serde(rename = "Name")]
    name: String,
}

#[derive(Debug, Deserialize)]
struct Properties {
    #[serde(rename = "Content-Length", default)]
    content_length: Option<u64>,
    #[serde(rename = "Etag", default)]
    etag: Option<String>,
    #[serde(rename = "Last-Modified", default)]
    last_modified: Option<String>,
    #[serde(rename = "Content-Type", default)]
    content_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_keep_blobs_and_prefixes_in_order() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://x/" ContainerName="c"><Prefix>p/</Prefix>
<MaxResults>5000</MaxResults><Delimiter>/</Delimiter><Blobs>
<Blob><Name>p/a</Name><Properties><Last-Modified>Mon, 07 Dec 2026 06:00:00 GMT</Last-Modified>
<Etag>0x1</Etag><Content-Length>3</Content-Length><Content-Type>text/plain</Content-Type></Properties></Blob>
<BlobPrefix><Name>p/b/</Name></BlobPrefix>
<Blob><Name>p/c</Name><Properties><Content-Length>0</Content-Length></Properties></Blob>
</Blobs><NextMarker>m2</NextMarker></EnumerationResults>"#;
        let page: Enumeration = azure_core::xml::from_xml(xml.as_bytes()).unwrap();
        let names: Vec<_> = page
            .blobs
            .items
            .iter()
            .map(|i| match i {
                Item::Blob(b) => b.name.clone(),
                Item::BlobPrefix(d) => d.name.clone(),
            })
            .collect();
        assert_eq!(names, ["p/a", "p/b/", "p/c"]);
        assert_eq!(page.next_marker.as_deref(), Some("m2"));
        let empty: Enumeration = azure_core::xml::from_xml(
            b"<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>".as_slice(),
        )
        .unwrap();
        assert!(empty.blobs.items.is_empty());
        assert!(empty.next_marker.unwrap_or_default().is_empty());
    }
}
