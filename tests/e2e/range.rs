//! The RangeEngine end to end: the real daemon reading from SeaweedFS through the test proxy,
//! which counts every request the daemon sends and can hold some back.
//!
//! What is proven: a small object costs exactly one request (no HEAD) through the API and
//! through `s3dlioctl get`; a 256 MiB object arrives intact as 32 ranges of 8 MiB; a size
//! learnt from `stat` lets a read split from its first request; an object replaced mid-read
//! fails clearly instead of mixing versions.

use std::time::Duration;

use bytes::Bytes;
use s3dlio_e2e::proxy::Logged;
use s3dlio_e2e::{ok_stdout, pattern_bytes, s3_behind_proxy as setup, sha256};
use tonic::Code;

const MIB: usize = 1024 * 1024;

fn gets(log: &[Logged]) -> Vec<Option<String>> {
    log.iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.range.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_object_costs_exactly_one_request() {
    let (proxy, d, bucket) = setup("");
    let c = d.client().await;
    c.create_bucket(&bucket).await.unwrap();
    let data = pattern_bytes(MIB, 3);
    let uri = format!("{bucket}/small.bin");
    c.put(&uri, Bytes::from(data.clone())).await.unwrap();
    let one_get = vec![Some("bytes=0-8388607".to_string())];

    proxy.clear();
    assert_eq!(c.get(&uri).await.unwrap(), data, "inline");
    assert_eq!(proxy.requests().len(), 1, "inline: {:?}", proxy.requests());
    assert_eq!(gets(&proxy.requests()), one_get);

    let shm = c.attach(16 << 20).await.unwrap();
    proxy.clear();
    assert_eq!(sha256(&shm.get(&uri).await.unwrap()), sha256(&data), "shm");
    assert_eq!(proxy.requests().len(), 1, "shm: {:?}", proxy.requests());

    for extra in [None, Some("--inline")] {
        proxy.clear();
        let out = d.path(&format!("small-{extra:?}.bin"));
        let mut args = vec!["get", uri.as_str(), "-o", out.to_str().unwrap()];
        args.extend(extra);
        ok_stdout(&d.ctl(&args));
        assert_eq!(std::fs::read(&out).unwrap(), data, "{extra:?}");
        assert_eq!(
            proxy.requests().len(),
            1,
            "s3dlioctl get {extra:?}: {:?}",
            proxy.requests()
        );
        assert_eq!(gets(&proxy.requests()), one_get);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_object_arrives_whole_in_chunk_sized_ranges() {
    let (proxy, d, bucket) = setup("");
    let c = d.client().await;
    c.create_bucket(&bucket).await.unwrap();
    let data = pattern_bytes(256 * MIB, 7);
    let uri = format!("{bucket}/large.bin");
    c.put(&uri, Bytes::from(data.clone())).await.unwrap();
    let want: std::collections::BTreeSet<String> = (0..32)
        .map(|i| format!("bytes={}-{}", i * 8 * MIB, (i + 1) * 8 * MIB - 1))
        .collect();

    let shm = c.attach(300 << 20).await.unwrap();
    proxy.clear();
    let got = shm.get(&uri).await.unwrap();
    assert_eq!(sha256(&got), sha256(&data), "shm");
    drop(got);
    let seen: std::collections::BTreeSet<String> =
        gets(&proxy.requests()).into_iter().flatten().collect();
    assert_eq!(proxy.requests().len(), 32, "shm: one request per range");
    assert_eq!(seen, want);

    proxy.clear();
    let got = c.get(&uri).await.unwrap();
    assert_eq!(sha256(&got), sha256(&data), "inline");
    assert_eq!(proxy.requests().len(), 32, "inline: one request per range");
}

/// After `stat`, the daemon knows the size: the first ranges go out together, without
/// waiting for the first answer. Without it only the first request can be in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_size_splits_from_the_first_request() {
    let (proxy, d, bucket) = setup(
        "[range_engine.s3]\nchunk_size = 1048576\nsplit_threshold = 1048576\nmax_ranges_per_object = 4",
    );
    let c = d.client().await;
    c.create_bucket(&bucket).await.unwrap();
    let data = pattern_bytes(8 * MIB, 5);
    for key in ["known.bin", "unknown.bin"] {
        c.put(&format!("{bucket}/{key}"), Bytes::from(data.clone()))
            .await
            .unwrap();
    }
    let shm = c.attach(32 << 20).await.unwrap();

    let known = format!("{bucket}/known.bin");
    assert_eq!(c.stat(&known).await.unwrap().size, data.len() as u64);
    let hold = proxy.hold("GET", "/known.bin", 0);
    let read = {
        let shm = shm.clone();
        let known = known.clone();
        tokio::spawn(async move { shm.get(&known).await.map(|p| sha256(&p)) })
    };
    let h = hold.clone();
    tokio::task::spawn_blocking(move || h.wait_held(4, Duration::from_secs(30)))
        .await
        .unwrap();
    hold.release();
    assert_eq!(read.await.unwrap().unwrap(), sha256(&data));

    let unknown = format!("{bucket}/unknown.bin");
    let hold = proxy.hold("GET", "/unknown.bin", 0);
    let read = {
        let shm = shm.clone();
        tokio::spawn(async move { shm.get(&unknown).await.map(|p| sha256(&p)) })
    };
    let h = hold.clone();
    tokio::task::spawn_blocking(move || h.wait_held(1, Duration::from_secs(30)))
        .await
        .unwrap();
    // The second request needs the first answer's size, which is held back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hold.held(), 1, "only the first request may be in flight");
    hold.release();
    assert_eq!(read.await.unwrap().unwrap(), sha256(&data));
    assert_eq!(gets(&proxy.requests()).len(), 16, "8 ranges per object");
}

/// The first range passes, the others are held while the object is replaced: the read fails
/// with FAILED_PRECONDITION naming the change, through shared memory and inline alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_replaced_mid_read_is_detected() {
    let (proxy, d, bucket) = setup(
        "[range_engine.s3]\nchunk_size = 1048576\nsplit_threshold = 1048576\nmax_ranges_per_object = 4",
    );
    let c = d.client().await;
    c.create_bucket(&bucket).await.unwrap();
    let shm = c.attach(32 << 20).await.unwrap();
    for (i, inline) in [false, true].into_iter().enumerate() {
        let key = format!("replaced-{i}.bin");
        let uri = format!("{bucket}/{key}");
        c.put(&uri, Bytes::from(pattern_bytes(8 * MIB, 1)))
            .await
            .unwrap();
        let hold = proxy.hold("GET", &format!("/{key}"), 1);
        let read = {
            let (c, shm, uri) = (c.clone(), shm.clone(), uri.clone());
            tokio::spawn(async move {
                if inline {
                    c.get(&uri).await.map(|b| sha256(&b))
                } else {
                    shm.get(&uri).await.map(|p| sha256(&p))
                }
            })
        };
        let h = hold.clone();
        tokio::task::spawn_blocking(move || h.wait_held(1, Duration::from_secs(30)))
            .await
            .unwrap();
        c.put(&uri, Bytes::from(pattern_bytes(8 * MIB, 2)))
            .await
            .unwrap();
        hold.release();
        let e = read.await.unwrap().unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "inline {inline}: {e}");
        let msg = e.to_string();
        assert!(
            msg.contains("changed while it was read") && msg.contains(&uri),
            "inline {inline}: {msg}"
        );
        // Read again, it is whole and new.
        assert_eq!(
            sha256(&c.get(&uri).await.unwrap()),
            sha256(&pattern_bytes(8 * MIB, 2))
        );
    }
}
