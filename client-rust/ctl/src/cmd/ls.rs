//! `ls` and `stat`: listings streamed line by line as the daemon's batches arrive, and one
//! object's metadata.
//!
//! Listing formats (stable; scripts parse them):
//! - default: `URI` — one full URI per line, prefixes end in `/`;
//! - `-l`: `SIZE MTIME URI` — size in bytes right-aligned to 12, RFC3339 UTC to the second
//!   (20 characters), `-` for prefixes or a missing time; the URI is last, so it may hold
//!   spaces;
//! - `--json`: one `{"uri", "is_prefix", "size", "last_modified"}` object per line.

use anyhow::Result;
use futures::StreamExt;
use serde::Serialize;

use s3dlio_client::{v1, Client};

use crate::cli::{LsArgs, UriArg};
use crate::output::{self, Out};
use crate::progress;

#[derive(Serialize)]
struct EntryJson<'a> {
    uri: &'a str,
    is_prefix: bool,
    size: u64,
    last_modified: Option<String>,
}

/// Counts for the summary line.
#[derive(Default)]
struct Totals {
    objects: u64,
    prefixes: u64,
    bytes: u64,
}

pub async fn ls(client: &Client, args: LsArgs, out: &mut Out) -> Result<()> {
    let mut entries = client
        .list(&args.uri, args.recursive, args.pattern.as_deref())
        .await?;
    let mut totals = Totals::default();
    while let Some(entry) = entries.next().await {
        let entry = entry?;
        if entry.is_prefix {
            totals.prefixes += 1;
        } else {
            totals.objects += 1;
            totals.bytes += entry.size;
        }
        if out.json {
            out.json_line(&EntryJson {
                uri: &entry.uri,
                is_prefix: entry.is_prefix,
                size: entry.size,
                last_modified: output::rfc3339(entry.last_modified.as_ref()),
            })?;
        } else if args.long {
            out.line(long_line(&entry))?;
        } else {
            out.line(&entry.uri)?;
        }
    }
    out.flush()?;
    if progress::stderr_is_terminal() {
        eprintln!(
            "{} objects ({}), {} prefixes",
            totals.objects,
            output::human_bytes(totals.bytes),
            totals.prefixes
        );
    }
    Ok(())
}

/// `SIZE MTIME URI` for `ls -l`.
fn long_line(entry: &v1::ListEntry) -> String {
    let (size, mtime) = if entry.is_prefix {
        ("-".to_string(), "-".to_string())
    } else {
        (
            entry.size.to_string(),
            output::rfc3339_seconds(entry.last_modified.as_ref()).unwrap_or_else(|| "-".into()),
        )
    };
    format!("{size:>12} {mtime:<20} {}", entry.uri)
}

#[derive(Serialize)]
struct StatJson<'a> {
    uri: &'a str,
    size: u64,
    last_modified: Option<String>,
    etag: &'a str,
    content_type: &'a str,
}

pub async fn stat(client: &Client, args: UriArg, out: &mut Out) -> Result<()> {
    let meta = client.stat(&args.uri).await?;
    let uri = if meta.uri.is_empty() {
        &args.uri
    } else {
        &meta.uri
    };
    let last_modified = output::rfc3339(meta.last_modified.as_ref());
    if out.json {
        out.json_doc(&StatJson {
            uri,
            size: meta.size,
            last_modified,
            etag: &meta.etag,
            content_type: &meta.content_type,
        })?;
        return Ok(());
    }
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    for (key, value) in [
        ("uri", uri.to_string()),
        (
            "size",
            format!("{} ({})", meta.size, output::human_bytes(meta.size)),
        ),
        ("last-modified", last_modified.unwrap_or_else(|| "-".into())),
        ("etag", or_dash(&meta.etag)),
        ("content-type", or_dash(&meta.content_type)),
    ] {
        out.line(format_args!("{:<15}{value}", format!("{key}:")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::Timestamp;

    #[test]
    fn long_lines_put_size_time_then_uri() {
        let entry = v1::ListEntry {
            uri: "file:///d/a b.dat".into(),
            is_prefix: false,
            size: 4096,
            last_modified: Some(Timestamp {
                seconds: 1_714_557_600,
                nanos: 7,
            }),
        };
        assert_eq!(
            long_line(&entry),
            "        4096 2024-05-01T10:00:00Z file:///d/a b.dat"
        );
        let mut fields = long_line(&entry)
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>();
        fields.truncate(2);
        assert_eq!(fields, ["4096", "2024-05-01T10:00:00Z"]);
    }

    #[test]
    fn long_lines_show_dashes_for_prefixes() {
        let entry = v1::ListEntry {
            uri: "s3://b/dir/".into(),
            is_prefix: true,
            size: 0,
            last_modified: None,
        };
        assert_eq!(
            long_line(&entry),
            "           - -                    s3://b/dir/"
        );
    }
}
