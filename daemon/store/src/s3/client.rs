//! One SDK client per S3 endpoint profile, built once on first use and shared by every
//! session of the node.
//!
//! The client is configured here and nowhere else: the AWS credential chain (environment,
//! shared profile, web identity / IRSA, container and instance metadata) or static keys, with
//! the SDK's identity cache refreshing credentials before they expire; region; endpoint
//! override (config, else `AWS_ENDPOINT_URL[_S3]`); path-style addressing; extra CAs from
//! `ca_bundle` / `AWS_CA_BUNDLE`; connect, attempt and read timeouts; idle-connection timeout.
//! SDK retries are off: [`crate::retry::RetryPolicy`] is the only retry layer. Checksums are
//! computed only where S3 requires them, which every S3-compatible server accepts.
//!
//! The number of requests in flight (and so of pooled connections in use) is bounded by a
//! semaphore of `max_connections` permits, held by a GET until its body is consumed.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

use super::config::S3Config;

/// An S3 endpoint profile: its configuration, its lazily built client, its connection bound.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// `default` or the profile's name.
    pub name: String,
    pub config: S3Config,
    /// How the endpoint is named in error messages (its URL, or `AWS S3`).
    pub shown: String,
    client: tokio::sync::OnceCell<aws_sdk_s3::Client>,
    permits: Arc<Semaphore>,
}

impl Endpoint {
    pub fn new(name: &str, config: S3Config) -> Self {
        let shown = config
            .endpoint
            .clone()
            .or_else(|| env_nonempty("AWS_ENDPOINT_URL_S3"))
            .or_else(|| env_nonempty("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| "AWS S3".into());
        Endpoint {
            name: name.to_string(),
            permits: Arc::new(Semaphore::new(config.max_connections)),
            config,
            shown,
            client: tokio::sync::OnceCell::new(),
        }
    }

    /// One line for `Admin.Status`.
    pub fn describe(&self) -> String {
        let c = &self.config;
        format!(
            "{}: {}{}{}, {} connections",
            self.name,
            self.shown,
            c.region
                .as_deref()
                .map(|r| format!(" region {r}"))
                .unwrap_or_default(),
            if c.force_path_style {
                ", path-style"
            } else {
                ""
            },
            c.max_connections
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

    /// The shared client, built on first use.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (op `configure`) when the CA bundle cannot be read.
    pub async fn client(&self) -> Result<&aws_sdk_s3::Client> {
        self.client.get_or_try_init(|| self.build()).await
    }

    async fn build(&self) -> Result<aws_sdk_s3::Client> {
        let c = &self.config;
        let mut trust = TrustStore::default();
        let ca = c
            .ca_bundle
            .clone()
            .or_else(|| env_nonempty("AWS_CA_BUNDLE").map(Into::into));
        if let Some(path) = ca {
            let pem = tokio::fs::read(&path)
                .await
                .map_err(|e| Error::InvalidArgument {
                    op: "configure",
                    uri: "s3://".into(),
                    reason: format!("cannot read CA bundle {}: {e}", path.display()),
                })?;
            trust = trust.with_pem_certificate(pem);
        }
        let tls_context = TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(|e| Error::InvalidArgument {
                op: "configure",
                uri: "s3://".into(),
                reason: format!("TLS setup: {e}"),
            })?;
        let http = aws_smithy_http_client::Builder::new()
            .pool_idle_timeout(c.idle_timeout)
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(tls_context)
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(c.connect_timeout)
            .operation_attempt_timeout(c.operation_timeout)
            .read_timeout(c.read_timeout)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts);
        if let Some(p) = &c.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &c.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(e) = &c.endpoint {
            loader = loader.endpoint_url(e);
        }
        if let (Some(id), Some(secret)) = (&c.access_key_id, &c.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(
                id,
                secret,
                c.session_token.clone(),
                None,
                "s3dliod-config",
            ));
        }
        let sdk = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(c.force_path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if sdk.region().is_none() {
            builder = builder.region(Region::from_static("us-east-1"));
        }
        tracing::info!(endpoint = %self.describe(), "S3 client ready");
        Ok(aws_sdk_s3::Client::from_conf(builder.build()))
    }

    /// The region the client signs for (for CreateBucket's location constraint).
    pub async fn region(&self) -> Result<Option<String>> {
        Ok(self
            .client()
            .await?
            .config()
            .region()
            .map(|r| r.to_string()))
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
