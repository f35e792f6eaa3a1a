//! The op-log: one trace of every storage operation on a node, in s3dlio's format.
//!
//! [`OpRecord`] is a row; [`OpLogWriter`] writes rows as zstd-compressed (or plain) TSV with
//! s3dlio's exact header, or as JSON lines; [`OpLogReader`] streams rows back from any of those,
//! detecting compression and format from the content, with constant memory whatever the size.
//! This crate depends on none of the project's others.

mod columns;
mod reader;
mod record;
mod writer;

pub use reader::{OpLogReader, ReadError};
pub use record::{escape, format_time, parse_time, unescape, Op, OpRecord};
pub use writer::{Format, OpLogWriter, WriterOptions, HEADER};
