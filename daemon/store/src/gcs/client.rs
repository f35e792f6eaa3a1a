//! One HTTP client and one credential for the whole node, built once and shared by every
//! session: the `reqwest` client (connection pool, idle, connect and read timeouts from
//! `[gcs]`) under `gcloud-storage`'s client, and the token source, created on first use
//! because finding Application Default Credentials is asynchronous.
//!
//! The SDK serves metadata, listing, uploads, deletes and buckets. Object reads are sent here
//! on the same client and token: the SDK's streamed download drops the response headers, and a
//! read must learn the object's size and generation from its one request (no metadata request
//! before each read).
//!
//! Requests in flight are bounded by a semaphore of `max_connections` permits, held by a get
//! until its body is consumed.

use std::sync::Arc;

use gcloud_storage::client::google_cloud_auth::credentials::CredentialsFile;
use gcloud_storage::client::{Client, ClientConfig};
use token_source::{TokenSource, TokenSourceProvider};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::error::{chain, Error, Result};

use super::config::GcsConfig;

/// The node's GCS client.
#[derive(Debug)]
pub(crate) struct Gcs {
    pub config: GcsConfig,
    /// The JSON API's base URL, e.g. `https://storage.googleapis.com`.
    pub endpoint: String,
    http: reqwest::Client,
    auth: OnceCell<Authed>,
    permits: Arc<Semaphore>,
}

/// What the credential gives once resolved.
#[derive(Clone)]
pub(crate) struct Authed {
    pub sdk: Client,
    token: Option<Arc<dyn TokenSource>>,
    pub project: Option<String>,
}

impl std::fmt::Debug for Authed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authed")
            .field("token", &self.token.is_some())
            .field("project", &self.project)
            .finish()
    }
}

/// Hands the SDK the token source this module holds too.
#[derive(Debug)]
struct Shared(Arc<dyn TokenSource>);

impl TokenSourceProvider for Shared {
    fn token_source(&self) -> Arc<dyn TokenSource> {
        self.0.clone()
    }
}

impl Gcs {
    /// # Errors
    /// [`Error::InvalidArgument`] (op `configure`) when the HTTP client cannot be built.
    pub fn new(config: &GcsConfig) -> Result<Self> {
        let http = crate::tls::http_client(
            "gs://",
            config.max_connections,
            config.idle_timeout,
            config.connect_timeout,
            config.read_timeout,
        )?;
        Ok(Gcs {
            endpoint: config.resolved_endpoint(),
            http,
            auth: OnceCell::new(),
            permits: Arc::new(Semaphore::new(config.max_connections)),
            config: config.clone(),
        })
    }

    /// One line for `Admin.Status`.
    pub fn describe(&self) -> String {
        let credential = if self.config.is_anonymous() {
            "anonymous".to_string()
        } else if let Some(f) = self.config.resolved_credentials_file() {
            format!("credentials file {}", f.display())
        } else {
            "Application Default Credentials".to_string()
        };
        format!(
            "{} ({credential}), {} connections",
            self.endpoint, self.config.max_connections
        )
    }

    /// A permit for one request; the request holds it until it is done with the connection.
    pub async fn permit(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// The SDK client and token, resolving the credential on first use (a failure is not
    /// kept: the next request tries again).
    pub async fn authed(&self, op: &'static str, uri: &str) -> Result<&Authed> {
        self.auth
            .get_or_try_init(|| async {
                let unauthenticated = |reason: String| Error::Unauthenticated {
                    op,
                    uri: uri.to_string(),
                    reason,
                };
                let base = ClientConfig {
                    http: Some(reqwest_middleware::ClientBuilder::new(self.http.clone()).build()),
                    storage_endpoint: self.endpoint.clone(),
                    ..ClientConfig::default()
                };
                let mut cc = if self.config.is_anonymous() {
                    base.anonymous()
                } else if let Some(file) = self.config.resolved_credentials_file() {
                    let cf = CredentialsFile::new_from_file(file.display().to_string())
                        .await
                        .map_err(|e| {
                            unauthenticated(format!(
                                "cannot read the credentials file {}: {}",
                                file.display(),
                                chain(&e)
                            ))
                        })?;
                    base.with_credentials(cf).await.map_err(|e| {
                        unauthenticated(format!(
                            "credentials file {}: {}",
                            file.display(),
                            chain(&e)
                        ))
                    })?
                } else {
                    base.with_auth().await.map_err(|e| {
                        unauthenticated(format!(
                            "no Application Default Credentials: {}; set \
                             GOOGLE_APPLICATION_CREDENTIALS or gcs.credentials_file",
                            chain(&e)
                        ))
                    })?
                };
                let token = cc.token_source_provider.take().map(|p| p.token_source());
                cc.token_source_provider = token
                    .clone()
                    .map(|t| Box::new(Shared(t)) as Box<dyn TokenSourceProvider>);
                let project = self
                    .config
                    .project
                    .clone()
                    .or_else(|| cc.project_id.clone())
                    .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok());
                Ok(Authed {
                    sdk: Client::new(cc),
                    token,
                    project,
                })
            })
            .await
    }

    /// A request on the node's HTTP client, with the credential's `Authorization` header.
    pub async fn request(
        &self,
        authed: &Authed,
        op: &'static str,
        uri: &str,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder> {
        let builder = self.http.request(method, url);
        match &authed.token {
            None => Ok(builder),
            Some(ts) => {
                let token = ts.token().await.map_err(|e| Error::Unauthenticated {
                    op,
                    uri: uri.to_string(),
                    reason: format!("cannot get a Google access token: {}", chain(e.as_ref())),
                })?;
                Ok(builder.header(reqwest::header::AUTHORIZATION, token))
            }
        }
    }
}
