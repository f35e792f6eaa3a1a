//! `s3dlio-bench NAME`: runs one benchmark and writes `benches/results/NAME.json`.
//! Called by `benches/run.sh`, which builds everything in release mode first.

mod delete;
mod oplog;
mod python;
mod range;

use anyhow::{bail, Result};

#[tokio::main]
async fn main() -> Result<()> {
    let name = std::env::args().nth(1).unwrap_or_default();
    let report = match name.as_str() {
        "delete" => delete::run().await?,
        "oplog" => oplog::run().await?,
        "python" => python::run().await?,
        "range" => range::run().await?,
        other => bail!("unknown benchmark {other:?}; known: delete, oplog, python, range"),
    };
    report.save_and_print()
}
