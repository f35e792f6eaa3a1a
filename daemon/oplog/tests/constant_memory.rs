//! Reading a large op-log holds one row at a time: peak memory does not grow with the log.
//! (Its own test binary, so that no other test's allocations share the process.)

use std::time::{Duration, SystemTime};

use s3dlio_oplog::{Op, OpLogReader, OpLogWriter, OpRecord, WriterOptions};

/// Peak resident set of this process, in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn write_log(path: &std::path::Path, rows: u64) {
    let mut w = OpLogWriter::create(path, WriterOptions::default()).unwrap();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for i in 0..rows {
        let start = t0 + Duration::from_micros(i);
        w.write(&OpRecord {
            idx: i,
            thread: "session-1".into(),
            op: if i % 10 == 0 { Op::Put } else { Op::Get },
            client_id: "worker".into(),
            n_objects: 1,
            bytes: 4096,
            endpoint: "s3://bucket".into(),
            file: format!("train/shard-{:04}/sample-{i:08}.npz", i % 1000),
            error: String::new(),
            start,
            first_byte: Some(start + Duration::from_micros(50)),
            end: start + Duration::from_micros(120),
        })
        .unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn reading_ten_times_more_rows_needs_no_more_memory() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.tsv.zst");
    let large = dir.path().join("large.tsv.zst");
    write_log(&small, 200_000);
    write_log(&large, 2_000_000);

    let count = |p: &std::path::Path| {
        OpLogReader::open(p)
            .unwrap()
            .map(|r| r.unwrap().bytes)
            .sum::<u64>()
    };
    assert_eq!(count(&small), 200_000 * 4096);
    let after_small = peak_rss_kib();
    assert_eq!(count(&large), 2_000_000 * 4096);
    let after_large = peak_rss_kib();
    // The large log is ~10x the rows (hundreds of MiB decoded); reading it must not raise the
    // peak by more than a few buffers.
    assert!(
        after_large <= after_small + 8 * 1024,
        "peak RSS grew from {after_small} KiB to {after_large} KiB reading 10x more rows"
    );
}
