//! The cases every backend runs: one body per behaviour of `docs/semantics.md`, written once
//! against the [`ObjectStore`] trait.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use s3dlio_store::{
    Error, GetOptions, GetRange, ListEntry, ListOptions, Location, PutBody, PutOptions, Result,
};

use super::servers::Fixture;

/// Deterministic bytes that do not repeat with a short period.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn body(data: &[u8], chunk: usize) -> PutBody {
    let chunks: Vec<Result<Bytes>> = data
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures::stream::iter(chunks))
}

pub async fn put(fx: &Fixture, key: &str, data: &[u8]) -> Result<()> {
    fx.store
        .put(
            &fx.loc(key),
            body(data, 1 << 20),
            PutOptions {
                size: Some(data.len() as u64),
                content_type: None,
            },
        )
        .await
        .map(drop)
}

pub async fn get(fx: &Fixture, loc: &Location, range: Option<GetRange>) -> Result<Bytes> {
    fx.store
        .get(
            loc,
            GetOptions {
                range,
                chunk_size: 0,
                ..Default::default()
            },
        )
        .await?
        .bytes()
        .await
}

fn range(offset: u64, length: Option<u64>) -> Option<GetRange> {
    Some(GetRange { offset, length })
}

/// Keys (relative to the fixture's base) of a listing of `prefix`, prefixes ending in `/`.
pub async fn list(fx: &Fixture, prefix: &str, recursive: bool) -> Result<Vec<String>> {
    fx.store
        .list(&fx.loc(prefix), ListOptions { recursive })
        .map_ok(|e| {
            let key = e.location().key.clone();
            if let ListEntry::Prefix(_) = e {
                assert!(key.ends_with('/'), "prefix {key:?} must end with '/'");
            }
            fx.rel(&key).to_string()
        })
        .try_collect()
        .await
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub async fn round_trip_and_stat(fx: &Fixture) {
    let data = pattern(100_003, 1);
    let loc = fx.loc("rt/object.bin");
    let put = fx
        .store
        .put(
            &loc,
            body(&data, 7_000),
            PutOptions {
                size: None,
                content_type: Some("application/x-s3dlio-test".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(put.size, data.len() as u64);
    assert_eq!(get(fx, &loc, None).await.unwrap(), data);
    let meta = fx.store.head(&loc).await.unwrap();
    assert_eq!(meta.size, data.len() as u64);
    assert_eq!(meta.location, loc);
    assert!(meta.etag.is_some(), "{}: stat has an etag", fx.name);
    assert!(meta.last_modified.is_some(), "{}: stat has a time", fx.name);
    if fx.keeps_content_type {
        assert_eq!(
            meta.content_type.as_deref(),
            Some("application/x-s3dlio-test")
        );
    }
    // get reports the same metadata as stat.
    let got = fx.store.get(&loc, GetOptions::default()).await.unwrap();
    assert_eq!((got.meta.size, &got.meta.etag), (meta.size, &meta.etag));
    assert_eq!(got.range, 0..data.len() as u64);
}

pub async fn overwrite_replaces_the_whole_object(fx: &Fixture) {
    put(fx, "ow", &pattern(5000, 2)).await.unwrap();
    let second = pattern(1200, 3);
    put(fx, "ow", &second).await.unwrap();
    assert_eq!(get(fx, &fx.loc("ow"), None).await.unwrap(), second);
    assert_eq!(fx.store.head(&fx.loc("ow")).await.unwrap().size, 1200);
}

pub async fn empty_objects(fx: &Fixture) {
    put(fx, "empty", b"").await.unwrap();
    let loc = fx.loc("empty");
    assert_eq!(fx.store.head(&loc).await.unwrap().size, 0);
    assert!(get(fx, &loc, None).await.unwrap().is_empty());
    // Offset 0 is valid on an empty object; anything else is past the end.
    assert!(get(fx, &loc, range(0, None)).await.unwrap().is_empty());
    assert!(get(fx, &loc, range(0, Some(10))).await.unwrap().is_empty());
    let e = get(fx, &loc, range(1, None)).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::OutOfRange {
                offset: 1,
                size: 0,
                ..
            }
        ),
        "{}: {e}",
        fx.name
    );
}

pub async fn ranges_first_last_and_past_the_end(fx: &Fixture) {
    let data = pattern(1000, 4);
    put(fx, "ranged", &data).await.unwrap();
    let loc = fx.loc("ranged");
    assert_eq!(get(fx, &loc, range(0, Some(1))).await.unwrap(), data[..1]);
    assert_eq!(
        get(fx, &loc, range(999, Some(1))).await.unwrap(),
        data[999..]
    );
    assert_eq!(get(fx, &loc, range(999, None)).await.unwrap(), data[999..]);
    assert_eq!(
        get(fx, &loc, range(100, Some(50))).await.unwrap(),
        data[100..150]
    );
    // A range running past the end is cut at the end.
    let r = fx
        .store
        .get(
            &loc,
            GetOptions {
                range: range(990, Some(100)),
                chunk_size: 0,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(r.range, 990..1000);
    assert_eq!(r.meta.size, 1000);
    assert_eq!(r.bytes().await.unwrap(), data[990..]);
    // A range starting at or past the end is OutOfRange, with the size.
    for offset in [1000, 5000] {
        let e = get(fx, &loc, range(offset, None)).await.unwrap_err();
        assert!(
            matches!(e, Error::OutOfRange { size: 1000, .. }),
            "{}: offset {offset}: {e}",
            fx.name
        );
        assert!(e.to_string().contains(&loc.to_string()), "{e}");
    }
    let e = get(fx, &loc, range(0, Some(0))).await.unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { .. }),
        "{}: {e}",
        fx.name
    );
}

pub async fn large_object_round_trip_by_checksum(fx: &Fixture) {
    let data = pattern(64 << 20, 5);
    let loc = fx.loc("large/64mib.bin");
    // Known size, 1 MiB chunks.
    fx.store
        .put(
            &loc,
            body(&data, 1 << 20),
            PutOptions {
                size: Some(data.len() as u64),
                content_type: None,
            },
        )
        .await
        .unwrap();
    let mut hasher = Sha256::new();
    let mut got = fx.store.get(&loc, GetOptions::default()).await.unwrap();
    assert_eq!(got.meta.size, data.len() as u64);
    let mut n = 0u64;
    while let Some(chunk) = got.body.next().await {
        let chunk = chunk.unwrap();
        n += chunk.len() as u64;
        hasher.update(&chunk);
    }
    assert_eq!(n, data.len() as u64);
    assert_eq!(hex::encode(hasher.finalize()), sha(&data));
    // Unknown size, odd chunks; then a range across a part boundary.
    let loc2 = fx.loc("large/unknown-size.bin");
    let data2 = &data[..(20 << 20) + 12345];
    fx.store
        .put(&loc2, body(data2, 3_000_017), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(fx.store.head(&loc2).await.unwrap().size, data2.len() as u64);
    let mid = (8 << 20) - 10;
    assert_eq!(
        get(fx, &loc2, range(mid as u64, Some(20))).await.unwrap(),
        data2[mid..mid + 20]
    );
    assert_eq!(sha(&get(fx, &loc2, None).await.unwrap()), sha(data2));
}

pub async fn failed_puts_leave_nothing(fx: &Fixture) {
    // Announced size differs from the body.
    let loc = fx.loc("failed/mismatch");
    let e = fx
        .store
        .put(
            &loc,
            body(&pattern(10, 6), 4),
            PutOptions {
                size: Some(11),
                content_type: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { .. }),
        "{}: {e}",
        fx.name
    );
    assert!(matches!(
        fx.store.head(&loc).await,
        Err(Error::NotFound { .. })
    ));
    // A large body that breaks off midway (after several parts on S3).
    let loc = fx.loc("failed/broken");
    let data = pattern(20 << 20, 7);
    let items: Vec<Result<Bytes>> = data
        .chunks(1 << 20)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .chain(std::iter::once(Err(Error::Unavailable {
            op: "put",
            uri: loc.to_string(),
            reason: "the client went away".into(),
        })))
        .collect();
    let e = fx
        .store
        .put(
            &loc,
            Box::pin(futures::stream::iter(items)),
            PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unavailable { .. }), "{}: {e}", fx.name);
    assert!(matches!(
        fx.store.head(&loc).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        list(fx, "failed/", true).await.unwrap(),
        Vec::<String>::new()
    );
}

pub async fn missing_objects_are_not_found(fx: &Fixture) {
    let loc = fx.loc("no/such/key");
    for e in [
        get(fx, &loc, None).await.unwrap_err(),
        fx.store.head(&loc).await.unwrap_err(),
        fx.store.delete(&loc).await.unwrap_err(),
    ] {
        assert!(matches!(e, Error::NotFound { .. }), "{}: {e}", fx.name);
        assert!(e.to_string().contains(&loc.to_string()), "{e}");
    }
    // Deleting twice: the second is NotFound.
    put(fx, "del", b"x").await.unwrap();
    fx.store.delete(&fx.loc("del")).await.unwrap();
    let e = fx.store.delete(&fx.loc("del")).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{}: {e}", fx.name);
    // A prefix is not an object.
    put(fx, "dir/inside", b"x").await.unwrap();
    let e = fx.store.head(&fx.loc("dir")).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{}: {e}", fx.name);
    // Listing a prefix with nothing under it lists nothing.
    assert!(list(fx, "nothing-here/", true).await.unwrap().is_empty());
}

pub async fn listing_sorted_with_common_prefixes(fx: &Fixture) {
    let keys = [
        "ls/b/2",
        "ls/a",
        "ls/b/1",
        "ls/c/d/e",
        "ls/a-c",
        "ls/a0",
        "ls/with space",
        "ls/ü/ñ",
    ];
    for k in keys {
        put(fx, k, k.as_bytes()).await.unwrap();
    }
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort();
    assert_eq!(list(fx, "ls/", true).await.unwrap(), sorted, "{}", fx.name);
    assert_eq!(
        list(fx, "ls/", false).await.unwrap(),
        [
            "ls/a",
            "ls/a-c",
            "ls/a0",
            "ls/b/",
            "ls/c/",
            "ls/with space",
            "ls/ü/"
        ],
        "{}",
        fx.name
    );
    assert_eq!(
        list(fx, "ls/b/", false).await.unwrap(),
        ["ls/b/1", "ls/b/2"]
    );
    // A prefix that is not a directory: keys starting with it.
    assert_eq!(
        list(fx, "ls/a", true).await.unwrap(),
        ["ls/a", "ls/a-c", "ls/a0"]
    );
    // Objects in a listing carry their size.
    let sizes: Vec<u64> = fx
        .store
        .list(&fx.loc("ls/b/"), ListOptions { recursive: true })
        .map_ok(|e| match e {
            ListEntry::Object(m) => m.size,
            ListEntry::Prefix(_) => u64::MAX,
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(sizes, [6, 6]);
    // The regex applies to the key relative to the listed prefix.
    let re = regex::Regex::new("^a").unwrap();
    let filtered: Vec<String> = s3dlio_store::filter_listing(
        &fx.loc("ls/"),
        Some(re),
        fx.store
            .list(&fx.loc("ls/"), ListOptions { recursive: true }),
    )
    .map_ok(|e| fx.rel(&e.location().key).to_string())
    .try_collect()
    .await
    .unwrap();
    assert_eq!(filtered, ["ls/a", "ls/a-c", "ls/a0"]);
}

pub async fn keys_with_spaces_and_unicode(fx: &Fixture) {
    for key in [
        "sp ace/a b.txt",
        "uni/日本語/ファイル.bin",
        "uni/é+&=?%20.x",
    ] {
        let data = pattern(333, 8);
        put(fx, key, &data).await.unwrap();
        let loc = fx.loc(key);
        assert_eq!(
            get(fx, &loc, None).await.unwrap(),
            data,
            "{}: {key}",
            fx.name
        );
        assert_eq!(fx.store.head(&loc).await.unwrap().size, 333);
        let listed = list(fx, key, true).await.unwrap();
        assert_eq!(listed, [key], "{}", fx.name);
        fx.store.delete(&loc).await.unwrap();
    }
}

pub async fn listing_of_2500_objects_across_pages(fx: &Fixture) {
    let keys: Vec<String> = (0..2500)
        .map(|i| format!("many/d{}/{i:05}", i % 5))
        .collect();
    futures::stream::iter(keys.iter())
        .map(|k| async move { put(fx, k, b"").await })
        .buffer_unordered(32)
        .try_collect::<()>()
        .await
        .unwrap();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        list(fx, "many/", true).await.unwrap(),
        sorted,
        "{}",
        fx.name
    );
    assert_eq!(
        list(fx, "many/", false).await.unwrap(),
        ["many/d0/", "many/d1/", "many/d2/", "many/d3/", "many/d4/"]
    );
    let d0 = list(fx, "many/d0/", false).await.unwrap();
    assert_eq!(d0.len(), 500);
    assert!(d0.windows(2).all(|w| w[0] < w[1]));
    // Emulators that keep every object in one in-memory table (Azurite) slow down as objects
    // pile up over a whole test run, so the 2,500 go again.
    futures::stream::iter(keys.iter())
        .map(|k| async move { fx.store.delete(&fx.loc(k)).await })
        .buffer_unordered(32)
        .try_collect::<()>()
        .await
        .unwrap();
}

pub async fn buckets_create_delete(fx: &Fixture) {
    let name = super::servers::unique("bkt");
    let bucket = fx.bucket.with_key("");
    let bucket = match bucket.scheme {
        s3dlio_store::Scheme::S3 => Location::parse(&format!("s3://{name}")).unwrap(),
        // A container of the same account.
        s3dlio_store::Scheme::Azure => {
            Location::parse(&format!("az://{}/{name}", bucket.bucket)).unwrap()
        }
        s3dlio_store::Scheme::Gcs => Location::parse(&format!("gs://{name}")).unwrap(),
        _ => Location::parse(&format!("{}/{name}", fx.bucket)).unwrap(),
    };
    fx.store.create_bucket(&bucket).await.unwrap();
    // Creating one that exists is fine.
    fx.store.create_bucket(&bucket).await.unwrap();
    let obj = Location::parse(&format!("{bucket}/obj")).unwrap();
    fx.store
        .put(&obj, body(b"x", 1), PutOptions::default())
        .await
        .unwrap();
    let e = fx.store.delete_bucket(&bucket).await.unwrap_err();
    assert!(
        matches!(e, Error::FailedPrecondition { .. }),
        "{}: {e}",
        fx.name
    );
    fx.store.delete(&obj).await.unwrap();
    fx.store.delete_bucket(&bucket).await.unwrap();
    let e = fx.store.delete_bucket(&bucket).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{}: {e}", fx.name);
}

/// A heap destination for `get_into`, as the daemon's arena would be one.
struct HeapReserve;

#[async_trait::async_trait]
impl s3dlio_store::Reserve for HeapReserve {
    async fn reserve(&mut self, len: u64) -> Result<Box<dyn s3dlio_store::Destination>> {
        Ok(Box::new(vec![0u8; len as usize]))
    }
}

/// Reads into a reserved destination; the bytes there (or none, for an empty range).
pub async fn get_into(fx: &Fixture, loc: &Location, range: Option<GetRange>) -> Result<Vec<u8>> {
    let got = fx
        .store
        .get_into(
            loc,
            GetOptions {
                range,
                ..Default::default()
            },
            &mut HeapReserve,
        )
        .await?;
    let n = (got.range.end - got.range.start) as usize;
    let out = match got.dest {
        None => Vec::new(),
        Some(dest) => {
            let any: Box<dyn std::any::Any> = dest;
            *any.downcast::<Vec<u8>>().expect("our own destination")
        }
    };
    assert_eq!(out.len(), n, "{}: destination length", fx.name);
    Ok(out)
}

/// `get_into` (shared-memory delivery) reads the same bytes as `get`: whole objects of every
/// size class, ranges inside and across chunk boundaries, empty objects, and the same errors.
pub async fn get_into_reads_what_get_reads(fx: &Fixture) {
    let data = pattern((3 << 20) + 777, 11);
    put(fx, "into/big", &data).await.unwrap();
    put(fx, "into/small", &data[..1000]).await.unwrap();
    put(fx, "into/empty", b"").await.unwrap();
    let big = fx.loc("into/big");
    assert_eq!(sha(&get_into(fx, &big, None).await.unwrap()), sha(&data));
    for (offset, length) in [
        (0, Some(1)),
        (65_530, Some(20)),
        (1 << 20, None),
        (5, Some(2 << 20)),
    ] {
        let want = &data[offset..length.map_or(data.len(), |l| offset + l)];
        let got = get_into(fx, &big, range(offset as u64, length.map(|l| l as u64)))
            .await
            .unwrap();
        assert_eq!(sha(&got), sha(want), "{}: {offset} {length:?}", fx.name);
    }
    assert_eq!(
        get_into(fx, &fx.loc("into/small"), None).await.unwrap(),
        data[..1000]
    );
    assert!(get_into(fx, &fx.loc("into/empty"), None)
        .await
        .unwrap()
        .is_empty());
    let e = get_into(fx, &big, range(data.len() as u64 + 1, None))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::OutOfRange { .. }), "{}: {e}", fx.name);
    let e = get_into(fx, &fx.loc("into/absent"), None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{}: {e}", fx.name);
}
