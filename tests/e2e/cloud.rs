//! `az://` and `gs://` end to end: the real daemon configured for Azurite (with its account
//! key) and fake-gcs-server (started by `tests/servers/start.sh`), driven by the Rust client
//! (inline and shared memory) and `s3dlioctl`. The store crate's conformance suite covers every
//! case; these tests prove the daemon wires `[azure]` and `[gcs]`, errors and streams through
//! to the user.

use bytes::Bytes;
use futures::StreamExt;
use s3dlio_client::DeleteTarget;
use s3dlio_e2e::proxy::{Fault, Proxy};
use s3dlio_e2e::{
    count, delete_prefix, err_stderr, ok_stdout, pattern_bytes, server_var, sha256, TestDaemon,
};
use tonic::Code;

/// A daemon serving Azurite's development account with `key` (the account key, or not), and
/// fake-gcs-server.
fn daemon_with_key(key: &str) -> TestDaemon {
    TestDaemon::start_with_config(&format!(
        r#"
        [azure]
        account = "{account}"
        endpoint = "{endpoint}"
        account_key = "{key}"
        [azure.retry]
        max_attempts = 2
        [gcs]
        endpoint = "{gcs}"
        "#,
        account = server_var("S3DLIO_TEST_AZURE_ACCOUNT"),
        endpoint = server_var("S3DLIO_TEST_AZURITE_ENDPOINT"),
        gcs = server_var("S3DLIO_TEST_GCS_ENDPOINT"),
    ))
}

fn daemon() -> TestDaemon {
    daemon_with_key(&server_var("S3DLIO_TEST_AZURE_KEY"))
}

/// A fresh container URI, `az://ACCOUNT/NAME` (not yet created).
fn container(tag: &str) -> String {
    format!(
        "az://{}/{}",
        server_var("S3DLIO_TEST_AZURE_ACCOUNT"),
        unique(tag)
    )
}

/// A fresh GCS bucket URI (not yet created).
fn gcs_bucket(tag: &str) -> String {
    format!("gs://{}", unique(tag))
}

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("e2e-{tag}-{}-{nanos:x}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_rpcs_round_trip_on_azurite_and_fake_gcs() {
    let d = daemon();
    let c = d.client().await;
    for b in [container("rpc"), gcs_bucket("rpc")] {
        round_trip(&c, &b).await;
    }
}

async fn round_trip(c: &s3dlio_client::Client, b: &str) {
    c.create_bucket(b).await.unwrap();
    // 20 MiB: a staged block upload, and a read split into ranges by the RangeEngine.
    let data = Bytes::from(pattern_bytes(20 * 1024 * 1024 + 5, 3));
    let uri = format!("{b}/dir/big.bin");
    assert_eq!(
        c.put(&uri, data.clone()).await.unwrap().size,
        data.len() as u64
    );
    assert_eq!(sha256(&c.get(&uri).await.unwrap()), sha256(&data), "inline");
    let shm = c.attach(32 << 20).await.unwrap();
    assert_eq!(sha256(&shm.get(&uri).await.unwrap()), sha256(&data), "shm");
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
    c.delete_bucket(b).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_errors_say_what_went_wrong_in_one_line() {
    let d = daemon();
    let c = d.client().await;
    let missing = format!("{}/k", container("absent"));
    let e = c.get(&missing).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e}");
    assert!(e.to_string().contains("ContainerNotFound"), "{e}");
    assert!(e.to_string().contains(&missing), "names the URI: {e}");
    let e = c.stat("az://otheraccount/c/k").await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e}");
    assert!(e.to_string().contains("otheraccount"), "{e}");
    let missing = format!("{}/k", gcs_bucket("absent"));
    let e = c.get(&missing).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e}");
    assert!(e.to_string().contains(&missing), "names the URI: {e}");

    // The same container through a daemon holding a wrong key.
    let b = container("key");
    c.create_bucket(&b).await.unwrap();
    c.put(&format!("{b}/k"), Bytes::from_static(b"x"))
        .await
        .unwrap();
    let wrong = daemon_with_key("d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=");
    let e = wrong
        .client()
        .await
        .get(&format!("{b}/k"))
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Code::Unauthenticated | Code::PermissionDenied),
        "{e}"
    );
    assert!(e.to_string().contains("403"), "keeps Azure's answer: {e}");
}

#[test]
fn s3dlioctl_works_on_azure_and_gcs_and_status_shows_them() {
    let d = daemon();
    for b in [container("ctl"), gcs_bucket("ctl")] {
        ctl_round_trip(&d, &b);
    }
    let status = ok_stdout(&d.ctl(["status"]));
    assert!(
        status.contains(&server_var("S3DLIO_TEST_AZURE_ACCOUNT")),
        "{status}"
    );
    assert!(
        status.contains(&server_var("S3DLIO_TEST_GCS_ENDPOINT")),
        "{status}"
    );
    // The account key never leaves the daemon.
    assert!(!status.contains(&server_var("S3DLIO_TEST_AZURE_KEY")));
}

fn ctl_round_trip(d: &TestDaemon, b: &str) {
    ok_stdout(&d.ctl(["mb", b]));
    let src = d.path("src.bin");
    let data = pattern_bytes(3 * 1024 * 1024 + 11, 5);
    std::fs::write(&src, &data).unwrap();
    let uri = format!("{b}/a b/ü.bin");
    ok_stdout(&d.ctl(["put", src.to_str().unwrap(), &uri]));
    let listing = ok_stdout(&d.ctl(["ls", "-r", &format!("{b}/")]));
    assert_eq!(listing.lines().collect::<Vec<_>>(), [uri.as_str()]);
    for extra in [None, Some("--inline")] {
        let out = d.path(&format!("got-{extra:?}.bin"));
        let mut args = vec!["get", uri.as_str(), "-o", out.to_str().unwrap()];
        args.extend(extra);
        ok_stdout(&d.ctl(&args));
        assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&data));
    }
    ok_stdout(&d.ctl(["rm", &uri]));
    let err = err_stderr(&d.ctl(["stat", &uri]));
    assert!(err.contains("not found"), "{err}");
    ok_stdout(&d.ctl(["rb", b]));
}

/// A daemon whose `[azure]` and `[gcs]` go through one test proxy each, with small listing
/// pages, so that prefix deletes cross pages and throttling can be injected.
fn daemon_behind_proxies() -> (Proxy, Proxy, TestDaemon) {
    let azurite = server_var("S3DLIO_TEST_AZURITE_ENDPOINT");
    let account = server_var("S3DLIO_TEST_AZURE_ACCOUNT");
    let upstream = azurite.trim_end_matches(&format!("/{account}"));
    let (az, gs) = (
        Proxy::start(upstream),
        Proxy::start(&server_var("S3DLIO_TEST_GCS_ENDPOINT")),
    );
    let d = TestDaemon::start_with_config(&format!(
        r#"
        [azure]
        account = "{account}"
        endpoint = "{az}/{account}"
        account_key = "{key}"
        list_page_size = 500
        [azure.retry]
        initial_backoff = "20ms"
        [gcs]
        endpoint = "{gs}"
        list_page_size = 500
        [gcs.retry]
        initial_backoff = "20ms"
        "#,
        az = az.endpoint(),
        gs = gs.endpoint(),
        key = server_var("S3DLIO_TEST_AZURE_KEY"),
    ));
    (az, gs, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_deletes_cross_pages_apply_the_regex_and_wait_out_throttling() {
    let (az, gs, d) = daemon_behind_proxies();
    let c = d.client().await;
    let gcs_busy = r#"{"error":{"code":503,"message":"Backend Error (injected by the test proxy)","errors":[{"domain":"global","reason":"backendError","message":"Backend Error"}]}}"#;
    let azure_busy = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code>\
                      <Message>The server is busy. (injected by the test proxy)</Message></Error>";
    for (proxy, bucket, busy) in [
        (&az, container("del"), azure_busy),
        (&gs, gcs_bucket("del"), gcs_busy),
    ] {
        c.create_bucket(&bucket).await.unwrap();
        let prefix = format!("{bucket}/many/");
        ok_stdout(&d.ctl(["put", prefix.as_str(), "--num", "1200", "--size", "10"]));
        assert_eq!(count(&c, &prefix).await, 1200, "{bucket}");

        // object_1*: 1 + 10 + 100 + 200 keys, over three listing pages.
        proxy.clear();
        let (deleted, failed, errors) = delete_prefix(&c, &prefix, Some(r"^object_1\d*_of")).await;
        assert_eq!((deleted, failed), (311, 0), "{bucket}: {errors:?}");
        let deletes = |p: &Proxy| p.requests().iter().filter(|r| r.method == "DELETE").count();
        assert_eq!(deletes(proxy), 311, "{bucket}: one request per key");
        assert_eq!(count(&c, &prefix).await, 889, "{bucket}");

        // The server throttles three deletes: each is retried after a backoff, none fails.
        proxy.clear();
        proxy.inject(Fault {
            matches: Box::new(|method, _| method == "DELETE"),
            times: 3,
            status: 503,
            body: busy.to_string(),
        });
        let (deleted, failed, errors) = delete_prefix(&c, &prefix, None).await;
        assert_eq!((deleted, failed), (889, 0), "{bucket}: {errors:?}");
        // Exactly 3 throttled answers; a retry after a dropped connection may add one.
        let sent = deletes(proxy);
        assert!(
            (889 + 3..=889 + 6).contains(&sent),
            "{bucket}: {sent} DELETE requests for 889 keys, 3 throttled and retried"
        );
        assert_eq!(count(&c, &prefix).await, 0, "{bucket}");
        c.delete_bucket(&bucket).await.unwrap();
    }
}
