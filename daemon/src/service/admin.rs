//! The `Admin` service: status, sessions, stats, drain and shutdown.

use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response, Status};

use s3dlio_proto::v1::{self, admin_server::Admin};

use std::path::PathBuf;

use s3dlio_oplog::Format;

use crate::convert::timestamp;
use crate::oplog::{FullPolicy, OplogError, OplogStatus};
use crate::state::Daemon;

/// Implements `s3dlio.v1.Admin`.
#[derive(Debug, Clone)]
pub struct AdminService {
    pub daemon: Arc<Daemon>,
}

impl AdminService {
    fn deadline(&self, ms: u64) -> Duration {
        if ms == 0 {
            self.daemon.config.shutdown_grace
        } else {
            Duration::from_millis(ms)
        }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn status(
        &self,
        request: Request<v1::StatusRequest>,
    ) -> Result<Response<v1::StatusResponse>, Status> {
        self.daemon.admit(&request)?;
        let d = &self.daemon;
        let (arenas, arena_bytes, arena_in_use) = d.arenas.totals();
        Ok(Response::new(v1::StatusResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: Some(timestamp(d.started_at)),
            uptime_ms: d.uptime().as_millis() as u64,
            pid: std::process::id(),
            socket: d.socket.display().to_string(),
            config_toml: d.config.to_toml(),
            backends: d
                .registry
                .status()
                .into_iter()
                .map(|b| v1::BackendStatus {
                    scheme: b.scheme.name().into(),
                    configured: b.configured,
                    detail: b.detail,
                })
                .collect(),
            sessions: d.sessions.count() as u32,
            in_flight: d.in_flight(),
            draining: d.is_draining(),
            arenas,
            arena_bytes,
            arena_in_use,
        }))
    }

    async fn sessions(
        &self,
        request: Request<v1::SessionsRequest>,
    ) -> Result<Response<v1::SessionsResponse>, Status> {
        self.daemon.admit(&request)?;
        use std::sync::atomic::Ordering::Relaxed;
        let sessions = self
            .daemon
            .sessions
            .list()
            .iter()
            .map(|s| {
                let arena = s.arena.lock().clone();
                let (arena_size, arena_in_use, bad_releases) = arena
                    .map(|a| {
                        a.arena.collect_releases();
                        (a.arena.size(), a.arena.in_use(), a.arena.bad_releases())
                    })
                    .unwrap_or_default();
                v1::SessionInfo {
                    id: s.id,
                    uid: s.uid,
                    gid: s.gid,
                    pid: s.pid,
                    name: s.name(),
                    connected_at: Some(timestamp(s.connected_at)),
                    requests: s.requests.load(Relaxed),
                    in_flight: s.in_flight.load(Relaxed),
                    bytes_in: s.bytes_in.load(Relaxed),
                    bytes_out: s.bytes_out.load(Relaxed),
                    transport: s.transport.name().into(),
                    arena_size,
                    arena_in_use,
                    bad_releases,
                }
            })
            .collect();
        Ok(Response::new(v1::SessionsResponse { sessions }))
    }

    async fn stats(
        &self,
        request: Request<v1::StatsRequest>,
    ) -> Result<Response<v1::StatsResponse>, Status> {
        self.daemon.admit(&request)?;
        let (rows, window) = self.daemon.metrics.snapshot(request.into_inner().reset);
        Ok(Response::new(v1::StatsResponse {
            ops: rows
                .into_iter()
                .map(|r| v1::OpStats {
                    op: r.op.into(),
                    count: r.count,
                    errors: r.errors,
                    bytes: r.bytes,
                    mean_us: r.mean_us,
                    p50_us: r.p50_us,
                    p90_us: r.p90_us,
                    p99_us: r.p99_us,
                    p999_us: r.p999_us,
                    max_us: r.max_us,
                })
                .collect(),
            window_ms: window.as_millis() as u64,
        }))
    }

    async fn drain(
        &self,
        request: Request<v1::DrainRequest>,
    ) -> Result<Response<v1::DrainResponse>, Status> {
        self.daemon.admit(&request)?;
        let deadline = self.deadline(request.into_inner().deadline_ms);
        tracing::info!(?deadline, "draining on request");
        let in_flight = self.daemon.drain(deadline).await;
        Ok(Response::new(v1::DrainResponse { in_flight }))
    }

    async fn shutdown(
        &self,
        request: Request<v1::ShutdownRequest>,
    ) -> Result<Response<v1::ShutdownResponse>, Status> {
        self.daemon.admit(&request)?;
        let deadline = self.deadline(request.into_inner().deadline_ms);
        tracing::info!(?deadline, "shutdown requested over the admin API");
        self.daemon.drain(deadline).await;
        self.daemon.request_shutdown();
        Ok(Response::new(v1::ShutdownResponse {}))
    }

    async fn oplog_start(
        &self,
        request: Request<v1::OplogStartRequest>,
    ) -> Result<Response<v1::OplogInfo>, Status> {
        self.daemon.admit(&request)?;
        let req = request.into_inner();
        let format = match req.format.as_str() {
            "" => None,
            "tsv" => Some(Format::Tsv),
            "jsonl" => Some(Format::Jsonl),
            other => {
                return Err(Status::invalid_argument(format!(
                    "oplog start: format {other:?} is not tsv or jsonl"
                )))
            }
        };
        let path = Some(req.path).filter(|p| !p.is_empty()).map(PathBuf::from);
        let zstd = req.plain.then_some(false);
        let oplog = &self.daemon.oplog;
        let status = tokio::task::block_in_place(|| oplog.start(path, format, zstd))
            .map_err(oplog_status)?;
        Ok(Response::new(info(status)))
    }

    async fn oplog_stop(
        &self,
        request: Request<v1::OplogStopRequest>,
    ) -> Result<Response<v1::OplogInfo>, Status> {
        self.daemon.admit(&request)?;
        let oplog = &self.daemon.oplog;
        let status = tokio::task::block_in_place(|| oplog.stop()).map_err(oplog_status)?;
        Ok(Response::new(info(status)))
    }

    async fn oplog_rotate(
        &self,
        request: Request<v1::OplogRotateRequest>,
    ) -> Result<Response<v1::OplogInfo>, Status> {
        self.daemon.admit(&request)?;
        let oplog = &self.daemon.oplog;
        let status = tokio::task::block_in_place(|| oplog.rotate()).map_err(oplog_status)?;
        Ok(Response::new(info(status)))
    }

    async fn oplog_status(
        &self,
        request: Request<v1::OplogStatusRequest>,
    ) -> Result<Response<v1::OplogInfo>, Status> {
        self.daemon.admit(&request)?;
        Ok(Response::new(info(self.daemon.oplog.status())))
    }
}

fn oplog_status(e: OplogError) -> Status {
    match e {
        OplogError::NoPath => Status::invalid_argument(e.to_string()),
        OplogError::AlreadyActive(_) | OplogError::NotActive => {
            Status::failed_precondition(e.to_string())
        }
        OplogError::Io { .. } => Status::internal(e.to_string()),
    }
}

fn info(s: OplogStatus) -> v1::OplogInfo {
    v1::OplogInfo {
        active: s.active,
        path: s.path.map(|p| p.display().to_string()).unwrap_or_default(),
        format: match s.format {
            Format::Tsv => "tsv".into(),
            Format::Jsonl => "jsonl".into(),
        },
        zstd: s.zstd,
        policy: match s.policy {
            FullPolicy::Block => "block".into(),
            FullPolicy::Drop => "drop".into(),
        },
        accepted: s.accepted,
        written: s.written,
        dropped: s.dropped,
        rows_in_file: s.rows_in_file,
        rotations: s.rotations,
        error: s.error,
    }
}
