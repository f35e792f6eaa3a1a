//! Every Storage RPC against the real daemon on `file://` and `direct://`, through the Rust
//! client: contents, ranges, listings, deletes, buckets and the errors users will meet.

use bytes::Bytes;
use futures::StreamExt;
use s3dlio_client::{DeleteTarget, Error};
use s3dlio_e2e::{pattern_bytes, sha256, TestDaemon};
use sha2::{Digest, Sha256};
use tonic::Code;

fn code(e: Error) -> (Code, String) {
    (e.code(), e.to_string())
}

async fn list_uris(
    c: &s3dlio_client::Client,
    uri: &str,
    recursive: bool,
    pattern: Option<&str>,
) -> Vec<String> {
    c.list(uri, recursive, pattern)
        .await
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            e.uri
        })
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_stat_round_trip_on_file_and_direct() {
    let d = TestDaemon::start();
    let c = d.client().await;
    for scheme in ["file", "direct"] {
        for (i, len) in [0usize, 1, 4095, 4097, 1024 * 1024 + 3]
            .into_iter()
            .enumerate()
        {
            let uri = format!("{scheme}://{}/rt/{scheme}-{i}.bin", d.dir.path().display());
            let data = Bytes::from(pattern_bytes(len, i as u8));
            let put = c.put(&uri, data.clone()).await.unwrap();
            assert_eq!(put.size, len as u64);
            let got = c.get(&uri).await.unwrap();
            assert_eq!(sha256(&got), sha256(&data), "{uri}");
            let meta = c.stat(&uri).await.unwrap();
            assert_eq!(meta.size, len as u64);
            assert_eq!(meta.uri, uri);
            assert!(
                meta.last_modified.is_some(),
                "stat gives a modification time"
            );
            assert!(!meta.etag.is_empty(), "stat gives an etag");
        }
    }
    // Overwrite replaces the content and changes the etag.
    let uri = d.file_uri("rt/over.bin");
    c.put(&uri, Bytes::from_static(b"first")).await.unwrap();
    let e1 = c.stat(&uri).await.unwrap().etag;
    c.put(&uri, Bytes::from_static(b"second!")).await.unwrap();
    assert_eq!(c.get(&uri).await.unwrap(), Bytes::from_static(b"second!"));
    assert_ne!(c.stat(&uri).await.unwrap().etag, e1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_read_the_right_bytes_and_refuse_past_the_end() {
    let d = TestDaemon::start();
    let c = d.client().await;
    let data = pattern_bytes(10_000, 7);
    for scheme in ["file", "direct"] {
        let uri = format!("{scheme}://{}/range.bin", d.dir.path().display());
        c.put(&uri, Bytes::from(data.clone())).await.unwrap();
        for (off, len) in [
            (0u64, Some(1u64)),
            (9_999, Some(1)),
            (4_095, Some(2)),
            (123, None),
            (5_000, Some(1_000_000)),
        ] {
            let (h, got) = c.get_range(&uri, Some((off, len))).await.unwrap();
            let end = len.map_or(10_000, |l| (off + l).min(10_000)) as usize;
            assert_eq!(&got[..], &data[off as usize..end], "{scheme} {off} {len:?}");
            assert_eq!(
                (h.offset, h.length, h.object_size),
                (off, (end as u64) - off, 10_000)
            );
        }
        let (c1, msg) = code(c.get_range(&uri, Some((10_000, None))).await.unwrap_err());
        assert_eq!(c1, Code::OutOfRange, "{msg}");
        assert!(msg.contains(&uri) && msg.contains("10000"), "{msg}");
        let (c2, msg) = code(c.get_range(&uri, Some((0, Some(0)))).await.unwrap_err());
        assert_eq!(c2, Code::InvalidArgument, "{msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_code_operation_and_uri() {
    let d = TestDaemon::start();
    let c = d.client().await;
    let missing = d.file_uri("nope/missing.bin");
    let (cd, msg) = code(c.get(&missing).await.unwrap_err());
    assert_eq!(cd, Code::NotFound);
    assert!(msg.starts_with("get ") && msg.contains(&missing), "{msg}");
    let (cd, msg) = code(c.stat(&missing).await.unwrap_err());
    assert_eq!(cd, Code::NotFound, "{msg}");

    for bad in [
        "nonsense",
        "ftp://host/x",
        "file://relative/path",
        "s3:///nobucket",
    ] {
        let (cd, msg) = code(c.get(bad).await.unwrap_err());
        assert_eq!(cd, Code::InvalidArgument, "{bad}: {msg}");
        assert!(msg.contains(bad), "{msg}");
    }
    let (cd, msg) = code(c.get("s3://bucket/key").await.unwrap_err());
    assert_eq!(cd, Code::FailedPrecondition, "{msg}");
    assert!(msg.contains("not configured"), "{msg}");

    // direct:// on tmpfs: a clear refusal, no silent fallback.
    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let uri = format!("direct://{}/x.bin", shm.path().display());
    let (cd, msg) = code(c.put(&uri, Bytes::from_static(b"abc")).await.unwrap_err());
    assert_eq!(cd, Code::FailedPrecondition, "{msg}");
    assert!(msg.contains("O_DIRECT"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_is_sorted_recursive_or_one_level_and_filtered() {
    let d = TestDaemon::start();
    let c = d.client().await;
    let base = d.file_uri("ds/");
    for key in [
        "a-c.bin",
        "a/b.bin",
        "a/z/deep.npz",
        "b.npz",
        "train_1.npz",
        "train_2.txt",
    ] {
        c.put(&format!("{base}{key}"), Bytes::from_static(b"x"))
            .await
            .unwrap();
    }
    let all = list_uris(&c, &base, true, None).await;
    let rel: Vec<_> = all.iter().map(|u| u.strip_prefix(&base).unwrap()).collect();
    assert_eq!(
        rel,
        [
            "a-c.bin",
            "a/b.bin",
            "a/z/deep.npz",
            "b.npz",
            "train_1.npz",
            "train_2.txt"
        ]
    );

    let top = list_uris(&c, &base, false, None).await;
    let rel: Vec<_> = top.iter().map(|u| u.strip_prefix(&base).unwrap()).collect();
    assert_eq!(
        rel,
        ["a-c.bin", "a/", "b.npz", "train_1.npz", "train_2.txt"]
    );

    let npz = list_uris(&c, &base, true, Some(r"\.npz$")).await;
    assert_eq!(npz.len(), 3);
    let anchored = list_uris(&c, &base, true, Some("^train_")).await;
    assert_eq!(
        anchored.len(),
        2,
        "the pattern applies to the key relative to the prefix"
    );

    let name_prefix = list_uris(&c, &d.file_uri("ds/tr"), true, None).await;
    assert_eq!(name_prefix.len(), 2, "a prefix need not end at a directory");
    assert!(list_uris(&c, &d.file_uri("nothing-here/"), true, None)
        .await
        .is_empty());

    let Err(e) = c.list(&base, true, Some("(unclosed")).await else {
        panic!("a bad pattern is refused")
    };
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_twenty_thousand_files_in_order() {
    let d = TestDaemon::start();
    let dir = d.path("many");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..20_000 {
        std::fs::write(dir.join(format!("f{i:05}.dat")), b"").unwrap();
    }
    let c = d.client().await;
    let uris = list_uris(&c, &d.file_uri("many/"), true, None).await;
    assert_eq!(uris.len(), 20_000);
    assert!(uris.windows(2).all(|w| w[0] < w[1]), "sorted");
    assert!(uris[0].ends_with("f00000.dat") && uris[19_999].ends_with("f19999.dat"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_objects_prefix_with_regex_and_dry_run() {
    let d = TestDaemon::start();
    let c = d.client().await;
    let base = d.file_uri("del/");
    for i in 0..50 {
        let ext = if i % 2 == 0 { "npz" } else { "txt" };
        c.put(&format!("{base}sub/{i:02}.{ext}"), Bytes::from_static(b"x"))
            .await
            .unwrap();
    }
    let last = |s: Vec<s3dlio_client::v1::DeleteProgress>| s.into_iter().last().unwrap();

    // Dry run lists, deletes nothing.
    let progress: Vec<_> = c
        .delete(
            DeleteTarget::Prefix {
                uri: base.clone(),
                pattern: Some(r"\.npz$".into()),
            },
            true,
        )
        .await
        .unwrap()
        .map(|p| p.unwrap())
        .collect()
        .await;
    let would: usize = progress.iter().map(|p| p.dry_run_uris.len()).sum();
    assert_eq!(would, 25);
    assert!(progress.last().unwrap().done);
    assert_eq!(list_uris(&c, &base, true, None).await.len(), 50);

    // Prefix + regex deletes exactly the matches.
    let p = last(
        c.delete(
            DeleteTarget::Prefix {
                uri: base.clone(),
                pattern: Some(r"\.npz$".into()),
            },
            false,
        )
        .await
        .unwrap()
        .map(|p| p.unwrap())
        .collect()
        .await,
    );
    assert_eq!((p.listed, p.deleted, p.failed, p.done), (25, 25, 0, true));
    let left = list_uris(&c, &base, true, None).await;
    assert_eq!(left.len(), 25);
    assert!(left.iter().all(|u| u.ends_with(".txt")));

    // A list of objects with one missing: the rest go, the missing one is a per-key NotFound.
    let mut targets: Vec<String> = left[..3].to_vec();
    targets.push(format!("{base}sub/missing.txt"));
    let p = last(
        c.delete(DeleteTarget::Objects(targets), false)
            .await
            .unwrap()
            .map(|p| p.unwrap())
            .collect()
            .await,
    );
    assert_eq!((p.deleted, p.failed), (3, 1));
    let progress_errors: Vec<_> = p.errors;
    assert!(
        progress_errors
            .iter()
            .any(|e| e.uri.ends_with("missing.txt") && e.code == Code::NotFound as i32),
        "{progress_errors:?}"
    );
    assert_eq!(list_uris(&c, &base, true, None).await.len(), 22);

    let Err(e) = c
        .delete(
            DeleteTarget::Prefix {
                uri: "file:///".into(),
                pattern: None,
            },
            false,
        )
        .await
    else {
        panic!("deleting everything under / is refused")
    };
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_are_directories() {
    let d = TestDaemon::start();
    let c = d.client().await;
    let bucket = d.file_uri("bucket1");
    c.create_bucket(&bucket).await.unwrap();
    c.create_bucket(&bucket)
        .await
        .expect("creating an existing bucket is not an error");
    assert!(d.path("bucket1").is_dir());
    c.put(&format!("{bucket}/obj"), Bytes::from_static(b"x"))
        .await
        .unwrap();
    let e = c.delete_bucket(&bucket).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e}");
    c.delete(DeleteTarget::Objects(vec![format!("{bucket}/obj")]), false)
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await;
    c.delete_bucket(&bucket).await.unwrap();
    assert!(!d.path("bucket1").exists());
    let e = c.delete_bucket(&bucket).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_many_returns_every_object_and_per_item_errors() {
    let d = TestDaemon::start();
    let c = d.client().await;
    let mut uris = Vec::new();
    let mut sums = Vec::new();
    for i in 0..200usize {
        let uri = d.file_uri(&format!("many/{i:03}.bin"));
        let data = pattern_bytes(1000 + i * 997, i as u8);
        sums.push(sha256(&data));
        c.put(&uri, Bytes::from(data)).await.unwrap();
        uris.push(uri);
    }
    uris.push(d.file_uri("many/missing.bin"));
    uris.push("bad-uri".into());
    let items: Vec<_> = c
        .get_many(uris.clone(), 16)
        .await
        .unwrap()
        .map(|i| i.unwrap())
        .collect()
        .await;
    assert_eq!(items.len(), 202);
    let mut seen = vec![false; 202];
    for item in items {
        let tag = item.tag as usize;
        assert!(!seen[tag], "tag {tag} delivered twice");
        seen[tag] = true;
        match (tag, item.result) {
            (200, Err(e)) => assert_eq!(e.code(), Code::NotFound, "{e}"),
            (201, Err(e)) => assert_eq!(e.code(), Code::InvalidArgument, "{e}"),
            (t, Ok((h, data))) if t < 200 => {
                assert_eq!(sha256(&data), sums[t], "tag {t}");
                assert_eq!(h.length as usize, data.len());
            }
            (t, other) => panic!("tag {t}: unexpected {other:?}"),
        }
    }
    assert!(seen.iter().all(|s| *s));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_puts_are_deterministic_and_sized() {
    let d = TestDaemon::start();
    let c = d.client().await;
    let a = d.file_uri("gen/a.dat");
    c.put_generated(&a, 3 * 1024 * 1024 + 17, 42).await.unwrap();
    let first = c.get(&a).await.unwrap();
    assert_eq!(first.len(), 3 * 1024 * 1024 + 17);
    c.put_generated(&a, 3 * 1024 * 1024 + 17, 42).await.unwrap();
    assert_eq!(
        c.get(&a).await.unwrap(),
        first,
        "same URI and seed give the same bytes"
    );
    c.put_generated(&a, 4096, 43).await.unwrap();
    assert_ne!(c.get(&a).await.unwrap()[..], first[..4096]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_round_trip_matches_by_checksum() {
    const GIB: u64 = 1 << 30;
    let d = TestDaemon::start();
    let c = d.client().await;
    let uri = d.file_uri("big/one-gib.bin");
    // Stream 1 GiB of pattern data without holding it, hashing what we send.
    let chunk = Bytes::from(pattern_bytes(4 << 20, 3));
    let mut sent = Sha256::new();
    for _ in 0..GIB / chunk.len() as u64 {
        sent.update(&chunk);
    }
    let chunks = futures::stream::iter((0..GIB / chunk.len() as u64).map(move |_| chunk.clone()));
    let put = c.put_stream(&uri, Some(GIB), chunks).await.unwrap();
    assert_eq!(put.size, GIB);
    assert_eq!(
        std::fs::metadata(d.path("big/one-gib.bin")).unwrap().len(),
        GIB
    );

    let (header, mut body) = c.get_stream(&uri, None).await.unwrap();
    assert_eq!(header.length, GIB);
    let mut got = Sha256::new();
    let mut n = 0u64;
    while let Some(part) = body.next().await {
        let part = part.unwrap();
        n += part.len() as u64;
        got.update(&part);
    }
    assert_eq!(n, GIB);
    assert_eq!(hex::encode(got.finalize()), hex::encode(sent.finalize()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_whose_size_does_not_match_leaves_nothing() {
    let d = TestDaemon::start();
    let c = d.client().await;
    let uri = d.file_uri("short/obj.bin");
    c.put(&uri, Bytes::from_static(b"old")).await.unwrap();
    let e = c
        .put_stream(
            &uri,
            Some(100),
            futures::stream::iter(vec![Bytes::from_static(b"only ten b")]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e}");
    assert_eq!(
        c.get(&uri).await.unwrap(),
        Bytes::from_static(b"old"),
        "the old object is untouched"
    );
    let names: Vec<_> = std::fs::read_dir(d.path("short"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["obj.bin"], "no temporary file is left behind");
}
