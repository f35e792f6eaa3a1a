//! `s3dlio-bench NAME`: runs one benchmark and writes `benches/results/NAME.json`.
//! Called by `benches/run.sh`, which builds everything in release mode first.

mod oplog;

use anyhow::{bail, Result};

#[tokio::main]
async fn main() -> Result<()> {
    let name = std::env::args().nth(1).unwrap_or_default();
    let report = match name.as_str() {
        "oplog" => oplog::run().await?,
        other => bail!("unknown benchmark {other:?}; known: oplog"),
    };
    report.save_and_print()
}
