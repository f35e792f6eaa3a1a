//! `az://` and `azure://`: Azure Blob Storage, through Microsoft's official `azure_storage_blob`.
//!
//! Layout (as `s3/`):
//! - `mod.rs`: [`AzureStore`], which resolves a URI's account and implements [`ObjectStore`];
//! - `config.rs`: [`AzureConfig`], the `[azure]` table;
//! - `sas.rs`: connection strings, and account SAS tokens signed from an account key;
//! - `client.rs`: one HTTP client and credential per account, built once;
//! - `error.rs`: SDK errors → [`Error`];
//! - `get.rs` (get, stat), `put.rs` (single and staged blocks), `list.rs`, `delete.rs` (blobs
//!   and containers).
//!
//! Invariants: one client per account for the whole daemon; every request goes through
//! [`crate::retry::RetryPolicy::run`] once (SDK retries off) and is bounded by
//! `operation_timeout`; every error names the operation and the URI and keeps Azure's code
//! and message.

mod client;
mod config;
mod delete;
mod error;
mod get;
mod list;
mod put;
mod sas;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

pub use config::{AzureConfig, AzureCredential, MAX_BLOCKS, MAX_BLOCK_SIZE};
pub use sas::{account_sas, ConnectionString, DEV_ACCOUNT, DEV_KEY};

use crate::error::{Error, Result};
use crate::store::{
    BoxStream, GetOptions, GetResult, ListEntry, ListOptions, ObjectMeta, ObjectStore, PutBody,
    PutOptions, PutResult,
};
use crate::uri::Location;

use client::{Account, Auth};
use config::env_nonempty;

/// The `az://` backend.
#[derive(Debug)]
pub struct AzureStore {
    config: AzureConfig,
    /// The one account served, when the configuration names it.
    fixed: Option<Arc<Account>>,
    /// Without a named account: any account, on `https://ACCOUNT.blob.SUFFIX`, with this
    /// credential; clients are created on first use and kept.
    any_auth: Auth,
    others: Mutex<BTreeMap<String, Arc<Account>>>,
}

impl AzureStore {
    /// Resolves the configuration and the `AZURE_STORAGE_*` environment.
    ///
    /// # Errors
    /// [`Error::NotConfigured`] when nothing configures Azure; [`Error::InvalidArgument`] for
    /// an invalid value (a malformed connection string, an endpoint without an account...).
    pub fn new(config: &AzureConfig) -> Result<Self> {
        config.validate()?;
        config.active().map_err(|reason| Error::NotConfigured {
            op: "configure",
            uri: "az://".into(),
            scheme: "az",
            reason,
        })?;
        let bad = |reason: String| Error::InvalidArgument {
            op: "configure",
            uri: "az://".into(),
            reason,
        };
        let cs = match config
            .connection_string
            .clone()
            .or_else(|| env_nonempty("AZURE_STORAGE_CONNECTION_STRING"))
        {
            Some(s) => ConnectionString::parse(&s)?,
            None => ConnectionString::default(),
        };
        let account = config
            .account
            .clone()
            .or_else(|| cs.account.clone())
            .or_else(|| env_nonempty("AZURE_STORAGE_ACCOUNT"));
        let auth = if let Some(k) = &cs.key {
            Auth::Key(k.clone())
        } else if let Some(s) = &cs.sas {
            Auth::Sas(s.clone())
        } else if let Some(k) = config
            .account_key
            .clone()
            .or_else(|| env_nonempty("AZURE_STORAGE_KEY"))
        {
            Auth::Key(k)
        } else if let Some(s) = config
            .sas_token
            .clone()
            .or_else(|| env_nonempty("AZURE_STORAGE_SAS_TOKEN"))
        {
            Auth::Sas(s)
        } else {
            Auth::Anonymous
        };
        let suffix = cs
            .endpoint_suffix
            .clone()
            .unwrap_or_else(|| config.endpoint_suffix.clone());
        let protocol = cs.protocol.clone().unwrap_or_else(|| "https".into());
        let endpoint = config.endpoint.clone().or_else(|| cs.blob_endpoint.clone());
        let fixed = match (&account, endpoint) {
            (Some(a), Some(e)) => Some(Arc::new(Account::new(a, e, auth.clone(), config)?)),
            (Some(a), None) => Some(Arc::new(Account::new(
                a,
                format!("{protocol}://{a}.blob.{suffix}"),
                auth.clone(),
                config,
            )?)),
            (None, Some(_)) => {
                return Err(bad(
                    "azure.endpoint needs azure.account (or a connection string naming one)".into(),
                ))
            }
            (None, None) => None,
        };
        if fixed.is_none() && matches!(auth, Auth::Key(_)) {
            return Err(bad(
                "an account key needs the account's name: set azure.account or \
                 AZURE_STORAGE_ACCOUNT"
                    .into(),
            ));
        }
        let mut config = config.clone();
        config.endpoint_suffix = suffix;
        Ok(AzureStore {
            config,
            fixed,
            any_auth: auth,
            others: Mutex::new(BTreeMap::new()),
        })
    }

    /// One line for `Admin.Status`.
    pub fn describe(&self) -> String {
        match &self.fixed {
            Some(a) => a.describe(),
            None => format!(
                "any account on https://ACCOUNT.blob.{} ({:?})",
                self.config.endpoint_suffix, self.any_auth
            ),
        }
    }

    /// The account client serving `location`.
    pub(crate) fn account(&self, op: &'static str, location: &Location) -> Result<Arc<Account>> {
        let name = &location.bucket;
        if let Some(a) = &self.fixed {
            if &a.name == name {
                return Ok(a.clone());
            }
            return Err(Error::NotConfigured {
                op,
                uri: location.to_string(),
                scheme: "az",
                reason: format!(
                    "this daemon serves storage account {:?} only, not {name:?}",
                    a.name
                ),
            });
        }
        let mut others = self.others.lock().expect("not poisoned");
        if let Some(a) = others.get(name) {
            return Ok(a.clone());
        }
        let a = Arc::new(Account::new(
            name,
            format!("https://{name}.blob.{}", self.config.endpoint_suffix),
            self.any_auth.clone(),
            &self.config,
        )?);
        others.insert(name.clone(), a.clone());
        Ok(a)
    }
}

impl Account {
    /// Runs one SDK request under the retry policy, a connection permit and the attempt
    /// timeout, mapping its error.
    pub(crate) async fn call<T, F, Fut>(&self, op: &'static str, uri: &str, f: F) -> Result<T>
    where
        F: Fn() -> Result<Fut>,
        Fut: Future<Output = azure_core::Result<T>>,
    {
        let timeout = self.config.operation_timeout;
        self.config
            .retry
            .run(op, uri, || async {
                let _permit = self.permit().await;
                match tokio::time::timeout(timeout, f()?).await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e)) => Err(error::from_azure(op, uri, &self.service, e)),
                    Err(_) => Err(Error::Timeout {
                        op,
                        uri: uri.to_string(),
                        reason: format!("no response from {} in {timeout:?}", self.service),
                    }),
                }
            })
            .await
    }
}

/// The container of an `az://account/container/...` location.
pub(crate) fn container_of(location: &Location) -> &str {
    location.container.as_deref().unwrap_or_default()
}

#[async_trait]
impl ObjectStore for AzureStore {
    async fn get(&self, location: &Location, options: GetOptions) -> Result<GetResult> {
        self.get_blob(location, options).await
    }

    async fn put(
        &self,
        location: &Location,
        body: PutBody,
        options: PutOptions,
    ) -> Result<PutResult> {
        self.put_blob(location, body, options).await
    }

    fn list(
        &self,
        prefix: &Location,
        options: ListOptions,
    ) -> BoxStream<'static, Result<ListEntry>> {
        match self.account("list", prefix) {
            Ok(a) => list::list(a, prefix, options),
            Err(e) => Box::pin(futures::stream::once(async { Err(e) })),
        }
    }

    async fn head(&self, location: &Location) -> Result<ObjectMeta> {
        self.head_blob(location).await
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        self.delete_blob(location).await
    }

    async fn create_bucket(&self, location: &Location) -> Result<()> {
        self.create_container(location).await
    }

    async fn delete_bucket(&self, location: &Location) -> Result<()> {
        self.delete_container(location).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_account_is_the_only_one_served() {
        let s = AzureStore::new(&AzureConfig {
            connection_string: Some(format!(
                "AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:1/{DEV_ACCOUNT}"
            )),
            ..AzureConfig::default()
        })
        .unwrap();
        let ok = Location::parse(&format!("az://{DEV_ACCOUNT}/c/k")).unwrap();
        assert_eq!(
            s.account("get", &ok).unwrap().service,
            format!("http://127.0.0.1:1/{DEV_ACCOUNT}")
        );
        let other = Location::parse("az://someoneelse/c/k").unwrap();
        let e = s.account("get", &other).unwrap_err();
        assert!(matches!(e, Error::NotConfigured { .. }), "{e}");
        assert!(e.to_string().contains("serves storage account"), "{e}");
    }

    #[test]
    fn a_key_without_an_account_and_nothing_at_all_are_refused_clearly() {
        let e = AzureStore::new(&AzureConfig {
            account_key: Some(DEV_KEY.into()),
            ..AzureConfig::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("needs the account's name"), "{e}");
        let e = AzureStore::new(&AzureConfig {
            enabled: Some(false),
            ..AzureConfig::default()
        })
        .unwrap_err();
        assert!(matches!(e, Error::NotConfigured { .. }), "{e}");
    }
}
