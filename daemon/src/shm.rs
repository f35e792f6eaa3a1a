//! Shared-memory delivery, daemon side: `Attach` gives a session an arena, the side socket
//! hands its memory files to the client, and [`ShmReserve`] lets a backend write a payload
//! straight into arena space reserved before the payload is read.
//!
//! Lifetimes: a session's arena lives as long as its connection; in-flight fetches hold it
//! until they finish or notice the client is gone, then the memory files are closed and the
//! kernel frees them once the client has unmapped them too (or died). Nothing is named in the
//! file system besides the side socket next to the main one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tonic::Status;

use s3dlio_proto::v1;
use s3dlio_shm::{Arena, Lease, ShmError, Slice};
use s3dlio_store::{Caller, Destination, Reserve, TryReserve};

use crate::peer::PeerInfo;
use crate::sessions::{Session, Transport};
use crate::state::Daemon;

/// How long an attach token stays valid.
const TOKEN_TTL: Duration = Duration::from_secs(10);
/// Most attach tokens waiting to be used at once (older ones are dropped first).
const MAX_TOKENS: usize = 4096;
/// How long the side socket waits for a client to send its token.
const TOKEN_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a fetch waiting for arena space looks at the release ring again.
const SPACE_POLL: Duration = Duration::from_micros(500);

/// Node-wide accounting of arenas, for the `[shm] max_total` cap and `Admin.Status`.
#[derive(Debug, Default)]
pub struct ArenaBudget {
    bytes: AtomicU64,
    live: Mutex<Vec<Weak<SessionArena>>>,
}

impl ArenaBudget {
    /// `(arenas alive, their total size, bytes held by unreleased payloads)`.
    pub fn totals(&self) -> (u32, u64, u64) {
        let mut live = self.live.lock();
        live.retain(|w| w.strong_count() > 0);
        let in_use = live
            .iter()
            .filter_map(Weak::upgrade)
            .map(|a| {
                a.arena.collect_releases();
                a.arena.in_use()
            })
            .sum();
        (
            live.len() as u32,
            self.bytes.load(Ordering::Acquire),
            in_use,
        )
    }
}

/// One session's arena plus the daemon's bookkeeping around it.
#[derive(Debug)]
pub struct SessionArena {
    pub arena: Arena,
    budget: Arc<ArenaBudget>,
    /// Fetches waiting for space queue here, first come first served, so a large payload
    /// is not starved by a stream of small ones.
    waiters: tokio::sync::Mutex<()>,
}

impl Drop for SessionArena {
    fn drop(&mut self) {
        self.budget
            .bytes
            .fetch_sub(self.arena.size(), Ordering::AcqRel);
    }
}

/// Who a token was issued to, and when.
type Issued = (Weak<Session>, Instant);

/// Attach tokens handed out and not yet used.
#[derive(Debug, Default)]
pub struct Tokens {
    pending: Mutex<HashMap<[u8; 16], Issued>>,
}

impl Tokens {
    fn issue(&self, session: &Arc<Session>) -> [u8; 16] {
        let token: [u8; 16] = rand::random();
        let mut pending = self.pending.lock();
        pending.retain(|_, (_, at)| at.elapsed() < TOKEN_TTL);
        if pending.len() >= MAX_TOKENS {
            if let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| *k)
            {
                pending.remove(&oldest);
            }
        }
        pending.insert(token, (Arc::downgrade(session), Instant::now()));
        token
    }

    fn redeem(&self, token: &[u8; 16]) -> Option<Arc<Session>> {
        let (session, at) = self.pending.lock().remove(token)?;
        (at.elapsed() < TOKEN_TTL)
            .then(|| session.upgrade())
            .flatten()
    }
}

/// `Storage.Attach`: creates the session's arena (or reuses it) and issues a token for the
/// side socket.
///
/// # Errors
/// FAILED_PRECONDITION over TCP or with `[shm] enabled = false`; INVALID_ARGUMENT above
/// `max_arena`; RESOURCE_EXHAUSTED above the node-wide `max_total`; INTERNAL if the memory
/// files cannot be created.
pub fn attach(
    daemon: &Daemon,
    peer: &PeerInfo,
    req: v1::AttachRequest,
) -> Result<v1::AttachResponse, Status> {
    let cfg = &daemon.config.shm;
    let session = &peer.session;
    if !cfg.enabled {
        return Err(Status::failed_precondition(
            "attach: shared memory is disabled in this s3dliod ([shm] enabled = false)",
        ));
    }
    if session.transport != Transport::Unix || !matches!(peer.caller, Caller::Local(_)) {
        return Err(Status::failed_precondition(
            "attach: shared memory needs a local client on the Unix socket; use inline delivery",
        ));
    }
    let mut slot = session.arena.lock();
    let arena = match &*slot {
        Some(a) => a.clone(),
        None => {
            let size = match req.arena_size {
                0 => cfg.default_arena,
                n if n > cfg.max_arena => {
                    return Err(Status::invalid_argument(format!(
                        "attach: an arena of {n} bytes exceeds [shm] max_arena ({} bytes)",
                        cfg.max_arena
                    )))
                }
                n => n,
            };
            let budget = &daemon.arenas;
            let rounded =
                size.div_ceil(u64::from(s3dlio_shm::PAGE_SIZE)) * u64::from(s3dlio_shm::PAGE_SIZE);
            let before = budget.bytes.fetch_add(rounded, Ordering::AcqRel);
            if before + rounded > cfg.max_total {
                budget.bytes.fetch_sub(rounded, Ordering::AcqRel);
                return Err(Status::resource_exhausted(format!(
                    "attach: the node's arenas already use {before} of [shm] max_total {} bytes",
                    cfg.max_total
                )));
            }
            let arena = Arena::create(size).map_err(|e| {
                budget.bytes.fetch_sub(rounded, Ordering::AcqRel);
                Status::internal(format!("attach: {e}"))
            })?;
            let a = Arc::new(SessionArena {
                arena,
                budget: budget.clone(),
                waiters: tokio::sync::Mutex::new(()),
            });
            budget.live.lock().push(Arc::downgrade(&a));
            tracing::debug!(session = session.id, size, "arena created");
            *slot = Some(a.clone());
            a
        }
    };
    drop(slot);
    Ok(v1::AttachResponse {
        session_id: session.id,
        token: daemon.tokens.issue(session).to_vec().into(),
        arena_size: arena.arena.size(),
        layout_version: s3dlio_shm::LAYOUT_VERSION,
    })
}

/// Serves the side socket: each connection sends a 16-byte token and gets back `OK` with the
/// arena's two memory files attached, or `ERR <reason>` without any.
pub async fn serve_side_socket(listener: UnixListener, daemon: Arc<Daemon>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "shm side socket: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let daemon = daemon.clone();
        tokio::spawn(async move {
            if let Err(reason) = hand_over(&daemon, stream).await {
                tracing::info!(%reason, "shm side socket: arena not handed over");
            }
        });
    }
}

async fn hand_over(daemon: &Daemon, mut stream: UnixStream) -> Result<(), String> {
    let uid = stream.peer_cred().map(|c| c.uid()).ok();
    let mut token = [0u8; 16];
    let read = tokio::time::timeout(TOKEN_READ_TIMEOUT, stream.read_exact(&mut token)).await;
    let outcome = match read {
        Ok(Ok(_)) => check_token(daemon, &token, uid),
        Ok(Err(e)) => Err(format!("reading the token: {e}")),
        Err(_) => Err("no token within 5 s".into()),
    };
    match outcome {
        Ok(arena) => {
            let std = stream.into_std().map_err(|e| e.to_string())?;
            std.set_nonblocking(false).map_err(|e| e.to_string())?;
            tokio::task::spawn_blocking(move || arena.arena.send_fds(&std, b"OK"))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())
        }
        Err(reason) => {
            let _ = stream.write_all(format!("ERR {reason}").as_bytes()).await;
            Err(reason)
        }
    }
}

fn check_token(
    daemon: &Daemon,
    token: &[u8; 16],
    uid: Option<u32>,
) -> Result<Arc<SessionArena>, String> {
    let session = daemon
        .tokens
        .redeem(token)
        .ok_or("unknown or expired token; call Attach again")?;
    if uid.is_none() || uid != session.uid {
        return Err(format!(
            "the token belongs to uid {:?}, the side-socket peer is uid {uid:?}",
            session.uid
        ));
    }
    let arena = session.arena.lock().clone();
    arena.ok_or_else(|| "the session has no arena".into())
}

/// The session's arena, or FAILED_PRECONDITION naming the operation.
pub fn session_arena(session: &Session, op: &str, uri: &str) -> Result<Arc<SessionArena>, Status> {
    session.arena.lock().clone().ok_or_else(|| {
        Status::failed_precondition(format!(
            "{op} {uri}: shared-memory delivery needs an arena; call Attach on this connection \
             first (or ask for inline delivery)"
        ))
    })
}

/// Reserves arena space for one payload, waiting (in FIFO order) while the arena is full.
pub struct ShmReserve<'a> {
    arena: Arc<SessionArena>,
    uri: &'a str,
}

impl<'a> ShmReserve<'a> {
    pub fn new(arena: Arc<SessionArena>, uri: &'a str) -> Self {
        ShmReserve { arena, uri }
    }
}

#[async_trait]
impl Reserve for ShmReserve<'_> {
    async fn reserve(&mut self, len: u64) -> s3dlio_store::Result<Box<dyn Destination>> {
        let exhausted = |reason: String| s3dlio_store::Error::ResourceExhausted {
            op: "get",
            uri: self.uri.to_string(),
            reason,
        };
        if let Some(dest) = self.arena.try_reserve(len) {
            return Ok(dest);
        }
        let arena = &self.arena.arena;
        let _turn = self.arena.waiters.lock().await;
        loop {
            match arena.try_reserve(len) {
                Ok(Some(lease)) => return Ok(Box::new(ShmDest(lease))),
                Ok(None) => tokio::time::sleep(SPACE_POLL).await,
                Err(e @ ShmError::TooLarge { .. }) => {
                    return Err(exhausted(format!(
                        "{e}; attach with a larger arena or use inline delivery"
                    )))
                }
                Err(e) => return Err(exhausted(e.to_string())),
            }
        }
    }

    fn try_now(&self) -> Option<Arc<dyn TryReserve>> {
        Some(self.arena.clone())
    }
}

/// Room taken without waiting (a backend's blocking call): only when no one is queued.
impl TryReserve for SessionArena {
    fn try_reserve(&self, len: u64) -> Option<Box<dyn Destination>> {
        let _turn = self.waiters.try_lock().ok()?;
        match self.arena.try_reserve(len) {
            Ok(Some(lease)) => Some(Box::new(ShmDest(lease))),
            // Full, or can never fit: `reserve` waits or says why.
            Ok(None) | Err(_) => None,
        }
    }
}

/// Arena space as a store destination.
pub struct ShmDest(Lease);

impl Destination for ShmDest {
    fn as_mut_slice(&mut self) -> &mut [u8] {
        self.0.as_mut_slice()
    }
}

/// Publishes a filled destination returned by `get_into`.
pub fn publish(dest: Box<dyn Destination>) -> Slice {
    let any: Box<dyn std::any::Any + Send> = dest;
    any.downcast::<ShmDest>()
        .expect("ShmReserve hands out ShmDest only")
        .0
        .publish()
}

/// The proto form of a published slice.
pub fn to_proto(slice: Slice, header: Option<v1::ObjectHeader>) -> v1::ShmSlice {
    v1::ShmSlice {
        arena_offset: slice.offset,
        length: slice.len,
        lease: slice.lease,
        generation: slice.generation,
        header,
    }
}
