//! `put`: upload local files, or have the daemon generate objects, with `-j` uploads at once.
//!
//! Two forms, never mixed: `put FILE... URI` (one file to URI, or several to URI/<basename>)
//! and `put URI --num N --size SIZE` (objects named by a template under the URI prefix,
//! written by the daemon itself from a seed: no bytes cross the socket). Every argument is
//! checked before the first upload starts. A per-object failure is printed and the others go
//! on, except `UNAVAILABLE` (daemon draining or gone), which stops everything at once.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use indicatif::ProgressBar;
use serde::Serialize;
use tokio::io::AsyncReadExt;

use s3dlio_client::{v1, Client};

use crate::cli::PutArgs;
use crate::output::{self, Out};
use crate::{progress, uri};

/// Default name of generated objects: `object_7_of_100.dat`.
pub const DEFAULT_TEMPLATE: &str = "object_{}_of_{}.dat";

/// Upload chunk: large enough to keep the socket busy, small next to gRPC's message limit.
const CHUNK: usize = 1024 * 1024;

/// What `put` was asked to do, after checking the arguments.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Files(Vec<(PathBuf, String)>),
    Generate {
        prefix: String,
        template: String,
        num: u64,
        size: u64,
        seed: u64,
    },
}

#[derive(Serialize)]
struct PutJson<'a> {
    uri: &'a str,
    size: u64,
    etag: &'a str,
}

/// Running totals, and how to report them.
struct Tally {
    started: Instant,
    total: u64,
    done: u64,
    failed: u64,
    bytes: u64,
}

pub async fn put(client: &Client, args: PutArgs, out: &mut Out) -> Result<()> {
    match plan(&args)? {
        Plan::Files(targets) => put_files(client, targets, args.jobs as usize, out).await,
        Plan::Generate {
            prefix,
            template,
            num,
            size,
            seed,
        } => {
            let uris = (0..num).map(move |i| uri::join(&prefix, &render(&template, i, num)));
            put_generated(client, uris, num, size, seed, args.jobs as usize, out).await
        }
    }
}

fn plan(args: &PutArgs) -> Result<Plan> {
    let Some((dest, files)) = args.args.split_last() else {
        bail!("put: give local files and a destination URI");
    };
    if !dest.contains("://") {
        bail!(
            "put: the last argument must be the destination URI (s3://, az://, gs://, file://, \
             direct://), got {dest:?}"
        );
    }
    match (args.num, args.size) {
        (Some(num), Some(size)) => {
            if !files.is_empty() {
                bail!(
                    "put: give either local files (put FILE... URI) or --num/--size to generate \
                     objects (put URI --num N --size SIZE), not both"
                );
            }
            let template = args.template.as_deref().unwrap_or(DEFAULT_TEMPLATE);
            check_template(template, num)?;
            Ok(Plan::Generate {
                prefix: uri::as_prefix(dest),
                template: template.to_string(),
                num,
                size,
                seed: args.seed.unwrap_or(0),
            })
        }
        _ if files.is_empty() => bail!(
            "put: nothing to upload: give local files (put FILE... URI) or generate objects \
             (put URI --num N --size SIZE)"
        ),
        _ => Ok(Plan::Files(file_targets(files, dest)?)),
    }
}

/// Pairs each file with its URI: a single file goes to `dest` itself unless `dest` ends in
/// `/`; otherwise each goes to `dest/<basename>`, and two files may not land on one URI.
fn file_targets(files: &[String], dest: &str) -> Result<Vec<(PathBuf, String)>> {
    if let [file] = files {
        if !dest.ends_with('/') {
            return Ok(vec![(PathBuf::from(file), dest.to_string())]);
        }
    }
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut targets = Vec::with_capacity(files.len());
    for file in files {
        let name = Path::new(file)
            .file_name()
            .ok_or_else(|| anyhow!("put: {file}: names no file"))?
            .to_str()
            .ok_or_else(|| anyhow!("put: {file}: the file name is not UTF-8"))?;
        let target = uri::join(dest, name);
        if let Some(other) = seen.insert(target.clone(), file) {
            bail!("put: {other} and {file} would both be uploaded to {target}");
        }
        targets.push((PathBuf::from(file), target));
    }
    Ok(targets)
}

fn check_template(template: &str, num: u64) -> Result<()> {
    match template.matches("{}").count() {
        0 if num > 1 => bail!(
            "put: --template {template:?} has no {{}} for the index, so all {num} objects would \
             get the same name"
        ),
        0..=2 => Ok(()),
        n => bail!("put: --template {template:?} has {n} {{}}; at most two (index, count)"),
    }
}

/// The name of object `index` of `count`: the first `{}` becomes the index, the second the
/// count.
pub fn render(template: &str, index: u64, count: u64) -> String {
    let mut parts = template.splitn(3, "{}");
    let mut name = parts.next().unwrap_or_default().to_string();
    if let Some(rest) = parts.next() {
        name.push_str(&index.to_string());
        name.push_str(rest);
    }
    if let Some(rest) = parts.next() {
        name.push_str(&count.to_string());
        name.push_str(rest);
    }
    name
}

async fn put_files(
    client: &Client,
    targets: Vec<(PathBuf, String)>,
    jobs: usize,
    out: &mut Out,
) -> Result<()> {
    let mut sized = Vec::with_capacity(targets.len());
    for (path, target) in targets {
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        if !meta.is_file() {
            bail!("{}: not a regular file (put uploads files)", path.display());
        }
        sized.push((path, target, meta.len()));
    }
    let total_bytes = sized.iter().map(|(_, _, n)| n).sum();
    let bar = progress::bytes(total_bytes);
    let mut tally = Tally::new(sized.len() as u64);
    bar.set_message(tally.files_message());

    let mut uploads = futures::stream::iter(sized)
        .map(|(path, target, size)| {
            let bar = bar.clone();
            async move {
                let result = upload_file(client, &path, &target, size, &bar).await;
                (target, size, result)
            }
        })
        .buffer_unordered(jobs);
    while let Some((target, size, result)) = uploads.next().await {
        tally.record(&bar, &target, size, result, out)?;
        bar.set_message(tally.files_message());
    }
    bar.finish_and_clear();
    tally.finish("files")
}

/// Streams one file in [`CHUNK`]s, counting bytes on `bar` as gRPC takes them. A read error
/// ends the body early (the daemon then refuses the short object) and is reported instead of
/// the daemon's size mismatch.
async fn upload_file(
    client: &Client,
    path: &Path,
    target: &str,
    size: u64,
    bar: &ProgressBar,
) -> Result<v1::PutResponse> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let read_error: Arc<Mutex<Option<io::Error>>> = Arc::default();
    let body = file_body(file, bar.clone(), read_error.clone());
    let result = client.put_stream(target, Some(size), body).await;
    let read_error = read_error.lock().map(|mut e| e.take()).unwrap_or(None);
    match (read_error, result) {
        (Some(e), _) => Err(anyhow!("{}: {e}", path.display())),
        (None, result) => Ok(result?),
    }
}

fn file_body(
    file: tokio::fs::File,
    bar: ProgressBar,
    read_error: Arc<Mutex<Option<io::Error>>>,
) -> impl Stream<Item = Bytes> + Send + 'static {
    futures::stream::unfold(Some(file), move |file| {
        let (bar, read_error) = (bar.clone(), read_error.clone());
        async move {
            let mut file = file?;
            let mut buf = BytesMut::with_capacity(CHUNK);
            while buf.len() < CHUNK {
                match file.read_buf(&mut buf).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        if let Ok(mut slot) = read_error.lock() {
                            *slot = Some(e);
                        }
                        return None;
                    }
                }
            }
            if buf.is_empty() {
                return None;
            }
            bar.inc(buf.len() as u64);
            Some((buf.freeze(), Some(file)))
        }
    })
}

async fn put_generated(
    client: &Client,
    uris: impl Iterator<Item = String>,
    num: u64,
    size: u64,
    seed: u64,
    jobs: usize,
    out: &mut Out,
) -> Result<()> {
    let bar = progress::items(num, "objects");
    let mut tally = Tally::new(num);
    let mut uploads = futures::stream::iter(uris)
        .map(|target| async move {
            let result = client.put_generated(&target, size, seed).await;
            (target, size, result.map_err(anyhow::Error::from))
        })
        .buffer_unordered(jobs);
    while let Some((target, size, result)) = uploads.next().await {
        let ok = result.is_ok();
        tally.record(&bar, &target, size, result, out)?;
        if ok {
            bar.inc(1);
        }
        bar.set_message(tally.bytes_message());
    }
    bar.finish_and_clear();
    tally.finish("objects")
}

impl Tally {
    fn new(total: u64) -> Self {
        Tally {
            started: Instant::now(),
            total,
            done: 0,
            failed: 0,
            bytes: 0,
        }
    }

    /// Counts one finished upload: prints its JSON line, or its error on stderr.
    ///
    /// # Errors
    /// `UNAVAILABLE` (stop everything), or stdout failing.
    fn record(
        &mut self,
        bar: &ProgressBar,
        target: &str,
        size: u64,
        result: Result<v1::PutResponse>,
        out: &mut Out,
    ) -> Result<()> {
        match result {
            Ok(resp) => {
                self.done += 1;
                self.bytes += size;
                if out.json {
                    let uri = if resp.uri.is_empty() {
                        target
                    } else {
                        &resp.uri
                    };
                    let line = PutJson {
                        uri,
                        size: resp.size,
                        etag: &resp.etag,
                    };
                    // Flushed per object so the line never tears a bar on the same terminal.
                    bar.suspend(|| out.json_line(&line).and_then(|()| out.flush()))?;
                }
            }
            Err(e) if is_unavailable(&e) => return Err(e),
            Err(e) => {
                self.failed += 1;
                progress::eprintln_above(bar, &format!("s3dlioctl: {e:#}"));
            }
        }
        Ok(())
    }

    fn files_message(&self) -> String {
        format!("{}/{} files", self.done + self.failed, self.total)
    }

    fn bytes_message(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            (self.bytes as f64 / secs) as u64
        } else {
            0
        };
        format!(
            "{} {}/s",
            output::human_bytes(self.bytes),
            output::human_bytes(rate)
        )
    }

    /// The summary on stderr, or the error that says how many failed.
    fn finish(&self, unit: &str) -> Result<()> {
        let took = self.started.elapsed();
        let line = format!(
            "{} {unit}, {} bytes ({}) in {} ({:.1} MB/s)",
            self.done,
            self.bytes,
            output::human_bytes(self.bytes),
            output::elapsed(took),
            output::mb_per_s(self.bytes, took),
        );
        if self.failed > 0 {
            bail!(
                "put: {} of {} {unit} failed; uploaded {line}",
                self.failed,
                self.total
            );
        }
        eprintln!("uploaded {line}");
        Ok(())
    }
}

fn is_unavailable(e: &anyhow::Error) -> bool {
    e.downcast_ref::<s3dlio_client::Error>()
        .is_some_and(|e| e.code() == tonic::Code::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(positional: &[&str]) -> PutArgs {
        PutArgs {
            args: positional.iter().map(|s| s.to_string()).collect(),
            num: None,
            size: None,
            template: None,
            seed: None,
            jobs: 8,
        }
    }

    #[test]
    fn template_fills_index_then_count() {
        assert_eq!(render(DEFAULT_TEMPLATE, 0, 100), "object_0_of_100.dat");
        assert_eq!(render(DEFAULT_TEMPLATE, 99, 100), "object_99_of_100.dat");
        assert_eq!(render("shard-{}.tar", 7, 10), "shard-7.tar");
        assert_eq!(render("fixed.bin", 0, 1), "fixed.bin");
    }

    #[test]
    fn templates_need_an_index_for_many_objects() {
        assert!(check_template("fixed.bin", 1).is_ok());
        assert!(check_template("fixed.bin", 2).is_err());
        assert!(check_template("{}_{}_{}", 2).is_err());
        assert!(check_template(DEFAULT_TEMPLATE, 1000).is_ok());
    }

    #[test]
    fn one_file_goes_to_the_uri_itself() {
        let p = plan(&args(&["a.txt", "s3://b/x.txt"])).unwrap();
        assert_eq!(
            p,
            Plan::Files(vec![("a.txt".into(), "s3://b/x.txt".into())])
        );
    }

    #[test]
    fn files_under_a_prefix_keep_their_basenames() {
        let p = plan(&args(&["dir/a.txt", "/etc/b", "s3://b/p"])).unwrap();
        assert_eq!(
            p,
            Plan::Files(vec![
                ("dir/a.txt".into(), "s3://b/p/a.txt".into()),
                ("/etc/b".into(), "s3://b/p/b".into()),
            ])
        );
        let p = plan(&args(&["dir/a.txt", "file:///tmp/d/"])).unwrap();
        assert_eq!(
            p,
            Plan::Files(vec![("dir/a.txt".into(), "file:///tmp/d/a.txt".into())])
        );
    }

    #[test]
    fn two_files_with_one_basename_are_refused() {
        let err = plan(&args(&["x/a", "y/a", "s3://b/"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("both"), "{err}");
    }

    #[test]
    fn the_destination_must_be_a_uri() {
        let err = plan(&args(&["a.txt", "b.txt"])).unwrap_err().to_string();
        assert!(err.contains("destination URI"), "{err}");
    }

    #[test]
    fn files_and_num_together_are_refused() {
        let mut a = args(&["a.txt", "s3://b/p/"]);
        a.num = Some(3);
        a.size = Some(10);
        let err = plan(&a).unwrap_err().to_string();
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn neither_files_nor_num_is_refused() {
        let err = plan(&args(&["s3://b/p/"])).unwrap_err().to_string();
        assert!(err.contains("nothing to upload"), "{err}");
    }

    #[test]
    fn generate_adds_a_slash_to_the_prefix() {
        let mut a = args(&["s3://b/gen"]);
        a.num = Some(2);
        a.size = Some(4096);
        assert_eq!(
            plan(&a).unwrap(),
            Plan::Generate {
                prefix: "s3://b/gen/".into(),
                template: DEFAULT_TEMPLATE.into(),
                num: 2,
                size: 4096,
                seed: 0,
            }
        );
    }

    #[tokio::test]
    async fn file_body_streams_every_byte_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(CHUNK * 2 + 123)).map(|i| i as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = tokio::fs::File::open(&path).await.unwrap();
        let bar = ProgressBar::hidden();
        let errors = Arc::default();
        let chunks: Vec<Bytes> = file_body(file, bar.clone(), errors).collect().await;
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.concat(), data);
        assert_eq!(bar.position(), data.len() as u64);
    }
}
