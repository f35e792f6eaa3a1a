//! `mb` and `rb`: create and delete buckets, containers or directories.
//!
//! Creating one that exists is fine (the daemon's rule); deleting one that is not empty fails
//! with the daemon's FAILED_PRECONDITION message.

use anyhow::Result;
use serde_json::json;

use s3dlio_client::Client;

use crate::cli::UriArg;
use crate::output::Out;

pub async fn mb(client: &Client, args: UriArg, out: &mut Out) -> Result<()> {
    client.create_bucket(&args.uri).await?;
    if out.json {
        out.json_doc(&json!({ "uri": args.uri, "created": true }))?;
    } else {
        out.line(format_args!("created {}", args.uri))?;
    }
    Ok(())
}

pub async fn rb(client: &Client, args: UriArg, out: &mut Out) -> Result<()> {
    client.delete_bucket(&args.uri).await?;
    if out.json {
        out.json_doc(&json!({ "uri": args.uri, "removed": true }))?;
    } else {
        out.line(format_args!("removed {}", args.uri))?;
    }
    Ok(())
}
