//! `s3dlioctl`, the admin CLI of s3dliod: parse the command line, run it, and turn the
//! outcome into an exit status with at most one line `s3dlioctl: <message>` on stderr.
//!
//! Everything else lives in [`cmd::run`]; Ctrl-C drops the running command (so a download's
//! temporary file is removed) and exits 130.

mod cli;
mod cmd;
mod output;
mod progress;
mod size;
mod uri;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            result = cmd::run(cli) => Some(result),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    // Do not wait for blocking file I/O that an interrupted command left behind.
    runtime.shutdown_background();
    match outcome {
        Some(Ok(())) => ExitCode::SUCCESS,
        Some(Err(e)) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Some(Err(e)) => fail(&e),
        None => {
            eprintln!("s3dlioctl: interrupted");
            ExitCode::from(130)
        }
    }
}

/// Prints the error as one line and returns failure.
fn fail(e: &anyhow::Error) -> ExitCode {
    let message = format!("{e:#}").replace('\n', " ");
    eprintln!("s3dlioctl: {message}");
    ExitCode::FAILURE
}

/// `s3dlioctl ls … | head`: the reader left, which is not an error worth a message.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
