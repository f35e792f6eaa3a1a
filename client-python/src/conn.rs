//! `Connection`: a tokio runtime, a gRPC connection to the daemon and an attached arena, for
//! one process. The Python `Client` makes one per process lazily and a new one after a fork or
//! a daemon restart; this type never reconnects by itself.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::Runtime;

use s3dlio_client::{Client, DeleteTarget, ShmClient};

use crate::errors::to_py;
use crate::forksafe::ForkSafe;
use crate::iter::{GetMany, ListIter};
use crate::payload::Payload;

/// What a connection needs to run calls; shared with its iterators.
#[derive(Debug)]
pub struct Inner {
    pub rt: Runtime,
    pub client: Client,
    pub shm: ShmClient,
}

/// Leaked, not dropped, in a forked child (see `forksafe`).
pub type Shared = ForkSafe<Arc<Inner>>;

/// Nanoseconds since the epoch.
pub fn timestamp_ns(t: &prost_types::Timestamp) -> i64 {
    t.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(t.nanos))
}

/// `(listed, deleted, failed, [(uri, code, message)])`.
type DeleteSummary = (u64, u64, u64, Vec<(String, i32, String)>);

/// `(id, pid, name, arena_size, arena_in_use)`.
type SessionRow = (u64, Option<u32>, String, u64, u64);

/// A connection of this process to s3dliod, with its shared-memory arena.
#[pyclass(frozen, module = "s3dlio_client._native")]
pub struct Connection {
    inner: Shared,
    #[pyo3(get)]
    socket: String,
    /// Granted arena size in bytes.
    #[pyo3(get)]
    arena_size: u64,
    /// The daemon's pid and start time when this connection was made: a different answer
    /// later means the daemon restarted and this connection's session is gone.
    #[pyo3(get)]
    daemon_pid: u32,
    #[pyo3(get)]
    daemon_started_ns: i64,
    /// The process that made this connection.
    #[pyo3(get)]
    pid: u32,
}

impl Connection {
    fn inner(&self) -> PyResult<Arc<Inner>> {
        if !self.inner.is_own() {
            return Err(PyRuntimeError::new_err(format!(
                "this s3dliod connection belongs to process {} (inherited through fork); \
                 use s3dlio_client.Client, which connects again in each process",
                self.inner.pid()
            )));
        }
        Ok(self.inner.get().clone())
    }

    /// Runs `fut` on the runtime with the GIL released; errors become Python exceptions.
    fn run<T: Send, F>(
        &self,
        py: Python<'_>,
        uri: Option<&str>,
        f: impl FnOnce(Arc<Inner>) -> F + Send,
    ) -> PyResult<T>
    where
        F: std::future::Future<Output = s3dlio_client::Result<T>>,
    {
        let inner = self.inner()?;
        py.detach(move || inner.rt.block_on(f(inner.clone())))
            .map_err(|e| to_py(py, e, uri))
    }
}

#[pymethods]
impl Connection {
    /// Connects to the daemon (`socket` None: `S3DLIOD_SOCKET` or the default path) and
    /// attaches an arena of `arena_size` bytes (0: the daemon's default).
    #[new]
    #[pyo3(signature = (socket=None, name=None, arena_size=0, threads=2))]
    fn new(
        py: Python<'_>,
        socket: Option<String>,
        name: Option<String>,
        arena_size: u64,
        threads: usize,
    ) -> PyResult<Self> {
        let path = s3dlio_client::resolve_socket(socket.as_deref().map(std::path::Path::new));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("s3dlio-client")
            .enable_all()
            .build()
            .map_err(|e| PyRuntimeError::new_err(format!("tokio runtime: {e}")))?;
        let p: PathBuf = path.clone();
        let made = py.detach(|| {
            rt.block_on(async {
                let client = Client::connect(Some(&p), name.as_deref()).await?;
                let shm = client.attach(arena_size).await?;
                let status = client.status().await?;
                Ok::<_, s3dlio_client::Error>((client, shm, status))
            })
        });
        let (client, shm, status) = match made {
            Ok(v) => v,
            Err(e) => {
                // The runtime is ours (this process): shut it down without waiting.
                rt.shutdown_background();
                return Err(to_py(py, e, None));
            }
        };
        let arena_size = shm.arena_size();
        Ok(Connection {
            socket: path.display().to_string(),
            arena_size,
            daemon_pid: status.pid,
            daemon_started_ns: status.started_at.as_ref().map(timestamp_ns).unwrap_or(0),
            pid: std::process::id(),
            inner: ForkSafe::new(Arc::new(Inner { rt, client, shm })),
        })
    }

    /// Reads a whole object into the arena.
    fn get(&self, py: Python<'_>, uri: String) -> PyResult<Payload> {
        let u = uri.clone();
        let p = self.run(py, Some(&uri), |i| async move { i.shm.get(&u).await })?;
        Ok(Payload::new(p, uri))
    }

    /// Reads `length` bytes (None: to the end) from `offset` into the arena.
    #[pyo3(signature = (uri, offset, length=None))]
    fn get_range(
        &self,
        py: Python<'_>,
        uri: String,
        offset: u64,
        length: Option<u64>,
    ) -> PyResult<Payload> {
        let u = uri.clone();
        let p = self.run(py, Some(&uri), |i| async move {
            i.shm.get_range(&u, Some((offset, length))).await
        })?;
        Ok(Payload::new(p, uri))
    }

    /// Starts a GetMany call with at most `concurrency` fetches in flight (0: the daemon's
    /// default); requests are pushed and results pulled on the returned object.
    #[pyo3(signature = (concurrency=0))]
    fn get_many(&self, py: Python<'_>, concurrency: u32) -> PyResult<GetMany> {
        GetMany::start(py, self.inner()?, concurrency)
    }

    /// Writes an object from a byte buffer; returns `(uri, size, etag)`.
    fn put(
        &self,
        py: Python<'_>,
        uri: String,
        data: PyBuffer<u8>,
    ) -> PyResult<(String, u64, String)> {
        let bytes = Bytes::from(data.to_vec(py)?);
        drop(data);
        let u = uri.clone();
        let r = self.run(
            py,
            Some(&uri),
            |i| async move { i.client.put(&u, bytes).await },
        )?;
        Ok((r.uri, r.size, r.etag))
    }

    /// Writes `size` bytes generated by the daemon (deterministic per URI and seed).
    fn put_generated(
        &self,
        py: Python<'_>,
        uri: String,
        size: u64,
        seed: u64,
    ) -> PyResult<(String, u64, String)> {
        let u = uri.clone();
        let r = self.run(py, Some(&uri), |i| async move {
            i.client.put_generated(&u, size, seed).await
        })?;
        Ok((r.uri, r.size, r.etag))
    }

    /// Lists entries below a prefix; a lazy iterator of
    /// `(uri, is_prefix, size, last_modified_ns)`.
    #[pyo3(signature = (uri, recursive=false, pattern=None))]
    fn list(
        &self,
        py: Python<'_>,
        uri: String,
        recursive: bool,
        pattern: Option<String>,
    ) -> PyResult<ListIter> {
        let u = uri.clone();
        let stream = self.run(py, Some(&uri), |i| async move {
            i.client
                .list(&u, recursive, pattern.as_deref())
                .await
                .map(|s| s.boxed())
        })?;
        Ok(ListIter::new(self.inner()?, uri, stream))
    }

    /// `(uri, size, last_modified_ns, etag, content_type)` of one object.
    fn stat(
        &self,
        py: Python<'_>,
        uri: String,
    ) -> PyResult<(String, u64, Option<i64>, String, String)> {
        let u = uri.clone();
        let m = self.run(py, Some(&uri), |i| async move { i.client.stat(&u).await })?;
        let ts = m.last_modified.as_ref().map(timestamp_ns);
        Ok((m.uri, m.size, ts, m.etag, m.content_type))
    }

    /// Deletes exact objects; returns `(listed, deleted, failed, [(uri, code, message)])`.
    fn delete_objects(&self, py: Python<'_>, uris: Vec<String>) -> PyResult<DeleteSummary> {
        let first = uris.first().cloned();
        self.delete(py, DeleteTarget::Objects(uris), first)
    }

    /// Deletes every object below a prefix (optionally filtered by a regex on the relative
    /// key); returns as [`Connection::delete_objects`].
    #[pyo3(signature = (uri, pattern=None))]
    fn delete_prefix(
        &self,
        py: Python<'_>,
        uri: String,
        pattern: Option<String>,
    ) -> PyResult<DeleteSummary> {
        let u = Some(uri.clone());
        self.delete(py, DeleteTarget::Prefix { uri, pattern }, u)
    }

    fn create_bucket(&self, py: Python<'_>, uri: String) -> PyResult<()> {
        let u = uri.clone();
        self.run(py, Some(&uri), |i| async move {
            i.client.create_bucket(&u).await
        })
    }

    fn delete_bucket(&self, py: Python<'_>, uri: String) -> PyResult<()> {
        let u = uri.clone();
        self.run(py, Some(&uri), |i| async move {
            i.client.delete_bucket(&u).await
        })
    }

    /// `(pid, started_ns, sessions, arenas, arena_bytes, arena_in_use)` of the daemon.
    fn status(&self, py: Python<'_>) -> PyResult<(u32, i64, u32, u32, u64, u64)> {
        let s = self.run(py, None, |i| async move { i.client.status().await })?;
        Ok((
            s.pid,
            s.started_at.as_ref().map(timestamp_ns).unwrap_or(0),
            s.sessions,
            s.arenas,
            s.arena_bytes,
            s.arena_in_use,
        ))
    }

    /// The daemon's sessions: `(id, pid, name, arena_size, arena_in_use)` each.
    fn sessions(&self, py: Python<'_>) -> PyResult<Vec<SessionRow>> {
        let s = self.run(py, None, |i| async move { i.client.sessions().await })?;
        Ok(s.into_iter()
            .map(|s| (s.id, s.pid, s.name, s.arena_size, s.arena_in_use))
            .collect())
    }
}

impl Connection {
    fn delete(
        &self,
        py: Python<'_>,
        target: DeleteTarget,
        uri: Option<String>,
    ) -> PyResult<DeleteSummary> {
        self.run(py, uri.as_deref(), |i| async move {
            let mut stream = i.client.delete(target, false).await?;
            let mut summary: DeleteSummary = (0, 0, 0, Vec::new());
            while let Some(p) = stream.next().await {
                let p = p?;
                summary.0 = p.listed;
                summary.1 = p.deleted;
                summary.2 = p.failed;
                summary
                    .3
                    .extend(p.errors.into_iter().map(|e| (e.uri, e.code, e.message)));
                if p.done {
                    break;
                }
            }
            Ok(summary)
        })
    }
}
