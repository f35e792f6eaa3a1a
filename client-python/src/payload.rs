//! `Payload`: one object (or byte range) in the session's arena, exported read-only through
//! the buffer protocol.
//!
//! Invariants:
//! - the bytes stay mapped and untouched by the daemon while the inner `ShmPayload` lives;
//! - every buffer export holds a reference to the Python object (CPython's `view.obj`), so the
//!   payload outlives every `memoryview`/numpy array/tensor made from it;
//! - `release()` refuses while views are exported, so no view can outlive the space;
//! - a payload inherited through `fork()` is never released into the parent's arena (its
//!   lease is forgotten) and refuses new exports in the child.

use std::ffi::{c_int, c_void};
use std::sync::Mutex;

use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView};

use s3dlio_client::ShmPayload;

use crate::forksafe::ForkSafe;

#[derive(Debug)]
struct State {
    payload: Option<ForkSafe<ShmPayload>>,
    /// Buffer views exported and not yet released.
    exports: usize,
}

/// An object's bytes in shared memory: a read-only buffer (zero copy).
#[pyclass(frozen, module = "s3dlio_client._native")]
#[derive(Debug)]
pub struct Payload {
    state: Mutex<State>,
    ptr: usize,
    len: usize,
    #[pyo3(get)]
    uri: String,
    /// Size of the whole object.
    #[pyo3(get)]
    object_size: u64,
    /// Offset of these bytes in the object.
    #[pyo3(get)]
    offset: u64,
    #[pyo3(get)]
    etag: String,
    /// Last-modified time, nanoseconds since the epoch (`None` where the backend has none).
    #[pyo3(get)]
    last_modified_ns: Option<i64>,
}

/// Bytes of an empty payload: a valid, non-null pointer for zero-length views.
static EMPTY: [u8; 1] = [0];

impl Payload {
    pub fn new(p: ShmPayload, uri: String) -> Self {
        let bytes: &[u8] = &p;
        let (ptr, len) = if bytes.is_empty() {
            (EMPTY.as_ptr() as usize, 0)
        } else {
            (bytes.as_ptr() as usize, bytes.len())
        };
        let h = &p.header;
        Payload {
            ptr,
            len,
            uri,
            object_size: h.object_size,
            offset: h.offset,
            etag: h.etag.clone(),
            last_modified_ns: h.last_modified.as_ref().map(|t| {
                t.seconds
                    .saturating_mul(1_000_000_000)
                    .saturating_add(i64::from(t.nanos))
            }),
            state: Mutex::new(State {
                payload: Some(ForkSafe::new(p)),
                exports: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bytes, if readable in this process (not released, not inherited through fork).
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
        let st = self.state();
        match &st.payload {
            None => Err(PyValueError::new_err(format!(
                "payload of {} was released",
                self.uri
            ))),
            Some(p) if !p.is_own() => Err(inherited(&self.uri, p.pid())),
            Some(p) => Ok(f(p.get())),
        }
    }
}

fn inherited(uri: &str, pid: u32) -> PyErr {
    PyBufferError::new_err(format!(
        "payload of {uri} belongs to process {pid} (inherited through fork); read it again in this process"
    ))
}

#[pymethods]
impl Payload {
    /// # Safety
    /// Called by CPython with a valid `view` to fill, as the `bf_getbuffer` slot.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        let mut st = this.state();
        match &st.payload {
            None => {
                return Err(PyBufferError::new_err(format!(
                    "payload of {} was released",
                    this.uri
                )))
            }
            Some(p) if !p.is_own() => return Err(inherited(&this.uri, p.pid())),
            Some(_) => {}
        }
        // SAFETY: `view` is the struct CPython asked us to fill. `ptr..ptr + len` lies in the
        // read-only arena mapping, kept alive and unchanged by the daemon while `st.payload`
        // lives; it cannot be released while `exports > 0`, and the view holds a strong
        // reference to `slf` (set by PyBuffer_FillInfo), so the memory outlives the view.
        // `readonly = 1` makes PyBuffer_FillInfo refuse PyBUF_WRITABLE requests.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                this.ptr as *mut c_void,
                this.len as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        st.exports += 1;
        Ok(())
    }

    /// # Safety
    /// Called by CPython once per successful `__getbuffer__`.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        let mut st = self.state();
        st.exports = st.exports.saturating_sub(1);
    }

    fn __len__(&self) -> usize {
        self.len
    }

    /// Length in bytes (as `memoryview.nbytes`).
    #[getter]
    fn nbytes(&self) -> usize {
        self.len
    }

    /// Whether the arena space was given back.
    #[getter]
    fn released(&self) -> bool {
        self.state().payload.is_none()
    }

    /// Buffer views exported and still alive.
    #[getter]
    fn exports(&self) -> usize {
        self.state().exports
    }

    /// A `memoryview` of the bytes, no copy (as s3dlio's `BytesView.memoryview()`).
    fn memoryview<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyMemoryView>> {
        PyMemoryView::from(slf.as_any())
    }

    /// A copy of the bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.with_bytes(|b| PyBytes::new(py, b))
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.to_bytes(py)
    }

    /// Gives the arena space back now.
    ///
    /// Raises `BufferError` while buffer views (memoryview, numpy arrays, tensors) made from
    /// the payload are alive. Releasing twice is a no-op. In a forked child the lease is
    /// forgotten (the space belongs to the parent's arena).
    fn release(&self) -> PyResult<()> {
        let taken = {
            let mut st = self.state();
            if st.exports > 0 {
                return Err(PyBufferError::new_err(format!(
                    "payload of {} has {} buffer view(s) alive; drop them before release()",
                    self.uri, st.exports
                )));
            }
            st.payload.take()
        };
        drop(taken);
        Ok(())
    }

    /// Pickling copies: a payload that crosses a process (a DataLoader worker's result
    /// queue) arrives as `bytes`; the arena space stays with this process.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let bytes_type = py.import("builtins")?.getattr("bytes")?;
        Ok((bytes_type, (self.to_bytes(py)?,)))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        _t: Option<Bound<'_, PyAny>>,
        _v: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.release()?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.released() { ", released" } else { "" };
        format!(
            "Payload({:?}, offset={}, length={}, object_size={}{state})",
            self.uri, self.offset, self.len, self.object_size
        )
    }
}
