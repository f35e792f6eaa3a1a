//! `oplog replay`: runs a log's operations through the daemon on the recorded timeline.
//!
//! Two streaming passes, so memory stays bounded whatever the log's size: the first finds the
//! earliest start (rows are written as operations finish, so starts are not in order), the
//! second launches each row at `(start - earliest) / speed` after the replay began, with at
//! most `--concurrency` in flight. A row whose time has passed (the semaphore was full, or the
//! row came late in the file) starts at once; the worst such lag is reported.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Result};
use futures::StreamExt;
use hdrhistogram::Histogram;
use s3dlio_client::{Client, DeleteTarget};
use s3dlio_oplog::{Op, OpRecord};
use serde_json::json;
use std::sync::Mutex;
use tokio::sync::Semaphore;

use super::{rows, Filter};
use crate::cli::OplogReplayArgs;
use crate::output::{elapsed, latency_us, Align, Out, Table};

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

#[derive(Default)]
struct Latencies {
    recorded: BTreeMap<String, Histogram<u64>>,
    replayed: BTreeMap<String, Histogram<u64>>,
    failed: u64,
    /// Rows that failed when recorded and failed again: faithful, not counted as failures.
    failed_as_recorded: u64,
    first_error: Option<String>,
    max_lag: Duration,
}

impl Latencies {
    fn record(&mut self, op: &str, recorded_ns: u64, replayed: Duration) {
        let rec = (recorded_ns / 1000).clamp(1, 3_600_000_000);
        let rep = (replayed.as_micros() as u64).clamp(1, 3_600_000_000);
        self.recorded
            .entry(op.to_string())
            .or_insert_with(histogram)
            .saturating_record(rec);
        self.replayed
            .entry(op.to_string())
            .or_insert_with(histogram)
            .saturating_record(rep);
    }
}

/// `FROM=TO` rules, first match wins.
fn retarget_rules(args: &[String]) -> Result<Vec<(String, String)>> {
    args.iter()
        .map(|a| {
            a.split_once('=')
                .filter(|(from, _)| !from.is_empty())
                .map(|(f, t)| (f.to_string(), t.to_string()))
                .ok_or_else(|| {
                    anyhow!("--retarget {a:?} must be FROM=TO, e.g. s3://a/=file:///data/a/")
                })
        })
        .collect()
}

fn retarget(uri: String, rules: &[(String, String)]) -> String {
    for (from, to) in rules {
        if let Some(rest) = uri.strip_prefix(from.as_str()) {
            return format!("{to}{rest}");
        }
    }
    uri
}

pub async fn replay(
    client: &Client,
    args: &OplogReplayArgs,
    filter: &Filter,
    out: &mut Out,
) -> Result<()> {
    let rules = retarget_rules(&args.retarget)?;
    let mut earliest: Option<SystemTime> = None;
    let mut total = 0u64;
    for row in rows(&args.file, filter)? {
        let r = row?;
        total += 1;
        earliest = Some(earliest.map_or(r.start, |e| e.min(r.start)));
    }
    let Some(earliest) = earliest else {
        bail!("{}: no rows to replay (after filters)", args.file.display());
    };

    let permits = Arc::new(Semaphore::new(args.concurrency as usize));
    let stats = Arc::new(Mutex::new(Latencies::default()));
    let mut tasks = tokio::task::JoinSet::new();
    let began = Instant::now();
    let (mut replayed, mut skipped) = (0u64, 0u64);
    for row in rows(&args.file, filter)? {
        let r = row?;
        if matches!(r.op, Op::Other(_)) {
            skipped += 1;
            continue;
        }
        if !args.continue_on_error {
            if let Some(e) = stats.lock().expect("stats lock").first_error.clone() {
                bail!(e);
            }
        }
        let offset = r
            .start
            .duration_since(earliest)
            .unwrap_or_default()
            .div_f64(args.speed);
        tokio::time::sleep_until((began + offset).into()).await;
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        let lag = began.elapsed().saturating_sub(offset);
        let (client, stats, uri) = (client.clone(), stats.clone(), retarget(r.uri(), &rules));
        replayed += 1;
        tasks.spawn(async move {
            let t0 = Instant::now();
            let result = execute(&client, &r, &uri).await;
            let took = t0.elapsed();
            drop(permit);
            let mut s = stats.lock().expect("stats lock");
            s.max_lag = s.max_lag.max(lag);
            match result {
                Ok(()) => s.record(r.op.as_str(), r.duration_ns(), took),
                Err(_) if !r.error.is_empty() => s.failed_as_recorded += 1,
                Err(e) => {
                    s.failed += 1;
                    s.first_error.get_or_insert_with(|| {
                        format!("replay row {} ({} {uri}): {e}", r.idx, r.op)
                    });
                }
            }
        });
        // Reap finished tasks as we go so the set stays as small as the concurrency.
        while let Some(done) = tasks.try_join_next() {
            done?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done?;
    }
    let seconds = began.elapsed();
    let s = stats.lock().expect("stats lock");
    if !args.continue_on_error {
        if let Some(e) = &s.first_error {
            bail!(e.clone());
        }
    }
    report(out, &s, total, replayed, skipped, seconds)?;
    if s.failed > 0 {
        bail!(
            "replay: {} of {replayed} operations failed; first: {}",
            s.failed,
            s.first_error.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

/// Runs one row against the daemon. Payloads are drained, never kept.
async fn execute(client: &Client, r: &OpRecord, uri: &str) -> s3dlio_client::Result<()> {
    match r.op {
        Op::Get => {
            let (_, mut body) = client.get_stream(uri, None).await?;
            while let Some(chunk) = body.next().await {
                chunk?;
            }
        }
        Op::Put => {
            client.put_generated(uri, r.bytes, r.idx).await?;
        }
        Op::List => {
            let mut entries = client.list(uri, true, None).await?;
            while let Some(e) = entries.next().await {
                e?;
            }
        }
        Op::Stat => {
            client.stat(uri).await?;
        }
        Op::Delete => {
            let mut progress = client
                .delete(DeleteTarget::Objects(vec![uri.to_string()]), false)
                .await?;
            while let Some(p) = progress.next().await {
                let p = p?;
                if let Some(e) = p.errors.into_iter().next() {
                    return Err(s3dlio_client::Error::Status {
                        code: tonic::Code::from_i32(e.code),
                        message: e.message,
                    });
                }
            }
        }
        Op::CreateBucket => client.create_bucket(uri).await?,
        Op::DeleteBucket => client.delete_bucket(uri).await?,
        Op::Other(_) => {}
    }
    Ok(())
}

fn report(
    out: &mut Out,
    s: &Latencies,
    rows: u64,
    replayed: u64,
    skipped: u64,
    seconds: Duration,
) -> Result<()> {
    let p = |h: Option<&Histogram<u64>>, q: f64| h.map_or(0, |h| h.value_at_quantile(q));
    if out.json {
        let ops: Vec<_> = s
            .replayed
            .iter()
            .map(|(op, rep)| {
                let rec = s.recorded.get(op);
                json!({
                    "op": op, "count": rep.len(),
                    "recorded_p50_us": p(rec, 0.5), "replayed_p50_us": rep.value_at_quantile(0.5),
                    "recorded_p99_us": p(rec, 0.99), "replayed_p99_us": rep.value_at_quantile(0.99),
                })
            })
            .collect();
        out.json_doc(&json!({
            "rows": rows, "replayed": replayed, "failed": s.failed, "skipped": skipped,
            "failed_as_recorded": s.failed_as_recorded,
            "seconds": seconds.as_secs_f64(), "max_lag_ms": s.max_lag.as_secs_f64() * 1e3, "ops": ops,
        }))?;
        return Ok(());
    }
    let mut table = Table::new(&[
        ("OP", Align::Left),
        ("COUNT", Align::Right),
        ("REC P50", Align::Right),
        ("REPLAY P50", Align::Right),
        ("REC P99", Align::Right),
        ("REPLAY P99", Align::Right),
    ]);
    for (op, rep) in &s.replayed {
        let rec = s.recorded.get(op);
        table.row(vec![
            op.clone(),
            rep.len().to_string(),
            latency_us(p(rec, 0.5) as f64),
            latency_us(rep.value_at_quantile(0.5) as f64),
            latency_us(p(rec, 0.99) as f64),
            latency_us(rep.value_at_quantile(0.99) as f64),
        ]);
    }
    out.text(&table.render())?;
    out.line(format_args!(
        "replayed {replayed} of {rows} rows ({skipped} skipped, {} failed, {} failed as recorded) in {}, max lag {}",
        s.failed,
        s.failed_as_recorded,
        elapsed(seconds),
        elapsed(s.max_lag)
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retarget_rewrites_the_first_matching_prefix() {
        let rules =
            retarget_rules(&["s3://a/=az://acct/c/".into(), "s3://=file:///data/".into()]).unwrap();
        assert_eq!(retarget("s3://a/x/y".into(), &rules), "az://acct/c/x/y");
        assert_eq!(retarget("s3://b/z".into(), &rules), "file:///data/b/z");
        assert_eq!(retarget("gs://b/z".into(), &rules), "gs://b/z");
        assert!(retarget_rules(&["no-equals".into()]).is_err());
        assert!(retarget_rules(&["=x".into()]).is_err());
    }
}
