//! The commands: one module per group, each taking a connected [`Client`] and the parsed
//! arguments and printing through [`Out`].
//!
//! [`run`] is the whole program after argument parsing; `main` only builds the runtime and
//! turns its error into an exit status.

pub(crate) mod admin;
mod bucket;
mod get;
mod ls;
mod oplog;
mod put;
mod rm;

use std::path::Path;

use anyhow::Result;
use clap::CommandFactory;
use s3dlio_client::Client;

use crate::cli::{Cli, Command};
use crate::output::Out;

/// Name the daemon shows for our session in `s3dlioctl sessions`.
const CLIENT_NAME: &str = "s3dlioctl";

/// Runs one parsed command line.
///
/// # Errors
/// Anything that should end the program with a non-zero status, its message already one line
/// (daemon errors read `get file:///x: not found (...)`).
pub async fn run(cli: Cli) -> Result<()> {
    let mut out = Out::new(cli.json);
    dispatch(cli.socket.as_deref(), cli.command, &mut out).await?;
    out.flush()?;
    Ok(())
}

/// Connects only for the commands that talk to the daemon (not `completions`).
async fn dispatch(socket: Option<&Path>, command: Command, out: &mut Out) -> Result<()> {
    let client = || async { Client::connect(socket, Some(CLIENT_NAME)).await };
    match command {
        Command::Status(a) => admin::status(&client().await?, a, out).await,
        Command::Sessions => admin::sessions(&client().await?, out).await,
        Command::Stats(a) => admin::stats(&client().await?, a, out).await,
        Command::Drain(a) => admin::drain(&client().await?, a, out).await,
        Command::Shutdown(a) => admin::shutdown(&client().await?, a, out).await,
        Command::Ls(a) => ls::ls(&client().await?, a, out).await,
        Command::Stat(a) => ls::stat(&client().await?, a, out).await,
        Command::Get(a) => get::get(&client().await?, a, out).await,
        Command::Put(a) => put::put(&client().await?, a, out).await,
        Command::Rm(a) => rm::rm(&client().await?, a, out).await,
        Command::Mb(a) => bucket::mb(&client().await?, a, out).await,
        Command::Oplog(c) => oplog::run(c, socket, out).await,
        Command::Rb(a) => bucket::rb(&client().await?, a, out).await,
        Command::Completions(a) => {
            let mut buf = Vec::new();
            clap_complete::generate(a.shell, &mut Cli::command(), "s3dlioctl", &mut buf);
            Ok(out.bytes(&buf)?)
        }
    }
}
