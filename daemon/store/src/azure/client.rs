//! One HTTP client and one credential per Azure storage account, built once and shared by
//! every session of the node.
//!
//! The SDK's clients (`azure_storage_blob`) are thin: a URL and a pipeline. The pipeline's
//! transport is one `reqwest` client per account (connection pool, idle, connect and read
//! timeouts from `[azure]`), and its retry policy is off: [`crate::retry::RetryPolicy`] is the
//! only retry layer. The credential travels as a SAS in each request URL: the configured SAS
//! token, or an account SAS the daemon signs from the account key and signs again when half
//! its lifetime has passed.
//!
//! Requests in flight are bounded by a semaphore of `max_connections` permits, held by a get
//! until its body is consumed.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use azure_core::http::{ClientOptions, RetryOptions, Transport, Url};
use azure_storage_blob::{
    BlobClient, BlobClientOptions, BlobContainerClient, BlobContainerClientOptions,
};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

use super::config::{AzureConfig, AzureCredential};
use super::sas::account_sas;

/// Characters kept as they are in a URL path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How requests to one account authenticate.
#[derive(Clone)]
pub(crate) enum Auth {
    Anonymous,
    Sas(String),
    /// The base64 account key; an account SAS is signed from it.
    Key(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Anonymous => "anonymous",
            Auth::Sas(_) => "SAS token",
            Auth::Key(_) => "account key (signed account SAS)",
        })
    }
}

/// One storage account: its service URL, credential, HTTP client and connection bound.
#[derive(Debug)]
pub(crate) struct Account {
    pub name: String,
    pub config: AzureConfig,
    /// The blob service URL, without credential (`https://acct.blob.core.windows.net`).
    pub service: String,
    auth: Auth,
    http: Arc<reqwest::Client>,
    /// The signed account SAS and when it was signed (account-key auth only).
    signed: Mutex<Option<(String, Instant)>>,
    permits: Arc<Semaphore>,
}

impl Account {
    /// # Errors
    /// [`Error::InvalidArgument`] (op `configure`) when the HTTP client cannot be built.
    pub fn new(name: &str, service: String, auth: Auth, config: &AzureConfig) -> Result<Self> {
        let http = crate::tls::http_client(
            &format!("az://{name}"),
            config.max_connections,
            config.idle_timeout,
            config.connect_timeout,
            config.read_timeout,
        )?;
        let auth = match config.credential {
            AzureCredential::Anonymous => Auth::Anonymous,
            _ => auth,
        };
        Ok(Account {
            name: name.to_string(),
            service: service.trim_end_matches('/').to_string(),
            auth,
            http: Arc::new(http),
            signed: Mutex::new(None),
            permits: Arc::new(Semaphore::new(config.max_connections)),
            config: config.clone(),
        })
    }

    /// One line for `Admin.Status`.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} ({:?}), {} connections",
            self.name, self.service, self.auth, self.config.max_connections
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

    /// The query string that authenticates a request (empty for anonymous access).
    fn credential_query(&self) -> Result<String> {
        match &self.auth {
            Auth::Anonymous => Ok(String::new()),
            Auth::Sas(s) => Ok(s.trim_start_matches('?').to_string()),
            Auth::Key(key) => {
                let mut signed = self.signed.lock().expect("not poisoned");
                let fresh = signed
                    .as_ref()
                    .is_some_and(|(_, at)| at.elapsed() < self.config.sas_lifetime / 2);
                if !fresh {
                    let sas =
                        account_sas(&self.name, key, SystemTime::now(), self.config.sas_lifetime)?;
                    *signed = Some((sas, Instant::now()));
                }
                Ok(signed.as_ref().map(|(s, _)| s.clone()).unwrap_or_default())
            }
        }
    }

    fn url(&self, path: &str, uri: &str) -> Result<Url> {
        let query = self.credential_query()?;
        let s = if query.is_empty() {
            format!("{}/{path}", self.service)
        } else {
            format!("{}/{path}?{query}", self.service)
        };
        Url::parse(&s).map_err(|e| Error::InvalidUri {
            uri: uri.to_string(),
            reason: format!("cannot form a request URL on {}: {e}", self.service),
        })
    }

    fn client_options(&self) -> ClientOptions {
        ClientOptions {
            retry: RetryOptions::none(),
            transport: Some(Transport::new(self.http.clone())),
            ..ClientOptions::default()
        }
    }

    /// The SDK client of one container.
    ///
    /// # Errors
    /// [`Error::InvalidUri`] when no valid URL can be formed.
    pub fn container(&self, container: &str, uri: &str) -> Result<BlobContainerClient> {
        let url = self.url(&utf8_percent_encode(container, SEGMENT).to_string(), uri)?;
        let options = BlobContainerClientOptions {
            client_options: self.client_options(),
            ..BlobContainerClientOptions::default()
        };
        BlobContainerClient::new(url, None, Some(options)).map_err(|e| Error::InvalidUri {
            uri: uri.to_string(),
            reason: e.to_string(),
        })
    }

    /// A container client for List Blobs, with `delimiter=/` in its URL for one-level
    /// listings (the SDK 1.1 has no delimiter option; the URL's query is kept on every page).
    ///
    /// # Errors
    /// [`Error::InvalidUri`] when no valid URL can be formed.
    pub fn container_listing(
        &self,
        container: &str,
        delimiter: bool,
        uri: &str,
    ) -> Result<BlobContainerClient> {
        let client = self.container(container, uri)?;
        if !delimiter {
            return Ok(client);
        }
        let mut url = client.url().clone();
        url.query_pairs_mut().append_pair("delimiter", "/");
        let options = BlobContainerClientOptions {
            client_options: self.client_options(),
            ..BlobContainerClientOptions::default()
        };
        BlobContainerClient::new(url, None, Some(options)).map_err(|e| Error::InvalidUri {
            uri: uri.to_string(),
            reason: e.to_string(),
        })
    }

    /// The SDK client of one blob. Each `/`-separated part of the name is percent-encoded on
    /// its own, so `/` stays a separator and spaces or unicode reach the service intact.
    ///
    /// # Errors
    /// [`Error::InvalidUri`] when no valid URL can be formed.
    pub fn blob(&self, container: &str, blob: &str, uri: &str) -> Result<BlobClient> {
        let mut path = utf8_percent_encode(container, SEGMENT).to_string();
        for part in blob.split('/') {
            path.push('/');
            path.extend(utf8_percent_encode(part, SEGMENT));
        }
        let url = self.url(&path, uri)?;
        let options = BlobClientOptions {
            client_options: self.client_options(),
            ..BlobClientOptions::default()
        };
        BlobClient::new(url, None, Some(options)).map_err(|e| Error::InvalidUri {
            uri: uri.to_string(),
            reason: e.to_string(),
        })
    }
}
