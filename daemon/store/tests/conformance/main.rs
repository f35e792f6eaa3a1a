//! The conformance suite: every case of `cases.rs` against every backend (file, direct, S3 on
//! SeaweedFS, S3 on moto), then what only a cloud backend has (credentials, a server that is
//! down, endpoint profiles, multipart clean-up).
//!
//! The S3 servers come from `tests/servers/start.sh` (run by `tests/run.sh`); without them the
//! S3 tests fail and say so.

mod cases;
mod servers;

use std::time::Duration;

use s3dlio_store::retry::RetryPolicy;
use s3dlio_store::s3::{S3Config, S3Store};
use s3dlio_store::{Error, GetOptions, Location, ObjectStore, PutOptions};

use servers::{moto_endpoint, s3, s3_config, seaweed_endpoint, var, Fixture};

/// One `#[tokio::test]` per case for a backend built by `$fixture`.
macro_rules! suite {
    ($backend:ident, $fixture:expr) => {
        mod $backend {
            use super::*;
            suite!(@cases $fixture;
                round_trip_and_stat,
                overwrite_replaces_the_whole_object,
                empty_objects,
                ranges_first_last_and_past_the_end,
                large_object_round_trip_by_checksum,
                failed_puts_leave_nothing,
                missing_objects_are_not_found,
                listing_sorted_with_common_prefixes,
                keys_with_spaces_and_unicode,
                listing_of_2500_objects_across_pages,
                buckets_create_delete,
                get_into_reads_what_get_reads,
            );
        }
    };
    (@cases $fixture:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fx: Fixture = $fixture.await;
                cases::$case(&fx).await;
            }
        )*
    };
}

suite!(file, servers::file(false));
suite!(direct, servers::file(true));
suite!(s3_seaweedfs, s3("s3-seaweedfs", &seaweed_endpoint()));
suite!(s3_moto, s3("s3-moto", &moto_endpoint()));
suite!(file_ranged, servers::ranged(servers::file(false)));
suite!(
    s3_seaweedfs_ranged,
    servers::ranged(s3("s3-seaweedfs-ranged", &seaweed_endpoint()))
);
suite!(azure_azurite, servers::azure());
suite!(azure_azurite_ranged, servers::ranged(servers::azure()));

suite!(gcs_fake_gcs_server, servers::gcs());
suite!(gcs_fake_gcs_server_ranged, servers::ranged(servers::gcs()));

/// What only GCS has: its credentials, its errors, its pages.
mod gcs_specific {
    use super::*;
    use futures::TryStreamExt;
    use s3dlio_store::gcs::{GcsConfig, GcsStore};
    use servers::{gcs_config, gcs_endpoint};

    #[tokio::test]
    async fn an_unreadable_credentials_file_is_unauthenticated_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sa.json");
        std::fs::write(&file, b"{ not json").unwrap();
        let store = GcsStore::new(&GcsConfig {
            credentials_file: Some(file.clone()),
            ..gcs_config(&gcs_endpoint())
        })
        .unwrap();
        let loc = Location::parse("gs://b/k").unwrap();
        let e = store.get(&loc, GetOptions::default()).await.unwrap_err();
        assert!(matches!(e, Error::Unauthenticated { .. }), "{e}");
        assert!(e.to_string().contains("sa.json"), "names the file: {e}");
        assert!(e.to_string().contains("gs://b/k"), "names the URI: {e}");
    }

    #[tokio::test]
    async fn a_server_that_is_down_is_unavailable_in_bounded_time() {
        let down = var("S3DLIO_TEST_DOWN_ENDPOINT");
        let store = GcsStore::new(&gcs_config(&down)).unwrap();
        let loc = Location::parse("gs://b/k").unwrap();
        let started = std::time::Instant::now();
        for e in [
            store.get(&loc, GetOptions::default()).await.unwrap_err(),
            store.head(&loc).await.unwrap_err(),
        ] {
            assert!(matches!(e, Error::Unavailable { .. }), "{e}");
            assert!(e.to_string().contains(&down), "names where it tried: {e}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_missing_bucket_is_not_found() {
        let store = GcsStore::new(&gcs_config(&gcs_endpoint())).unwrap();
        let loc = Location::parse(&format!("gs://{}/k", servers::unique("absent"))).unwrap();
        let e = store.get(&loc, GetOptions::default()).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        let e = store.head(&loc).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        let e = store.delete_bucket(&loc.with_key("")).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
    }

    #[tokio::test]
    async fn small_pages_list_everything_once_in_order() {
        let fx = servers::gcs().await;
        let keys: Vec<String> = (0..57).map(|i| format!("p/{i:03}")).collect();
        for k in &keys {
            cases::put(&fx, k, k.as_bytes()).await.unwrap();
        }
        cases::put(&fx, "p/sub/x", b"x").await.unwrap();
        let store = GcsStore::new(&GcsConfig {
            list_page_size: 10,
            ..gcs_config(&gcs_endpoint())
        })
        .unwrap();
        let listed = |recursive| {
            store
                .list(&fx.loc("p/"), s3dlio_store::ListOptions { recursive })
                .map_ok(|e| e.location().key.clone())
                .try_collect::<Vec<_>>()
        };
        let mut want = keys.clone();
        want.push("p/sub/".into());
        assert_eq!(listed(false).await.unwrap(), want);
        want.pop();
        want.push("p/sub/x".into());
        assert_eq!(listed(true).await.unwrap(), want);
    }

    #[tokio::test]
    async fn a_read_of_a_replaced_generation_fails_at_the_server_or_by_the_check() {
        let fx = servers::gcs().await;
        cases::put(&fx, "v", b"first").await.unwrap();
        let old = fx.store.head(&fx.loc("v")).await.unwrap().etag.unwrap();
        cases::put(&fx, "v", b"second").await.unwrap();
        let new = fx.store.head(&fx.loc("v")).await.unwrap().etag.unwrap();
        assert_ne!(old, new, "an overwrite is a new generation");
        let got = fx
            .store
            .get(
                &fx.loc("v"),
                GetOptions {
                    if_match: Some(old.clone()),
                    ..GetOptions::default()
                },
            )
            .await;
        // GCS refuses with 412; an emulator that ignores ifGenerationMatch answers with the
        // new generation, which the caller's comparison catches.
        match got {
            Err(e) => assert!(matches!(e, Error::FailedPrecondition { .. }), "{e}"),
            Ok(r) => assert_eq!(r.meta.etag.as_deref(), Some(new.as_str())),
        }
    }
}

/// What only Azure has: its credentials, its errors, its pages.
mod azure_specific {
    use super::*;
    use futures::TryStreamExt;
    use s3dlio_store::azure::{AzureConfig, AzureStore};
    use servers::{azure_config, azurite_endpoint};

    #[tokio::test]
    async fn a_wrong_account_key_is_refused_as_a_credential_error() {
        let fx = servers::azure().await;
        cases::put(&fx, "secret", b"data").await.unwrap();
        // A valid base64 key that is not the account's: every signature is wrong.
        let config = azure_config(
            &azurite_endpoint(),
            "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=",
        );
        let store = AzureStore::new(&config).unwrap();
        // Azure answers a bad signature with AuthenticationFailed; Azurite, with
        // AuthorizationFailure. Either way the user reads a credential error.
        let refused = |e: &Error| {
            matches!(
                e,
                Error::Unauthenticated { .. } | Error::PermissionDenied { .. }
            ) && (e.to_string().contains("AuthenticationFailed")
                || e.to_string().contains("AuthorizationFailure"))
        };
        let e = store.head(&fx.loc("secret")).await.unwrap_err();
        assert!(refused(&e), "{e}");
        let e = store
            .get(&fx.loc("secret"), GetOptions::default())
            .await
            .unwrap_err();
        assert!(refused(&e), "{e}");
        assert!(e.to_string().contains("/secret"), "names the URI: {e}");
    }

    #[tokio::test]
    async fn a_server_that_is_down_is_unavailable_in_bounded_time() {
        let down = format!(
            "{}/{}",
            var("S3DLIO_TEST_DOWN_ENDPOINT"),
            var("S3DLIO_TEST_AZURE_ACCOUNT")
        );
        let store = AzureStore::new(&azure_config(&down, &var("S3DLIO_TEST_AZURE_KEY"))).unwrap();
        let loc =
            Location::parse(&format!("az://{}/c/k", var("S3DLIO_TEST_AZURE_ACCOUNT"))).unwrap();
        let started = std::time::Instant::now();
        let e = store.get(&loc, GetOptions::default()).await.unwrap_err();
        assert!(matches!(e, Error::Unavailable { .. }), "{e}");
        assert!(
            e.to_string().contains(&var("S3DLIO_TEST_DOWN_ENDPOINT")),
            "names where it tried: {e}"
        );
        // 3 attempts, backoff capped at 0.5 s, 10 s budget.
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_missing_container_is_not_found_and_says_so() {
        let store = AzureStore::new(&azure_config(
            &azurite_endpoint(),
            &var("S3DLIO_TEST_AZURE_KEY"),
        ))
        .unwrap();
        let loc = Location::parse(&format!(
            "az://{}/{}/k",
            var("S3DLIO_TEST_AZURE_ACCOUNT"),
            servers::unique("absent")
        ))
        .unwrap();
        let e = store.get(&loc, GetOptions::default()).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("ContainerNotFound"), "{e}");
        let e = futures::StreamExt::next(&mut store.list(&loc.with_key(""), Default::default()))
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
    }

    #[tokio::test]
    async fn an_account_the_daemon_does_not_serve_is_refused() {
        let store = AzureStore::new(&azure_config(
            &azurite_endpoint(),
            &var("S3DLIO_TEST_AZURE_KEY"),
        ))
        .unwrap();
        let loc = Location::parse("az://otheraccount/c/k").unwrap();
        let e = store.head(&loc).await.unwrap_err();
        assert!(matches!(e, Error::NotConfigured { .. }), "{e}");
        assert!(e.to_string().contains("otheraccount"), "{e}");
    }

    #[tokio::test]
    async fn small_pages_list_everything_once_in_order() {
        let fx = servers::azure().await;
        let keys: Vec<String> = (0..57).map(|i| format!("p/{i:03}")).collect();
        for k in &keys {
            cases::put(&fx, k, k.as_bytes()).await.unwrap();
        }
        cases::put(&fx, "p/sub/x", b"x").await.unwrap();
        let store = AzureStore::new(&AzureConfig {
            list_page_size: 10,
            ..azure_config(&azurite_endpoint(), &var("S3DLIO_TEST_AZURE_KEY"))
        })
        .unwrap();
        let listed = |recursive| {
            store
                .list(&fx.loc("p/"), s3dlio_store::ListOptions { recursive })
                .map_ok(|e| e.location().key.clone())
                .try_collect::<Vec<_>>()
        };
        let mut want = keys.clone();
        want.push("p/sub/".into());
        let flat = listed(false).await.unwrap();
        assert_eq!(flat, want.iter().map(|k| fx.loc(k).key).collect::<Vec<_>>());
        want.pop();
        want.push("p/sub/x".into());
        let deep = listed(true).await.unwrap();
        assert_eq!(deep, want.iter().map(|k| fx.loc(k).key).collect::<Vec<_>>());
    }
}

/// SeaweedFS checks signatures, so it can tell wrong keys from missing permissions.
mod s3_credentials {
    use super::*;

    async fn store_with(key: &str, secret: &str) -> (S3Store, Location) {
        let fx = s3("s3-seaweedfs", &seaweed_endpoint()).await;
        cases::put(&fx, "secret", b"data").await.unwrap();
        let config = S3Config {
            access_key_id: Some(key.into()),
            secret_access_key: Some(secret.into()),
            ..s3_config(&seaweed_endpoint())
        };
        (S3Store::new(&config).unwrap(), fx.loc("secret"))
    }

    #[tokio::test]
    async fn a_wrong_secret_is_unauthenticated() {
        let (store, loc) = store_with(&var("S3DLIO_TEST_S3_ACCESS_KEY"), "wrong-secret").await;
        let e = store.head(&loc).await.unwrap_err();
        assert!(matches!(e, Error::Unauthenticated { .. }), "{e}");
        let e = store.get(&loc, GetOptions::default()).await.unwrap_err();
        assert!(matches!(e, Error::Unauthenticated { .. }), "{e}");
        assert!(e.to_string().contains("SignatureDoesNotMatch"), "{e}");
    }

    #[tokio::test]
    async fn an_unknown_key_is_unauthenticated() {
        let (store, loc) = store_with("no-such-key-id", "whatever").await;
        let e = store.get(&loc, GetOptions::default()).await.unwrap_err();
        assert!(matches!(e, Error::Unauthenticated { .. }), "{e}");
        assert!(e.to_string().contains("InvalidAccessKeyId"), "{e}");
    }

    #[tokio::test]
    async fn a_reader_cannot_write_permission_denied() {
        let (store, loc) = store_with(
            &var("S3DLIO_TEST_S3_READER_ACCESS_KEY"),
            &var("S3DLIO_TEST_S3_READER_SECRET_KEY"),
        )
        .await;
        // Reading is allowed...
        let got = store.get(&loc, GetOptions::default()).await.unwrap();
        assert_eq!(got.bytes().await.unwrap().as_ref(), b"data");
        // ...writing is not.
        let e = store
            .put(&loc, cases::body(b"new", 3), PutOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
        assert!(e.to_string().contains("AccessDenied"), "{e}");
    }
}

mod s3_endpoints {
    use super::*;

    #[tokio::test]
    async fn a_missing_bucket_is_not_found_and_says_so() {
        for endpoint in [seaweed_endpoint(), moto_endpoint()] {
            let store = S3Store::new(&s3_config(&endpoint)).unwrap();
            let loc = Location::parse(&format!("s3://{}/k", servers::unique("absent"))).unwrap();
            let e = store.get(&loc, GetOptions::default()).await.unwrap_err();
            assert!(matches!(e, Error::NotFound { .. }), "{endpoint}: {e}");
            assert!(e.to_string().contains("NoSuchBucket"), "{endpoint}: {e}");
            let e =
                futures::StreamExt::next(&mut store.list(&loc.with_key(""), Default::default()))
                    .await
                    .unwrap()
                    .unwrap_err();
            assert!(matches!(e, Error::NotFound { .. }), "{endpoint}: {e}");
        }
    }

    #[tokio::test]
    async fn a_server_that_is_down_is_unavailable_after_bounded_retries() {
        let endpoint = var("S3DLIO_TEST_DOWN_ENDPOINT");
        let config = S3Config {
            retry: RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(50),
                max_elapsed: Duration::from_secs(5),
            },
            ..s3_config(&endpoint)
        };
        let store = S3Store::new(&config).unwrap();
        let before = s3dlio_store::retry::retries_total();
        let loc = Location::parse("s3://bucket/key").unwrap();
        let e = store.get(&loc, GetOptions::default()).await.unwrap_err();
        assert!(matches!(e, Error::Unavailable { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains(&endpoint) && msg.contains("s3://bucket/key"),
            "{msg}"
        );
        assert!(msg.to_lowercase().contains("refused"), "{msg}");
        assert!(s3dlio_store::retry::retries_total() >= before + 2);
    }

    #[tokio::test]
    async fn named_profiles_serve_their_buckets_and_the_at_form() {
        let fx = s3("s3-seaweedfs", &seaweed_endpoint()).await;
        cases::put(&fx, "k", b"hello").await.unwrap();
        let bucket = fx.bucket.bucket.clone();
        // The default profile points at a server that is down: only routing can succeed.
        let mut config = s3_config(&var("S3DLIO_TEST_DOWN_ENDPOINT"));
        config.retry.max_attempts = 1;
        config.endpoints.insert(
            "seaweed".into(),
            S3Config {
                buckets: vec![bucket.clone()],
                ..s3_config(&seaweed_endpoint())
            },
        );
        config
            .endpoints
            .insert("byname".into(), s3_config(&seaweed_endpoint()));
        let store = S3Store::new(&config).unwrap();
        for uri in [
            format!("s3://{bucket}/k"),
            format!("s3://byname@{bucket}/k"),
        ] {
            let loc = Location::parse(&uri).unwrap();
            let got = store.get(&loc, GetOptions::default()).await.unwrap();
            assert_eq!(got.meta.location.to_string(), uri);
            assert_eq!(got.bytes().await.unwrap().as_ref(), b"hello");
        }
        let other = Location::parse("s3://another-bucket/k").unwrap();
        let e = store.head(&other).await.unwrap_err();
        assert!(matches!(e, Error::Unavailable { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_failed_multipart_upload_leaves_no_parts() {
        for endpoint in [seaweed_endpoint(), moto_endpoint()] {
            let fx = s3("s3", &endpoint).await;
            cases::failed_puts_leave_nothing(&fx).await;
            let config = aws_sdk_s3::config::Builder::new()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .endpoint_url(&endpoint)
                .force_path_style(true)
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    var("S3DLIO_TEST_S3_ACCESS_KEY"),
                    var("S3DLIO_TEST_S3_SECRET_KEY"),
                    None,
                    None,
                    "test",
                ))
                .http_client(
                    aws_smithy_http_client::Builder::new()
                        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                        ))
                        .build_https(),
                )
                .build();
            let client = aws_sdk_s3::Client::from_conf(config);
            let uploads = client
                .list_multipart_uploads()
                .bucket(&fx.bucket.bucket)
                .send()
                .await
                .unwrap();
            assert!(
                uploads.uploads().is_empty(),
                "{endpoint}: {:?}",
                uploads.uploads()
            );
        }
    }
}
