//! s3dliod: the per-node storage I/O daemon.
//!
//! `main` only parses flags and calls [`cli::main_with`]; everything else is here so that it
//! can be tested through [`server::run`]. Dependencies point one way: this crate uses the
//! proto and store crates; nothing of ours depends on it.

pub mod cli;
pub mod config;
mod convert;
mod generate;
pub mod logging;
pub mod metrics;
pub mod oplog;
mod peer;
pub mod server;
mod service;
pub mod sessions;
pub mod shm;
pub mod socket;
pub mod state;
mod status;
