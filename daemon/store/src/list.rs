//! Listing helpers every backend shares: the regex filter, applied one way everywhere.

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
