//! URI → (store, location): the one place that knows which backends this daemon serves.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::azure::{AzureConfig, AzureStore};
use crate::error::{Error, Result};
use crate::file::{FileBackend, FileConfig};
use crate::gcs::{GcsConfig, GcsStore};
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
    /// `az://` and `azure://`: the storage account(s) and their credential.
    pub azure: AzureConfig,
    /// `gs://` and `gcs://`: the endpoint and credential.
    pub gcs: GcsConfig,
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
    s3: Cloud,
    azure: Cloud,
    gcs: Cloud,
    engine: Arc<RangeEngine>,
}

/// A cloud backend (behind the RangeEngine when it is on), or why it is not served.
#[derive(Debug)]
struct Cloud {
    store: std::result::Result<Arc<dyn ObjectStore>, String>,
    detail: String,
}

impl Cloud {
    /// Wraps a freshly built backend; "not configured" is a state, any other error is fatal.
    fn new<S: ObjectStore + 'static>(
        scheme: Scheme,
        built: Result<S>,
        describe: impl FnOnce(&S) -> String,
        engine: &Arc<RangeEngine>,
    ) -> Result<Self> {
        match built {
            Ok(s) => Ok(Cloud {
                detail: format!("{}; {}", describe(&s), engine.describe(scheme)),
                store: Ok(engine.wrap(scheme, Arc::new(s))),
            }),
            Err(Error::NotConfigured { reason, .. }) => Ok(Cloud {
                store: Err(reason.clone()),
                detail: reason,
            }),
            Err(e) => Err(e),
        }
    }

    fn get(&self, location: &Location) -> Result<Arc<dyn ObjectStore>> {
        self.store.clone().map_err(|reason| Error::NotConfigured {
            op: "resolve",
            uri: location.to_string(),
            scheme: location.scheme.name(),
            reason,
        })
    }

    fn status(&self, scheme: Scheme) -> BackendStatus {
        BackendStatus {
            scheme,
            configured: self.store.is_ok(),
            detail: self.detail.clone(),
        }
    }
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
        let s3 = Cloud::new(
            Scheme::S3,
            S3Store::new(&config.s3),
            S3Store::describe,
            &engine,
        )?;
        let azure = Cloud::new(
            Scheme::Azure,
            AzureStore::new(&config.azure),
            AzureStore::describe,
            &engine,
        )?;
        let gcs = Cloud::new(
            Scheme::Gcs,
            GcsStore::new(&config.gcs),
            GcsStore::describe,
            &engine,
        )?;
        Ok(Registry {
            file: Arc::new(FileBackend::new(&config.file, false)?),
            direct: Arc::new(FileBackend::new(&config.direct, true)?),
            s3,
            azure,
            gcs,
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
            Scheme::S3 => self.s3.get(location),
            Scheme::Azure => self.azure.get(location),
            Scheme::Gcs => self.gcs.get(location),
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
                Scheme::S3 => self.s3.status(scheme),
                Scheme::Azure => self.azure.status(scheme),
                Scheme::Gcs => self.gcs.status(scheme),
            })
            .collect()
    }
}
