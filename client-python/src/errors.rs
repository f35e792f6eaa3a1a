//! Client errors as the Python exceptions of `s3dlio_client.errors`, keyed by gRPC code and
//! carrying the URI and the daemon's (and backend's) one-line message.

use pyo3::prelude::*;
use s3dlio_client::Error;

/// The gRPC code of an error as an integer (as `grpc.StatusCode` numbers them).
fn code_of(e: &Error) -> i32 {
    e.code() as i32
}

/// Builds the Python exception for `code`/`message` through `errors._from_native`.
pub fn py_error(py: Python<'_>, code: i32, message: &str, uri: Option<&str>) -> PyErr {
    let made = py
        .import("s3dlio_client.errors")
        .and_then(|m| m.getattr("_from_native"))
        .and_then(|f| f.call1((code, message, uri)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// The Python exception for a client error about `uri`.
pub fn to_py(py: Python<'_>, e: Error, uri: Option<&str>) -> PyErr {
    py_error(py, code_of(&e), &e.to_string(), uri)
}
