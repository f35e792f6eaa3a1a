//! `python`: 8 PyTorch DataLoader workers read a dataset of 1 MiB objects and one of 64 KiB
//! objects, from the local S3 server (SeaweedFS) and from `file://` (warm page cache), through
//! `s3dlio_client` and, in the same run, through the libraries users would otherwise put in
//! every worker: the `s3dlio` package, `boto3` and `s3torchconnector` on S3, `s3dlio` and
//! plain `open().read()` on local files. One epoch per run, in `benches/python/loader.py`,
//! which also checks that every sample arrived once with its right bytes at both ends.
//!
//! Each system runs `REPS` times per workload, in an order that rotates each round; the
//! median is reported. Targets: s3dlio_client ≥ the best peer on every workload, and ≥ 1.5×
//! the s3dlio package on 64 KiB objects. `S3DLIO_BENCH_PYTHON_SCALE` (default 1.0) scales the
//! object counts, `S3DLIO_BENCH_PYTHON_REPS` (default 3) the repetitions.

use anyhow::{Context, Result};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use s3dlio_client::DeleteTarget;
use serde_json::Value;

use s3dlio_bench::harness::{self, median, Daemon, Report};

const SCRIPT: &str = "benches/python/loader.py";
/// The reference system on `file://`: plain `open().read()` in each worker (not a peer).
const PLAIN_READ: &str = "python";

struct Dataset {
    name: &'static str,
    size: usize,
    objects: usize,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v:?}")),
        Err(_) => Ok(default),
    }
}

/// Object `index` of a dataset: its index as 8 little-endian bytes at both ends, the rest the
/// same for all objects (content does not matter to any system measured).
fn object(body: &Bytes, index: usize) -> Bytes {
    let mut v = body.to_vec();
    let tag = (index as u64).to_le_bytes();
    v[..8].copy_from_slice(&tag);
    let n = v.len();
    v[n - 8..].copy_from_slice(&tag);
    Bytes::from(v)
}

async fn populate(client: &s3dlio_client::Client, prefix: &str, ds: &Dataset) -> Result<()> {
    let body = Bytes::from(
        (0..ds.size)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8)
            .collect::<Vec<u8>>(),
    );
    futures::stream::iter(0..ds.objects)
        .map(|i| {
            let data = object(&body, i);
            let uri = format!("{prefix}{i:06}");
            async move { client.put(&uri, data).await.map(|_| ()) }
        })
        .buffer_unordered(32)
        .try_collect::<()>()
        .await?;
    Ok(())
}

/// Seconds of one epoch of `system` over `prefix` (loader.py checks every sample).
fn epoch(system: &str, prefix: &str, ds: &Dataset, socket: &str) -> Result<f64> {
    let (objects, size) = (ds.objects.to_string(), ds.size.to_string());
    let line = harness::python(&[
        SCRIPT,
        "--system",
        system,
        "--uri",
        prefix,
        "--objects",
        &objects,
        "--size",
        &size,
        "--socket",
        socket,
    ])?;
    let v: Value = serde_json::from_str(&line)
        .with_context(|| format!("{SCRIPT} printed {line:?}, not its JSON line"))?;
    v["seconds"]
        .as_f64()
        .with_context(|| format!("seconds missing in {line}"))
}

pub async fn run() -> Result<Report> {
    let scale: f64 = env_or("S3DLIO_BENCH_PYTHON_SCALE", 1.0)?;
    let reps: usize = env_or("S3DLIO_BENCH_PYTHON_REPS", 3)?;
    let datasets = [
        Dataset {
            name: "1MiB",
            size: 1 << 20,
            objects: ((1024.0 * scale) as usize).max(16),
        },
        Dataset {
            name: "64KiB",
            size: 64 << 10,
            objects: ((8192.0 * scale) as usize).max(16),
        },
    ];
    let d = Daemon::start(&format!(
        "[file]\nroots = [\"{}\"]\n{}",
        std::env::temp_dir().canonicalize()?.display(),
        harness::seaweed_s3(None)?
    ))?;
    let socket = d.socket.display().to_string();
    let client = d.client("bench-python").await?;
    let bucket = format!("s3://bench-python-{}", std::process::id());
    client.create_bucket(&bucket).await?;

    let mut report = Report::new("python");
    let s3 = ["s3dlio_client", "s3dlio", "boto3", "s3torchconnector"];
    let file = ["s3dlio_client", "s3dlio", PLAIN_READ];
    for ds in &datasets {
        let files = d.path(&format!("data-{}/", ds.name));
        let workloads = [
            ("s3", format!("{bucket}/{}/", ds.name), &s3[..]),
            ("file", format!("file://{}", files.display()), &file[..]),
        ];
        for (backend, prefix, systems) in &workloads {
            populate(&client, prefix, ds).await?;
            let workload = format!("{}x{}_{backend}_8_workers", ds.objects, ds.name);
            println!("{workload}: {} systems, {reps} epochs each", systems.len());
            // loader.py fails the run unless every object arrived once, whole.
            let samples = ds.objects as f64;
            let bytes = (ds.objects * ds.size) as f64;
            let mut seconds = vec![Vec::new(); systems.len()];
            for rep in 0..reps {
                for k in 0..systems.len() {
                    let i = (k + rep) % systems.len();
                    let s = epoch(systems[i], prefix, ds, &socket)?;
                    println!(
                        "  {:<17} {:>9.0} samples/s {:>7.3} GB/s",
                        systems[i],
                        samples / s,
                        bytes / s / 1e9
                    );
                    seconds[i].push(s);
                }
            }
            let rates: Vec<(&str, f64)> = systems
                .iter()
                .zip(seconds)
                .map(|(system, secs)| (*system, samples / median(secs)))
                .collect();
            for &(system, rate) in &rates {
                report.run(&workload, system, "samples_per_s", rate, "1/s");
                report.run(
                    &workload,
                    system,
                    "gb_per_s",
                    rate * ds.size as f64 / 1e9,
                    "GB/s",
                );
            }
            let rate_of = |name: &str| rates.iter().find(|r| r.0 == name).map_or(0.0, |r| r.1);
            let ours = rate_of("s3dlio_client");
            let (best, best_rate) = rates
                .iter()
                .filter(|r| r.0 != "s3dlio_client" && r.0 != PLAIN_READ)
                .copied()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .context("no peer ran")?;
            report.ratio(format!("{workload}_vs_best_peer_{best}"), ours / best_rate);
            report.ratio(format!("{workload}_vs_s3dlio"), ours / rate_of("s3dlio"));
            if let Some(&(_, plain)) = rates.iter().find(|r| r.0 == PLAIN_READ) {
                // The physical reference, not a peer: open().read() in each worker.
                report.ratio(format!("{workload}_vs_plain_read"), ours / plain);
            }
        }
    }

    let mut progress = std::pin::pin!(
        client
            .delete(
                DeleteTarget::Prefix {
                    uri: format!("{bucket}/"),
                    pattern: None,
                },
                false,
            )
            .await?
    );
    while let Some(p) = progress.next().await {
        p?;
    }
    client.delete_bucket(&bucket).await?;
    Ok(report)
}
