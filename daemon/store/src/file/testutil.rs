//! Test fixtures for the local-file backends: a backend rooted in a temporary directory,
//! URIs inside it, and body helpers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;

use super::{FileBackend, FileConfig, FileStore};
use crate::error::{Error, Result};
use crate::identity::Caller;
use crate::range::GetRange;
use crate::store::{GetOptions, ObjectStore, PutBody, PutOptions, PutResult};
use crate::uri::Location;

/// A backend whose only root is a fresh temporary directory.
pub(super) struct Fixture {
    /// Kept alive for the test's duration (removed on drop) when the fixture owns it.
    _tmp: Option<tempfile::TempDir>,
    pub(super) root: PathBuf,
    backend: Arc<FileBackend>,
    scheme: &'static str,
}

/// A fixture under /tmp (ext4 on these machines), `direct://` if `direct`.
pub(super) fn fixture(direct: bool) -> Fixture {
    fixture_with(FileConfig::default(), direct)
}

/// A fixture with `config` (its roots replaced by the temporary directory).
pub(super) fn fixture_with(config: FileConfig, direct: bool) -> Fixture {
    let tmp = tempfile::tempdir_in("/tmp").unwrap();
    let mut fx = build(tmp.path(), config, direct);
    fx._tmp = Some(tmp);
    fx
}

/// A fixture rooted in an existing directory the caller owns (e.g. on /dev/shm).
pub(super) fn fixture_in(dir: &Path, direct: bool) -> Fixture {
    build(dir, FileConfig::default(), direct)
}

fn build(dir: &Path, config: FileConfig, direct: bool) -> Fixture {
    let root = dir.canonicalize().unwrap();
    let config = FileConfig {
        roots: vec![root.clone()],
        ..config
    };
    Fixture {
        _tmp: None,
        backend: Arc::new(FileBackend::new(&config, direct).unwrap()),
        root,
        scheme: if direct { "direct" } else { "file" },
    }
}

impl Fixture {
    /// The store acting as the daemon itself.
    pub(super) fn store(&self) -> FileStore {
        self.backend.for_caller(Caller::Daemon)
    }

    /// The store acting for `caller`.
    pub(super) fn store_as(&self, caller: Caller) -> FileStore {
        self.backend.for_caller(caller)
    }

    /// The path of `rel` under the root.
    pub(super) fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The location of `rel` under the root (a trailing `/` is kept).
    pub(super) fn loc(&self, rel: &str) -> Location {
        Location::parse(&format!("{}://{}/{rel}", self.scheme, self.root.display())).unwrap()
    }
}

/// Deterministic, non-repeating-looking bytes.
pub(super) fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

/// A body of `data` cut into chunks of `chunk` bytes (0: one chunk).
pub(super) fn body(data: &[u8], chunk: usize) -> PutBody {
    let chunk = if chunk == 0 { data.len().max(1) } else { chunk };
    let chunks: Vec<Result<Bytes>> = data
        .chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures::stream::iter(chunks))
}

/// A body that yields `data` and then fails.
pub(super) fn failing_body(data: &[u8]) -> PutBody {
    let items = vec![
        Ok(Bytes::copy_from_slice(data)),
        Err(Error::Unavailable {
            op: "put",
            uri: "test".into(),
            reason: "client went away".into(),
        }),
    ];
    Box::pin(futures::stream::iter(items))
}

/// Puts `data` in chunks of `chunk` bytes.
pub(super) async fn put_bytes(
    store: &FileStore,
    loc: &Location,
    data: &[u8],
    chunk: usize,
) -> Result<PutResult> {
    store
        .put(loc, body(data, chunk), PutOptions::default())
        .await
}

/// Gets `range` (whole object if `None`) in chunks of `chunk_size` and collects it.
pub(super) async fn get_range(
    store: &FileStore,
    loc: &Location,
    range: Option<GetRange>,
    chunk_size: usize,
) -> Result<Bytes> {
    store
        .get(
            loc,
            GetOptions {
                range,
                chunk_size,
                ..Default::default()
            },
        )
        .await?
        .bytes()
        .await
}

/// The keys of a listing, in order, with their kind (`/` suffix marks prefixes).
pub(super) async fn list_keys(
    store: &FileStore,
    prefix: &Location,
    recursive: bool,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut s = store.list(prefix, crate::store::ListOptions { recursive });
    while let Some(e) = s.next().await {
        out.push(e?.location().key.clone());
    }
    Ok(out)
}
