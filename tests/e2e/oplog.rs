//! Op-log compatibility with s3dlio itself: a log written by the `s3dlio` Python package (the
//! library s3dliod grew from) is read, summarised and replayed by `s3dlioctl oplog`.

use std::process::Command;

use s3dlio_e2e::{ok_stdout, python, TestDaemon};
use serde_json::Value;

/// Writes an op-log with s3dlio's own op-log functions: PUT ×3, LIST, GET, HEAD, DELETE, and a
/// failed GET, all on `file://` under `dir`.
fn s3dlio_log(dir: &std::path::Path) -> std::path::PathBuf {
    let log = dir.join("ops.tsv.zst");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let script = format!(
        r#"
import s3dlio
s3dlio.init_op_log({log:?})
base = "file://{data}/"
s3dlio.put(base, num=3, template="obj-{{}}.bin", size=4096)
assert len(s3dlio.list(base, recursive=True)) == 3
assert len(bytes(s3dlio.get(base + "obj-0.bin"))) == 4096
s3dlio.stat(base + "obj-1.bin")
s3dlio.delete(base + "obj-2.bin")
try:
    s3dlio.get(base + "missing.bin")
except Exception:
    pass
s3dlio.finalize_op_log()
"#,
        log = log.display().to_string(),
        data = data.display()
    );
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "s3dlio script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    log
}

#[test]
fn a_log_written_by_s3dlio_is_read_and_summarised() {
    let d = TestDaemon::start();
    let log = s3dlio_log(d.dir.path());
    let rows: Vec<Value> = ok_stdout(&d.ctl(["--json", "oplog", "cat", log.to_str().unwrap()]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ops: Vec<&str> = rows.iter().map(|r| r["op"].as_str().unwrap()).collect();
    assert_eq!(ops.iter().filter(|o| **o == "PUT").count(), 3, "{ops:?}");
    for op in ["LIST", "GET", "HEAD", "DELETE"] {
        assert!(ops.contains(&op), "{op} missing in {ops:?}");
    }
    let data = d.path("data").display().to_string();
    for r in &rows {
        assert!(
            r["uri"]
                .as_str()
                .unwrap()
                .starts_with(&format!("file://{data}/")),
            "{r}"
        );
        assert!(r["duration_ns"].as_u64().unwrap() > 0, "{r}");
    }
    let failed: Vec<_> = rows
        .iter()
        .filter(|r| !r["error"].as_str().unwrap().is_empty())
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["uri"].as_str().unwrap().ends_with("missing.bin"));

    let only_puts = ok_stdout(&d.ctl([
        "oplog",
        "cat",
        "--op",
        "put",
        "--uri",
        r"obj-[01]",
        log.to_str().unwrap(),
    ]));
    assert_eq!(only_puts.lines().count(), 2, "{only_puts}");

    let stats: Value = serde_json::from_str(&ok_stdout(&d.ctl([
        "--json",
        "oplog",
        "stats",
        log.to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(stats["rows"], 8);
    let put = stats["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == "PUT")
        .unwrap();
    assert_eq!(
        (put["count"].as_u64(), put["bytes"].as_u64()),
        (Some(3), Some(3 * 4096))
    );
    let get = stats["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["op"] == "GET")
        .unwrap();
    assert_eq!(get["errors"], 1);
}

#[test]
fn a_log_written_by_s3dlio_replays_through_the_daemon_to_another_prefix() {
    let d = TestDaemon::start();
    let log = s3dlio_log(d.dir.path());
    let from = format!("file://{}/", d.path("data").display());
    let to = format!("file://{}/", d.path("replayed").display());
    for speed in ["0.25", "7.5"] {
        let _ = std::fs::remove_dir_all(d.path("replayed"));
        std::fs::create_dir_all(d.path("replayed")).unwrap();
        let out = d.ctl([
            "--json",
            "oplog",
            "replay",
            "--speed",
            speed,
            "--concurrency",
            "1",
            "--retarget",
            &format!("{from}={to}"),
            log.to_str().unwrap(),
        ]);
        let report: Value = serde_json::from_str(&ok_stdout(&out)).unwrap();
        assert_eq!(report["replayed"], 8, "{report}");
        assert_eq!(report["failed"], 0, "{report}");
        assert_eq!(
            report["failed_as_recorded"], 1,
            "the missing object is missing again: {report}"
        );
        // PUT obj-0..2 then DELETE obj-2: two objects of the logged size remain.
        let mut left: Vec<_> = std::fs::read_dir(d.path("replayed"))
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().into_string().unwrap(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ("obj-0.bin".to_string(), 4096),
                ("obj-1.bin".to_string(), 4096)
            ],
            "speed {speed}"
        );
    }
    let out = d.ctl(["oplog", "replay", "--speed", "0", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "a zero speed is refused");
}

mod daemon_log {
    use std::collections::HashMap;
    use std::time::Duration;

    use bytes::Bytes;
    use futures::StreamExt;
    use rustix::process::Signal;
    use s3dlio_e2e::{ok_stdout, TestDaemon};
    use s3dlio_oplog::{Op, OpLogReader, OpRecord, HEADER};

    fn read(path: &std::path::Path) -> Vec<OpRecord> {
        OpLogReader::open(path)
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    /// Three named clients at once; each does its own mix, one with a failing GET.
    async fn workload(d: &TestDaemon) {
        let mut tasks = Vec::new();
        for name in ["alpha", "beta", "gamma"] {
            let c = s3dlio_client::Client::connect(Some(&d.socket), Some(name))
                .await
                .unwrap();
            let base = d.file_uri(&format!("w/{name}/"));
            tasks.push(tokio::spawn(async move {
                for i in 0..20u64 {
                    c.put(
                        &format!("{base}{i}"),
                        Bytes::from(vec![1u8; 100 + i as usize]),
                    )
                    .await
                    .unwrap();
                }
                for i in 0..20u64 {
                    assert_eq!(
                        c.get(&format!("{base}{i}")).await.unwrap().len() as u64,
                        100 + i
                    );
                }
                let listed = c.list(&base, true, None).await.unwrap().count().await;
                assert_eq!(listed, 20);
                c.stat(&format!("{base}0")).await.unwrap();
                assert!(c.get(&format!("{base}missing")).await.is_err());
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_operation_of_every_client_is_one_row() {
        let d = TestDaemon::start();
        let log = d.path("node.tsv.zst");
        ok_stdout(&d.ctl(["oplog", "start", log.to_str().unwrap()]));
        workload(&d).await;
        let status: serde_json::Value =
            serde_json::from_str(&ok_stdout(&d.ctl(["--json", "oplog", "stop"]))).unwrap();
        assert_eq!(status["accepted"], status["written"]);
        assert_eq!(status["dropped"], 0);

        let rows = read(&log);
        assert_eq!(
            rows.len(),
            3 * (20 + 20 + 1 + 1 + 1),
            "puts, gets, list, stat, failed get per client"
        );
        assert!(
            rows.iter().enumerate().all(|(i, r)| r.idx == i as u64),
            "idx counts rows"
        );
        for name in ["alpha", "beta", "gamma"] {
            let mine: Vec<_> = rows.iter().filter(|r| r.client_id == name).collect();
            let mut by_op: HashMap<String, (u64, u64)> = HashMap::new();
            for r in &mine {
                let e = by_op.entry(r.op.as_str().to_string()).or_default();
                e.0 += 1;
                e.1 += r.bytes;
                assert!(
                    r.uri().starts_with(&d.file_uri(&format!("w/{name}/"))),
                    "{r:?}"
                );
                assert!(r.end >= r.start);
                assert_eq!(r.endpoint, "file://");
            }
            let payload: u64 = (0..20).map(|i| 100 + i).sum();
            assert_eq!(by_op["PUT"], (20, payload), "{name}");
            assert_eq!(
                by_op["GET"],
                (21, payload),
                "{name}: 20 gets and the failed one"
            );
            assert_eq!(by_op["LIST"].0, 1);
            assert_eq!(by_op["HEAD"].0, 1, "stat is logged as HEAD, as s3dlio does");
            let list = mine.iter().find(|r| r.op == Op::List).unwrap();
            assert_eq!(list.n_objects, 20);
            let failed: Vec<_> = mine.iter().filter(|r| !r.error.is_empty()).collect();
            assert_eq!(failed.len(), 1);
            assert!(failed[0].error.contains("not found") && failed[0].file.ends_with("missing"));
            assert!(mine
                .iter()
                .filter(|r| r.op == Op::Get && r.error.is_empty())
                .all(|r| r.first_byte.is_some()));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_has_exactly_the_seed_header() {
        let d = TestDaemon::start();
        let log = d.path("plain.tsv");
        ok_stdout(&d.ctl(["oplog", "start", "--plain", log.to_str().unwrap()]));
        d.client()
            .await
            .put(&d.file_uri("x"), Bytes::from_static(b"x"))
            .await
            .unwrap();
        ok_stdout(&d.ctl(["oplog", "stop"]));
        let text = std::fs::read_to_string(&log).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), HEADER.join("\t"));
        let row: Vec<_> = lines.next().unwrap().split('\t').collect();
        assert_eq!(row.len(), 13);
        assert_eq!(
            (row[2], row[3], row[5], row[6]),
            ("PUT", "e2e", "1", "file://")
        );
        assert_eq!(row[7], d.path("x").display().to_string());
        assert!(row[9].ends_with('Z') && row[11].ends_with('Z'));
        assert!(row[12].parse::<u64>().unwrap() > 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rotation_splits_the_log_without_losing_a_row() {
        let d = TestDaemon::start();
        let log = d.path("rot.tsv.zst");
        ok_stdout(&d.ctl(["oplog", "start", log.to_str().unwrap()]));
        let c = d.client().await;
        for i in 0..30 {
            c.put(&d.file_uri(&format!("r/{i}")), Bytes::from_static(b"abc"))
                .await
                .unwrap();
        }
        ok_stdout(&d.ctl(["oplog", "rotate"]));
        for i in 0..12 {
            c.stat(&d.file_uri(&format!("r/{i}"))).await.unwrap();
        }
        ok_stdout(&d.ctl(["oplog", "stop"]));
        let first = read(&d.path("rot.tsv.zst.1"));
        let second = read(&log);
        assert_eq!(first.len(), 30);
        assert!(first.iter().all(|r| r.op == Op::Put));
        assert_eq!(second.len(), 12);
        assert!(second.iter().all(|r| r.op == Op::Stat));
        assert_eq!(second[0].idx, 0, "each file counts its rows from 0");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn size_rotation_keeps_only_the_configured_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sized.tsv.zst");
        let d = TestDaemon::start_with_config(&format!(
            "[oplog]\nenabled = true\npath = \"{}\"\nrotate_bytes = 1\nkeep = 2\n",
            log.display()
        ));
        let c = d.client().await;
        // Each burst is followed by an idle tick (about a second), when the writer checks size.
        for burst in 0..4 {
            for i in 0..5 {
                c.put(
                    &d.file_uri(&format!("s/{burst}-{i}")),
                    Bytes::from_static(b"x"),
                )
                .await
                .unwrap();
            }
            tokio::time::sleep(Duration::from_millis(2500)).await;
        }
        let status: serde_json::Value =
            serde_json::from_str(&ok_stdout(&d.ctl(["--json", "oplog", "stop"]))).unwrap();
        assert!(status["rotations"].as_u64().unwrap() >= 3, "{status}");
        let numbered = |n: u32| dir.path().join(format!("sized.tsv.zst.{n}"));
        assert!(numbered(1).exists() && numbered(2).exists());
        assert!(!numbered(3).exists(), "keep = 2 removes older files");
        for f in [numbered(1), numbered(2)] {
            let rows = read(&f);
            assert!(
                !rows.is_empty() && rows.iter().all(|r| r.op == Op::Put),
                "{f:?}: {rows:?}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sigterm_mid_load_leaves_a_complete_log() {
        // Logging from the start, by configuration.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("term.tsv.zst");
        let mut d = TestDaemon::start_with_config(&format!(
            "[oplog]\nenabled = true\npath = \"{}\"\n",
            log.display()
        ));
        let c = d.client().await;
        let writer = {
            let base = d.file_uri("t/");
            tokio::spawn(async move {
                let mut done = 0u64;
                for i in 0..100_000u64 {
                    if c.put(&format!("{base}{i}"), Bytes::from_static(b"payload"))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    done += 1;
                }
                done
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        d.signal(Signal::TERM);
        let done = writer.await.unwrap();
        assert!(d.wait(Duration::from_secs(30)).success());
        let rows = read(&log);
        assert!(done > 0);
        assert!(
            rows.len() as u64 >= done,
            "every completed put is logged: {} rows, {done} puts",
            rows.len()
        );
        assert!(
            rows.len() as u64 <= done + 1,
            "at most the put cut by the shutdown is extra"
        );
    }
}

mod replay_timing {
    use std::time::{Duration, SystemTime};

    use bytes::Bytes;
    use s3dlio_e2e::{ok_stdout, TestDaemon};
    use s3dlio_oplog::{Op, OpLogReader, OpLogWriter, OpRecord, WriterOptions};

    /// Six STATs of one object, 200 ms apart.
    fn spaced_log(path: &std::path::Path, uri: &str) {
        let mut w = OpLogWriter::create(path, WriterOptions::default()).unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for i in 0..6u64 {
            let start = t0 + Duration::from_millis(200 * i);
            w.write(&OpRecord {
                idx: i,
                thread: "t".into(),
                op: Op::Stat,
                client_id: "recorded".into(),
                n_objects: 1,
                bytes: 0,
                endpoint: String::new(),
                file: uri.to_string(),
                error: String::new(),
                start,
                first_byte: None,
                end: start + Duration::from_micros(100),
            })
            .unwrap();
        }
        w.finish().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replay_keeps_the_recorded_spacing_scaled_by_speed() {
        let d = TestDaemon::start();
        let target = d.file_uri("obj");
        d.client()
            .await
            .put(&target, Bytes::from_static(b"x"))
            .await
            .unwrap();
        let recorded = d.path("spaced.tsv.zst");
        spaced_log(&recorded, &target);
        for (speed, gap_ms) in [("4", 50.0), ("0.5", 400.0)] {
            let trace = d.path(&format!("replayed-{speed}.tsv.zst"));
            ok_stdout(&d.ctl(["oplog", "start", trace.to_str().unwrap()]));
            ok_stdout(&d.ctl([
                "oplog",
                "replay",
                "--speed",
                speed,
                recorded.to_str().unwrap(),
            ]));
            ok_stdout(&d.ctl(["oplog", "stop"]));
            let mut starts: Vec<SystemTime> = OpLogReader::open(&trace)
                .unwrap()
                .map(|r| r.unwrap())
                .filter(|r| r.op == Op::Stat)
                .map(|r| r.start)
                .collect();
            starts.sort();
            assert_eq!(starts.len(), 6);
            for w in starts.windows(2) {
                let gap = w[1].duration_since(w[0]).unwrap().as_secs_f64() * 1e3;
                assert!(
                    (gap - gap_ms).abs() <= gap_ms * 0.4,
                    "speed {speed}: gap {gap:.1} ms, expected {gap_ms} ms"
                );
            }
            let span = starts[5].duration_since(starts[0]).unwrap().as_secs_f64() * 1e3;
            assert!(
                (span - 5.0 * gap_ms).abs() <= 5.0 * gap_ms * 0.1 + 30.0,
                "speed {speed}: span {span:.1} ms"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_log_replays_onto_the_s3_server() {
    let var = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is not set: run the tests with `bash tests/run.sh`"))
    };
    let d = TestDaemon::start_with_config(&format!(
        "[s3]\nendpoint = \"{}\"\nregion = \"us-east-1\"\nforce_path_style = true\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
        var("S3DLIO_TEST_SEAWEED_ENDPOINT"),
        var("S3DLIO_TEST_S3_ACCESS_KEY"),
        var("S3DLIO_TEST_S3_SECRET_KEY"),
    ));
    let log = s3dlio_log(d.dir.path());
    let bucket = format!("replay-{}", std::process::id());
    ok_stdout(&d.ctl(["mb", &format!("s3://{bucket}")]));
    let from = format!("file://{}/", d.path("data").display());
    let to = format!("s3://{bucket}/replayed/");
    let report: Value = serde_json::from_str(&ok_stdout(&d.ctl([
        "--json",
        "oplog",
        "replay",
        "--concurrency",
        "1",
        "--retarget",
        &format!("{from}={to}"),
        log.to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(
        (report["replayed"].as_u64(), report["failed"].as_u64()),
        (Some(8), Some(0)),
        "{report}"
    );
    let listing = ok_stdout(&d.ctl(["ls", "-r", "-l", &to]));
    let objects: Vec<(String, String)> = listing
        .lines()
        .map(|l| {
            let f: Vec<_> = l.split_whitespace().collect();
            (f[0].to_string(), f[2].to_string())
        })
        .collect();
    assert_eq!(
        objects,
        [
            ("4096".to_string(), format!("{to}obj-0.bin")),
            ("4096".to_string(), format!("{to}obj-1.bin"))
        ],
        "PUT x3 then DELETE obj-2, replayed on S3"
    );
    ok_stdout(&d.ctl(["rm", "-r", &to]));
    ok_stdout(&d.ctl(["rb", &format!("s3://{bucket}")]));
}
