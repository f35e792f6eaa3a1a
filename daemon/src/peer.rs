//! Connections with their peer: who is on the other end of each socket, recorded once per
//! connection and attached to every request it carries.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

use s3dlio_store::{Caller, Identity};

use crate::sessions::{Session, SessionGuard, Sessions, Transport};

/// What every request knows about its connection.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub session: Arc<Session>,
    pub caller: Caller,
}

/// A client connection: the stream plus its session, which ends when the connection drops.
pub struct Conn<S> {
    inner: S,
    info: PeerInfo,
    _guard: SessionGuard,
}

impl<S> Conn<S> {
    /// Registers a session for a Unix-socket connection from the peer's credentials.
    pub fn unix(inner: S, cred: Option<tokio::net::unix::UCred>, sessions: &Arc<Sessions>) -> Self {
        let (caller, uid, gid, pid) = match cred {
            Some(c) => {
                let pid = c.pid().and_then(|p| u32::try_from(p).ok());
                let groups = pid.map(supplementary_groups).unwrap_or_default();
                (
                    Caller::Local(Identity {
                        uid: c.uid(),
                        gid: c.gid(),
                        groups,
                    }),
                    Some(c.uid()),
                    Some(c.gid()),
                    pid,
                )
            }
            None => (Caller::Remote, None, None, None),
        };
        let name = match (pid, uid) {
            (Some(p), Some(u)) => format!("{p}@{u}"),
            _ => "unknown".to_string(),
        };
        Self::register(
            inner,
            sessions,
            caller,
            uid,
            gid,
            pid,
            name,
            Transport::Unix,
        )
    }

    /// Registers a session for a TCP connection (no credentials: acts as [`Caller::Remote`]).
    pub fn tcp(inner: S, peer: Option<std::net::SocketAddr>, sessions: &Arc<Sessions>) -> Self {
        let name = peer.map(|p| p.to_string()).unwrap_or_else(|| "tcp".into());
        Self::register(
            inner,
            sessions,
            Caller::Remote,
            None,
            None,
            None,
            name,
            Transport::Tcp,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn register(
        inner: S,
        sessions: &Arc<Sessions>,
        caller: Caller,
        uid: Option<u32>,
        gid: Option<u32>,
        pid: Option<u32>,
        name: String,
        transport: Transport,
    ) -> Self {
        let guard = sessions.open(uid, gid, pid, name, transport);
        let info = PeerInfo {
            session: guard.session().clone(),
            caller,
        };
        Conn {
            inner,
            info,
            _guard: guard,
        }
    }
}

/// Supplementary groups of a live process, from `/proc/PID/status` (SO_PEERCRED carries only
/// the primary gid). Empty if the process is gone.
fn supplementary_groups(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Groups:")).map(|g| {
                g.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

impl<S: Send + 'static> Connected for Conn<S> {
    type ConnectInfo = PeerInfo;
    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Conn<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Conn<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_groups() {
        // Our own status file always has a Groups line (possibly empty).
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let expected: Vec<u32> = status
            .lines()
            .find_map(|l| l.strip_prefix("Groups:"))
            .unwrap()
            .split_whitespace()
            .map(|g| g.parse().unwrap())
            .collect();
        assert_eq!(supplementary_groups(std::process::id()), expected);
        assert!(supplementary_groups(u32::MAX).is_empty());
    }
}
