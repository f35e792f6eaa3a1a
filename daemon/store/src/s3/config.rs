//! `[s3]`: the default S3 endpoint profile and the named ones under `[s3.endpoints.NAME]`.
//!
//! Every field left unset falls back to the standard AWS environment and shared config
//! (`AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_PROFILE`, `AWS_CA_BUNDLE`, the credential chain), so a
//! daemon started with only AWS variables serves `s3://` without a config file.
//!
//! Which profile serves a URI (never guessed from the shape of a bucket name):
//! 1. `s3://NAME@bucket/key` names the profile explicitly (`@` cannot occur in a bucket name);
//! 2. otherwise a bucket listed in one named profile's `buckets` goes to that profile;
//! 3. otherwise the default `[s3]` profile.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// Smallest part S3 accepts (all parts but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Largest part S3 accepts.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Most parts one multipart upload may have.
pub const MAX_PARTS: u64 = 10_000;

/// One S3 endpoint and credential: `[s3]` itself, or `[s3.endpoints.NAME]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// `None`: serve `s3://` when this table or the environment configures anything (a
    /// region, an endpoint, keys, a profile); `true`: always (e.g. instance metadata with no
    /// environment at all); `false`: never.
    pub enabled: Option<bool>,
    /// Region; default from `AWS_REGION` / the shared config, else `us-east-1`.
    pub region: Option<String>,
    /// Endpoint URL (`http://127.0.0.1:9000`); default `AWS_ENDPOINT_URL_S3` /
    /// `AWS_ENDPOINT_URL`, else AWS's own.
    pub endpoint: Option<String>,
    /// Path-style addressing (`http://host/bucket/key`), which most S3-compatible servers
    /// need; virtual-hosted (`http://bucket.host/key`) otherwise.
    pub force_path_style: bool,
    /// A profile of the shared AWS config/credentials files; default `AWS_PROFILE`.
    pub profile: Option<String>,
    /// Static keys; when set they replace the credential chain.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// PEM file of extra trusted CAs; default `AWS_CA_BUNDLE`.
    pub ca_bundle: Option<PathBuf>,
    /// Most requests (and so connections) in flight at once to this endpoint. The seed's
    /// `S3DLIO_MAX_HTTP_CONNECTIONS` sets it.
    pub max_connections: usize,
    /// Idle connections are closed after this long (`S3DLIO_HTTP_IDLE_TIMEOUT_MS`).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Bound of one attempt of one request up to its response headers
    /// (`S3DLIO_OPERATION_TIMEOUT_SECS`); body reads are bounded by `read_timeout`.
    #[serde(with = "humantime_serde")]
    pub operation_timeout: Duration,
    /// Longest wait for the next bytes of a response.
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// Objects at least this large are uploaded in parts.
    pub multipart_threshold: u64,
    /// Smallest part size; raised for large objects so they fit in 10,000 parts.
    pub part_size: u64,
    /// Parts uploaded at once for one object.
    pub parts_in_flight: usize,
    pub retry: RetryPolicy,
    /// Buckets this profile serves (named profiles only).
    pub buckets: Vec<String>,
    /// Named profiles (in `[s3]` only).
    pub endpoints: BTreeMap<String, S3Config>,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            enabled: None,
            region: None,
            endpoint: None,
            force_path_style: false,
            profile: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            ca_bundle: None,
            max_connections: 128,
            idle_timeout: Duration::from_secs(90),
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(120),
            read_timeout: Duration::from_secs(60),
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            parts_in_flight: 4,
            retry: RetryPolicy::default(),
            buckets: Vec::new(),
            endpoints: BTreeMap::new(),
        }
    }
}

/// Environment variables that configure S3 without a config file.
const AWS_ENV: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

impl S3Config {
    /// Whether the default profile serves `s3://`, or why not.
    pub fn active(&self) -> std::result::Result<(), String> {
        match self.enabled {
            Some(true) => Ok(()),
            Some(false) => Err("disabled by s3.enabled = false".into()),
            None => {
                let configured = self.region.is_some()
                    || self.endpoint.is_some()
                    || self.profile.is_some()
                    || self.access_key_id.is_some();
                let env = AWS_ENV
                    .iter()
                    .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
                if configured || env {
                    Ok(())
                } else {
                    Err(
                        "no [s3] settings and no AWS_* environment; set s3.enabled = true to \
                         use the instance's metadata credentials"
                            .into(),
                    )
                }
            }
        }
    }

    /// Checks the values types cannot, naming the key (`prefix` is `s3` or `s3.endpoints.X`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (op `configure`) for the first invalid value.
    pub fn validate(&self, prefix: &str) -> Result<()> {
        let bad = |reason: String| Error::InvalidArgument {
            op: "configure",
            uri: "s3://".into(),
            reason: format!("{prefix}.{reason}"),
        };
        if self.max_connections == 0 {
            return Err(bad("max_connections must be at least 1".into()));
        }
        if self.parts_in_flight == 0 {
            return Err(bad("parts_in_flight must be at least 1".into()));
        }
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return Err(bad(format!(
                "part_size {} must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes",
                self.part_size
            )));
        }
        if self.multipart_threshold < self.part_size {
            return Err(bad(format!(
                "multipart_threshold {} must be at least part_size {}",
                self.multipart_threshold, self.part_size
            )));
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(bad(
                "access_key_id and secret_access_key must be given together".into(),
            ));
        }
        if let Some(e) = &self.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(bad(format!(
                    "endpoint {e:?} must start with http:// or https://"
                )));
            }
        }
        if prefix == "s3" {
            if !self.buckets.is_empty() {
                return Err(bad(
                    "buckets belongs in a named profile [s3.endpoints.NAME]".into(),
                ));
            }
            let mut owner: BTreeMap<&str, &str> = BTreeMap::new();
            for (name, p) in &self.endpoints {
                if name.is_empty() || name.contains(['@', '/', '.']) {
                    return Err(bad(format!(
                        "endpoints.{name:?}: a profile name must be non-empty, without '@', '/' or '.'"
                    )));
                }
                if !p.endpoints.is_empty() {
                    return Err(bad(format!("endpoints.{name}.endpoints cannot nest")));
                }
                p.validate(&format!("s3.endpoints.{name}"))?;
                for b in &p.buckets {
                    if let Some(other) = owner.insert(b, name) {
                        return Err(bad(format!(
                            "bucket {b:?} is listed by both endpoints.{other} and endpoints.{name}"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Part size for an object of `size` bytes (`None`: unknown): the configured size, doubled
    /// until the object fits in 10,000 parts. Unknown sizes use a part size that allows objects
    /// up to 10,000 × 64 MiB, or the configured one if larger.
    pub fn part_size_for(&self, size: Option<u64>) -> u64 {
        let mut part = self.part_size;
        match size {
            Some(size) => {
                while part < MAX_PART_SIZE && size.div_ceil(part) > MAX_PARTS {
                    part = (part * 2).min(MAX_PART_SIZE);
                }
            }
            None => part = part.max(64 * 1024 * 1024),
        }
        part
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_adapts_so_every_object_fits_in_ten_thousand_parts() {
        let c = S3Config::default();
        assert_eq!(c.part_size_for(Some(64 << 20)), 8 << 20);
        let huge = 200u64 << 30; // 200 GiB
        let part = c.part_size_for(Some(huge));
        assert!(huge.div_ceil(part) <= MAX_PARTS && part >= c.part_size);
        assert_eq!(c.part_size_for(None), 64 << 20);
    }

    #[test]
    fn validation_names_the_key() {
        let mut c = S3Config::default();
        c.validate("s3").unwrap();
        c.part_size = 1024;
        assert!(c
            .validate("s3")
            .unwrap_err()
            .to_string()
            .contains("s3.part_size"));
        let mut c = S3Config::default();
        let mut a = S3Config {
            buckets: vec!["data".into()],
            ..S3Config::default()
        };
        c.endpoints.insert("a".into(), a.clone());
        a.endpoint = Some("minio:9000".into());
        c.endpoints.insert("b".into(), a);
        let e = c.validate("s3").unwrap_err().to_string();
        assert!(e.contains("s3.endpoints.b.endpoint"), "{e}");
    }
}
