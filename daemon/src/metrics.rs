//! Per-operation counters and latency histograms (HDR, 1 µs to 1 hour, 3 significant digits),
//! read by `Admin.Stats`.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// Operations the daemon counts, one row each in `s3dlioctl stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    Put,
    List,
    Stat,
    Delete,
    CreateBucket,
    DeleteBucket,
}

impl Op {
    pub const ALL: [Op; 7] = [
        Op::Get,
        Op::Put,
        Op::List,
        Op::Stat,
        Op::Delete,
        Op::CreateBucket,
        Op::DeleteBucket,
    ];

    /// The operation's name in the op-log (s3dlio's names: stat is `HEAD`).
    pub fn oplog_op(self) -> s3dlio_oplog::Op {
        use s3dlio_oplog::Op as L;
        match self {
            Op::Get => L::Get,
            Op::Put => L::Put,
            Op::List => L::List,
            Op::Stat => L::Stat,
            Op::Delete => L::Delete,
            Op::CreateBucket => L::CreateBucket,
            Op::DeleteBucket => L::DeleteBucket,
        }
    }

    /// Stable metric name of the operation.
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Put => "put",
            Op::List => "list",
            Op::Stat => "stat",
            Op::Delete => "delete",
            Op::CreateBucket => "create_bucket",
            Op::DeleteBucket => "delete_bucket",
        }
    }
}

const MAX_LATENCY_US: u64 = 3_600_000_000;

#[derive(Debug)]
struct OpCounters {
    count: u64,
    errors: u64,
    bytes: u64,
    latency_us: Histogram<u64>,
}

impl OpCounters {
    fn new() -> Self {
        OpCounters {
            count: 0,
            errors: 0,
            bytes: 0,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("static histogram bounds are valid"),
        }
    }
}

/// One row of `Admin.Stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpSnapshot {
    pub op: &'static str,
    pub count: u64,
    pub errors: u64,
    pub bytes: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

/// Counters of every operation since start or the last reset.
#[derive(Debug)]
pub struct Metrics {
    ops: [Mutex<OpCounters>; Op::ALL.len()],
    since: Mutex<Instant>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            ops: std::array::from_fn(|_| Mutex::new(OpCounters::new())),
            since: Mutex::new(Instant::now()),
        }
    }
}

impl Metrics {
    /// Records one finished operation.
    pub fn record(&self, op: Op, latency: Duration, bytes: u64, error: bool) {
        let us = (latency.as_micros() as u64).clamp(1, MAX_LATENCY_US);
        let mut c = self.ops[op as usize].lock();
        c.count += 1;
        c.bytes += bytes;
        c.errors += u64::from(error);
        c.latency_us.saturating_record(us);
    }

    /// Rows for every operation seen, and the window they cover; `reset` zeroes everything.
    pub fn snapshot(&self, reset: bool) -> (Vec<OpSnapshot>, Duration) {
        let mut since = self.since.lock();
        let window = since.elapsed();
        let rows = Op::ALL
            .iter()
            .filter_map(|&op| {
                let mut c = self.ops[op as usize].lock();
                let row = (c.count > 0).then(|| {
                    let h = &c.latency_us;
                    OpSnapshot {
                        op: op.name(),
                        count: c.count,
                        errors: c.errors,
                        bytes: c.bytes,
                        mean_us: h.mean(),
                        p50_us: h.value_at_quantile(0.50),
                        p90_us: h.value_at_quantile(0.90),
                        p99_us: h.value_at_quantile(0.99),
                        p999_us: h.value_at_quantile(0.999),
                        max_us: h.max(),
                    }
                });
                if reset {
                    *c = OpCounters::new();
                }
                row
            })
            .collect();
        if reset {
            *since = Instant::now();
        }
        (rows, window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_recorded_latencies() {
        let m = Metrics::default();
        for us in 1..=1000u64 {
            m.record(Op::Get, Duration::from_micros(us), 10, us % 100 == 0);
        }
        m.record(Op::Put, Duration::from_millis(5), 7, false);
        let (rows, _) = m.snapshot(false);
        let get = rows.iter().find(|r| r.op == "get").unwrap();
        assert_eq!((get.count, get.errors, get.bytes), (1000, 10, 10_000));
        assert!((499..=501).contains(&get.p50_us), "{}", get.p50_us);
        assert!((989..=991).contains(&get.p99_us), "{}", get.p99_us);
        assert_eq!(get.max_us, 1000);
        assert!(
            rows.iter().all(|r| r.op != "list"),
            "unused ops are not shown"
        );

        let (_, _) = m.snapshot(true);
        assert!(m.snapshot(false).0.is_empty(), "reset zeroes every counter");
    }
}
