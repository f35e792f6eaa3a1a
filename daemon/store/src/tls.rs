//! The `reqwest` clients the Azure and GCS SDKs use: one builder for both, on rustls with ring
//! (the provider the S3 client uses too), installed once as the process default.

use std::sync::Once;

/// Installs ring as rustls' process-wide default provider (once; a provider installed
/// earlier by someone else is kept).
pub(crate) fn install_default_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A pooled HTTP client with the backend's limits: at most `max_idle` idle connections,
/// closed after `idle`; `connect` and `read` bound connecting and each wait for body bytes.
///
/// # Errors
/// [`crate::Error::InvalidArgument`] (op `configure`, on `uri`, the backend's root) when the
/// client cannot be built.
pub(crate) fn http_client(
    uri: &str,
    max_idle: usize,
    idle: std::time::Duration,
    connect: std::time::Duration,
    read: std::time::Duration,
) -> crate::Result<reqwest::Client> {
    install_default_provider();
    reqwest::Client::builder()
        .pool_idle_timeout(idle)
        .pool_max_idle_per_host(max_idle)
        .connect_timeout(connect)
        .read_timeout(read)
        .build()
        .map_err(|e| crate::Error::InvalidArgument {
            op: "configure",
            uri: uri.to_string(),
            reason: format!("cannot build the HTTP client: {e}"),
        })
}
