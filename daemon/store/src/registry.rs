//! URI → (store, location): the one place that knows which backends this daemon serves.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::file::{FileBackend, FileConfig};
use crate::identity::Caller;
use crate::s3::{S3Config, S3Store};
use crate::store::ObjectStore;
use crate::uri::{Location, Scheme};

/// Configuration of the store layer (the `[file]`, `[direct]`... tables of the daemon's config).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `file://`: buffered local files.
    pub file: FileConfig,
    /// `direct://`: local files with O_DIRECT.
    pub direct: FileConfig,
    /// `s3://`: the default endpoint profile and the named ones.
    pub s3: S3Config,
}

/// What `Status` reports for one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStatus {
    pub scheme: Scheme,
    pub configured: bool,
    pub detail: String,
}

/// Backends of this daemon, created once and shared by every request.
#[derive(Debug)]
pub struct Registry {
    file: Arc<FileBackend>,
    direct: Arc<FileBackend>,
    /// `s3://`, or why it is not served.
    s3: std::result::Result<Arc<S3Store>, String>,
}

impl Registry {
    /// Builds every configured backend.
    ///
    /// # Errors
    /// A backend whose configuration is unusable (a root directory that does not exist, an
    /// invalid `[s3]` value...). A cloud backend that is simply not configured is no error: its
    /// URIs fail with [`Error::NotConfigured`] and the reason.
    pub fn new(config: &StoreConfig) -> Result<Self> {
        let s3 = match S3Store::new(&config.s3) {
            Ok(s) => Ok(Arc::new(s)),
            Err(Error::NotConfigured { reason, .. }) => Err(reason),
            Err(e) => return Err(e),
        };
        Ok(Registry {
            file: Arc::new(FileBackend::new(&config.file, false)?),
            direct: Arc::new(FileBackend::new(&config.direct, true)?),
            s3,
        })
    }

    /// Parses `uri` and returns the store that serves it, acting for `caller`.
    ///
    /// # Errors
    /// [`Error::InvalidUri`] for a bad URI, [`Error::NotConfigured`] for a backend this daemon
    /// does not serve.
    pub fn resolve(&self, uri: &str, caller: &Caller) -> Result<(Arc<dyn ObjectStore>, Location)> {
        let location = Location::parse(uri)?;
        let store = self.store_for(&location, caller)?;
        Ok((store, location))
    }

    /// The store for an already parsed location.
    ///
    /// # Errors
    /// [`Error::NotConfigured`] for a backend this daemon does not serve.
    pub fn store_for(&self, location: &Location, caller: &Caller) -> Result<Arc<dyn ObjectStore>> {
        match location.scheme {
            Scheme::File => Ok(Arc::new(self.file.for_caller(caller.clone()))),
            Scheme::Direct => Ok(Arc::new(self.direct.for_caller(caller.clone()))),
            Scheme::S3 => match &self.s3 {
                Ok(s) => Ok(s.clone()),
                Err(reason) => Err(Error::NotConfigured {
                    op: "resolve",
                    uri: location.to_string(),
                    scheme: "s3",
                    reason: reason.clone(),
                }),
            },
            scheme @ (Scheme::Azure | Scheme::Gcs) => Err(Error::NotConfigured {
                op: "resolve",
                uri: location.to_string(),
                scheme: scheme.name(),
                reason: "cloud backends are not built into this version yet".into(),
            }),
        }
    }

    /// Status of every scheme, for `Admin.Status`.
    pub fn status(&self) -> Vec<BackendStatus> {
        Scheme::ALL
            .iter()
            .map(|&scheme| match scheme {
                Scheme::File => BackendStatus {
                    scheme,
                    configured: true,
                    detail: self.file.describe(),
                },
                Scheme::Direct => BackendStatus {
                    scheme,
                    configured: true,
                    detail: self.direct.describe(),
                },
                Scheme::S3 => match &self.s3 {
                    Ok(s) => BackendStatus {
                        scheme,
                        configured: true,
                        detail: s.describe(),
                    },
                    Err(reason) => BackendStatus {
                        scheme,
                        configured: false,
                        detail: reason.clone(),
                    },
                },
                _ => BackendStatus {
                    scheme,
                    configured: false,
                    detail: "not built into this version yet".into(),
                },
            })
            .collect()
    }
}
