//! Streaming calls as Python objects: `GetMany` (requests pushed, results pulled, so the
//! Python side bounds what is in flight) and `ListIter` (a lazy iterator over a listing).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use pyo3::exceptions::{PyRuntimeError, PyTimeoutError};
use pyo3::prelude::*;
use tokio::sync::mpsc;

use s3dlio_client::{v1, ShmItem, ShmRequest};

use crate::conn::{timestamp_ns, Inner, Shared};
use crate::errors::to_py;
use crate::forksafe::ForkSafe;
use crate::payload::Payload;

type ItemStream = Pin<Box<dyn Stream<Item = s3dlio_client::Result<ShmItem>> + Send>>;
type EntryStream = Pin<Box<dyn Stream<Item = s3dlio_client::Result<v1::ListEntry>> + Send>>;

/// `(tag, payload, None)` or `(tag, None, exception)`.
type ManyRow = (u64, Option<Payload>, Option<Py<PyAny>>);

/// `(uri, is_prefix, size, last_modified_ns)`.
type EntryRow = (String, bool, u64, Option<i64>);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn own(inner: &Shared) -> PyResult<Arc<Inner>> {
    if !inner.is_own() {
        return Err(PyRuntimeError::new_err(format!(
            "this stream belongs to process {} (inherited through fork)",
            inner.pid()
        )));
    }
    Ok(inner.get().clone())
}

/// One GetMany call in flight: `push` requests, `close` when there are no more, `next` for
/// each result in completion order.
#[pyclass(frozen, module = "s3dlio_client._native")]
pub struct GetMany {
    inner: Shared,
    tx: Mutex<Option<ForkSafe<mpsc::UnboundedSender<ShmRequest>>>>,
    /// Taken out while a `next` waits on it (with the GIL released).
    results: Mutex<Option<ForkSafe<ItemStream>>>,
    uris: Mutex<HashMap<u64, String>>,
}

impl GetMany {
    pub fn start(py: Python<'_>, inner: Arc<Inner>, concurrency: u32) -> PyResult<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let i = inner.clone();
        let stream = py
            .detach(move || {
                i.rt.block_on(async {
                    let requests = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
                    i.shm
                        .get_many_stream(requests, concurrency)
                        .await
                        .map(|s| Box::pin(s) as ItemStream)
                })
            })
            .map_err(|e| to_py(py, e, None))?;
        Ok(GetMany {
            inner: ForkSafe::new(inner),
            tx: Mutex::new(Some(ForkSafe::new(tx))),
            results: Mutex::new(Some(ForkSafe::new(stream))),
            uris: Mutex::new(HashMap::new()),
        })
    }
}

#[pymethods]
impl GetMany {
    /// Asks for one object (or a byte range of it), identified by `tag` in the results.
    #[pyo3(signature = (tag, uri, offset=None, length=None))]
    fn push(
        &self,
        tag: u64,
        uri: String,
        offset: Option<u64>,
        length: Option<u64>,
    ) -> PyResult<()> {
        own(&self.inner)?;
        let range = match (offset, length) {
            (None, None) => None,
            (o, l) => Some((o.unwrap_or(0), l)),
        };
        let tx = lock(&self.tx);
        let Some(tx) = tx.as_ref() else {
            return Err(PyRuntimeError::new_err("get_many: push after close"));
        };
        lock(&self.uris).insert(tag, uri.clone());
        tx.get()
            .send((tag, uri, range))
            .map_err(|_| PyRuntimeError::new_err("get_many: the call has ended"))
    }

    /// No more requests: the call ends after the last result.
    fn close(&self) {
        // Dropping the sender ends the request stream.
        lock(&self.tx).take();
    }

    /// The next result as `(tag, payload, None)` or `(tag, None, exception)`; `None` when
    /// every pushed request was answered and the call is closed. A failure of the call as a
    /// whole raises.
    ///
    /// With `timeout_ms`, raises `TimeoutError` when nothing arrived in time (the call goes on).
    #[pyo3(signature = (timeout_ms=None))]
    fn next(&self, py: Python<'_>, timeout_ms: Option<u64>) -> PyResult<Option<ManyRow>> {
        let inner = own(&self.inner)?;
        let Some(mut stream) = lock(&self.results).take() else {
            return Err(PyRuntimeError::new_err(
                "get_many: next() called from two threads at once, or after the end",
            ));
        };
        let item = py.detach(|| {
            inner.rt.block_on(async {
                match timeout_ms {
                    None => Ok(stream.get_mut().next().await),
                    Some(ms) => {
                        let wait = std::time::Duration::from_millis(ms);
                        tokio::time::timeout(wait, stream.get_mut().next()).await
                    }
                }
            })
        });
        *lock(&self.results) = Some(stream);
        let Ok(item) = item else {
            return Err(PyTimeoutError::new_err("get_many: no result in time"));
        };
        let item = match item {
            None => return Ok(None),
            Some(Err(e)) => return Err(to_py(py, e, None)),
            Some(Ok(item)) => item,
        };
        let uri = lock(&self.uris).remove(&item.tag).unwrap_or_default();
        Ok(Some(match item.result {
            Ok(p) => (item.tag, Some(Payload::new(p, uri)), None),
            Err(e) => {
                let exc = to_py(py, e, Some(&uri)).into_value(py).into_any();
                (item.tag, None, Some(exc))
            }
        }))
    }
}

/// A listing being streamed: iterates `(uri, is_prefix, size, last_modified_ns)`.
#[pyclass(frozen, module = "s3dlio_client._native")]
pub struct ListIter {
    inner: Shared,
    uri: String,
    entries: Mutex<Option<ForkSafe<EntryStream>>>,
}

impl ListIter {
    pub fn new(inner: Arc<Inner>, uri: String, entries: EntryStream) -> Self {
        ListIter {
            inner: ForkSafe::new(inner),
            uri,
            entries: Mutex::new(Some(ForkSafe::new(entries))),
        }
    }
}

#[pymethods]
impl ListIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<EntryRow>> {
        let inner = own(&self.inner)?;
        let Some(mut stream) = lock(&self.entries).take() else {
            return Ok(None);
        };
        let item = py.detach(|| inner.rt.block_on(stream.get_mut().next()));
        match item {
            None => Ok(None),
            Some(Err(e)) => Err(to_py(py, e, Some(&self.uri))),
            Some(Ok(e)) => {
                *lock(&self.entries) = Some(stream);
                let ts = e.last_modified.as_ref().map(timestamp_ns);
                Ok(Some((e.uri, e.is_prefix, e.size, ts)))
            }
        }
    }
}
