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

use s3dlio_bench::harness::{self, median, var, Daemon, Report};

const SCRIPT: &str = "benches/python/loader.py";

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

/// One epoch of `system` over `prefix`: (samples, bytes, seconds).
fn epoch(system: &str, prefix: &str, ds: &Dataset, socket: &str) -> Result<(f64, f64, f64)> {
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
    let f = |k: &str| {
        v[k].as_f64()
            .with_context(|| format!("{k} missing in {line}"))
    };
    Ok((f("samples")?, f("bytes")?, f("seconds")?))
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
        r#"
        [file]
        roots = ["{root}"]
        [s3]
        endpoint = "{endpoint}"
        region = "us-east-1"
        force_path_style = true
        access_key_id = "{key}"
        secret_access_key = "{secret}"
        "#,
        root = std::env::temp_dir().canonicalize()?.display(),
        endpoint = var("S3DLIO_TEST_SEAWEED_ENDPOINT")?,
        key = var("S3DLIO_TEST_S3_ACCESS_KEY")?,
        secret = var("S3DLIO_TEST_S3_SECRET_KEY")?,
    ))?;
    let socket = d.socket.display().to_string();
    let client = d.client("bench-python").await?;
    let bucket = format!("s3://bench-python-{}", std::process::id());
    client.create_bucket(&bucket).await?;

    let mut report = Report::new("python");
    let s3 = ["s3dlio_client", "s3dlio", "boto3", "s3torchconnector"];
    let file = ["s3dlio_client", "s3dlio", "python"];
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
            let mut seconds = vec![Vec::new(); systems.len()];
            let (mut samples, mut bytes) = (0.0, 0.0);
            for rep in 0..reps {
                for k in 0..systems.len() {
                    let i = (k + rep) % systems.len();
                    let (n, b, s) = epoch(systems[i], prefix, ds, &socket)?;
                    println!(
                        "  {:<17} {:>9.0} samples/s {:>7.3} GB/s",
                        systems[i],
                        n / s,
                        b / s / 1e9
                    );
                    (samples, bytes) = (n, b);
                    seconds[i].push(s);
                }
            }
            let mut best_peer = (String::new(), 0.0_f64);
            let mut ours = 0.0;
            let mut seed = 0.0;
            for (system, secs) in systems.iter().zip(seconds) {
                let s = median(secs);
                report.run(&workload, system, "samples_per_s", samples / s, "1/s");
                report.run(&workload, system, "gb_per_s", bytes / s / 1e9, "GB/s");
                match *system {
                    "s3dlio_client" => ours = samples / s,
                    other => {
                        if other == "s3dlio" {
                            seed = samples / s;
                        }
                        if samples / s > best_peer.1 {
                            best_peer = (other.to_string(), samples / s);
                        }
                    }
                }
            }
            report.ratio(
                format!("{workload}_vs_best_peer_{}", best_peer.0),
                ours / best_peer.1,
            );
            report.ratio(format!("{workload}_vs_s3dlio"), ours / seed);
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
