//! `get`: download one object, or a byte range of it, to a file or stdout; with `-r`, every
//! object under a prefix into a directory, through one `GetMany`.
//!
//! On the local Unix socket payloads come through a shared-memory arena (`Client::attach`)
//! unless `--inline` is given; an object larger than the arena, or a TCP connection, falls
//! back to inline delivery.
//!
//! The body is streamed chunk by chunk (`Client::get_stream`), never held whole in memory. A
//! file download goes into a temporary file beside the destination, renamed over it only once
//! every byte has arrived: a failed or interrupted download leaves no partial file (the
//! temporary one is removed when its guard drops, also on Ctrl-C). A destination that is a
//! device or a FIFO (`-o /dev/null`) is written through instead, never replaced.

use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use indicatif::ProgressBar;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use s3dlio_client::Client;

use crate::cli::GetArgs;
use crate::output::{self, Out};
use crate::{progress, uri};

type Body<'a> = dyn Stream<Item = s3dlio_client::Result<Bytes>> + Send + Unpin + 'a;

/// Arena asked for by `s3dlioctl` (the daemon's default).
const ARENA: u64 = 0;
/// Objects in flight for `get -r`.
const RECURSIVE_CONCURRENCY: u32 = 16;

pub async fn get(client: &Client, args: GetArgs, out: &mut Out) -> Result<()> {
    if args.recursive {
        return get_recursive(client, args, out).await;
    }
    let to_stdout = args.output.as_deref() == Some(Path::new("-"));
    if to_stdout && out.json {
        bail!("get: --json cannot be combined with -o - (both write to stdout)");
    }
    let dest = match to_stdout {
        true => None,
        false => Some(destination(&args.uri, args.output.as_deref())?),
    };
    let range = match (args.offset, args.length) {
        (None, None) => None,
        (offset, length) => Some((offset.unwrap_or(0), length)),
    };

    let started = Instant::now();
    let shm = match args.inline {
        true => None,
        false => client.attach(ARENA).await.ok(),
    };
    let in_shm = match &shm {
        Some(s) => match s.get_range(&args.uri, range).await {
            Ok(p) => Some(p),
            Err(e) if e.code() == tonic::Code::ResourceExhausted => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let (header, mut body): (_, std::pin::Pin<Box<Body<'static>>>) = match in_shm {
        Some(p) => {
            let header = p.header.clone();
            // The payload itself becomes the one chunk: no copy before the write.
            let chunk = Bytes::from_owner(p);
            (header, Box::pin(futures::stream::iter([Ok(chunk)])))
        }
        None => {
            let (header, body) = client.get_stream(&args.uri, range).await?;
            (header, Box::pin(body))
        }
    };
    let bar = progress::bytes(header.length);
    let body: &mut Body<'_> = &mut body;
    let received = match &dest {
        None => to_stdout_stream(body, &bar).await?,
        Some(path) => to_file(path, body, &bar, header.length, &args.uri).await?,
    };
    bar.finish_and_clear();
    check_length(&args.uri, received, header.length)?;

    let took = started.elapsed();
    let shown = dest
        .as_ref()
        .map_or_else(|| "stdout".to_string(), |p| p.display().to_string());
    eprintln!(
        "{} -> {shown}: {received} bytes ({}) in {} ({:.1} MB/s)",
        args.uri,
        output::human_bytes(received),
        output::elapsed(took),
        output::mb_per_s(received, took),
    );
    if out.json {
        out.json_doc(&json!({
            "uri": args.uri,
            "path": shown,
            "bytes": received,
            "seconds": took.as_secs_f64(),
        }))?;
    }
    Ok(())
}

/// `get -r PREFIX -o DIR`: lists the prefix, fetches every object through one `GetMany`
/// (shared memory when local), and writes each below DIR at its key's path under the prefix.
async fn get_recursive(client: &Client, args: GetArgs, out: &mut Out) -> Result<()> {
    let dir = args.output.clone().unwrap_or_else(|| PathBuf::from("."));
    if dir.as_os_str() == "-" {
        bail!("get -r: the destination must be a directory, not stdout");
    }
    let prefix = uri::as_prefix(&args.uri);
    let started = Instant::now();
    let mut entries = vec![];
    let mut listing = pin!(client.list(&prefix, true, None).await?);
    while let Some(e) = listing.next().await {
        let e = e?;
        if !e.is_prefix {
            entries.push((e.uri, e.size));
        }
    }
    let targets = entries
        .iter()
        .map(|(u, _)| relative_target(&dir, &prefix, u))
        .collect::<Result<Vec<_>>>()?;
    let total: u64 = entries.iter().map(|e| e.1).sum();
    let bar = progress::bytes(total);
    let shm = match args.inline {
        true => None,
        false => client.attach(ARENA).await.ok(),
    };
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut write = |tag: u64, data: Bytes| {
        let path = targets[tag as usize].clone();
        files += 1;
        bytes += data.len() as u64;
        bar.inc(data.len() as u64);
        async move {
            tokio::task::spawn_blocking(move || {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, &data).with_context(|| path.display().to_string())
            })
            .await?
        }
    };
    match shm {
        Some(shm) => {
            let items = entries
                .iter()
                .enumerate()
                .map(|(i, (u, _))| (i as u64, u.clone(), None))
                .collect();
            let mut stream = pin!(shm.get_many(items, RECURSIVE_CONCURRENCY).await?);
            while let Some(item) = stream.next().await {
                let item = item?;
                let payload = item
                    .result
                    .with_context(|| entries[item.tag as usize].0.clone())?;
                write(item.tag, Bytes::from_owner(payload)).await?;
            }
        }
        None => {
            let uris = entries.iter().map(|e| e.0.clone()).collect();
            let mut stream = pin!(client.get_many(uris, RECURSIVE_CONCURRENCY).await?);
            while let Some(item) = stream.next().await {
                let item = item?;
                let (_, data) = item
                    .result
                    .with_context(|| entries[item.tag as usize].0.clone())?;
                write(item.tag, data).await?;
            }
        }
    }
    bar.finish_and_clear();
    let took = started.elapsed();
    eprintln!(
        "{prefix} -> {}: {files} objects, {} in {} ({:.1} MB/s)",
        dir.display(),
        output::human_bytes(bytes),
        output::elapsed(took),
        output::mb_per_s(bytes, took),
    );
    if out.json {
        out.json_doc(&json!({
            "uri": prefix,
            "path": dir.display().to_string(),
            "objects": files,
            "bytes": bytes,
            "seconds": took.as_secs_f64(),
        }))?;
    }
    Ok(())
}

/// `DIR/<key below the prefix>`, refusing anything but plain path components.
fn relative_target(dir: &Path, prefix: &str, uri: &str) -> Result<PathBuf> {
    let rel = uri
        .strip_prefix(prefix)
        .ok_or_else(|| anyhow!("{uri} is not below {prefix}"))?;
    let rel = Path::new(rel);
    if rel.as_os_str().is_empty()
        || !rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        bail!("{uri}: cannot be saved below {}", dir.display());
    }
    Ok(dir.join(rel))
}

/// Where a download goes: `-o FILE`, `-o DIR/` + the URI's basename, or the basename in the
/// current directory.
fn destination(uri: &str, output: Option<&Path>) -> Result<PathBuf> {
    let name = || {
        uri::basename(uri)
            .map(PathBuf::from)
            .ok_or_else(|| anyhow!("get {uri}: the URI names no file to save to; give -o FILE"))
    };
    match output {
        None => name(),
        Some(dir) if dir.is_dir() => Ok(dir.join(name()?)),
        Some(file) => Ok(file.to_path_buf()),
    }
}

fn check_length(uri: &str, received: u64, expected: u64) -> Result<()> {
    if received != expected {
        bail!("get {uri}: the stream ended after {received} of {expected} bytes");
    }
    Ok(())
}

async fn to_stdout_stream(body: &mut Body<'_>, bar: &ProgressBar) -> Result<u64> {
    let mut stdout = tokio::io::stdout();
    write_body(&mut stdout, "stdout", body, bar).await
}

/// Copies the body's chunks to `out` (named `shown` in write errors) as they arrive and
/// flushes it; returns the bytes written.
async fn write_body<W>(
    out: &mut W,
    shown: &str,
    body: &mut Body<'_>,
    bar: &ProgressBar,
) -> Result<u64>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut received = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        out.write_all(&chunk)
            .await
            .with_context(|| shown.to_string())?;
        received += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    out.flush().await.with_context(|| shown.to_string())?;
    Ok(received)
}

/// Whether `path` exists and is neither a regular file nor a directory: a device such as
/// `/dev/null`, a FIFO or a socket. Such a destination is written through, never replaced.
fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Writes the body to `path`.
///
/// A regular file is streamed into `.NAME.XXXXXX.part` beside it, then renamed over it if
/// exactly `expected` bytes arrived. An existing special file (`/dev/null`, a FIFO) is opened
/// and written directly: renaming over it would replace the device node with a plain file.
async fn to_file(
    path: &Path,
    body: &mut Body<'_>,
    bar: &ProgressBar,
    expected: u64,
    uri: &str,
) -> Result<u64> {
    let shown = path.display().to_string();
    if is_special(path) {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .await
            .with_context(|| shown.clone())?;
        return write_body(&mut file, &shown, body, bar).await;
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{}: not a file name", path.display()))?
        .to_string_lossy()
        .into_owned();
    let shown_dir = dir.display().to_string();
    let temp = tokio::task::spawn_blocking(move || {
        tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .permissions(Permissions::from_mode(0o666))
            .tempfile_in(&dir)
    })
    .await?
    .with_context(|| format!("{shown_dir}: cannot create a temporary file"))?;
    let (file, temp_path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let received = write_body(&mut file, &shown, body, bar).await?;
    drop(file);
    check_length(uri, received, expected)?;

    let target = path.to_path_buf();
    tokio::task::spawn_blocking(move || temp_path.persist(&target))
        .await?
        .map_err(|e| anyhow!("{shown}: {}", e.error))?;
    Ok(received)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_destination_is_the_basename_here() {
        assert_eq!(
            destination("s3://b/dir/x.dat", None).unwrap(),
            PathBuf::from("x.dat")
        );
    }

    #[test]
    fn a_directory_destination_gets_the_basename() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            destination("s3://b/dir/x.dat", Some(dir.path())).unwrap(),
            dir.path().join("x.dat")
        );
    }

    #[test]
    fn a_prefix_uri_needs_an_explicit_output() {
        let err = destination("s3://b/dir/", None).unwrap_err().to_string();
        assert!(err.contains("-o FILE"), "{err}");
        assert_eq!(
            destination("s3://b/dir/", Some(Path::new("/tmp/out.bin"))).unwrap(),
            PathBuf::from("/tmp/out.bin")
        );
    }

    #[tokio::test]
    async fn a_short_stream_leaves_no_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("obj");
        let chunks: Vec<s3dlio_client::Result<Bytes>> = vec![Ok(Bytes::from_static(b"abc"))];
        let body: &mut Body<'_> = &mut pin!(futures::stream::iter(chunks));
        let bar = ProgressBar::hidden();
        let err = to_file(&path, body, &bar, 10, "file:///obj")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("3 of 10 bytes"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_failed_stream_leaves_no_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("obj");
        let chunks: Vec<s3dlio_client::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"abc")),
            Err(s3dlio_client::Error::Protocol("stream broke".into())),
        ];
        let body: &mut Body<'_> = &mut pin!(futures::stream::iter(chunks));
        let err = to_file(&path, body, &ProgressBar::hidden(), 6, "file:///obj")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("stream broke"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_complete_stream_replaces_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("obj");
        std::fs::write(&path, b"old contents").unwrap();
        let chunks: Vec<s3dlio_client::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"new ")),
            Ok(Bytes::from_static(b"data")),
        ];
        let body: &mut Body<'_> = &mut pin!(futures::stream::iter(chunks));
        let n = to_file(&path, body, &ProgressBar::hidden(), 8, "file:///obj")
            .await
            .unwrap();
        assert_eq!(n, 8);
        assert_eq!(std::fs::read(&path).unwrap(), b"new data");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
