//! `oplog start|stop|rotate|status`: the daemon's op-log writer.

use anyhow::Result;
use s3dlio_client::v1::OplogInfo;
use serde_json::json;

use crate::output::Out;

/// Prints the op-log's state, as `key: value` lines or one JSON document.
pub fn show(i: OplogInfo, out: &mut Out) -> Result<()> {
    if out.json {
        out.json_doc(&json!({
            "active": i.active, "path": i.path, "format": i.format, "zstd": i.zstd,
            "policy": i.policy, "accepted": i.accepted, "written": i.written, "dropped": i.dropped,
            "rows_in_file": i.rows_in_file, "rotations": i.rotations, "error": i.error,
        }))?;
        return Ok(());
    }
    out.line(format_args!(
        "active:       {}",
        if i.active { "yes" } else { "no" }
    ))?;
    out.line(format_args!(
        "path:         {}",
        if i.path.is_empty() { "-" } else { &i.path }
    ))?;
    out.line(format_args!(
        "format:       {}{}",
        i.format,
        if i.zstd { " (zstd)" } else { "" }
    ))?;
    out.line(format_args!("when full:    {}", i.policy))?;
    out.line(format_args!("accepted:     {}", i.accepted))?;
    out.line(format_args!("written:      {}", i.written))?;
    out.line(format_args!("dropped:      {}", i.dropped))?;
    out.line(format_args!("rows in file: {}", i.rows_in_file))?;
    out.line(format_args!("rotations:    {}", i.rotations))?;
    if !i.error.is_empty() {
        out.line(format_args!("error:        {}", i.error))?;
    }
    Ok(())
}
