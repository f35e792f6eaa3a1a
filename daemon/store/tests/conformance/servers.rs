//! The backends the suite runs against: local files (no server), and S3, Azure and GCS on the
//! real servers `tests/servers/start.sh` starts (SeaweedFS, moto, Azurite, fake-gcs-server),
//! found through the variables it exports.
//! A missing variable fails the test with a pointer to `tests/run.sh`: a suite that skips
//! silently would prove nothing.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use s3dlio_store::azure::{AzureConfig, AzureStore};
use s3dlio_store::file::{FileBackend, FileConfig};
use s3dlio_store::gcs::{GcsConfig, GcsStore};
use s3dlio_store::retry::RetryPolicy;
use s3dlio_store::s3::{S3Config, S3Store};
use s3dlio_store::{Caller, Location, ObjectStore};

/// One backend under test, with a fresh bucket (or directory) of its own.
pub struct Fixture {
    pub name: &'static str,
    pub store: Arc<dyn ObjectStore>,
    /// The bucket or directory, as a URI without a trailing `/`.
    pub bucket: Location,
    /// Where the test's objects go: the bucket, or for file backends `bucket/`.
    pub base: Location,
    /// The backend keeps the content type given at put (cloud backends).
    pub keeps_content_type: bool,
    _tmp: Option<tempfile::TempDir>,
}

impl Fixture {
    /// The location of `key` inside the fixture's bucket.
    pub fn loc(&self, key: &str) -> Location {
        self.base.with_key(format!("{}{key}", self.base.key))
    }

    /// A key relative to the bucket.
    pub fn rel<'a>(&self, key: &'a str) -> &'a str {
        key.strip_prefix(self.base.key.as_str()).unwrap_or(key)
    }
}

/// A fresh name, unique in this process and across runs sharing a server.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{:x}-{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn file(direct: bool) -> Fixture {
    // /tmp is a real file system here (O_DIRECT needs one; tmpfs refuses it).
    let tmp = tempfile::tempdir_in("/tmp").unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let config = FileConfig {
        roots: vec![root.clone()],
        ..FileConfig::default()
    };
    let backend = Arc::new(FileBackend::new(&config, direct).unwrap());
    let scheme = if direct { "direct" } else { "file" };
    let bucket = Location::parse(&format!("{scheme}://{}/bucket", root.display())).unwrap();
    let base = Location::parse(&format!("{scheme}://{}/bucket/", root.display())).unwrap();
    let f = Fixture {
        name: scheme,
        store: Arc::new(backend.for_caller(Caller::Daemon)),
        bucket,
        base,
        keeps_content_type: false,
        _tmp: Some(tmp),
    };
    f.store.create_bucket(&f.bucket).await.unwrap();
    f
}

/// A variable `tests/servers/start.sh` exports, or a failure saying how to get it.
pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the S3 conformance tests need the real servers; run them with \
             `bash tests/run.sh`, or `bash tests/servers/start.sh` and source .test-servers/env"
        )
    })
}

/// The configuration of an S3 store on `endpoint` with the admin keys, quick to give up.
pub fn s3_config(endpoint: &str) -> S3Config {
    S3Config {
        enabled: Some(true),
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint.into()),
        force_path_style: true,
        access_key_id: Some(var("S3DLIO_TEST_S3_ACCESS_KEY")),
        secret_access_key: Some(var("S3DLIO_TEST_S3_SECRET_KEY")),
        connect_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            max_elapsed: Duration::from_secs(10),
        },
        ..S3Config::default()
    }
}

pub fn seaweed_endpoint() -> String {
    var("S3DLIO_TEST_SEAWEED_ENDPOINT")
}

pub fn moto_endpoint() -> String {
    var("S3DLIO_TEST_MOTO_ENDPOINT")
}

/// An S3 fixture on `endpoint` with a fresh bucket.
pub async fn s3(name: &'static str, endpoint: &str) -> Fixture {
    s3_with(name, s3_config(endpoint)).await
}

pub async fn s3_with(name: &'static str, config: S3Config) -> Fixture {
    let store: Arc<dyn ObjectStore> = Arc::new(S3Store::new(&config).unwrap());
    let bucket = Location::parse(&format!("s3://{}", unique("conf"))).unwrap();
    store.create_bucket(&bucket).await.unwrap();
    Fixture {
        name,
        store,
        base: bucket.clone(),
        bucket,
        keeps_content_type: true,
        _tmp: None,
    }
}

/// The same backend behind the RangeEngine, switched on and cut into 64 KiB ranges, so that
/// every case also holds when reads are split (the large-object case becomes 1,024 ranges).
pub async fn ranged(fx: impl std::future::Future<Output = Fixture>) -> Fixture {
    use s3dlio_store::range_engine::{RangeConfig, RangeEngine, RangeEngineConfig};
    let fx = fx.await;
    let cfg = RangeConfig {
        enabled: Some(true),
        chunk_size: 64 * 1024,
        split_threshold: 64 * 1024,
        max_ranges_per_object: 8,
        ..RangeConfig::default()
    };
    let engine = Arc::new(
        RangeEngine::new(&RangeEngineConfig {
            s3: cfg.clone(),
            azure: cfg.clone(),
            gcs: cfg.clone(),
            file: cfg.clone(),
            direct: cfg,
            ..RangeEngineConfig::default()
        })
        .unwrap(),
    );
    Fixture {
        store: engine.wrap(fx.bucket.scheme, fx.store.clone()),
        ..fx
    }
}

/// An Azure configuration for Azurite's development account, through a connection string
/// with its account key (so the daemon signs account SAS tokens), quick to give up.
pub fn azure_config(endpoint: &str, key: &str) -> AzureConfig {
    AzureConfig {
        connection_string: Some(format!(
            "DefaultEndpointsProtocol=http;AccountName={};AccountKey={key};BlobEndpoint={endpoint};",
            var("S3DLIO_TEST_AZURE_ACCOUNT")
        )),
        connect_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            max_elapsed: Duration::from_secs(10),
        },
        ..AzureConfig::default()
    }
}

pub fn azurite_endpoint() -> String {
    var("S3DLIO_TEST_AZURITE_ENDPOINT")
}

/// An Azure fixture on Azurite with a fresh container.
pub async fn azure() -> Fixture {
    let config = azure_config(&azurite_endpoint(), &var("S3DLIO_TEST_AZURE_KEY"));
    let store: Arc<dyn ObjectStore> = Arc::new(AzureStore::new(&config).unwrap());
    let bucket = Location::parse(&format!(
        "az://{}/{}",
        var("S3DLIO_TEST_AZURE_ACCOUNT"),
        unique("conf")
    ))
    .unwrap();
    store.create_bucket(&bucket).await.unwrap();
    Fixture {
        name: "azure-azurite",
        store,
        base: bucket.clone(),
        bucket,
        keeps_content_type: true,
        _tmp: None,
    }
}

/// A GCS configuration for fake-gcs-server (anonymous, pages of 1,000 as on GCS), quick to
/// give up.
pub fn gcs_config(endpoint: &str) -> GcsConfig {
    GcsConfig {
        endpoint: Some(endpoint.to_string()),
        connect_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            max_elapsed: Duration::from_secs(10),
        },
        ..GcsConfig::default()
    }
}

pub fn gcs_endpoint() -> String {
    var("S3DLIO_TEST_GCS_ENDPOINT")
}

/// A GCS fixture on fake-gcs-server with a fresh bucket.
pub async fn gcs() -> Fixture {
    let store: Arc<dyn ObjectStore> =
        Arc::new(GcsStore::new(&gcs_config(&gcs_endpoint())).unwrap());
    let bucket = Location::parse(&format!("gs://{}", unique("conf"))).unwrap();
    store.create_bucket(&bucket).await.unwrap();
    Fixture {
        name: "gcs-fake-gcs-server",
        store,
        base: bucket.clone(),
        bucket,
        keeps_content_type: true,
        _tmp: None,
    }
}
