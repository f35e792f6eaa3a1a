//! `s3://` end to end: the real daemon configured for the local S3 servers that
//! `tests/servers/start.sh` starts (SeaweedFS, which checks signatures, and moto), driven by
//! the Rust client and `s3dlioctl`. The store crate's conformance suite covers every case;
//! these tests prove the daemon wires config, errors and streams through to the user.

use bytes::Bytes;
use futures::StreamExt;
use s3dlio_client::DeleteTarget;
use s3dlio_e2e::{err_stderr, ok_stdout, pattern_bytes, sha256, TestDaemon};
use tonic::Code;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the S3 end-to-end tests need the real servers; run them with \
             `bash tests/run.sh`, or `bash tests/servers/start.sh` and source .test-servers/env"
        )
    })
}

/// A daemon whose default `[s3]` profile is SeaweedFS and whose profile `moto` is moto.
fn daemon() -> TestDaemon {
    TestDaemon::start_with_config(&format!(
        r#"
        [s3]
        endpoint = "{seaweed}"
        region = "us-east-1"
        force_path_style = true
        access_key_id = "{key}"
        secret_access_key = "{secret}"
        [s3.endpoints.moto]
        endpoint = "{moto}"
        force_path_style = true
        access_key_id = "{key}"
        secret_access_key = "{secret}"
        [s3.endpoints.down]
        endpoint = "{down}"
        force_path_style = true
        access_key_id = "{key}"
        secret_access_key = "{secret}"
        connect_timeout = "2s"
        [s3.endpoints.down.retry]
        max_attempts = 2
        "#,
        seaweed = var("S3DLIO_TEST_SEAWEED_ENDPOINT"),
        moto = var("S3DLIO_TEST_MOTO_ENDPOINT"),
        down = var("S3DLIO_TEST_DOWN_ENDPOINT"),
        key = var("S3DLIO_TEST_S3_ACCESS_KEY"),
        secret = var("S3DLIO_TEST_S3_SECRET_KEY"),
    ))
}

fn bucket(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("e2e-{tag}-{}-{nanos:x}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_rpcs_round_trip_on_both_s3_servers() {
    let d = daemon();
    let c = d.client().await;
    for prefix in ["s3://", "s3://moto@"] {
        let b = format!("{prefix}{}", bucket("rpc"));
        c.create_bucket(&b).await.unwrap();
        // 20 MiB: a multipart upload through the daemon.
        let data = Bytes::from(pattern_bytes(20 * 1024 * 1024 + 5, 3));
        let uri = format!("{b}/dir/big.bin");
        assert_eq!(
            c.put(&uri, data.clone()).await.unwrap().size,
            data.len() as u64
        );
        assert_eq!(sha256(&c.get(&uri).await.unwrap()), sha256(&data));
        let (_, part) = c.get_range(&uri, Some((1000, Some(10)))).await.unwrap();
        assert_eq!(part.as_ref(), &data[1000..1010]);
        let meta = c.stat(&uri).await.unwrap();
        assert_eq!(
            (meta.size, meta.uri.as_str()),
            (data.len() as u64, uri.as_str())
        );
        assert!(!meta.etag.is_empty());
        c.put(&format!("{b}/top.txt"), Bytes::from_static(b"t"))
            .await
            .unwrap();
        let top: Vec<String> = c
            .list(&format!("{b}/"), false, None)
            .await
            .unwrap()
            .map(|e| e.unwrap().uri)
            .collect()
            .await;
        assert_eq!(top, [format!("{b}/dir/"), format!("{b}/top.txt")]);

        let e = c
            .get_range(&uri, Some((data.len() as u64, None)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::OutOfRange, "{e}");
        let e = c.stat(&format!("{b}/missing")).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{e}");

        let mut progress = Box::pin(
            c.delete(
                DeleteTarget::Prefix {
                    uri: format!("{b}/"),
                    pattern: None,
                },
                false,
            )
            .await
            .unwrap(),
        );
        let mut deleted = 0;
        while let Some(p) = progress.next().await {
            deleted = p.unwrap().deleted;
        }
        assert_eq!(deleted, 2);
        c.delete_bucket(&b).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_went_wrong_in_one_line() {
    let d = daemon();
    let c = d.client().await;
    let e = c
        .stat(&format!("s3://{}/k", bucket("absent")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e}");
    let e = c
        .get(&format!("s3://{}/k", bucket("absent")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("NoSuchBucket"), "{e}");
    let e = c.get("s3://down@b/k").await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    assert!(
        e.to_string().contains(&var("S3DLIO_TEST_DOWN_ENDPOINT")),
        "{e}"
    );
    let e = c.get("s3://nosuchprofile@b/k").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e}");
}

#[test]
fn s3dlioctl_works_on_s3_and_status_shows_the_profiles() {
    let d = daemon();
    let b = format!("s3://{}", bucket("ctl"));
    ok_stdout(&d.ctl(["mb", &b]));
    let src = d.path("src.bin");
    let data = pattern_bytes(3 * 1024 * 1024 + 11, 5);
    std::fs::write(&src, &data).unwrap();
    let uri = format!("{b}/a b/ü.bin");
    ok_stdout(&d.ctl(["put", src.to_str().unwrap(), &uri]));
    let listing = ok_stdout(&d.ctl(["ls", "-r", &format!("{b}/")]));
    assert_eq!(listing.lines().collect::<Vec<_>>(), [uri.as_str()]);
    let out = d.ctl(["get", &uri, "-o", "-"]);
    assert!(out.status.success());
    assert_eq!(sha256(&out.stdout), sha256(&data));
    ok_stdout(&d.ctl(["rm", &uri]));
    let err = err_stderr(&d.ctl(["stat", &uri]));
    assert!(err.contains("not found"), "{err}");
    ok_stdout(&d.ctl(["rb", &b]));
    let status = ok_stdout(&d.ctl(["status"]));
    assert!(status.contains("moto"), "{status}");
}
