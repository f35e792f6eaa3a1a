//! The server: binds the socket (and the optional TCP listener), serves the services until a
//! shutdown is asked for, drains, and removes the socket.
//!
//! Shutdown order: stop admitting data operations (health NOT_SERVING) → wait for in-flight
//! ones up to `shutdown_grace` → stop accepting connections → close them → flush and close the
//! op-log → unlink the socket.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::Stream;
use futures::StreamExt;
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::transport::server::Router;
use tonic::transport::Server;

use s3dlio_proto::v1::admin_server::AdminServer;
use s3dlio_proto::v1::storage_server::StorageServer;
use s3dlio_proto::{FILE_DESCRIPTOR_SET, MAX_MESSAGE_SIZE};
use s3dlio_store::Registry;

use crate::config::Config;
use crate::peer::Conn;
use crate::service::{AdminService, StorageService};
use crate::sessions::Sessions;
use crate::socket;
use crate::state::Daemon;

/// Extra time, after the drain, for connections to close before the server gives up on them.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Runs the daemon until SIGTERM, SIGINT or `Admin.Shutdown`.
///
/// # Errors
/// A backend that cannot be configured, a socket that cannot be bound (or belongs to a live
/// daemon), or a server failure.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let registry = Registry::new(&config.store()).context("cannot set up the storage backends")?;
    let socket_path = config.socket_path();
    let signals = StopSignals::install()?;
    let (listener, socket_guard) = socket::bind(&socket_path, config.socket_mode_bits()?)?;
    let tcp = match config.tcp_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on tcp {addr}"))?,
        ),
        None => None,
    };
    let side = if config.shm.enabled {
        let path = shm_socket_path(&socket_path);
        Some(socket::bind(&path, config.socket_mode_bits()?)?)
    } else {
        None
    };
    let daemon = Arc::new(Daemon::new(config, registry, socket_path.clone()));
    daemon.oplog.start_configured()?;
    let side_guard = side.map(|(listener, guard)| {
        tokio::spawn(crate::shm::serve_side_socket(listener, daemon.clone()));
        guard
    });
    let router = router(&daemon).await?;

    tokio::spawn(signals.stop(daemon.clone()));
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        socket = %socket_path.display(),
        tcp = ?daemon.config.tcp_listen,
        pid = std::process::id(),
        "s3dliod serving"
    );

    let tcp_task = tcp.map(|listener| {
        let accepted = TcpListenerStream::new(listener);
        let incoming = admit(
            accepted,
            daemon.sessions.clone(),
            daemon.config.max_connections,
            tcp_conn,
        );
        tokio::spawn(serve(router.clone(), incoming, daemon.clone()))
    });
    let accepted = UnixListenerStream::new(listener);
    let uds = admit(
        accepted,
        daemon.sessions.clone(),
        daemon.config.max_connections,
        unix_conn,
    );
    let result = serve(router, uds, daemon.clone()).await;
    if let Some(t) = tcp_task {
        t.await.context("tcp server task failed")??;
    }
    if daemon.oplog.is_active() {
        // Every accepted row is written and the zstd frame closed before the socket goes.
        let d = daemon.clone();
        tokio::task::spawn_blocking(move || d.oplog.stop())
            .await
            .context("op-log writer panicked")??;
    }
    drop(side_guard);
    drop(socket_guard);
    tracing::info!(socket = %socket_path.display(), "s3dliod stopped");
    result
}

/// The side socket that hands arenas over: the main socket's path with `.shm` appended, so
/// that sharing the socket directory with a container shares both.
pub fn shm_socket_path(socket: &std::path::Path) -> std::path::PathBuf {
    let mut p = socket.as_os_str().to_owned();
    p.push(".shm");
    p.into()
}

async fn router(daemon: &Arc<Daemon>) -> anyhow::Result<Router> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<StorageServer<StorageService>>().await;
    health.set_serving::<AdminServer<AdminService>>().await;
    let mut serving = daemon.health();
    tokio::spawn(async move {
        while serving.changed().await.is_ok() {
            let status = if *serving.borrow() {
                tonic_health::ServingStatus::Serving
            } else {
                tonic_health::ServingStatus::NotServing
            };
            for name in ["", "s3dlio.v1.Storage", "s3dlio.v1.Admin"] {
                health.set_service_status(name, status).await;
            }
        }
    });
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let storage = StorageServer::new(StorageService {
        daemon: daemon.clone(),
    })
    .max_decoding_message_size(MAX_MESSAGE_SIZE)
    .max_encoding_message_size(MAX_MESSAGE_SIZE);
    Ok(Server::builder()
        .add_service(storage)
        .add_service(AdminServer::new(AdminService {
            daemon: daemon.clone(),
        }))
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?))
}

async fn serve<S, IO>(router: Router, incoming: S, daemon: Arc<Daemon>) -> anyhow::Result<()>
where
    S: Stream<Item = std::io::Result<IO>> + Send + 'static,
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Unpin
        + Send
        + 'static,
{
    let grace = daemon.config.shutdown_grace;
    let stop = {
        let daemon = daemon.clone();
        async move {
            daemon.shutdown_requested().await;
            let left = daemon.drain(grace).await;
            if left > 0 {
                tracing::warn!(
                    in_flight = left,
                    ?grace,
                    "shutdown grace expired; stopping the remaining operations"
                );
            }
        }
    };
    let serving = router.serve_with_incoming_shutdown(incoming, stop);
    tokio::pin!(serving);
    tokio::select! {
        r = &mut serving => r.context("server failed"),
        _ = async { daemon.shutdown_requested().await; tokio::time::sleep(grace + CLOSE_GRACE).await } => {
            tracing::warn!("connections still open after the grace period; closing them");
            Ok(())
        }
    }
}

/// Turns accepted sockets into connections with sessions, refusing any beyond `max` open ones.
/// Accept errors (out of file descriptors...) are logged and paced instead of ending the server.
fn admit<S, A>(
    accepted: A,
    sessions: Arc<Sessions>,
    max: usize,
    wrap: fn(S, &Arc<Sessions>) -> Conn<S>,
) -> impl Stream<Item = std::io::Result<Conn<S>>>
where
    A: Stream<Item = std::io::Result<S>>,
{
    accepted.filter_map(move |accepted| {
        let sessions = sessions.clone();
        async move {
            match accepted {
                Ok(stream) if sessions.count() >= max => {
                    tracing::warn!(max, "connection refused: max_connections reached");
                    drop(stream);
                    None
                }
                Ok(stream) => Some(Ok(wrap(stream, &sessions))),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    None
                }
            }
        }
    })
}

fn unix_conn(stream: UnixStream, sessions: &Arc<Sessions>) -> Conn<UnixStream> {
    let cred = stream.peer_cred().ok();
    Conn::unix(stream, cred, sessions)
}

fn tcp_conn(stream: TcpStream, sessions: &Arc<Sessions>) -> Conn<TcpStream> {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    Conn::tcp(stream, peer, sessions)
}

/// SIGTERM and SIGINT, registered before the socket is bound: a signal that arrives as soon as
/// clients can connect must already drain the daemon, not kill it with the default action.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            term: signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?,
        })
    }

    /// Waits for either signal, then asks the daemon to drain and stop.
    async fn stop(mut self, daemon: Arc<Daemon>) {
        let name = tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        };
        tracing::info!(
            signal = name,
            "shutting down: draining in-flight operations"
        );
        daemon.request_shutdown();
    }
}
