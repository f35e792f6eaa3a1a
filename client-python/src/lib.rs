//! Native part of the `s3dlio_client` Python package.
//!
//! It wraps the Rust client (`s3dlio-client`) rather than speaking the protocol again: a
//! [`Connection`] owns a tokio runtime, a gRPC connection to the daemon and a mapped arena;
//! its calls release the GIL while they wait. A [`Payload`] exports the arena bytes through
//! the buffer protocol (read-only), so `memoryview`, `np.frombuffer` and `torch.frombuffer`
//! see them in place; every exported view keeps the payload alive, and its space goes back
//! to the arena when the last reference is gone or on `release()`.
//!
//! Fork safety: everything that belongs to a process (runtime, connection, payload leases)
//! sits in a [`forksafe::ForkSafe`] and is leaked, never dropped, in a forked child; the
//! Python layer makes a new `Connection` in each process.
//!
//! The project keeps `unsafe` in the shared-memory crate; the buffer protocol is the one
//! exception, since CPython's `bf_getbuffer` slot takes raw pointers (`payload.rs`).

mod conn;
mod errors;
mod forksafe;
mod iter;
mod payload;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<conn::Connection>()?;
    m.add_class::<payload::Payload>()?;
    m.add_class::<iter::GetMany>()?;
    m.add_class::<iter::ListIter>()?;
    m.add_function(wrap_pyfunction!(default_socket, m)?)?;
    Ok(())
}

/// The socket a client uses without an explicit one: `S3DLIOD_SOCKET`, else the default.
#[pyfunction]
fn default_socket() -> String {
    s3dlio_client::resolve_socket(None).display().to_string()
}
