//! Shared-memory delivery, client side: [`Client::attach`] gets an arena for this connection
//! and maps it read-only; [`ShmClient`] reads objects into it and returns [`ShmPayload`]s,
//! views that deref to `&[u8]` in place and give their space back when dropped (through the
//! arena's release ring, no call to the daemon).
//!
//! The arena belongs to the connection: if the daemon restarts, calls fail with UNAVAILABLE
//! or FAILED_PRECONDITION; connect and attach again. Payloads already received stay readable
//! (the memory lives until the last mapping goes).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use futures::{Stream, StreamExt};

use s3dlio_proto::v1::{self, get_many_request, get_many_response, get_response, Delivery};
use s3dlio_shm::{ClientArena, Payload, Slice};

use crate::connect::Client;
use crate::error::{Error, Result};

/// How long the side-socket hand-over may take.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(10);

/// A payload in shared memory: derefs to its bytes; releases its arena space when dropped.
/// An empty range has no space and derefs to `&[]`.
#[derive(Debug)]
pub struct ShmPayload {
    pub header: v1::ObjectHeader,
    payload: Option<Payload>,
}

impl ShmPayload {
    /// Where the payload lies in the arena (`None` for an empty range).
    pub fn slice(&self) -> Option<Slice> {
        self.payload.as_ref().map(Payload::slice)
    }
}

impl std::ops::Deref for ShmPayload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.payload.as_deref().unwrap_or(&[])
    }
}

impl AsRef<[u8]> for ShmPayload {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// One object to read with [`ShmClient::get_many`]: `(tag, uri, range)`, the range as
/// `(offset, length)` with `None` for the whole object or the rest of it.
pub type ShmRequest = (u64, String, Option<(u64, Option<u64>)>);

/// One finished item of [`ShmClient::get_many`]: its tag and its payload or error.
#[derive(Debug)]
pub struct ShmItem {
    pub tag: u64,
    pub result: Result<ShmPayload>,
}

/// A client with a mapped arena. Cheap to clone; clones share the connection and arena.
#[derive(Debug, Clone)]
pub struct ShmClient {
    client: Client,
    arena: ClientArena,
}

impl Client {
    /// Attaches a shared-memory arena of `arena_size` bytes (0: the daemon's default) to this
    /// connection and maps it.
    ///
    /// # Errors
    /// FAILED_PRECONDITION over TCP or if the daemon has shared memory disabled; the daemon's
    /// limits (INVALID_ARGUMENT, RESOURCE_EXHAUSTED); a failed hand-over on the side socket.
    pub async fn attach(&self, arena_size: u64) -> Result<ShmClient> {
        let socket = self.socket.clone().ok_or_else(|| Error::Status {
            code: tonic::Code::FailedPrecondition,
            message: "attach: shared memory needs the Unix socket".into(),
        })?;
        let resp = self
            .storage
            .clone()
            .attach(v1::AttachRequest { arena_size })
            .await?
            .into_inner();
        let side = side_socket(&socket);
        let token = resp.token.to_vec();
        let fds = tokio::task::spawn_blocking(move || receive_fds(&side, &token))
            .await
            .map_err(|e| Error::Protocol(format!("attach: {e}")))??;
        let arena = ClientArena::map(fds).map_err(|e| Error::Protocol(format!("attach: {e}")))?;
        Ok(ShmClient {
            client: self.clone(),
            arena,
        })
    }
}

/// `<socket>.shm`, as the daemon binds it.
fn side_socket(socket: &std::path::Path) -> PathBuf {
    let mut p = socket.as_os_str().to_owned();
    p.push(".shm");
    p.into()
}

fn receive_fds(side: &std::path::Path, token: &[u8]) -> Result<Vec<std::os::fd::OwnedFd>> {
    let local = |source| Error::Local {
        path: side.to_path_buf(),
        source,
    };
    let mut stream = UnixStream::connect(side).map_err(local)?;
    stream
        .set_read_timeout(Some(HANDOVER_TIMEOUT))
        .map_err(local)?;
    stream.write_all(token).map_err(local)?;
    let mut buf = [0u8; 512];
    let (n, fds) = s3dlio_shm::fdpass::recv_fds(&stream, &mut buf).map_err(local)?;
    if &buf[..n] == b"OK" && fds.len() == 2 {
        return Ok(fds);
    }
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    let mut msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    msg.push_str(&String::from_utf8_lossy(&rest));
    Err(Error::Protocol(format!(
        "attach: the daemon refused the hand-over: {msg}"
    )))
}

impl ShmClient {
    /// Size of the arena's data region in bytes.
    pub fn arena_size(&self) -> u64 {
        self.arena.size()
    }

    /// The connection, for inline calls and admin.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The mapped arena (tests use it to forge releases).
    pub fn arena(&self) -> &ClientArena {
        &self.arena
    }

    /// Reads a whole object into the arena.
    ///
    /// # Errors
    /// As [`Client::get`]; RESOURCE_EXHAUSTED for an object larger than the arena.
    pub async fn get(&self, uri: &str) -> Result<ShmPayload> {
        self.get_range(uri, None).await
    }

    /// Reads a byte range (`None`: the whole object) into the arena.
    ///
    /// # Errors
    /// As [`ShmClient::get`]; OUT_OF_RANGE for an offset past the end.
    pub async fn get_range(
        &self,
        uri: &str,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<ShmPayload> {
        let req = v1::GetRequest {
            uri: uri.to_string(),
            range: range.map(|(offset, length)| v1::ByteRange { offset, length }),
            delivery: Delivery::Shm as i32,
            chunk_size: 0,
        };
        let mut stream = self.client.storage.clone().get(req).await?.into_inner();
        let header = match stream.message().await? {
            Some(v1::GetResponse {
                kind: Some(get_response::Kind::Header(h)),
            }) => h,
            other => {
                return Err(Error::Protocol(format!(
                    "get {uri}: expected a header, got {other:?}"
                )))
            }
        };
        let payload = match stream.message().await? {
            None if header.length == 0 => None,
            Some(v1::GetResponse {
                kind: Some(get_response::Kind::Shm(s)),
            }) => Some(self.payload(&s, uri)?),
            other => {
                return Err(Error::Protocol(format!(
                    "get {uri}: expected a shared-memory slice, got {other:?}"
                )))
            }
        };
        Ok(ShmPayload { header, payload })
    }

    /// Reads many objects (`(tag, uri, range)`) with at most `concurrency` in flight (0: the
    /// daemon's default); yields each as it completes. The daemon holds fetches back while
    /// the arena is full, so drop payloads as you go.
    ///
    /// # Errors
    /// The stream fails as a whole only if the call fails; per-object errors come as items.
    pub async fn get_many(
        &self,
        items: Vec<ShmRequest>,
        concurrency: u32,
    ) -> Result<impl Stream<Item = Result<ShmItem>> + Send + 'static> {
        self.get_many_stream(futures::stream::iter(items), concurrency)
            .await
    }

    /// As [`ShmClient::get_many`], with the requests taken from a stream as the call goes:
    /// a caller that feeds requests only as it consumes results bounds what is in flight.
    ///
    /// # Errors
    /// As [`ShmClient::get_many`].
    pub async fn get_many_stream(
        &self,
        items: impl Stream<Item = ShmRequest> + Send + 'static,
        concurrency: u32,
    ) -> Result<impl Stream<Item = Result<ShmItem>> + Send + 'static> {
        let options = v1::GetManyRequest {
            kind: Some(get_many_request::Kind::Options(v1::GetManyOptions {
                concurrency,
                delivery: Delivery::Shm as i32,
                chunk_size: 0,
            })),
        };
        let items = items.map(|(tag, uri, range)| v1::GetManyRequest {
            kind: Some(get_many_request::Kind::Item(v1::GetManyItem {
                tag,
                uri,
                range: range.map(|(offset, length)| v1::ByteRange { offset, length }),
            })),
        });
        let requests = futures::stream::once(async { options }).chain(items);
        let responses = self
            .client
            .storage
            .clone()
            .get_many(requests)
            .await?
            .into_inner();
        let this = self.clone();
        Ok(responses.map(move |m| {
            let m = m?;
            let result = match m.kind {
                Some(get_many_response::Kind::Shm(s)) => {
                    let header = s.header.clone().unwrap_or_default();
                    this.payload(&s, "get_many").map(|p| ShmPayload {
                        header,
                        payload: Some(p),
                    })
                }
                Some(get_many_response::Kind::Header(h)) => Ok(ShmPayload {
                    header: h,
                    payload: None,
                }),
                Some(get_many_response::Kind::Error(e)) => Err(Error::Status {
                    code: tonic::Code::from_i32(e.code),
                    message: e.message,
                }),
                other => Err(Error::Protocol(format!(
                    "get_many: unexpected message for tag {}: {other:?}",
                    m.tag
                ))),
            };
            Ok(ShmItem { tag: m.tag, result })
        }))
    }

    fn payload(&self, s: &v1::ShmSlice, uri: &str) -> Result<Payload> {
        self.arena
            .payload(Slice {
                offset: s.arena_offset,
                len: s.length,
                lease: s.lease,
                generation: s.generation,
            })
            .map_err(|e| Error::Protocol(format!("{uri}: {e}")))
    }
}
