//! `[gcs]`: where `gs://` and `gcs://` URIs go, and with which credential.
//!
//! Credentials, first match wins:
//! 1. `anonymous = true`, or an emulator (`STORAGE_EMULATOR_HOST`, or `endpoint` with
//!    `anonymous` unset and no credentials file): no credential at all;
//! 2. `credentials_file` (default `GOOGLE_APPLICATION_CREDENTIALS`): a service-account JSON key
//!    (or any credentials file Google's client libraries read);
//! 3. Application Default Credentials: the gcloud user's ADC file, then the metadata server of
//!    a Google Cloud VM or GKE workload identity.
//!
//! Tokens are fetched on first use and refreshed before they expire by Google's auth crate.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// Resumable uploads send chunks in multiples of this (GCS's rule).
pub const CHUNK_QUANTUM: u64 = 256 * 1024;

/// The `[gcs]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcsConfig {
    /// `None`: serve `gs://` when this table or the environment configures anything;
    /// `true`: always (Application Default Credentials); `false`: never.
    pub enabled: Option<bool>,
    /// The JSON API's base URL (`http://127.0.0.1:4443` for an emulator); default
    /// `STORAGE_EMULATOR_HOST`, else `https://storage.googleapis.com`.
    pub endpoint: Option<String>,
    /// No credential: `None` decides by itself (anonymous for an emulator endpoint without a
    /// credentials file).
    pub anonymous: Option<bool>,
    /// Default `GOOGLE_APPLICATION_CREDENTIALS`.
    pub credentials_file: Option<PathBuf>,
    /// Project new buckets are created in; default the credential's project, else
    /// `GOOGLE_CLOUD_PROJECT`.
    pub project: Option<String>,
    /// Most requests in flight at once.
    pub max_connections: usize,
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Bound of one attempt of one request up to its response headers.
    #[serde(with = "humantime_serde")]
    pub operation_timeout: Duration,
    /// Longest wait for the next bytes of a response body.
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// Objects at least this large are sent as a resumable upload, in chunks.
    pub resumable_threshold: u64,
    /// Bytes per resumable-upload chunk, a multiple of 256 KiB.
    pub chunk_size: u64,
    /// Entries per objects.list page (1 to 1,000, GCS's maximum; emulators return everything
    /// in one page unless told).
    pub list_page_size: u32,
    pub retry: RetryPolicy,
}

impl Default for GcsConfig {
    fn default() -> Self {
        GcsConfig {
            enabled: None,
            endpoint: None,
            anonymous: None,
            credentials_file: None,
            project: None,
            max_connections: 128,
            idle_timeout: Duration::from_secs(90),
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(120),
            read_timeout: Duration::from_secs(60),
            resumable_threshold: 16 * 1024 * 1024,
            chunk_size: 8 * 1024 * 1024,
            list_page_size: 1000,
            retry: RetryPolicy::default(),
        }
    }
}

/// Environment variables that configure GCS without a config file.
const GCS_ENV: &[&str] = &["STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"];

impl GcsConfig {
    /// Whether `gs://` is served, or why not.
    pub fn active(&self) -> std::result::Result<(), String> {
        match self.enabled {
            Some(true) => Ok(()),
            Some(false) => Err("disabled by gcs.enabled = false".into()),
            None => {
                let configured = self.endpoint.is_some()
                    || self.credentials_file.is_some()
                    || self.anonymous.is_some()
                    || self.project.is_some();
                if configured || GCS_ENV.iter().any(|v| env_nonempty(v).is_some()) {
                    Ok(())
                } else {
                    Err("no [gcs] settings and no STORAGE_EMULATOR_HOST or \
                         GOOGLE_APPLICATION_CREDENTIALS; set gcs.enabled = true for \
                         Application Default Credentials"
                        .into())
                }
            }
        }
    }

    /// Checks what types cannot, naming the key.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (op `configure`) for the first invalid value.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::InvalidArgument {
            op: "configure",
            uri: "gs://".into(),
            reason: format!("gcs.{reason}"),
        };
        if self.max_connections == 0 {
            return Err(bad("max_connections must be at least 1".into()));
        }
        if self.chunk_size == 0 || !self.chunk_size.is_multiple_of(CHUNK_QUANTUM) {
            return Err(bad(format!(
                "chunk_size {} must be a positive multiple of 256 KiB ({CHUNK_QUANTUM} bytes)",
                self.chunk_size
            )));
        }
        if !(1..=1000).contains(&self.list_page_size) {
            return Err(bad(format!(
                "list_page_size {} must be between 1 and 1000",
                self.list_page_size
            )));
        }
        if let Some(e) = &self.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(bad(format!(
                    "endpoint {e:?} must start with http:// or https://"
                )));
            }
        }
        Ok(())
    }

    /// The endpoint requests go to, without a trailing `/`.
    pub fn resolved_endpoint(&self) -> String {
        let e = self
            .endpoint
            .clone()
            .or_else(|| {
                env_nonempty("STORAGE_EMULATOR_HOST").map(|h| {
                    if h.contains("://") {
                        h
                    } else {
                        format!("http://{h}")
                    }
                })
            })
            .unwrap_or_else(|| "https://storage.googleapis.com".into());
        e.trim_end_matches('/').to_string()
    }

    /// The credentials file, if any.
    pub fn resolved_credentials_file(&self) -> Option<PathBuf> {
        self.credentials_file
            .clone()
            .or_else(|| env_nonempty("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from))
    }

    /// Whether requests go without a credential.
    pub fn is_anonymous(&self) -> bool {
        self.anonymous.unwrap_or_else(|| {
            let emulator =
                self.endpoint.is_some() || env_nonempty("STORAGE_EMULATOR_HOST").is_some();
            emulator && self.resolved_credentials_file().is_none()
        })
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_key() {
        GcsConfig::default().validate().unwrap();
        let c = GcsConfig {
            chunk_size: 1000,
            ..GcsConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("gcs.chunk_size"));
        let c = GcsConfig {
            list_page_size: 5000,
            ..GcsConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("gcs.list_page_size"));
        let c = GcsConfig {
            endpoint: Some("127.0.0.1:4443".into()),
            ..GcsConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("gcs.endpoint"));
    }

    #[test]
    fn an_emulator_endpoint_without_credentials_is_anonymous() {
        let c = GcsConfig {
            endpoint: Some("http://127.0.0.1:4443/".into()),
            ..GcsConfig::default()
        };
        assert!(c.is_anonymous());
        assert_eq!(c.resolved_endpoint(), "http://127.0.0.1:4443");
        let c = GcsConfig {
            endpoint: Some("http://127.0.0.1:4443".into()),
            credentials_file: Some("/etc/sa.json".into()),
            ..GcsConfig::default()
        };
        assert!(!c.is_anonymous());
    }
}
