//! The TLS crypto provider of the `reqwest` clients the Azure and GCS SDKs use: rustls with
//! ring, the provider the S3 client uses too, installed once as the process default.

use std::sync::Once;

/// Installs ring as rustls' process-wide default provider (once; a provider installed
/// earlier by someone else is kept).
pub(crate) fn install_default_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
