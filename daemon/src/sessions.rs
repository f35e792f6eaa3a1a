//! Sessions: one per client connection, with its peer credentials and counters, listed by
//! `Admin.Sessions`. A session ends when its connection closes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::Mutex;

/// How the client reached the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Unix,
    Tcp,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Unix => "unix",
            Transport::Tcp => "tcp",
        }
    }
}

/// One client connection.
#[derive(Debug)]
pub struct Session {
    pub id: u64,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub pid: Option<u32>,
    pub transport: Transport,
    pub connected_at: SystemTime,
    /// `pid@uid` until the client names itself with the `x-s3dlio-client` header.
    name: Mutex<String>,
    pub requests: AtomicU64,
    pub in_flight: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Shared-memory arena, once the client has called `Attach`; dropped with the session.
    pub arena: Mutex<Option<Arc<crate::shm::SessionArena>>>,
}

impl Session {
    pub fn name(&self) -> String {
        self.name.lock().clone()
    }

    /// Renames the session (from the client's header); ignored if unchanged.
    pub fn set_name(&self, name: &str) {
        let mut n = self.name.lock();
        if *n != name {
            *n = name.to_string();
        }
    }
}

/// Every open session.
#[derive(Debug, Default)]
pub struct Sessions {
    next_id: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Session>>>,
}

impl Sessions {
    /// Opens a session; it closes when the returned guard drops.
    pub fn open(
        self: &Arc<Self>,
        uid: Option<u32>,
        gid: Option<u32>,
        pid: Option<u32>,
        name: String,
        transport: Transport,
    ) -> SessionGuard {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let session = Arc::new(Session {
            id,
            uid,
            gid,
            pid,
            transport,
            connected_at: SystemTime::now(),
            name: Mutex::new(name),
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            arena: Mutex::new(None),
        });
        self.open.lock().insert(id, session.clone());
        tracing::debug!(
            session = id,
            uid,
            pid,
            transport = transport.name(),
            "session opened"
        );
        SessionGuard {
            sessions: self.clone(),
            session,
        }
    }

    /// Snapshot of the open sessions, oldest first.
    pub fn list(&self) -> Vec<Arc<Session>> {
        self.open.lock().values().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.open.lock().len()
    }
}

/// Keeps a session open for as long as its connection lives.
#[derive(Debug)]
pub struct SessionGuard {
    sessions: Arc<Sessions>,
    session: Arc<Session>,
}

impl SessionGuard {
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions.open.lock().remove(&self.session.id);
        // In-flight fetches may still hold the arena; they stop once they see the client gone.
        self.session.arena.lock().take();
        tracing::debug!(session = self.session.id, "session closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_close_with_their_guard() {
        let s = Arc::new(Sessions::default());
        let a = s.open(Some(1), Some(1), Some(10), "10@1".into(), Transport::Unix);
        let b = s.open(None, None, None, "tcp".into(), Transport::Tcp);
        assert_eq!(s.count(), 2);
        assert!(b.session().id > a.session().id);
        a.session().set_name("trainer");
        assert_eq!(s.list()[0].name(), "trainer");
        drop(a);
        assert_eq!(
            s.list().iter().map(|x| x.id).collect::<Vec<_>>(),
            vec![b.session().id]
        );
    }
}
