//! `oplog`: the small-object rate through the daemon with the op-log off and on, alternating in
//! one run (target: at most 3 % slower with it on).

use std::time::Instant;

use anyhow::{ensure, Result};
use futures::StreamExt;

use s3dlio_bench::harness::{median, Daemon, Report};

const OBJECTS: usize = 20_000;
const SIZE: usize = 4096;
const ROUNDS: usize = 5;

pub async fn run() -> Result<Report> {
    let d = Daemon::start("")?;
    let data = d.path("data");
    std::fs::create_dir_all(&data)?;
    let payload = vec![7u8; SIZE];
    let uris: Vec<String> = (0..OBJECTS)
        .map(|i| {
            let p = data.join(format!("obj-{i:06}"));
            std::fs::write(&p, &payload).expect("write object");
            format!("file://{}", p.display())
        })
        .collect();
    let client = d.client("bench").await?;
    let log = d.path("bench.tsv.zst");
    // Warm the page cache and the daemon.
    rate(&client, &uris).await?;

    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        off.push(rate(&client, &uris).await?);
        client
            .oplog_start(log.to_str().unwrap_or_default(), "tsv", false)
            .await?;
        on.push(rate(&client, &uris).await?);
        let status = client.oplog_stop().await?;
        ensure!(
            status.dropped == 0 && status.written == status.accepted,
            "op-log lost rows: {status:?}"
        );
    }
    let mut report = Report::new("oplog");
    for (system, samples) in [("s3dliod_oplog_off", &off), ("s3dliod_oplog_on", &on)] {
        for s in samples.iter() {
            report.run("get_many_4KiB_file", system, "objects_per_s", *s, "1/s");
        }
    }
    let (off, on) = (median(off), median(on));
    report.ratio("small_object_rate_oplog_on_vs_off", on / off);
    println!("4 KiB GetMany, {OBJECTS} objects x {ROUNDS} rounds: off {off:.0}/s, on {on:.0}/s (medians)");
    Ok(report)
}

/// Objects per second of one GetMany over every object.
async fn rate(client: &s3dlio_client::Client, uris: &[String]) -> Result<f64> {
    let t0 = Instant::now();
    let mut items = std::pin::pin!(client.get_many(uris.to_vec(), 64).await?);
    let mut n = 0usize;
    while let Some(item) = items.next().await {
        let item = item?;
        ensure!(item.result.is_ok(), "get failed: {:?}", item.result.err());
        n += 1;
    }
    ensure!(n == uris.len(), "got {n} of {} objects", uris.len());
    Ok(n as f64 / t0.elapsed().as_secs_f64())
}
