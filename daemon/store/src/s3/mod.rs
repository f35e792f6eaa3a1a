//! `s3://`: Amazon S3 and S3-compatible servers, through `aws-sdk-s3`.
//!
//! Layout of this module (Azure and GCS follow the same one):
//! - `mod.rs`: [`S3Store`], which routes a location to its endpoint profile and implements
//!   [`ObjectStore`];
//! - `config.rs`: [`S3Config`], the `[s3]` table and its named profiles;
//! - `client.rs`: one SDK client per profile, built once, with its connection bound;
//! - `error.rs`: SDK errors → [`Error`];
//! - `get.rs` (get, stat), `put.rs` (single and multipart), `list.rs`, `delete.rs` (objects
//!   and buckets): one file per family of S3 operations.
//!
//! Invariants:
//! - one client per profile for the whole daemon, shared by every session;
//! - every request goes through [`crate::retry::RetryPolicy::run`] once (SDK retries off);
//! - every error names the operation and the URI, and keeps S3's code and message.

mod client;
mod config;
mod delete;
mod error;
mod get;
mod list;
mod put;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

pub use config::{S3Config, MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE};

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::store::{
    BoxStream, GetOptions, GetResult, ListEntry, ListOptions, ObjectMeta, ObjectStore, PutBody,
    PutOptions, PutResult,
};
use crate::uri::Location;

use client::Endpoint;

/// The `s3://` backend: the default profile (if active) and the named ones.
#[derive(Debug)]
pub struct S3Store {
    /// `None` with the reason when `[s3]` itself is not active.
    default: std::result::Result<Arc<Endpoint>, String>,
    named: BTreeMap<String, Arc<Endpoint>>,
    /// Bucket → named profile, from the profiles' `buckets` lists.
    by_bucket: BTreeMap<String, Arc<Endpoint>>,
}

/// A location resolved to its profile and its real bucket name.
pub(crate) struct Target<'a> {
    pub ep: &'a Arc<Endpoint>,
    pub bucket: &'a str,
}

impl Target<'_> {
    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.ep.config.retry
    }
}

impl S3Store {
    /// Validates the configuration; clients are built on first use.
    ///
    /// # Errors
    /// [`Error::NotConfigured`] when neither `[s3]`, its named profiles, nor the environment
    /// configure S3; [`Error::InvalidArgument`] for an invalid value.
    pub fn new(config: &S3Config) -> Result<Self> {
        config.validate("s3")?;
        let default = config
            .active()
            .map(|()| Arc::new(Endpoint::new("default", config.clone())));
        if let (Err(reason), true) = (&default, config.endpoints.is_empty()) {
            return Err(Error::NotConfigured {
                op: "configure",
                uri: "s3://".into(),
                scheme: "s3",
                reason: reason.clone(),
            });
        }
        let mut named = BTreeMap::new();
        let mut by_bucket = BTreeMap::new();
        for (name, p) in &config.endpoints {
            let ep = Arc::new(Endpoint::new(name, p.clone()));
            for b in &p.buckets {
                by_bucket.insert(b.clone(), ep.clone());
            }
            named.insert(name.clone(), ep);
        }
        Ok(S3Store {
            default,
            named,
            by_bucket,
        })
    }

    /// One line for `Admin.Status`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        match &self.default {
            Ok(ep) => parts.push(ep.describe()),
            Err(reason) => parts.push(format!("default: off ({reason})")),
        }
        parts.extend(self.named.values().map(|ep| {
            let buckets = &ep.config.buckets;
            if buckets.is_empty() {
                ep.describe()
            } else {
                format!("{} (buckets {})", ep.describe(), buckets.join(", "))
            }
        }));
        parts.join("; ")
    }

    /// The profile and real bucket of `location`: `s3://NAME@bucket/...` names the profile, a
    /// bucket listed by a profile goes to it, anything else to the default profile.
    pub(crate) fn target<'a>(
        &'a self,
        op: &'static str,
        location: &'a Location,
    ) -> Result<Target<'a>> {
        let not_configured = |reason: String| Error::NotConfigured {
            op,
            uri: location.to_string(),
            scheme: "s3",
            reason,
        };
        if let Some((name, bucket)) = location.bucket.split_once('@') {
            let ep = self.named.get(name).ok_or_else(|| {
                not_configured(format!(
                    "no endpoint profile named {name:?} (configured: {})",
                    if self.named.is_empty() {
                        "none".to_string()
                    } else {
                        self.named.keys().cloned().collect::<Vec<_>>().join(", ")
                    }
                ))
            })?;
            if bucket.is_empty() {
                return Err(Error::InvalidUri {
                    uri: location.to_string(),
                    reason: "missing bucket name after the profile, as in s3://profile@bucket/key"
                        .into(),
                });
            }
            return Ok(Target { ep, bucket });
        }
        if let Some(ep) = self.by_bucket.get(&location.bucket) {
            return Ok(Target {
                ep,
                bucket: &location.bucket,
            });
        }
        match &self.default {
            Ok(ep) => Ok(Target {
                ep,
                bucket: &location.bucket,
            }),
            Err(reason) => Err(not_configured(format!(
                "the default profile is off ({reason}) and no named profile lists bucket {:?}",
                location.bucket
            ))),
        }
    }

    fn target_arc(&self, op: &'static str, location: &Location) -> Result<(Arc<Endpoint>, String)> {
        let t = self.target(op, location)?;
        Ok((t.ep.clone(), t.bucket.to_string()))
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn get(&self, location: &Location, options: GetOptions) -> Result<GetResult> {
        self.get_object(location, options).await
    }

    async fn put(
        &self,
        location: &Location,
        body: PutBody,
        options: PutOptions,
    ) -> Result<PutResult> {
        self.put_object(location, body, options).await
    }

    fn list(
        &self,
        prefix: &Location,
        options: ListOptions,
    ) -> BoxStream<'static, Result<ListEntry>> {
        match self.target_arc("list", prefix) {
            Ok((ep, bucket)) => list::list(ep, bucket, prefix, options),
            Err(e) => Box::pin(futures::stream::once(async { Err(e) })),
        }
    }

    async fn head(&self, location: &Location) -> Result<ObjectMeta> {
        self.head_object(location).await
    }

    async fn delete(&self, location: &Location) -> Result<()> {
        self.delete_object(location).await
    }

    fn delete_batch_size(&self) -> usize {
        delete::DELETE_BATCH
    }

    async fn delete_listed(&self, locations: Vec<Location>) -> Vec<(Location, Result<()>)> {
        self.delete_batch(locations).await
    }

    async fn create_bucket(&self, location: &Location) -> Result<()> {
        self.create(location).await
    }

    async fn delete_bucket(&self, location: &Location) -> Result<()> {
        self.remove(location).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> S3Store {
        let mut c = S3Config {
            enabled: Some(true),
            ..S3Config::default()
        };
        c.endpoints.insert(
            "onprem".into(),
            S3Config {
                endpoint: Some("http://127.0.0.1:9000".into()),
                force_path_style: true,
                buckets: vec!["datasets".into()],
                ..S3Config::default()
            },
        );
        S3Store::new(&c).unwrap()
    }

    #[test]
    fn profiles_are_chosen_by_uri_or_bucket_list_never_by_bucket_shape() {
        let s = store();
        let pick = |u: &str| {
            let l = Location::parse(u).unwrap();
            let t = s
                .target("get", &l)
                .map(|t| (t.ep.name.clone(), t.bucket.to_string()));
            t
        };
        assert_eq!(
            pick("s3://onprem@ckpt/k").unwrap(),
            ("onprem".into(), "ckpt".into())
        );
        assert_eq!(
            pick("s3://datasets/k").unwrap(),
            ("onprem".into(), "datasets".into())
        );
        // A dotted bucket is a bucket, not a host.
        assert_eq!(
            pick("s3://my.data.example.com/k").unwrap(),
            ("default".into(), "my.data.example.com".into())
        );
        let e = pick("s3://nope@b/k").unwrap_err().to_string();
        assert!(e.contains("no endpoint profile named \"nope\""), "{e}");
    }

    #[test]
    fn nothing_configured_is_a_clear_not_configured() {
        let c = S3Config {
            enabled: Some(false),
            ..S3Config::default()
        };
        let e = S3Store::new(&c).unwrap_err();
        assert!(matches!(e, Error::NotConfigured { .. }));
        assert!(e.to_string().contains("s3.enabled = false"), "{e}");
    }
}
