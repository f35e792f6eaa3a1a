//! Listing helpers every backend shares: the regex filter, applied one way everywhere, and
//! the page-by-page stream of the cloud backends.

use std::collections::VecDeque;

use futures::future::BoxFuture;
use futures::StreamExt;
use regex::Regex;

use crate::error::Result;
use crate::store::{BoxStream, ListEntry};
use crate::uri::Location;

/// Keeps the entries whose key, relative to the listed `prefix`, matches `pattern`
/// (searched, not anchored: use `^` and `$` to anchor). Errors pass through.
pub fn filter_listing(
    prefix: &Location,
    pattern: Option<Regex>,
    entries: BoxStream<'static, Result<ListEntry>>,
) -> BoxStream<'static, Result<ListEntry>> {
    let Some(re) = pattern else { return entries };
    let strip = prefix.key.len();
    Box::pin(entries.filter(move |entry| {
        let keep = match entry {
            Ok(e) => {
                let key = &e.location().key;
                re.is_match(key.get(strip..).unwrap_or(key))
            }
            Err(_) => true,
        };
        futures::future::ready(keep)
    }))
}

/// One page of a listing and whether it was the last.
pub(crate) type Page = Result<(VecDeque<ListEntry>, bool)>;

/// Streams a listing read page by page: `next` reads the page after the one `pager` stands
/// on, and is called only when the consumer has taken the previous page. The stream ends
/// after the last page or after the first error.
pub(crate) fn paged<P, F>(pager: P, next: F) -> BoxStream<'static, Result<ListEntry>>
where
    P: Send + 'static,
    F: for<'a> Fn(&'a mut P) -> BoxFuture<'a, Page> + Send + Sync + 'static,
{
    let next = std::sync::Arc::new(next);
    let pages = futures::stream::unfold((pager, false), move |(mut p, done)| {
        let next = next.clone();
        async move {
            if done {
                return None;
            }
            let page = next(&mut p).await;
            match page {
                Ok((entries, last)) => Some((Ok(entries), (p, last))),
                Err(e) => Some((Err(e), (p, true))),
            }
        }
    });
    Box::pin(pages.flat_map(|page| {
        futures::stream::iter(match page {
            Ok(entries) => entries.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ObjectMeta;

    fn obj(uri: &str) -> Result<ListEntry> {
        Ok(ListEntry::Object(ObjectMeta {
            location: Location::parse(uri).unwrap(),
            size: 0,
            last_modified: None,
            etag: None,
            content_type: None,
        }))
    }

    #[tokio::test]
    async fn pattern_applies_to_the_key_relative_to_the_prefix() {
        let prefix = Location::parse("s3://b/train/").unwrap();
        let input = vec![
            obj("s3://b/train/a.npz"),
            obj("s3://b/train/b.txt"),
            obj("s3://b/train/sub/train_c.npz"),
        ];
        let out: Vec<_> = filter_listing(
            &prefix,
            Some(Regex::new(r"^[a-z]+\.npz$").unwrap()),
            Box::pin(futures::stream::iter(input)),
        )
        .map(|e| e.unwrap().location().to_string())
        .collect()
        .await;
        assert_eq!(out, vec!["s3://b/train/a.npz"]);
    }
}
