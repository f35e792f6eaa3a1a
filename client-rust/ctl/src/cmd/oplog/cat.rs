//! `oplog cat`: the rows, decoded, one per line.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use s3dlio_oplog::format_time;
use serde_json::json;

use super::{rows, Filter};
use crate::output::{elapsed, Out};

pub fn cat(file: &Path, filter: &Filter, out: &mut Out) -> Result<()> {
    for row in rows(file, filter)? {
        let r = row?;
        if out.json {
            out.json_line(&json!({
                "idx": r.idx,
                "thread": r.thread,
                "op": r.op.as_str(),
                "client_id": r.client_id,
                "n_objects": r.n_objects,
                "bytes": r.bytes,
                "endpoint": r.endpoint,
                "file": r.file,
                "uri": r.uri(),
                "error": r.error,
                "start": format_time(r.start),
                "first_byte": r.first_byte.map(format_time),
                "end": format_time(r.end),
                "duration_ns": r.duration_ns(),
            }))?;
        } else {
            let error = if r.error.is_empty() {
                String::new()
            } else {
                format!("  ERROR {}", r.error)
            };
            out.line(format_args!(
                "{:>8} {:<6} {:>12} {:>9} {} {} {}{}",
                r.idx,
                r.op.as_str(),
                r.bytes,
                elapsed(Duration::from_nanos(r.duration_ns())),
                format_time(r.start),
                if r.client_id.is_empty() {
                    "-"
                } else {
                    &r.client_id
                },
                r.uri(),
                error
            ))?;
        }
    }
    Ok(())
}
