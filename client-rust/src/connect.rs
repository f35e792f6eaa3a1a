//! Connecting to the daemon over its Unix socket (or TCP), with the client's name sent on
//! every call.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint, Uri};

use s3dlio_proto::v1::admin_client::AdminClient;
use s3dlio_proto::v1::storage_client::StorageClient;
use s3dlio_proto::{CLIENT_NAME_HEADER, MAX_MESSAGE_SIZE, SOCKET_ENV};

use crate::error::{Error, Result};

/// Adds the client's name to every request.
#[derive(Debug, Clone)]
pub struct NameInterceptor {
    name: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl tonic::service::Interceptor for NameInterceptor {
    fn call(
        &mut self,
        mut req: tonic::Request<()>,
    ) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        if let Some(n) = &self.name {
            req.metadata_mut().insert(CLIENT_NAME_HEADER, n.clone());
        }
        Ok(req)
    }
}

pub(crate) type Svc = InterceptedService<Channel, NameInterceptor>;

/// A connection to s3dliod. Cheap to clone; clones share the connection.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) storage: StorageClient<Svc>,
    pub(crate) admin: AdminClient<Svc>,
    /// The Unix socket this client is connected to (`None` over TCP): the arena's side
    /// socket lies next to it.
    pub(crate) socket: Option<PathBuf>,
}

/// The socket a client uses: the given path, else `S3DLIOD_SOCKET`, else the default.
pub fn resolve_socket(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| {
            std::env::var_os(SOCKET_ENV)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(s3dlio_proto::default_socket_path)
}

impl Client {
    /// Connects over a Unix socket (`None`: `S3DLIOD_SOCKET` or the default path).
    ///
    /// # Errors
    /// [`Error::Connect`] naming the socket when nothing answers there.
    pub async fn connect(socket: Option<&Path>, name: Option<&str>) -> Result<Self> {
        let path = resolve_socket(socket);
        let target = path.display().to_string();
        if !path.exists() {
            return Err(Error::Connect {
                target,
                reason: "no such socket".into(),
            });
        }
        let channel = unix_channel(&path).await?;
        let mut client = Self::from_channel(channel, name)?;
        client.socket = Some(path);
        Ok(client)
    }

    /// Connects over TCP to `addr` (`host:port`), for a daemon with `tcp_listen` set.
    ///
    /// # Errors
    /// [`Error::Connect`] when nothing answers there.
    pub async fn connect_tcp(addr: &str, name: Option<&str>) -> Result<Self> {
        let target = addr.to_string();
        let endpoint =
            Endpoint::from_shared(format!("http://{addr}")).map_err(|e| Error::Connect {
                target: target.clone(),
                reason: e.to_string(),
            })?;
        let channel = endpoint
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| Error::Connect {
                target,
                reason: source_chain(&e),
            })?;
        Self::from_channel(channel, name)
    }

    fn from_channel(channel: Channel, name: Option<&str>) -> Result<Self> {
        let name = match name {
            Some(n) => Some(
                n.parse()
                    .map_err(|_| Error::Protocol(format!("client name {n:?} is not ASCII")))?,
            ),
            None => None,
        };
        let interceptor = NameInterceptor { name };
        let storage = StorageClient::with_interceptor(channel.clone(), interceptor.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE);
        let admin = AdminClient::with_interceptor(channel, interceptor);
        Ok(Client {
            storage,
            admin,
            socket: None,
        })
    }
}

/// A gRPC channel over a Unix socket, for callers that need a raw channel (health checks...).
///
/// # Errors
/// [`Error::Connect`] naming the socket when nothing answers there.
pub async fn unix_channel(path: &Path) -> Result<Channel> {
    let target = path.display().to_string();
    let path = path.to_path_buf();
    // The URI is required by the API but unused: the connector dials the socket.
    Endpoint::from_static("http://s3dliod.local")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                tokio::net::UnixStream::connect(path)
                    .await
                    .map(TokioIo::new)
            }
        }))
        .await
        .map_err(|e| Error::Connect {
            target,
            reason: source_chain(&e),
        })
}

/// The innermost useful message of an error chain ("Connection refused (os error 111)").
fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        msg = s.to_string();
        cur = s.source();
    }
    msg
}
