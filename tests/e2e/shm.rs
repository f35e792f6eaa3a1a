//! Shared-memory delivery against the real daemon: bytes equal to the source on every
//! backend available here, out-of-order release and reuse, a full arena under load, an
//! oversized payload, a client killed mid-stream, a uid that is not allowed, forged and
//! repeated releases, and a daemon restart.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use s3dlio_client::{Client, ShmClient};
use s3dlio_e2e::{bin, pattern_bytes, sha256, TestDaemon};
use tonic::Code;

const KIB: u64 = 1024;

async fn put(c: &Client, uri: &str, len: usize, seed: u8) -> Vec<u8> {
    let data = pattern_bytes(len, seed);
    c.put(uri, Bytes::from(data.clone())).await.unwrap();
    data
}

/// The session's arena counters, as `Admin.Sessions` reports them (collecting releases).
async fn arena_counters(c: &Client, name: &str) -> (u64, u64) {
    let s = c.sessions().await.unwrap();
    let s = s.iter().find(|s| s.name == name).expect("session listed");
    (s.arena_in_use, s.bad_releases)
}

async fn attach(d: &TestDaemon, name: &str, size: u64) -> ShmClient {
    let c = Client::connect(Some(&d.socket), Some(name)).await.unwrap();
    c.attach(size).await.expect("attach")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shm_payloads_equal_the_source_on_file_and_direct() {
    let d = TestDaemon::start();
    let shm = attach(&d, "equal", 8 << 20).await;
    let c = shm.client().clone();
    for scheme in ["file", "direct"] {
        let mut uris = vec![];
        let mut sums = vec![];
        for (i, len) in [0usize, 1, 4095, 4097, 1024 * 1024 + 3]
            .into_iter()
            .enumerate()
        {
            let uri = format!("{scheme}://{}/eq/{i}.bin", d.dir.path().display());
            let data = put(&c, &uri, len, i as u8).await;
            let got = shm.get(&uri).await.unwrap();
            assert_eq!(got.len(), len, "{uri}");
            assert_eq!(sha256(&got), sha256(&data), "{uri}");
            assert_eq!(got.header.object_size, len as u64);
            if len > 4100 {
                let part = shm.get_range(&uri, Some((4000, Some(100)))).await.unwrap();
                assert_eq!(&part[..], &data[4000..4100], "{uri} range");
                let tail = shm.get_range(&uri, Some((4096, None))).await.unwrap();
                assert_eq!(&tail[..], &data[4096..], "{uri} open range");
            }
            uris.push(uri);
            sums.push(sha256(&data));
        }
        let items = uris
            .iter()
            .enumerate()
            .map(|(i, u)| (i as u64, u.clone(), None))
            .collect();
        let mut stream = shm.get_many(items, 4).await.unwrap();
        let mut seen = 0;
        while let Some(item) = stream.next().await {
            let item = item.unwrap();
            let payload = item.result.unwrap();
            assert_eq!(
                sha256(&payload),
                sums[item.tag as usize],
                "{scheme} tag {}",
                item.tag
            );
            seen += 1;
        }
        assert_eq!(seen, uris.len());
    }
    // Inline delivery is unchanged beside it.
    let uri = d.file_uri("eq/4.bin");
    assert_eq!(c.get(&uri).await.unwrap().len(), 1024 * 1024 + 3);
    // Everything dropped: nothing held.
    assert_eq!(arena_counters(&c, "equal").await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_space_is_reused_in_any_order() {
    let d = TestDaemon::start();
    let shm = attach(&d, "reuse", 64 * KIB).await;
    let c = shm.client().clone();
    let mut uris = vec![];
    for i in 0..4 {
        let uri = d.file_uri(&format!("reuse/{i}.bin"));
        put(&c, &uri, 16 * KIB as usize, i).await;
        uris.push(uri);
    }
    let mut held = vec![];
    for u in &uris {
        held.push(shm.get(u).await.unwrap());
    }
    assert_eq!(arena_counters(&c, "reuse").await.0, 64 * KIB, "arena full");
    let offsets: Vec<u64> = held.iter().map(|p| p.slice().unwrap().offset).collect();
    // Release the second and the fourth, then the first: out of order.
    let second = held.remove(1);
    drop(second);
    let fourth = held.pop().unwrap();
    drop(fourth);
    assert_eq!(arena_counters(&c, "reuse").await.0, 32 * KIB);
    let again = shm.get(&uris[0]).await.unwrap();
    assert!(
        [offsets[1], offsets[3]].contains(&again.slice().unwrap().offset),
        "a released slot is reused"
    );
    assert_eq!(again[..], pattern_bytes(16 * KIB as usize, 0)[..]);
    // The payloads still held were never overwritten.
    assert_eq!(held[0][..], pattern_bytes(16 * KIB as usize, 0)[..]);
    assert_eq!(held[1][..], pattern_bytes(16 * KIB as usize, 2)[..]);
    drop(held);
    drop(again);
    assert_eq!(arena_counters(&c, "reuse").await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_arena_under_sustained_load_loses_nothing() {
    let d = TestDaemon::start();
    // 256 KiB arena, 300 objects of 40 KiB, 16 in flight: the arena is full most of the time.
    let shm = attach(&d, "load", 256 * KIB).await;
    let c = shm.client().clone();
    let mut sums = vec![];
    let mut items = vec![];
    for i in 0..300u64 {
        let uri = d.file_uri(&format!("load/{i}.bin"));
        let data = put(&c, &uri, 40 * KIB as usize, i as u8).await;
        sums.push(sha256(&data));
        items.push((i, uri, None));
    }
    let mut stream = shm.get_many(items, 16).await.unwrap();
    let mut held = std::collections::VecDeque::new();
    let mut got = vec![false; 300];
    let result = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(item) = stream.next().await {
            let item = item.unwrap();
            let p = item.result.unwrap();
            assert_eq!(sha256(&p), sums[item.tag as usize]);
            assert!(!got[item.tag as usize], "each item once");
            got[item.tag as usize] = true;
            held.push_back(p);
            if held.len() > 3 {
                held.pop_front();
            }
        }
    })
    .await;
    assert!(result.is_ok(), "no deadlock: the stream finished");
    assert!(got.iter().all(|&g| g), "no item lost");
    drop(held);
    assert_eq!(arena_counters(&c, "load").await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_payload_is_refused_not_hung() {
    let d = TestDaemon::start();
    let shm = attach(&d, "oversized", 64 * KIB).await;
    let c = shm.client().clone();
    let big = d.file_uri("big.bin");
    put(&c, &big, 100 * KIB as usize, 1).await;
    let err = tokio::time::timeout(Duration::from_secs(30), shm.get(&big))
        .await
        .expect("no hang")
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    assert!(
        err.to_string().contains("larger than the session's arena"),
        "{err}"
    );
    // In GetMany it is a per-item error; the other items still arrive.
    let small = d.file_uri("small.bin");
    put(&c, &small, 10, 2).await;
    let items = vec![(0, big.clone(), None), (1, small, None)];
    let mut results: Vec<_> = shm.get_many(items, 2).await.unwrap().collect().await;
    results.sort_by_key(|r| r.as_ref().unwrap().tag);
    let r0 = results.remove(0).unwrap().result.unwrap_err();
    assert_eq!(r0.code(), Code::ResourceExhausted);
    assert_eq!(results.remove(0).unwrap().result.unwrap().len(), 10);
    // A ranged read of the big object that fits is fine.
    assert_eq!(
        shm.get_range(&big, Some((0, Some(64 * KIB))))
            .await
            .unwrap()
            .len(),
        64 * KIB as usize
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_get_many_leaves_nothing_behind() {
    let d = TestDaemon::start();
    let c = d.client().await;
    let mut uris = vec![];
    for i in 0..64 {
        let uri = d.file_uri(&format!("kill/{i}.bin"));
        put(&c, &uri, 64 * KIB as usize, i).await;
        uris.push(uri);
    }
    // 1 MiB arena, 4 MiB of objects, nothing released: the reader blocks the daemon's
    // fetches on a full arena when it is killed.
    let mut child = Command::new(bin("shm-reader"))
        .arg(&d.socket)
        .arg((1 << 20).to_string())
        .args(&uris)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "streaming");
    let status = c.status().await.unwrap();
    assert_eq!(status.arenas, 1);
    assert!(status.arena_in_use > 0);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = c.status().await.unwrap();
        if s.arenas == 0
            && s.arena_bytes == 0
            && s.arena_in_use == 0
            && s.sessions == 1
            && s.in_flight == 0
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind after SIGKILL: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The daemon keeps serving everyone else, shared memory included.
    let shm = c.attach(0).await.unwrap();
    assert_eq!(shm.get(&uris[0]).await.unwrap().len(), 64 * KIB as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uid_that_is_not_allowed_cannot_attach() {
    // The tests run as root (uid 0); only uid 65534 is allowed.
    let d = TestDaemon::start_with_config("allowed_uids = [65534]\n");
    let c = d.client().await;
    let err = c.attach(0).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    // The side socket hands nothing over for a token it did not issue.
    let mut side = d.socket.as_os_str().to_owned();
    side.push(".shm");
    let mut s = std::os::unix::net::UnixStream::connect(&side).unwrap();
    std::io::Write::write_all(&mut s, &[7u8; 16]).unwrap();
    let mut buf = [0u8; 128];
    let (n, fds) = s3dlio_shm::fdpass::recv_fds(&s, &mut buf).unwrap();
    assert!(fds.is_empty());
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("ERR"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_and_double_releases_are_refused_and_counted() {
    let d = TestDaemon::start();
    let shm = attach(&d, "forger", 64 * KIB).await;
    let c = shm.client().clone();
    let uri = d.file_uri("f.bin");
    put(&c, &uri, 8 * KIB as usize, 9).await;
    let keep = shm.get(&uri).await.unwrap();
    let k = keep.slice().unwrap();
    let other = shm.get(&uri).await.unwrap();
    let o = other.slice().unwrap();
    assert!(
        shm.arena().release(k.lease + 1, k.generation),
        "forged offset"
    );
    assert!(
        shm.arena().release(k.lease, k.generation + 1000),
        "stale generation"
    );
    drop(other);
    assert!(shm.arena().release(o.lease, o.generation), "double release");
    assert!(shm.arena().release(u64::MAX, 0), "far out of the arena");
    let (in_use, bad) = arena_counters(&c, "forger").await;
    assert_eq!(bad, 4, "every bad release is refused and counted");
    assert_eq!(in_use, 8 * KIB, "the held payload keeps its space");
    assert_eq!(
        keep[..],
        pattern_bytes(8 * KIB as usize, 9)[..],
        "never overwritten"
    );
    // Still serving this session and everyone else.
    assert_eq!(shm.get(&uri).await.unwrap().len(), 8 * KIB as usize);
    assert!(d.client().await.status().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_restart_fails_clearly_and_attach_works_again() {
    let mut d = TestDaemon::start();
    let shm = attach(&d, "restart", 0).await;
    let uri = d.file_uri("r.bin");
    put(shm.client(), &uri, 5000, 3).await;
    let before = shm.get(&uri).await.unwrap();
    d.kill();
    d.restart("");
    let err = shm.get(&uri).await.unwrap_err();
    assert!(
        matches!(
            err.code(),
            Code::Unavailable | Code::FailedPrecondition | Code::Unknown
        ),
        "{err}"
    );
    assert_eq!(
        before.len(),
        5000,
        "payloads already received stay readable"
    );
    let again = attach(&d, "restart-2", 0).await;
    assert_eq!(
        again.get(&uri).await.unwrap()[..],
        pattern_bytes(5000, 3)[..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_clients_get_inline_only() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = TestDaemon::start_with_config(&format!("tcp_listen = \"127.0.0.1:{port}\"\n"));
    let c = Client::connect_tcp(&format!("127.0.0.1:{port}"), None)
        .await
        .unwrap();
    let err = c.attach(0).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    drop(d);
}
