//! `range`: what the RangeEngine buys where one connection is slow, and what it costs where
//! objects are small. Two daemons on the same SeaweedFS, engine on (the default) and off, read
//! through the test proxy, which adds 10 ms of round-trip time and lets each connection carry
//! one 1 MiB window per round trip (100 MB/s per stream, a typical per-connection rate from
//! cloud object storage). Rounds alternate between the two; medians are reported.
//!
//! Targets: a 256 MiB GET ≥ 4× faster with the engine; 1 MiB objects read 32 at a time no
//! slower with it (ratio ≥ 0.98).

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use bytes::Bytes;
use futures::StreamExt;

use s3dlio_bench::harness::{self, median, var, Daemon, Report};
use s3dlio_e2e::proxy::Proxy;

const MIB: usize = 1024 * 1024;
const ROUNDS: usize = 5;
const SMALL_OBJECTS: usize = 256;

fn daemon(endpoint: &str, engine: bool) -> Result<Daemon> {
    Daemon::start(&format!(
        "{}max_connections = 256\n[range_engine.s3]\nenabled = {engine}\n",
        harness::seaweed_s3(Some(endpoint))?
    ))
}

pub async fn run() -> Result<Report> {
    let proxy = Proxy::start(&var("S3DLIO_TEST_SEAWEED_ENDPOINT")?);
    let on = daemon(&proxy.endpoint(), true)?;
    let off = daemon(&proxy.endpoint(), false)?;
    let (c_on, c_off) = (on.client("bench-on").await?, off.client("bench-off").await?);
    let (s_on, s_off) = (
        c_on.attach(512 << 20).await?,
        c_off.attach(512 << 20).await?,
    );

    let bucket = format!("s3://bench-range-{}", std::process::id());
    c_on.create_bucket(&bucket).await?;
    let large = format!("{bucket}/large.bin");
    c_on.put(&large, Bytes::from(vec![7u8; 256 * MIB])).await?;
    let small: Vec<String> = (0..SMALL_OBJECTS)
        .map(|i| format!("{bucket}/small/{i:04}.bin"))
        .collect();
    let one = Bytes::from(vec![3u8; MIB]);
    for uri in &small {
        c_on.put(uri, one.clone()).await?;
    }

    proxy.shape(Duration::from_millis(10), MIB);
    let mut report = Report::new("range");
    let (mut large_on, mut large_off, mut small_on, mut small_off) =
        (vec![], vec![], vec![], vec![]);
    // Round 0 warms connections and caches and is not reported.
    for round in 0..=ROUNDS {
        for (shm, out, engine) in [
            (&s_off, &mut large_off, "off"),
            (&s_on, &mut large_on, "on"),
        ] {
            let t0 = Instant::now();
            let p = shm.get(&large).await?;
            ensure!(p.len() == 256 * MIB, "short read: {}", p.len());
            let gbps = p.len() as f64 / t0.elapsed().as_secs_f64() / 1e9;
            drop(p);
            println!("256 MiB GET, engine {engine}: {gbps:.3} GB/s");
            if round > 0 {
                out.push(gbps);
            }
        }
        for (shm, out) in [(&s_off, &mut small_off), (&s_on, &mut small_on)] {
            let t0 = Instant::now();
            let reqs = small
                .iter()
                .enumerate()
                .map(|(i, u)| (i as u64, u.clone(), None))
                .collect();
            let mut items = std::pin::pin!(shm.get_many(reqs, 32).await?);
            let mut n = 0;
            while let Some(item) = items.next().await {
                let p = item?.result?;
                ensure!(p.len() == MIB, "short read");
                n += 1;
            }
            ensure!(n == SMALL_OBJECTS, "got {n} objects");
            if round > 0 {
                out.push(n as f64 / t0.elapsed().as_secs_f64());
            }
        }
    }
    for (system, v) in [("engine_on", &large_on), ("engine_off", &large_off)] {
        for x in v.iter() {
            report.run("get_256MiB_rtt10ms", system, "throughput", *x, "GB/s");
        }
    }
    for (system, v) in [("engine_on", &small_on), ("engine_off", &small_off)] {
        for x in v.iter() {
            report.run(
                "get_many_1MiB_x32_rtt10ms",
                system,
                "objects_per_s",
                *x,
                "1/s",
            );
        }
    }
    report.ratio(
        "large_256MiB_engine_on_vs_single_stream",
        median(large_on) / median(large_off),
    );
    report.ratio(
        "small_1MiB_engine_on_vs_plain_get",
        median(small_on) / median(small_off),
    );
    Ok(report)
}
