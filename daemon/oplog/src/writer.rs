//! Writing an op-log: s3dlio's TSV (header exactly as s3dlio writes it) or JSON lines, through
//! a zstd frame or plain. [`OpLogWriter::finish`] closes the frame: a finished log is always a
//! complete, readable file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::record::{escape, format_time, OpRecord};

/// s3dlio's op-log header, in order.
pub const HEADER: [&str; 13] = [
    "idx",
    "thread",
    "op",
    "client_id",
    "n_objects",
    "bytes",
    "endpoint",
    "file",
    "error",
    "start",
    "first_byte",
    "end",
    "duration_ns",
];

/// Row format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Tab-separated, s3dlio's header; tabs and newlines inside fields are escaped.
    #[default]
    Tsv,
    /// One JSON object per line, keys named as the TSV header.
    Jsonl,
}

/// How to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    pub format: Format,
    /// zstd-compress (the usual `.tsv.zst`).
    pub zstd: bool,
    /// zstd level (1 is fast and already shrinks logs ~10×).
    pub level: i32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            format: Format::Tsv,
            zstd: true,
            level: 1,
        }
    }
}

enum Sink {
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
    Plain(BufWriter<File>),
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Zstd(e) => e,
            Sink::Plain(w) => w,
        }
    }
}

/// An open op-log file.
pub struct OpLogWriter {
    sink: Sink,
    format: Format,
    rows: u64,
    line: String,
}

impl std::fmt::Debug for OpLogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpLogWriter")
            .field("format", &self.format)
            .field("rows", &self.rows)
            .finish()
    }
}

#[derive(Serialize)]
struct JsonRow<'a> {
    idx: u64,
    thread: &'a str,
    op: &'a str,
    client_id: &'a str,
    n_objects: u64,
    bytes: u64,
    endpoint: &'a str,
    file: &'a str,
    error: &'a str,
    start: String,
    first_byte: Option<String>,
    end: String,
    duration_ns: u64,
}

impl OpLogWriter {
    /// Creates (truncates) `path` and writes the header (TSV).
    ///
    /// # Errors
    /// The file cannot be created or written.
    pub fn create(path: &Path, options: WriterOptions) -> io::Result<Self> {
        let file = BufWriter::with_capacity(256 * 1024, File::create(path)?);
        let sink = if options.zstd {
            Sink::Zstd(zstd::Encoder::new(file, options.level)?)
        } else {
            Sink::Plain(file)
        };
        let mut w = OpLogWriter {
            sink,
            format: options.format,
            rows: 0,
            line: String::with_capacity(512),
        };
        if w.format == Format::Tsv {
            let header = HEADER.join("\t") + "\n";
            w.sink.writer().write_all(header.as_bytes())?;
        }
        Ok(w)
    }

    /// Appends one row.
    ///
    /// # Errors
    /// The underlying write failed.
    pub fn write(&mut self, r: &OpRecord) -> io::Result<()> {
        self.line.clear();
        match self.format {
            Format::Tsv => {
                use std::fmt::Write as _;
                let first_byte = r.first_byte.map(format_time).unwrap_or_default();
                let _ = writeln!(
                    self.line,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.idx,
                    escape(&r.thread),
                    escape(r.op.as_str()),
                    escape(&r.client_id),
                    r.n_objects,
                    r.bytes,
                    escape(&r.endpoint),
                    escape(&r.file),
                    escape(&r.error),
                    format_time(r.start),
                    first_byte,
                    format_time(r.end),
                    r.duration_ns()
                );
            }
            Format::Jsonl => {
                let row = JsonRow {
                    idx: r.idx,
                    thread: &r.thread,
                    op: r.op.as_str(),
                    client_id: &r.client_id,
                    n_objects: r.n_objects,
                    bytes: r.bytes,
                    endpoint: &r.endpoint,
                    file: &r.file,
                    error: &r.error,
                    start: format_time(r.start),
                    first_byte: r.first_byte.map(format_time),
                    end: format_time(r.end),
                    duration_ns: r.duration_ns(),
                };
                self.line = serde_json::to_string(&row).map_err(io::Error::other)?;
                self.line.push('\n');
            }
        }
        self.sink.writer().write_all(self.line.as_bytes())?;
        self.rows += 1;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes buffered rows to the file (the zstd frame stays open).
    ///
    /// # Errors
    /// The underlying write failed.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Zstd(e) => {
                e.flush()?;
                e.get_mut().flush()
            }
            Sink::Plain(w) => w.flush(),
        }
    }

    /// Closes the zstd frame, flushes and syncs the file.
    ///
    /// # Errors
    /// The underlying write or sync failed.
    pub fn finish(self) -> io::Result<()> {
        let file = match self.sink {
            Sink::Zstd(e) => e.finish()?,
            Sink::Plain(w) => w,
        };
        file.into_inner().map_err(|e| e.into_error())?.sync_all()
    }
}
