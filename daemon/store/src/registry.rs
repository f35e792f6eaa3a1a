//! URI → (store, location): the one place that knows which backends this daemon serves.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::file::{FileBackend, FileConfig};
use crate::identity::Caller;
use crate::range_engine::{RangeEngine, RangeEngineConfig};
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
    /// The RangeEngine: parallel ranged reads, per backend.
    pub range_engine: RangeEngineConfig,
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
    /// `s3://` (behind the RangeEngine when it is on), or why it is not served.
    s3: std::result::Result<Arc<dyn ObjectStore>, String>,
    s3_detail: String,
    engine: Arc<RangeEngine>,
}

impl Registry {
    /// Builds every configured backend.
    ///
    /// # Errors
    /// A backend whose configuration is unusable (a root directory that does not exist, an
    /// invalid `[s3]` value...). A cloud backend that is simply not configured is no error: its
    /// URIs fail with [`Error::NotConfigured`] and the reason.
    pub fn new(config: &StoreConfig) -> Result<Self> {
        let engine = Arc::new(RangeEngine::new(&config.range_engine)?);
        let (s3, s3_detail) = match S3Store::new(&config.s3) {
            Ok(s) => {
                let detail = format!("{}; {}", s.describe(), engine.describe(Scheme::S3));
                (Ok(engine.wrap(Scheme::S3, Arc::new(s))), detail)
            }
            Err(Error::NotConfigured { reason, .. }) => (Err(reason.clone()), reason),
            Err(e) => return Err(e),
        };
        Ok(Registry {
            file: Arc::new(FileBackend::new(&config.file, false)?),
            direct: Arc::new(FileBackend::new(&config.direct, true)?),
            s3,
            s3_detail,
            engine,
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
            Scheme::File => Ok(self
                .engine
                .wrap(Scheme::File, Arc::new(self.file.for_caller(caller.clone())))),
            Scheme::Direct => Ok(self.engine.wrap(
                Scheme::Direct,
                Arc::new(self.direct.for_caller(caller.clone())),
            )),
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
                    detail: format!("{}; {}", self.file.describe(), self.engine.describe(scheme)),
                },
                Scheme::Direct => BackendStatus {
                    scheme,
                    configured: true,
                    detail: format!(
                        "{}; {}",
                        self.direct.describe(),
                        self.engine.describe(scheme)
                    ),
                },
                Scheme::S3 => BackendStatus {
                    scheme,
                    configured: self.s3.is_ok(),
                    detail: self.s3_detail.clone(),
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
