//! Prefix deletes on S3 end to end: the real daemon on SeaweedFS behind the test proxy, which
//! counts the requests and injects throttling. Listed keys go in DeleteObjects batches of up
//! to 1,000, across listing pages, with the regex applied, and throttling is waited out.

use s3dlio_e2e::proxy::{s3_slow_down, Fault};
use s3dlio_e2e::{count, delete_prefix, ok_stdout, s3_behind_proxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_of_2500_objects_goes_in_batches_with_regex_and_throttling() {
    let (proxy, d, bucket) = s3_behind_proxy("");
    let c = d.client().await;
    c.create_bucket(&bucket).await.unwrap();
    let prefix = format!("{bucket}/many/");
    ok_stdout(&d.ctl(["put", prefix.as_str(), "--num", "2500", "--size", "100"]));
    assert_eq!(count(&c, &prefix).await, 2500);

    // object_1*: 1 + 10 + 100 + 1,000 keys, spread over three listing pages.
    proxy.clear();
    let (deleted, failed, errors) = delete_prefix(&c, &prefix, Some(r"^object_1\d*_of")).await;
    assert_eq!((deleted, failed), (1111, 0), "{errors:?}");
    let log = proxy.requests();
    let batches = log
        .iter()
        .filter(|r| r.method == "POST" && r.target.contains("delete"))
        .count();
    assert!(
        (2..=4).contains(&batches),
        "{batches} DeleteObjects requests"
    );
    assert!(
        !log.iter()
            .any(|r| r.method == "DELETE" || r.method == "HEAD"),
        "no per-key requests: {:?}",
        log.iter()
            .filter(|r| r.method != "GET")
            .take(5)
            .collect::<Vec<_>>()
    );
    assert_eq!(count(&c, &prefix).await, 1389);

    // The server throttles the first three batch requests: the daemon backs off and retries.
    proxy.clear();
    proxy.inject(Fault {
        matches: Box::new(|method, target| method == "POST" && target.contains("delete")),
        times: 3,
        status: 503,
        body: s3_slow_down(),
    });
    let (deleted, failed, errors) = delete_prefix(&c, &prefix, None).await;
    assert_eq!((deleted, failed), (1389, 0), "{errors:?}");
    let posts = proxy
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.target.contains("delete"))
        .count();
    assert!(
        posts >= 3 + 2,
        "{posts} DeleteObjects requests, 3 of them throttled"
    );
    assert_eq!(count(&c, &prefix).await, 0);
}

/// A batch the server keeps refusing fails its keys with the server's words, and the
/// command says so with a non-zero exit.
#[test]
fn keys_of_a_refused_batch_are_reported_and_the_exit_code_says_so() {
    let (proxy, d, bucket) =
        s3_behind_proxy("[s3.retry]\nmax_attempts = 2\ninitial_backoff = \"10ms\"");
    ok_stdout(&d.ctl(["mb", bucket.as_str()]));
    let prefix = format!("{bucket}/few/");
    ok_stdout(&d.ctl(["put", prefix.as_str(), "--num", "20", "--size", "10"]));
    proxy.inject(Fault {
        matches: Box::new(|method, target| method == "POST" && target.contains("delete")),
        times: 100,
        status: 503,
        body: s3_slow_down(),
    });
    let out = d.ctl(["rm", "-r", prefix.as_str()]);
    assert!(!out.status.success(), "rm must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SlowDown"), "{stderr}");
    assert!(
        stderr.contains("20 failed") || stderr.contains("failed"),
        "{stderr}"
    );
}
