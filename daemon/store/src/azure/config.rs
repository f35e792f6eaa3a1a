//! `[azure]`: the Azure Blob Storage account(s) `az://` and `azure://` URIs reach, and how.
//!
//! Credentials, first match wins:
//! 1. `connection_string` (default `AZURE_STORAGE_CONNECTION_STRING`): its `AccountName`,
//!    `AccountKey` or `SharedAccessSignature`, and `BlobEndpoint` / `EndpointSuffix` /
//!    `DefaultEndpointsProtocol`; `UseDevelopmentStorage=true` means Azurite's defaults;
//! 2. `account_key` (default `AZURE_STORAGE_KEY`): the daemon signs an account SAS with it
//!    (HMAC-SHA256), because the official SDK has no Shared Key authentication;
//! 3. `sas_token` (default `AZURE_STORAGE_SAS_TOKEN`): used as given;
//! 4. none of these: anonymous access (public containers, emulators).
//!
//! Entra ID / managed identity is not built into this version: `credential = "entra"` is
//! refused with a clear "not yet" error rather than half served.
//!
//! Where requests go: `endpoint` (the account's blob service URL, e.g. Azurite's
//! `http://127.0.0.1:10000/devstoreaccount1`, path-style) when given, otherwise
//! `https://ACCOUNT.blob.ENDPOINT_SUFFIX` (`core.windows.net`, or a sovereign cloud's suffix
//! such as `core.chinacloudapi.cn`), with ACCOUNT taken from the URI.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// Largest block a staged upload may use (Azure's limit, service version 2019-12-12 and later).
pub const MAX_BLOCK_SIZE: u64 = 4000 * 1024 * 1024;
/// Most blocks one blob may have.
pub const MAX_BLOCKS: u64 = 50_000;
/// Smallest block size accepted in the configuration.
pub const MIN_BLOCK_SIZE: u64 = 64 * 1024;

/// Which credential the daemon uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AzureCredential {
    /// Connection string, else account key, else SAS token, else anonymous.
    #[default]
    Auto,
    /// No credential at all (public containers, emulators that allow it).
    Anonymous,
    /// Entra ID / managed identity (not built into this version yet).
    Entra,
}

/// The `[azure]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureConfig {
    /// `None`: serve `az://` when this table or the environment configures anything;
    /// `true`: always (anonymous access); `false`: never.
    pub enabled: Option<bool>,
    pub credential: AzureCredential,
    /// The only account served when set (default `AZURE_STORAGE_ACCOUNT`, or the connection
    /// string's); URIs naming another account are refused.
    pub account: Option<String>,
    /// Default `AZURE_STORAGE_CONNECTION_STRING`.
    pub connection_string: Option<String>,
    /// Base64 account key; default `AZURE_STORAGE_KEY`.
    pub account_key: Option<String>,
    /// A SAS token (`sv=...&sig=...`, with or without a leading `?`); default
    /// `AZURE_STORAGE_SAS_TOKEN`.
    pub sas_token: Option<String>,
    /// The account's blob service URL (needs `account`, or a connection string naming one).
    pub endpoint: Option<String>,
    /// DNS suffix of the blob service when `endpoint` is not given.
    pub endpoint_suffix: String,
    /// Lifetime of the account SAS signed from an account key; it is signed again when half
    /// of it has passed.
    #[serde(with = "humantime_serde")]
    pub sas_lifetime: Duration,
    /// Most requests in flight at once to the account.
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
    /// Objects at least this large are uploaded as staged blocks.
    pub block_upload_threshold: u64,
    /// Smallest block size; raised for large objects so they fit in 50,000 blocks.
    pub block_size: u64,
    /// Blocks staged at once for one object.
    pub blocks_in_flight: usize,
    /// Entries per List Blobs page (1 to 5,000, Azure's maximum).
    pub list_page_size: u32,
    pub retry: RetryPolicy,
}

impl Default for AzureConfig {
    fn default() -> Self {
        AzureConfig {
            enabled: None,
            credential: AzureCredential::Auto,
            account: None,
            connection_string: None,
            account_key: None,
            sas_token: None,
            endpoint: None,
            endpoint_suffix: "core.windows.net".into(),
            sas_lifetime: Duration::from_secs(24 * 3600),
            max_connections: 128,
            idle_timeout: Duration::from_secs(90),
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(120),
            read_timeout: Duration::from_secs(60),
            block_upload_threshold: 16 * 1024 * 1024,
            block_size: 8 * 1024 * 1024,
            blocks_in_flight: 4,
            list_page_size: 5000,
            retry: RetryPolicy::default(),
        }
    }
}

/// Environment variables that configure Azure without a config file.
const AZURE_ENV: &[&str] = &[
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
];

impl AzureConfig {
    /// Whether `az://` is served, or why not.
    pub fn active(&self) -> std::result::Result<(), String> {
        match self.enabled {
            Some(true) => Ok(()),
            Some(false) => Err("disabled by azure.enabled = false".into()),
            None => {
                let configured = self.account.is_some()
                    || self.connection_string.is_some()
                    || self.account_key.is_some()
                    || self.sas_token.is_some()
                    || self.endpoint.is_some()
                    || self.credential != AzureCredential::Auto;
                let env = AZURE_ENV.iter().any(|v| env_nonempty(v).is_some());
                if configured || env {
                    Ok(())
                } else {
                    Err(
                        "no [azure] settings and no AZURE_STORAGE_* environment; set \
                         azure.enabled = true for anonymous access"
                            .into(),
                    )
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
            uri: "az://".into(),
            reason: format!("azure.{reason}"),
        };
        if self.max_connections == 0 {
            return Err(bad("max_connections must be at least 1".into()));
        }
        if self.blocks_in_flight == 0 {
            return Err(bad("blocks_in_flight must be at least 1".into()));
        }
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&self.block_size) {
            return Err(bad(format!(
                "block_size {} must be between {MIN_BLOCK_SIZE} and {MAX_BLOCK_SIZE} bytes",
                self.block_size
            )));
        }
        if self.block_upload_threshold < self.block_size {
            return Err(bad(format!(
                "block_upload_threshold {} must be at least block_size {}",
                self.block_upload_threshold, self.block_size
            )));
        }
        if !(1..=5000).contains(&self.list_page_size) {
            return Err(bad(format!(
                "list_page_size {} must be between 1 and 5000",
                self.list_page_size
            )));
        }
        if self.sas_lifetime < Duration::from_secs(120) {
            return Err(bad("sas_lifetime must be at least 2 minutes".into()));
        }
        if let Some(e) = &self.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(bad(format!(
                    "endpoint {e:?} must start with http:// or https://"
                )));
            }
        }
        if self.credential == AzureCredential::Entra {
            return Err(bad(
                "credential = \"entra\": Entra ID / managed identity is not built into this \
                 version yet; use a connection string, an account key or a SAS token"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Block size for an object of `size` bytes (`None`: unknown): the configured size,
    /// doubled until the object fits in 50,000 blocks; unknown sizes use at least 64 MiB.
    pub fn block_size_for(&self, size: Option<u64>) -> u64 {
        let mut block = self.block_size;
        match size {
            Some(size) => {
                while block < MAX_BLOCK_SIZE && size.div_ceil(block) > MAX_BLOCKS {
                    block = (block * 2).min(MAX_BLOCK_SIZE);
                }
            }
            None => block = block.max(64 * 1024 * 1024),
        }
        block
    }
}

pub(crate) fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_size_adapts_to_fit_fifty_thousand_blocks() {
        let c = AzureConfig::default();
        assert_eq!(c.block_size_for(Some(64 << 20)), 8 << 20);
        let huge = 1u64 << 42; // 4 TiB
        let b = c.block_size_for(Some(huge));
        assert!(huge.div_ceil(b) <= MAX_BLOCKS);
        assert_eq!(c.block_size_for(None), 64 << 20);
    }

    #[test]
    fn validation_names_the_key_and_entra_is_not_yet() {
        let mut c = AzureConfig::default();
        c.validate().unwrap();
        c.block_size = 1;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("azure.block_size"));
        let c = AzureConfig {
            credential: AzureCredential::Entra,
            ..AzureConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("not built"));
    }
}
