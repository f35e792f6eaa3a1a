//! Writes a synthetic op-log of N rows, to measure the tools on large logs:
//! `cargo run --release -p s3dlio-oplog --example synthetic_log -- PATH ROWS`.

use std::time::{Duration, SystemTime};

use s3dlio_oplog::{Op, OpLogWriter, OpRecord, WriterOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: synthetic_log PATH ROWS";
    let path = args.next().ok_or(usage)?;
    let rows: u64 = args.next().ok_or(usage)?.parse()?;
    let mut w = OpLogWriter::create(path.as_ref(), WriterOptions::default())?;
    let t0 = SystemTime::now();
    for i in 0..rows {
        let start = t0 + Duration::from_micros(i * 10);
        w.write(&OpRecord {
            idx: i,
            thread: format!("session-{}", i % 64),
            op: match i % 20 {
                0 => Op::Put,
                1 => Op::Stat,
                _ => Op::Get,
            },
            client_id: format!("worker-{}", i % 64),
            n_objects: 1,
            bytes: 4096 + (i % 7) * 1024,
            endpoint: "s3://bucket".into(),
            file: format!("train/shard-{:04}/sample-{i:09}.npz", i % 1000),
            error: if i % 10_000 == 0 {
                "get s3://bucket/x: not found".into()
            } else {
                String::new()
            },
            start,
            first_byte: Some(start + Duration::from_micros(40 + i % 50)),
            end: start + Duration::from_micros(100 + i % 400),
        })?;
    }
    w.finish()?;
    Ok(())
}
