//! `s3dlioctl oplog cat|stats|replay`: tools over op-log files, streaming them row by row.

mod cat;
mod control;
mod replay;
mod stats;

use std::path::Path;
use std::time::SystemTime;

use anyhow::{anyhow, Context, Result};
use regex::Regex;
use s3dlio_client::Client;
use s3dlio_oplog::{parse_time, Op, OpLogReader, OpRecord};

use crate::cli::{OplogCommand, OplogFilter};
use crate::output::Out;

use super::CLIENT_NAME;

/// Runs one `oplog` subcommand.
///
/// # Errors
/// An unreadable log, a bad filter, or (replay) a daemon error.
pub async fn run(command: OplogCommand, socket: Option<&Path>, out: &mut Out) -> Result<()> {
    let client = || async { Client::connect(socket, Some(CLIENT_NAME)).await };
    match command {
        OplogCommand::Start(a) => {
            let path = a
                .path
                .as_deref()
                .map(absolute)
                .transpose()?
                .unwrap_or_default();
            control::show(
                client()
                    .await?
                    .oplog_start(&path, &a.format, a.plain)
                    .await?,
                out,
            )
        }
        OplogCommand::Stop => control::show(client().await?.oplog_stop().await?, out),
        OplogCommand::Rotate => control::show(client().await?.oplog_rotate().await?, out),
        OplogCommand::Status => control::show(client().await?.oplog_status().await?, out),
        OplogCommand::Cat(a) => cat::cat(&a.file, &Filter::new(&a.filter)?, out),
        OplogCommand::Stats(a) => stats::stats(&a.file, &Filter::new(&a.filter)?, a.interval, out),
        OplogCommand::Replay(a) => {
            replay::replay(&client().await?, &a, &Filter::new(&a.filter)?, out).await
        }
    }
}

/// A parsed [`OplogFilter`].
#[derive(Debug, Default)]
pub struct Filter {
    ops: Vec<Op>,
    client: Option<Regex>,
    uri: Option<Regex>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
}

impl Filter {
    fn new(f: &OplogFilter) -> Result<Self> {
        let regex = |name: &str, re: &Option<String>| {
            re.as_deref()
                .map(|r| {
                    Regex::new(r).with_context(|| format!("--{name} {r:?} is not a valid regex"))
                })
                .transpose()
        };
        let time = |name: &str, t: &Option<String>| {
            t.as_deref()
                .map(|s| {
                    parse_time(s).ok_or_else(|| anyhow!("--{name} {s:?} is not an RFC 3339 time"))
                })
                .transpose()
        };
        Ok(Filter {
            ops: f
                .ops
                .iter()
                .map(|o| o.parse().unwrap_or_else(|e| match e {}))
                .collect(),
            client: regex("client", &f.client)?,
            uri: regex("uri", &f.uri)?,
            since: time("since", &f.since)?,
            until: time("until", &f.until)?,
        })
    }

    /// True when the row passes every filter.
    pub fn keeps(&self, r: &OpRecord) -> bool {
        (self.ops.is_empty() || self.ops.contains(&r.op))
            && self
                .client
                .as_ref()
                .is_none_or(|re| re.is_match(&r.client_id))
            && self.uri.as_ref().is_none_or(|re| re.is_match(&r.uri()))
            && self.since.is_none_or(|t| r.start >= t)
            && self.until.is_none_or(|t| r.start < t)
    }
}

/// The rows of `file` that pass `filter`; unreadable rows end the command with their line.
fn rows<'a>(
    file: &Path,
    filter: &'a Filter,
) -> Result<impl Iterator<Item = Result<OpRecord>> + 'a> {
    let reader = OpLogReader::open(file)?;
    Ok(reader.filter_map(move |row| match row {
        Ok(r) if filter.keeps(&r) => Some(Ok(r)),
        Ok(_) => None,
        Err(e) => Some(Err(e.into())),
    }))
}

/// The daemon opens the file itself: a relative path is made absolute against our directory.
fn absolute(p: &Path) -> Result<String> {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    abs.to_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{} is not valid UTF-8", abs.display()))
}
