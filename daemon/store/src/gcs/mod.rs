//! `gs://` and `gcs://`: Google Cloud Storage, through `gcloud-storage` (the JSON API).
//!
//! Layout (as `s3/` and `azure/`):
//! - `mod.rs`: [`GcsStore`] and its [`ObjectStore`] implementation;
//! - `config.rs`: [`GcsConfig`], the `[gcs]` table;
//! - `client.rs`: the node's one HTTP client and credential;
//! - `error.rs`: SDK and HTTP errors → [`Error`];
//! - `get.rs` (get, stat), `put.rs` (single and resumable), `list.rs`, `delete.rs` (objects
//!   and buckets).
//!
//! Invariants: one client for the whole daemon; every request goes through
//! [`crate::retry::RetryPolicy::run`] once (the SDK has no retries of its own) and is bounded
//! by `operation_timeout`; every error names the operation and the URI and keeps Google's
//! reason and message. The etag of an object is its generation, the number GCS changes on
//! every overwrite, in every answer (get, stat, list, put).

mod client;
mod config;
mod delete;
mod error;
mod get;
mod list;
mod put;

use std::future::Future;

use async_trait::async_trait;

pub use config::{GcsConfig, CHUNK_QUANTUM};

use crate::error::{Error, Result};
use crate::store::{
    BoxStream, GetOptions, GetResult, ListEntry, ListOptions, ObjectMeta, ObjectStore, PutBody,
    PutOptions, PutResult,
};
use crate::uri::Location;

use client::{Authed, Gcs};

/// The `gs://` backend.
#[derive(Debug)]
pub struct GcsStore {
    gcs: std::sync::Arc<Gcs>,
}

impl GcsStore {
    /// Resolves the configuration and the GCS environment; the credential itself is found on
    /// first use.
    ///
    /// # Errors
    /// [`Error::NotConfigured`] when nothing configures GCS; [`Error::InvalidArgument`] for
    /// an invalid value.
    pub fn new(config: &GcsConfig) -> Result<Self> {
        config.validate()?;
        config.active().map_err(|reason| Error::NotConfigured {
            op: "configure",
            uri: "gs://".into(),
            scheme: "gs",
            reason,
        })?;
        Ok(GcsStore {
            gcs: std::sync::Arc::new(Gcs::new(config)?),
        })
    }

    /// One line for `Admin.Status`.
    pub fn describe(&self) -> String {
        self.gcs.describe()
    }
}

impl Gcs {
    /// Runs one SDK request under the retry policy, a connection permit and the attempt
    /// timeout, mapping its error.
    pub(crate) async fn call<T, F, Fut>(&self, op: &'static str, uri: &str, f: F) -> Result<T>
    where
        F: Fn(Authed) -> Fut,
        Fut: Future<Output = std::result::Result<T, gcloud_storage::http::Error>>,
    {
        let timeout = self.config.operation_timeout;
        self.config
            .retry
            .run(op, uri, || async {
                let authed = self.authed(op, uri).await?.clone();
                let _permit = self.permit().await;
                match tokio::time::timeout(timeout, f(authed)).await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e)) => Err(error::from_gcs(op, uri, &self.endpoint, e)),
                    Err(_) => Err(Error::Timeout {
                        op,
                        uri: uri.to_string(),
                        reason: format!("no response from {} in {timeout:?}", self.endpoint),
                    }),
                }
            })
            .await
    }
}

/// GCS's generation as our etag.
pub(crate) fn etag_of(generation: i64) -> Option<String> {
    (generation != 0).then(|| generation.to_string())
}

/// Metadata of a GCS object at `location`.
pub(crate) fn meta_of(location: Location, o: &gcloud_storage::http::objects::Object) -> ObjectMeta {
    ObjectMeta {
        location,
        size: u64::try_from(o.size).unwrap_or_default(),
        last_modified: o.updated.map(std::time::SystemTime::from),
        etag: etag_of(o.generation),
        content_type: o.content_type.clone(),
    }
}

#[async_trait]
impl ObjectStore for GcsStore {
    async fn get(&self, location: &Location, options: GetOptions) -> Result<GetResult> {
        get::get(&self.gcs, location, options).await
    }

    async fn put(
        &self,
        location: &Location,
        body: PutBody,
        options: PutOptions,
    ) -> Result<PutResult> {
        put::put(&self.gcs, location, body, options).await
    }

    fn list(
        &self,
        prefix: &Location,
        options: ListOptions,
    ) -> BoxStream<'static, Result<ListEntry>> {
        list::list(self.gcs.clone(), prefix, options)
    }

    async fn head(&self, location: &Location) -> Result<ObjectMeta> {
        get::head(&self.gcs, location).await
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        delete::delete(&self.gcs, location).await
    }

    async fn create_bucket(&self, location: &Location) -> Result<()> {
        delete::create_bucket(&self.gcs, location).await
    }

    async fn delete_bucket(&self, location: &Location) -> Result<()> {
        delete::delete_bucket(&self.gcs, location).await
    }
}
