//! The node's op-log: every operation of every session, one row each, written by one thread.
//!
//! Rows go through a bounded queue to a dedicated writer thread, so logging never does file I/O
//! on the data path. When the queue is full the configured policy applies: `block` (nothing is
//! lost; the operation waits for the writer) or `drop` (nothing waits; the row is counted as
//! dropped). Stopping, rotating, or shutting down the daemon flushes every accepted row and
//! closes the zstd frame: a finished log is always complete and readable. Rotation by size or age
//! renames `PATH` to `PATH.1` (older ones shift up to `keep`) and starts a new `PATH`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use s3dlio_oplog::{Format, OpLogWriter, OpRecord, WriterOptions};

use crate::metrics::Op;
use crate::sessions::Session;

/// How long the writer sleeps when the queue is empty.
const POLL: Duration = Duration::from_millis(2);
/// How often an idle writer flushes and checks rotation.
const IDLE_TICK: Duration = Duration::from_secs(1);

/// What to do with a row when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FullPolicy {
    /// The operation waits until the writer has room: no row is ever lost.
    #[default]
    Block,
    /// The row is dropped and counted; operations never wait.
    Drop,
}

/// `[oplog]` of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OplogConfig {
    /// Start logging to `path` when the daemon starts.
    pub enabled: bool,
    /// Default file for `enabled` and for `s3dlioctl oplog start` without a path.
    pub path: Option<PathBuf>,
    pub format: Format,
    /// zstd-compress (the usual `.tsv.zst`).
    pub zstd: bool,
    /// Rows the queue holds before `when_full` applies.
    pub queue: usize,
    pub when_full: FullPolicy,
    /// Rotate when the current file has this many bytes (compressed); 0: never.
    pub rotate_bytes: u64,
    /// Rotate when the current file is this old; absent: never.
    #[serde(with = "humantime_serde")]
    pub rotate_age: Option<Duration>,
    /// Rotated files kept (`PATH.1` ... `PATH.keep`); older ones are removed.
    pub keep: usize,
}

impl Default for OplogConfig {
    fn default() -> Self {
        OplogConfig {
            enabled: false,
            path: None,
            format: Format::Tsv,
            zstd: true,
            queue: 65_536,
            when_full: FullPolicy::Block,
            rotate_bytes: 0,
            rotate_age: None,
            keep: 10,
        }
    }
}

/// Why an op-log could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum OplogError {
    #[error("oplog: no path given and oplog.path is not configured")]
    NoPath,
    #[error("oplog: already writing to {0}; stop it first")]
    AlreadyActive(PathBuf),
    #[error("oplog: not active")]
    NotActive,
    #[error("oplog: cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One finished operation, as the data path hands it over: fields moved, nothing formatted.
#[derive(Debug)]
pub struct PendingRow {
    pub session: Arc<Session>,
    pub op: Op,
    pub target: String,
    pub objects: u64,
    pub bytes: u64,
    pub error: Option<String>,
    pub start: SystemTime,
    pub first_byte: Option<SystemTime>,
    pub end: SystemTime,
}

impl PendingRow {
    /// The op-log row (runs on the writer's thread).
    fn into_record(self, idx: u64) -> OpRecord {
        let (endpoint, file) = split_uri(&self.target);
        OpRecord {
            idx,
            thread: format!("session-{}", self.session.id),
            op: self.op.oplog_op(),
            client_id: self.session.name(),
            n_objects: self.objects,
            bytes: self.bytes,
            endpoint,
            file,
            error: self.error.unwrap_or_default(),
            start: self.start,
            first_byte: self.first_byte,
            end: self.end,
        }
    }
}

enum Msg {
    Row(Box<PendingRow>),
    Rotate(mpsc::SyncSender<Result<(), String>>),
}

/// Counters shared with the writer thread.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    rows_in_file: AtomicU64,
    rotations: AtomicU64,
    error: Mutex<String>,
}

struct Active {
    tx: SyncSender<Msg>,
    thread: std::thread::JoinHandle<()>,
    path: PathBuf,
    options: WriterOptions,
}

/// A point-in-time view for `Admin.OplogStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OplogStatus {
    pub active: bool,
    pub path: Option<PathBuf>,
    pub format: Format,
    pub zstd: bool,
    pub policy: FullPolicy,
    pub accepted: u64,
    pub written: u64,
    pub dropped: u64,
    pub rows_in_file: u64,
    pub rotations: u64,
    pub error: String,
}

/// The daemon's op-log.
pub struct OpLog {
    config: OplogConfig,
    active: AtomicBool,
    /// Read-locked on every row, write-locked only to start and stop.
    state: RwLock<Option<Active>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for OpLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpLog")
            .field("active", &self.is_active())
            .finish()
    }
}

impl OpLog {
    pub fn new(config: OplogConfig) -> Self {
        OpLog {
            config,
            active: AtomicBool::new(false),
            state: RwLock::new(None),
            counters: Arc::default(),
        }
    }

    /// Cheap check for the data path: build a row only when this is true.
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Queues one row (its `idx` is assigned by the writer), following the full-queue policy.
    pub fn log(&self, row: PendingRow) {
        let state = self.state.read();
        let Some(active) = state.as_ref() else { return };
        let msg = Msg::Row(Box::new(row));
        let sent = match self.config.when_full {
            FullPolicy::Drop => match active.tx.try_send(msg) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            },
            FullPolicy::Block => {
                let tx = active.tx.clone();
                drop(state); // never hold the lock while waiting for room
                tx.send(msg).is_ok()
            }
        };
        let counter = if sent {
            &self.counters.accepted
        } else {
            &self.counters.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Starts writing to `path` (or the configured path).
    ///
    /// # Errors
    /// No path, already active, or the file cannot be created.
    pub fn start(
        &self,
        path: Option<PathBuf>,
        format: Option<Format>,
        zstd: Option<bool>,
    ) -> Result<OplogStatus, OplogError> {
        let path = path
            .or_else(|| self.config.path.clone())
            .ok_or(OplogError::NoPath)?;
        let mut state = self.state.write();
        if let Some(a) = state.as_ref() {
            return Err(OplogError::AlreadyActive(a.path.clone()));
        }
        let options = WriterOptions {
            format: format.unwrap_or(self.config.format),
            zstd: zstd.unwrap_or(self.config.zstd),
            level: 1,
        };
        let writer = OpLogWriter::create(&path, options).map_err(|source| OplogError::Io {
            path: path.clone(),
            source,
        })?;
        let (tx, rx) = mpsc::sync_channel(self.config.queue.max(1));
        self.counters.rows_in_file.store(0, Ordering::Relaxed);
        self.counters.error.lock().clear();
        let rotation = Rotation {
            path: path.clone(),
            options,
            bytes: self.config.rotate_bytes,
            age: self.config.rotate_age,
            keep: self.config.keep,
        };
        let counters = self.counters.clone();
        let thread = std::thread::Builder::new()
            .name("s3dliod-oplog".into())
            .spawn(move || write_loop(writer, rx, rotation, counters))
            .map_err(|source| OplogError::Io {
                path: path.clone(),
                source,
            })?;
        tracing::info!(path = %path.display(), format = ?options.format, zstd = options.zstd, "op-log started");
        *state = Some(Active {
            tx,
            thread,
            path,
            options,
        });
        self.active.store(true, Ordering::Release);
        drop(state);
        Ok(self.status())
    }

    /// Flushes every accepted row, closes the file, and stops logging. Blocks until done.
    ///
    /// # Errors
    /// Not active.
    pub fn stop(&self) -> Result<OplogStatus, OplogError> {
        let active = {
            let mut state = self.state.write();
            self.active.store(false, Ordering::Release);
            state.take().ok_or(OplogError::NotActive)?
        };
        let Active {
            tx, thread, path, ..
        } = active;
        drop(tx); // the writer drains the queue, finishes the file, and exits
        let _ = thread.join();
        tracing::info!(path = %path.display(), written = self.counters.written.load(Ordering::Relaxed), "op-log stopped");
        let mut status = self.status();
        status.path = Some(path);
        Ok(status)
    }

    /// Closes the current file (complete) into `PATH.1` and starts a new `PATH`.
    ///
    /// # Errors
    /// Not active, or the rotation failed.
    pub fn rotate(&self) -> Result<OplogStatus, OplogError> {
        let (tx, path) = {
            let state = self.state.read();
            let a = state.as_ref().ok_or(OplogError::NotActive)?;
            (a.tx.clone(), a.path.clone())
        };
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        let io = |reason: String| OplogError::Io {
            path: path.clone(),
            source: std::io::Error::other(reason),
        };
        tx.send(Msg::Rotate(ack_tx))
            .map_err(|_| io("the writer has stopped".into()))?;
        ack_rx
            .recv()
            .map_err(|_| io("the writer has stopped".into()))?
            .map_err(io)?;
        Ok(self.status())
    }

    pub fn status(&self) -> OplogStatus {
        let state = self.state.read();
        let c = &self.counters;
        OplogStatus {
            active: state.is_some(),
            path: state
                .as_ref()
                .map(|a| a.path.clone())
                .or_else(|| self.config.path.clone()),
            format: state
                .as_ref()
                .map_or(self.config.format, |a| a.options.format),
            zstd: state.as_ref().map_or(self.config.zstd, |a| a.options.zstd),
            policy: self.config.when_full,
            accepted: c.accepted.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            rows_in_file: c.rows_in_file.load(Ordering::Relaxed),
            rotations: c.rotations.load(Ordering::Relaxed),
            error: c.error.lock().clone(),
        }
    }

    /// Starts logging at daemon start if the configuration says so.
    ///
    /// # Errors
    /// As [`OpLog::start`].
    pub fn start_configured(&self) -> Result<(), OplogError> {
        if self.config.enabled {
            self.start(None, None, None)?;
        }
        Ok(())
    }
}

struct Rotation {
    path: PathBuf,
    options: WriterOptions,
    bytes: u64,
    age: Option<Duration>,
    keep: usize,
}

impl Rotation {
    /// Finishes `writer`, shifts `PATH` → `PATH.1` → ... and opens a new `PATH`.
    fn rotate(&self, writer: OpLogWriter) -> std::io::Result<OpLogWriter> {
        writer.finish()?;
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(self.keep));
            for n in (1..self.keep).rev() {
                let from = numbered(n);
                if from.exists() {
                    std::fs::rename(&from, numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        OpLogWriter::create(&self.path, self.options)
    }

    fn due(&self, opened: Instant) -> bool {
        let too_big = self.bytes > 0
            && std::fs::metadata(&self.path)
                .map(|m| m.len() >= self.bytes)
                .unwrap_or(false);
        let too_old = self.age.is_some_and(|a| opened.elapsed() >= a);
        too_big || too_old
    }
}

fn write_loop(
    writer: OpLogWriter,
    rx: mpsc::Receiver<Msg>,
    rotation: Rotation,
    counters: Arc<Counters>,
) {
    let fail = |e: std::io::Error| {
        let msg = format!("{}: {e}", rotation.path.display());
        tracing::error!(error = %msg, "op-log writer failed; rows are now dropped");
        *counters.error.lock() = msg;
    };
    // `None` only in the middle of a rotation.
    let mut slot = Some(writer);
    let mut idx = 0u64;
    let mut opened = Instant::now();
    let mut last_tick = Instant::now();
    loop {
        // Polling, not blocking in recv: a parked receiver would make nearly every sender on
        // the data path pay a futex wake-up. Rows wait at most POLL in the queue.
        let msg = match rx.try_recv() {
            Ok(m) => Ok(m),
            Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
            Err(TryRecvError::Empty) => {
                std::thread::sleep(POLL);
                if last_tick.elapsed() < IDLE_TICK {
                    continue;
                }
                last_tick = Instant::now();
                Err(RecvTimeoutError::Timeout)
            }
        };
        let idle = matches!(msg, Err(RecvTimeoutError::Timeout));
        let result = match msg {
            Ok(Msg::Row(row)) => {
                let row = row.into_record(idx);
                idx += 1;
                let r = slot
                    .as_mut()
                    .expect("writer present between rotations")
                    .write(&row);
                if r.is_ok() {
                    counters.written.fetch_add(1, Ordering::Relaxed);
                    counters.rows_in_file.fetch_add(1, Ordering::Relaxed);
                }
                r
            }
            Ok(Msg::Rotate(ack)) => {
                let r = rotate(&mut slot, &rotation, &counters);
                if r.is_ok() {
                    idx = 0;
                    opened = Instant::now();
                }
                let _ = ack.send(r.as_ref().map(|_| ()).map_err(|e| e.to_string()));
                r
            }
            Err(RecvTimeoutError::Timeout) => slot
                .as_mut()
                .expect("writer present between rotations")
                .flush(),
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Err(e) = result {
            fail(e);
            return;
        }
        // Size and age are checked on idle ticks and every 4096 rows, not on each row.
        // A file without rows is never rotated (its header alone may exceed a small limit).
        if idx > 0 && (idle || idx.is_multiple_of(4096)) && rotation.due(opened) {
            let flushed = slot
                .as_mut()
                .expect("writer present between rotations")
                .flush();
            if let Err(e) = flushed.and_then(|()| rotate(&mut slot, &rotation, &counters)) {
                fail(e);
                return;
            }
            idx = 0;
            opened = Instant::now();
        }
    }
    if let Some(Err(e)) = slot.map(OpLogWriter::finish) {
        fail(e);
    }
}

/// Rotates the file in `slot`; the new file's rows count from 0 again.
fn rotate(
    slot: &mut Option<OpLogWriter>,
    rotation: &Rotation,
    counters: &Counters,
) -> std::io::Result<()> {
    let current = slot.take().expect("writer present between rotations");
    *slot = Some(rotation.rotate(current)?);
    counters.rows_in_file.store(0, Ordering::Relaxed);
    counters.rotations.fetch_add(1, Ordering::Relaxed);
    tracing::info!(path = %rotation.path.display(), "op-log rotated");
    Ok(())
}

/// Splits a URI as s3dlio's op-log does: `endpoint` is the scheme and bucket (`s3://b`,
/// `az://acct/container`, or `file://` for local files), `file` the rest (a key, or an absolute
/// path for local files). A URI that does not parse is kept whole in `file`.
fn split_uri(uri: &str) -> (String, String) {
    match s3dlio_store::Location::parse(uri) {
        Ok(l) if l.scheme.is_local() => (
            format!("{}://", uri.split("://").next().unwrap_or("file")),
            l.key,
        ),
        Ok(l) => {
            let endpoint = l.root_uri();
            (endpoint, l.key)
        }
        Err(_) => (String::new(), uri.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::split_uri;

    #[test]
    fn uris_split_into_endpoint_and_file_as_s3dlio_writes_them() {
        assert_eq!(
            split_uri("file:///data/x.bin"),
            ("file://".into(), "/data/x.bin".into())
        );
        assert_eq!(
            split_uri("direct:///d/y"),
            ("direct://".into(), "/d/y".into())
        );
        assert_eq!(
            split_uri("s3://bucket/a/b"),
            ("s3://bucket".into(), "a/b".into())
        );
        assert_eq!(
            split_uri("az://acct/c/k"),
            ("az://acct/c".into(), "k".into())
        );
        assert_eq!(split_uri("nonsense"), (String::new(), "nonsense".into()));
    }
}
