//! `delete`: a prefix of 100,000 objects deleted from the local S3 server (SeaweedFS) through
//! s3dliod, and in the same run by the seed's own tool, the `s3dlio` Python package
//! (`s3dlio.delete(prefix, recursive=True)`). Both datasets are written first by `s3dlio.put`,
//! each in its own bucket; the two deletes then run one after the other, and both buckets are
//! checked empty afterwards.
//!
//! Target: s3dliod ≥ 2× faster. `S3DLIO_BENCH_DELETE_OBJECTS` changes the count.

use std::time::Instant;

use anyhow::{ensure, Result};
use futures::StreamExt;
use s3dlio_client::DeleteTarget;

use s3dlio_bench::harness::{self, Daemon, Report};

/// Runs `script` in the Python that has the `s3dlio` package, pointed at SeaweedFS.
fn python(script: &str) -> Result<String> {
    harness::python(&["-c", script])
}

/// Writes `n` small objects below `prefix` with `s3dlio.put` (its generated-objects call).
fn populate(bucket: &str, prefix: &str, n: usize) -> Result<()> {
    let t0 = Instant::now();
    python(&format!(
        "import s3dlio\ns3dlio.create_bucket({bucket:?})\n\
         s3dlio.put({prefix:?}, {n}, template='obj-{{}}', size=64, max_in_flight=128)"
    ))?;
    println!(
        "wrote {n} objects below {prefix} in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn remaining(prefix: &str) -> Result<usize> {
    Ok(python(&format!(
        "import s3dlio\nprint(len(s3dlio.list({prefix:?}, recursive=True)))"
    ))?
    .parse()?)
}

pub async fn run() -> Result<Report> {
    let n: usize = std::env::var("S3DLIO_BENCH_DELETE_OBJECTS")
        .ok()
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(100_000);
    let d = Daemon::start(&harness::seaweed_s3(None)?)?;
    let client = d.client("bench-delete").await?;
    let id = std::process::id();
    let (b_seed, b_ours) = (
        format!("bench-del-seed-{id}"),
        format!("bench-del-ours-{id}"),
    );
    let (p_seed, p_ours) = (
        format!("s3://{b_seed}/data/"),
        format!("s3://{b_ours}/data/"),
    );
    populate(&b_seed, &p_seed, n)?;
    populate(&b_ours, &p_ours, n)?;

    let seed_s: f64 = python(&format!(
        "import s3dlio, time\nt = time.perf_counter()\n\
         s3dlio.delete({p_seed:?}, recursive=True)\nprint(time.perf_counter() - t)"
    ))?
    .parse()?;
    println!("s3dlio.delete: {n} objects in {seed_s:.2} s");

    let t0 = Instant::now();
    let mut progress = std::pin::pin!(
        client
            .delete(
                DeleteTarget::Prefix {
                    uri: p_ours.clone(),
                    pattern: None,
                },
                false,
            )
            .await?
    );
    let (mut deleted, mut failed) = (0, 0);
    while let Some(p) = progress.next().await {
        let p = p?;
        (deleted, failed) = (p.deleted, p.failed);
    }
    let ours_s = t0.elapsed().as_secs_f64();
    println!("s3dliod Delete: {deleted} objects in {ours_s:.2} s ({failed} failed)");
    ensure!(
        deleted as usize == n && failed == 0,
        "s3dliod deleted {deleted} of {n}, {failed} failed"
    );
    for prefix in [&p_seed, &p_ours] {
        let left = remaining(prefix)?;
        ensure!(left == 0, "{left} objects left below {prefix}");
    }

    let mut report = Report::new("delete");
    let workload = format!("delete_prefix_{n}_objects_s3_seaweedfs");
    report.run(
        &workload,
        "s3dlio_python_0.10.0",
        "objects_per_s",
        n as f64 / seed_s,
        "1/s",
    );
    report.run(
        &workload,
        "s3dliod",
        "objects_per_s",
        n as f64 / ours_s,
        "1/s",
    );
    report.ratio("delete_s3dliod_vs_s3dlio", seed_s / ours_s);
    Ok(report)
}
