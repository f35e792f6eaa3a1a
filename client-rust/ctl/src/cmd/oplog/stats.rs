//! `oplog stats`: per-operation counts, bytes, errors and latency percentiles (HDR histogram),
//! and throughput over time, from one streaming pass. The per-operation rows are the same
//! `OpStats` that `s3dlioctl stats` shows for the live daemon, rendered by the same code.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use hdrhistogram::Histogram;
use s3dlio_client::v1::OpStats;
use serde_json::json;

use super::{rows, Filter};
use crate::cmd::admin::{op_stats_json, op_stats_table};
use crate::output::{human_bytes, Align, Out, Table};

/// Latencies in microseconds, up to one hour, 3 significant digits (as the daemon keeps them).
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

struct OpTotals {
    row: OpStats,
    latency: Histogram<u64>,
}

pub fn stats(file: &Path, filter: &Filter, interval: Duration, out: &mut Out) -> Result<()> {
    let mut ops: BTreeMap<String, OpTotals> = BTreeMap::new();
    let mut timeline: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let bucket_ns = interval.as_nanos().max(1) as u64;
    let (mut first, mut last) = (None::<SystemTime>, None::<SystemTime>);
    let mut total = 0u64;
    for row in rows(file, filter)? {
        let r = row?;
        total += 1;
        let t = ops
            .entry(r.op.as_str().to_string())
            .or_insert_with(|| OpTotals {
                row: OpStats {
                    op: r.op.as_str().to_string(),
                    ..Default::default()
                },
                latency: histogram(),
            });
        t.row.count += 1;
        t.row.bytes += r.bytes;
        t.row.errors += u64::from(!r.error.is_empty());
        t.latency
            .saturating_record((r.duration_ns() / 1000).clamp(1, 3_600_000_000));
        first = Some(first.map_or(r.start, |f| f.min(r.start)));
        last = Some(last.map_or(r.end, |l| l.max(r.end)));
        let since_epoch = r
            .start
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        let slot = timeline.entry(since_epoch / bucket_ns).or_default();
        slot.0 += 1;
        slot.1 += r.bytes;
    }
    let span = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f).unwrap_or_default(),
        _ => Duration::ZERO,
    };
    let base = timeline.keys().next().copied().unwrap_or(0);
    let rows: Vec<OpStats> = ops
        .into_values()
        .map(|t| {
            let h = &t.latency;
            OpStats {
                mean_us: h.mean(),
                p50_us: h.value_at_quantile(0.5),
                p90_us: h.value_at_quantile(0.9),
                p99_us: h.value_at_quantile(0.99),
                p999_us: h.value_at_quantile(0.999),
                max_us: h.max(),
                ..t.row
            }
        })
        .collect();

    if out.json {
        let timeline: Vec<_> = timeline
            .iter()
            .map(|(slot, (n, b))| json!({"offset_ms": (slot - base) * bucket_ns / 1_000_000, "ops": n, "bytes": b}))
            .collect();
        out.json_doc(&json!({
            "rows": total,
            "span_ms": span.as_millis() as u64,
            "ops": op_stats_json(&rows),
            "timeline": timeline,
        }))?;
        return Ok(());
    }
    out.line(format_args!(
        "{total} rows over {:.3} s",
        span.as_secs_f64()
    ))?;
    out.text(&op_stats_table(&rows))?;
    out.line(format_args!(
        "\nthroughput per {}:",
        humantime::format_duration(interval)
    ))?;
    let mut t = Table::new(&[
        ("OFFSET", Align::Right),
        ("OPS", Align::Right),
        ("BYTES", Align::Right),
    ]);
    for (slot, (n, b)) in &timeline {
        let offset = Duration::from_nanos((slot - base) * bucket_ns);
        t.row(vec![
            format!("{:.3}s", offset.as_secs_f64()),
            n.to_string(),
            human_bytes(*b),
        ]);
    }
    out.text(&t.render())?;
    Ok(())
}
