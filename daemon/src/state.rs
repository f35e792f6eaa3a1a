//! The daemon's shared state, and the per-request guard that counts in-flight work, records
//! metrics, and lets a drain wait for the last operation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{watch, Notify};
use tonic::{Request, Status};

use s3dlio_store::{Caller, Registry};

use crate::config::Config;
use crate::metrics::{Metrics, Op};
use crate::oplog::{OpLog, PendingRow};
use crate::peer::PeerInfo;
use crate::sessions::{Session, Sessions};
use crate::shm::{ArenaBudget, Tokens};

/// Everything the services share.
#[derive(Debug)]
pub struct Daemon {
    pub config: Config,
    pub registry: Registry,
    pub metrics: Metrics,
    pub sessions: Arc<Sessions>,
    pub socket: PathBuf,
    pub started_at: SystemTime,
    /// Every shared-memory arena of the node, for the `[shm] max_total` cap.
    pub arenas: Arc<ArenaBudget>,
    /// Attach tokens waiting to be redeemed on the side socket.
    pub tokens: Tokens,
    started: Instant,
    draining: AtomicBool,
    in_flight: AtomicU64,
    idle: Notify,
    /// Set to true to stop the daemon (SIGTERM, SIGINT or `Admin.Shutdown`).
    shutdown: watch::Sender<bool>,
    /// Health turns NOT_SERVING while draining.
    health: watch::Sender<bool>,
    /// One trace of every operation of every session.
    pub oplog: OpLog,
}

impl Daemon {
    pub fn new(config: Config, registry: Registry, socket: PathBuf) -> Self {
        let oplog = OpLog::new(config.oplog.clone());
        Daemon {
            oplog,
            config,
            registry,
            metrics: Metrics::default(),
            sessions: Arc::new(Sessions::default()),
            socket,
            started_at: SystemTime::now(),
            arenas: Arc::default(),
            tokens: Tokens::default(),
            started: Instant::now(),
            draining: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            idle: Notify::new(),
            shutdown: watch::channel(false).0,
            health: watch::channel(true).0,
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Acquire)
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Starts a data operation for `request`: checks that the caller is allowed and that the
    /// daemon is not draining, names the session from the client's header, and returns the
    /// guard that records the operation when dropped.
    ///
    /// # Errors
    /// `PERMISSION_DENIED` for a peer outside `allowed_uids`/`allowed_gids`, `UNAVAILABLE`
    /// while draining.
    pub fn begin<T>(
        self: &Arc<Self>,
        request: &Request<T>,
        op: Op,
    ) -> Result<(OpGuard, Caller), Status> {
        let (session, caller) = self.admit_data(request, op)?;
        Ok((self.guard(session, op), caller))
    }

    /// Admits a data call without starting an operation, for calls that count their items
    /// as operations of their own (GetMany items, Delete keys).
    ///
    /// # Errors
    /// As [`Daemon::begin`].
    pub fn admit_data<T>(
        &self,
        request: &Request<T>,
        op: Op,
    ) -> Result<(Arc<Session>, Caller), Status> {
        let peer = self.admit(request)?;
        if self.is_draining() {
            return Err(Status::unavailable(format!(
                "{}: s3dliod is draining and takes no new operations",
                op.name()
            )));
        }
        Ok((peer.session.clone(), peer.caller.clone()))
    }

    /// Checks that the caller may use the daemon at all and names its session from the
    /// client's header; every call, admin ones included, goes through here.
    ///
    /// # Errors
    /// `PERMISSION_DENIED` for a peer outside `allowed_uids`/`allowed_gids`.
    pub fn admit<'r, T>(&self, request: &'r Request<T>) -> Result<&'r PeerInfo, Status> {
        let peer = request
            .extensions()
            .get::<PeerInfo>()
            .ok_or_else(|| Status::internal("request without connection info"))?;
        self.authorize(peer)?;
        peer.session.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(name) = request
            .metadata()
            .get(s3dlio_proto::CLIENT_NAME_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            peer.session.set_name(name);
        }
        Ok(peer)
    }

    /// The guard alone, for work inside an already admitted call (GetMany items...).
    pub fn guard(self: &Arc<Self>, session: Arc<Session>, op: Op) -> OpGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        session.in_flight.fetch_add(1, Ordering::Relaxed);
        OpGuard {
            daemon: self.clone(),
            session,
            op,
            start: Instant::now(),
            start_wall: SystemTime::now(),
            first_byte: None,
            target: String::new(),
            objects: 1,
            bytes: 0,
            error: None,
        }
    }

    fn authorize(&self, peer: &PeerInfo) -> Result<(), Status> {
        let (uids, gids) = (&self.config.allowed_uids, &self.config.allowed_gids);
        if uids.is_empty() && gids.is_empty() {
            return Ok(());
        }
        let allowed = match &peer.caller {
            Caller::Local(id) => {
                uids.contains(&id.uid)
                    || gids.contains(&id.gid)
                    || id.groups.iter().any(|g| gids.contains(g))
            }
            Caller::Remote | Caller::Daemon => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "session {} ({}) is not in allowed_uids/allowed_gids of this s3dliod",
                peer.session.id,
                peer.session.name()
            )))
        }
    }

    /// Stops new data operations and waits until none is in flight or `deadline` passes;
    /// returns how many are still running.
    pub async fn drain(&self, deadline: Duration) -> u64 {
        self.draining.store(true, Ordering::Release);
        self.health.send_replace(false);
        let wait = async {
            loop {
                let notified = self.idle.notified();
                if self.in_flight() == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(deadline, wait).await;
        self.in_flight()
    }

    /// Asks the server to stop (it drains first).
    pub fn request_shutdown(&self) {
        // send_replace, not send: send drops the value when nobody has subscribed yet, and a
        // signal right after start-up would then be lost.
        self.shutdown.send_replace(true);
    }

    /// Resolves when a shutdown has been requested.
    pub async fn shutdown_requested(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Watch of the serving state, for the health service.
    pub fn health(&self) -> watch::Receiver<bool> {
        self.health.subscribe()
    }
}

/// One operation in flight; when dropped, records its latency, bytes and outcome in the metrics
/// and, when the op-log is on, as one op-log row.
#[derive(Debug)]
pub struct OpGuard {
    daemon: Arc<Daemon>,
    session: Arc<Session>,
    op: Op,
    start: Instant,
    start_wall: SystemTime,
    first_byte: Option<SystemTime>,
    /// The URI the operation is about (empty until known).
    target: String,
    objects: u64,
    bytes: u64,
    /// The one-line error, if the operation failed.
    error: Option<String>,
}

impl OpGuard {
    /// Counts payload bytes that crossed the client connection (read for gets, written for
    /// puts) in both the operation's metrics and the session's counters.
    pub fn add_bytes(&mut self, n: u64, inbound: bool) {
        self.bytes += n;
        self.add_session_bytes(n, inbound);
    }

    /// Counts bytes on the session's connection only (the operation's own byte count is set
    /// with [`OpGuard::set_bytes`]).
    pub fn add_session_bytes(&self, n: u64, inbound: bool) {
        let counter = if inbound {
            &self.session.bytes_in
        } else {
            &self.session.bytes_out
        };
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the operation's byte count (for puts: the object size written, generated or not).
    pub fn set_bytes(&mut self, n: u64) {
        self.bytes = n;
    }

    /// Marks the operation failed, with the one-line reason the client sees.
    pub fn fail(&mut self, reason: impl std::fmt::Display) {
        if self.error.is_none() {
            self.error = Some(reason.to_string());
        }
    }

    /// Marks it failed when `result` is an error, passing the result through.
    pub fn check<T, E: std::fmt::Display>(&mut self, result: Result<T, E>) -> Result<T, E> {
        if let Err(e) = &result {
            self.fail(e);
        }
        result
    }

    /// Names the URI the operation is about.
    pub fn target(&mut self, uri: &str) {
        uri.clone_into(&mut self.target);
    }

    /// Notes that the first payload byte is available now (only the first call counts).
    pub fn first_byte(&mut self) {
        self.first_byte.get_or_insert_with(SystemTime::now);
    }

    /// How many objects the operation covered (a listing's entries).
    pub fn objects(&mut self, n: u64) {
        self.objects = n;
    }

    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }
}

impl Drop for OpGuard {
    fn drop(&mut self) {
        let latency = self.start.elapsed();
        self.daemon
            .metrics
            .record(self.op, latency, self.bytes, self.error.is_some());
        if self.daemon.oplog.is_active() {
            // Only moves fields: the row is built and formatted on the writer's thread.
            self.daemon.oplog.log(PendingRow {
                session: self.session.clone(),
                op: self.op,
                target: std::mem::take(&mut self.target),
                objects: self.objects,
                bytes: self.bytes,
                error: self.error.take(),
                start: self.start_wall,
                first_byte: self.first_byte,
                end: self.start_wall + latency,
            });
        }
        self.session.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.daemon.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.daemon.idle.notify_waiters();
        }
    }
}
