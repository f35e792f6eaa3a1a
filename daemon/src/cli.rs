//! Command line of `s3dliod`, and the entry point the binary calls.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::config::{Config, FlagOverrides, LogFormat, LogOverrides};

/// s3dliod: per-node storage I/O daemon for AI training.
///
/// Serves S3, Azure Blob, GCS and local files to every process of the node over a Unix
/// socket. Configuration: defaults < TOML file < S3DLIOD_* environment < these flags.
#[derive(Debug, Parser)]
#[command(name = "s3dliod", version, about, long_about)]
pub struct Cli {
    /// TOML config file [default: /etc/s3dliod/config.toml if it exists]
    #[arg(long, short = 'c', env = "S3DLIOD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Unix socket to listen on (also S3DLIOD_SOCKET)
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Also listen on this TCP address (off by default; local files are not served over TCP)
    #[arg(long, value_name = "ADDR")]
    pub tcp_listen: Option<SocketAddr>,
    /// Log format
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// Log level filter (e.g. info, debug, s3dliod=debug)
    #[arg(long)]
    pub log_level: Option<String>,
    /// Print the effective configuration as TOML and exit
    #[arg(long)]
    pub print_config: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormatArg {
    Human,
    Json,
}

impl Cli {
    fn overrides(&self) -> FlagOverrides {
        let log = (self.log_format.is_some() || self.log_level.is_some()).then(|| LogOverrides {
            format: self.log_format.map(|f| match f {
                LogFormatArg::Human => LogFormat::Human,
                LogFormatArg::Json => LogFormat::Json,
            }),
            level: self.log_level.clone(),
        });
        FlagOverrides {
            socket: self.socket.clone(),
            tcp_listen: self.tcp_listen,
            log,
        }
    }
}

/// Loads the configuration, starts logging and the runtime, and runs the daemon.
///
/// # Errors
/// Anything that stops the daemon from starting or serving, as one message.
pub fn main_with(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref(), &cli.overrides())?;
    if cli.print_config {
        print!("{}", config.to_toml());
        return Ok(());
    }
    crate::logging::init(&config.log)?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all().thread_name("s3dliod");
    if config.runtime_threads > 0 {
        runtime.worker_threads(config.runtime_threads);
    }
    runtime.build()?.block_on(crate::server::run(config))
}
