//! Data calls: get, get_many, put, list, stat, delete, buckets.

use std::collections::HashMap;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::io::AsyncReadExt;

use s3dlio_proto::v1::{self, get_many_request, get_many_response, get_response, put_request};

use crate::connect::Client;
use crate::error::{Error, Result};

/// Chunk size of uploads from the client.
const PUT_CHUNK: usize = 1024 * 1024;

/// What to delete.
#[derive(Debug, Clone)]
pub enum DeleteTarget {
    /// These exact objects.
    Objects(Vec<String>),
    /// Everything below a prefix, optionally filtered by a regex on the relative key.
    Prefix {
        uri: String,
        pattern: Option<String>,
    },
}

/// One finished item of [`Client::get_many`].
#[derive(Debug)]
pub struct ManyItem {
    pub tag: u64,
    pub result: ManyResult,
}

/// An item's payload with its header, or the daemon's per-item error.
pub type ManyResult = std::result::Result<(v1::ObjectHeader, Bytes), Error>;

impl Client {
    /// Reads a whole object.
    ///
    /// # Errors
    /// The daemon's status (NotFound, PermissionDenied...), or a broken stream.
    pub async fn get(&self, uri: &str) -> Result<Bytes> {
        self.get_range(uri, None).await.map(|(_, b)| b)
    }

    /// Reads a byte range (`None`: the whole object); returns the header and the bytes.
    ///
    /// # Errors
    /// As [`Client::get`]; OutOfRange for an offset past the end.
    pub async fn get_range(
        &self,
        uri: &str,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<(v1::ObjectHeader, Bytes)> {
        let (header, mut body) = self.get_stream(uri, range).await?;
        let mut first = None;
        let mut buf: Option<BytesMut> = None;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            match (&mut first, &mut buf) {
                (None, None) => first = Some(chunk),
                (Some(f), None) => {
                    let mut b = BytesMut::with_capacity(header.length as usize);
                    b.extend_from_slice(f);
                    b.extend_from_slice(&chunk);
                    buf = Some(b);
                    first = None;
                }
                (_, Some(b)) => b.extend_from_slice(&chunk),
            }
        }
        let data = buf.map(BytesMut::freeze).or(first).unwrap_or_default();
        if data.len() as u64 != header.length {
            return Err(Error::Protocol(format!(
                "get {uri}: received {} of {} bytes",
                data.len(),
                header.length
            )));
        }
        Ok((header, data))
    }

    /// Reads an object as a header and a stream of chunks, for large objects.
    ///
    /// # Errors
    /// As [`Client::get`].
    pub async fn get_stream(
        &self,
        uri: &str,
        range: Option<(u64, Option<u64>)>,
    ) -> Result<(
        v1::ObjectHeader,
        impl Stream<Item = Result<Bytes>> + Send + 'static,
    )> {
        let req = v1::GetRequest {
            uri: uri.to_string(),
            range: range.map(|(offset, length)| v1::ByteRange { offset, length }),
            ..Default::default()
        };
        let mut stream = self.storage.clone().get(req).await?.into_inner();
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
        let uri = uri.to_string();
        let body = stream.map(move |m| match m {
            Ok(v1::GetResponse {
                kind: Some(get_response::Kind::Data(d)),
            }) => Ok(d),
            Ok(other) => Err(Error::Protocol(format!(
                "get {uri}: unexpected message {other:?}"
            ))),
            Err(s) => Err(s.into()),
        });
        Ok((header, body))
    }

    /// Reads many objects with at most `concurrency` in flight (0: the daemon's default);
    /// yields each item as it completes, tagged with its index in `uris`.
    ///
    /// # Errors
    /// The stream fails as a whole only if the call itself fails; per-object errors come as
    /// items.
    pub async fn get_many(
        &self,
        uris: Vec<String>,
        concurrency: u32,
    ) -> Result<impl Stream<Item = Result<ManyItem>> + Send + 'static> {
        let options = v1::GetManyRequest {
            kind: Some(get_many_request::Kind::Options(v1::GetManyOptions {
                concurrency,
                ..Default::default()
            })),
        };
        let items = uris
            .into_iter()
            .enumerate()
            .map(|(i, uri)| v1::GetManyRequest {
                kind: Some(get_many_request::Kind::Item(v1::GetManyItem {
                    tag: i as u64,
                    uri,
                    range: None,
                })),
            });
        let requests = futures::stream::iter(std::iter::once(options).chain(items));
        let responses = self.storage.clone().get_many(requests).await?.into_inner();
        Ok(reassemble(responses))
    }

    /// Writes an object from memory.
    ///
    /// # Errors
    /// The daemon's status.
    pub async fn put(&self, uri: &str, data: Bytes) -> Result<v1::PutResponse> {
        let size = data.len() as u64;
        let chunks: Vec<Bytes> = (0..data.len())
            .step_by(PUT_CHUNK)
            .map(|i| data.slice(i..(i + PUT_CHUNK).min(data.len())))
            .collect();
        self.put_stream(uri, Some(size), futures::stream::iter(chunks))
            .await
    }

    /// Writes an object from a stream of chunks (each at most 4 MiB).
    ///
    /// # Errors
    /// The daemon's status; a size mismatch when `size` is given.
    pub async fn put_stream(
        &self,
        uri: &str,
        size: Option<u64>,
        chunks: impl Stream<Item = Bytes> + Send + 'static,
    ) -> Result<v1::PutResponse> {
        let header = v1::PutRequest {
            kind: Some(put_request::Kind::Header(v1::PutHeader {
                uri: uri.to_string(),
                size,
                ..Default::default()
            })),
        };
        let body = chunks.map(|d| v1::PutRequest {
            kind: Some(put_request::Kind::Data(d)),
        });
        let requests = futures::stream::once(async { header }).chain(body);
        Ok(self.storage.clone().put(requests).await?.into_inner())
    }

    /// Uploads a local file, streamed in 1 MiB chunks.
    ///
    /// # Errors
    /// [`Error::Local`] if the file cannot be read, else the daemon's status.
    pub async fn put_file(&self, path: &Path, uri: &str) -> Result<v1::PutResponse> {
        let local = |source| Error::Local {
            path: path.to_path_buf(),
            source,
        };
        let mut file = tokio::fs::File::open(path).await.map_err(local)?;
        let size = file.metadata().await.map_err(local)?.len();
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let reader = tokio::spawn(async move {
            loop {
                let mut buf = BytesMut::with_capacity(PUT_CHUNK);
                while buf.len() < PUT_CHUNK {
                    if file.read_buf(&mut buf).await? == 0 {
                        break;
                    }
                }
                if buf.is_empty() {
                    return Ok::<_, std::io::Error>(());
                }
                if tx.send(buf.freeze()).await.is_err() {
                    return Ok(());
                }
            }
        });
        let result = self
            .put_stream(
                uri,
                Some(size),
                tokio_stream::wrappers::ReceiverStream::new(rx),
            )
            .await;
        match reader.await {
            Ok(Err(e)) => Err(local(e)),
            _ => result,
        }
    }

    /// Writes `size` generated bytes (deterministic per URI and seed).
    ///
    /// # Errors
    /// The daemon's status.
    pub async fn put_generated(&self, uri: &str, size: u64, seed: u64) -> Result<v1::PutResponse> {
        let header = v1::PutHeader {
            uri: uri.to_string(),
            size: Some(size),
            generate: Some(v1::Generate { size, seed }),
            ..Default::default()
        };
        let req = futures::stream::once(async {
            v1::PutRequest {
                kind: Some(put_request::Kind::Header(header)),
            }
        });
        Ok(self.storage.clone().put(req).await?.into_inner())
    }

    /// Lists entries under a prefix, streamed in the daemon's batches.
    ///
    /// # Errors
    /// The daemon's status, on the call or mid-stream.
    pub async fn list(
        &self,
        uri: &str,
        recursive: bool,
        pattern: Option<&str>,
    ) -> Result<impl Stream<Item = Result<v1::ListEntry>> + Send + 'static> {
        let req = v1::ListRequest {
            uri: uri.to_string(),
            recursive,
            pattern: pattern.unwrap_or_default().to_string(),
            batch_size: 0,
        };
        let batches = self.storage.clone().list(req).await?.into_inner();
        Ok(batches.flat_map(|batch| {
            let items: Vec<Result<v1::ListEntry>> = match batch {
                Ok(b) => b.entries.into_iter().map(Ok).collect(),
                Err(s) => vec![Err(s.into())],
            };
            futures::stream::iter(items)
        }))
    }

    /// Metadata of one object.
    ///
    /// # Errors
    /// The daemon's status.
    pub async fn stat(&self, uri: &str) -> Result<v1::ObjectMeta> {
        Ok(self
            .storage
            .clone()
            .stat(v1::StatRequest {
                uri: uri.to_string(),
            })
            .await?
            .into_inner())
    }

    /// Deletes objects or a prefix; yields progress, the last message with `done`.
    ///
    /// # Errors
    /// The daemon's status, on the call or mid-stream (per-key failures come inside progress).
    pub async fn delete(
        &self,
        target: DeleteTarget,
        dry_run: bool,
    ) -> Result<impl Stream<Item = Result<v1::DeleteProgress>> + Send + 'static> {
        use v1::delete_request::Target;
        let target = match target {
            DeleteTarget::Objects(uris) => Target::Objects(v1::UriList { uris }),
            DeleteTarget::Prefix { uri, pattern } => Target::Prefix(v1::PrefixTarget {
                uri,
                pattern: pattern.unwrap_or_default(),
            }),
        };
        let req = v1::DeleteRequest {
            target: Some(target),
            dry_run,
        };
        let stream = self.storage.clone().delete(req).await?.into_inner();
        Ok(stream.map(|m| m.map_err(Error::from)))
    }

    /// Creates a bucket, container or directory.
    ///
    /// # Errors
    /// The daemon's status.
    pub async fn create_bucket(&self, uri: &str) -> Result<()> {
        self.storage
            .clone()
            .create_bucket(v1::BucketRequest {
                uri: uri.to_string(),
            })
            .await?;
        Ok(())
    }

    /// Deletes an empty bucket, container or directory.
    ///
    /// # Errors
    /// The daemon's status (FailedPrecondition when not empty).
    pub async fn delete_bucket(&self, uri: &str) -> Result<()> {
        self.storage
            .clone()
            .delete_bucket(v1::BucketRequest {
                uri: uri.to_string(),
            })
            .await?;
        Ok(())
    }

    /// `Admin.Status`.
    ///
    /// # Errors
    /// The daemon's status.
    pub async fn status(&self) -> Result<v1::StatusResponse> {
        Ok(self
            .admin
            .clone()
            .status(v1::StatusRequest {})
            .await?
            .into_inner())
    }

    /// `Admin.Sessions`.
    ///
    /// # Errors
    /// The daemon's status.
    pub async fn sessions(&self) -> Result<Vec<v1::SessionInfo>> {
        Ok(self
            .admin
            .clone()
            .sessions(v1::SessionsRequest {})
            .await?
            .into_inner()
            .sessions)
    }

    /// `Admin.Stats`; `reset` zeroes the counters after reading.
    ///
    /// # Errors
    /// The daemon's status.
    pub async fn stats(&self, reset: bool) -> Result<v1::StatsResponse> {
        Ok(self
            .admin
            .clone()
            .stats(v1::StatsRequest { reset })
            .await?
            .into_inner())
    }

    /// `Admin.Drain`: returns the operations still in flight at the deadline.
    ///
    /// # Errors
    /// The daemon's status.
    pub async fn drain(&self, deadline_ms: u64) -> Result<u64> {
        Ok(self
            .admin
            .clone()
            .drain(v1::DrainRequest { deadline_ms })
            .await?
            .into_inner()
            .in_flight)
    }

    /// `Admin.Shutdown`.
    ///
    /// # Errors
    /// The daemon's status.
    pub async fn shutdown(&self, deadline_ms: u64) -> Result<()> {
        self.admin
            .clone()
            .shutdown(v1::ShutdownRequest { deadline_ms })
            .await?;
        Ok(())
    }
}

impl Client {
    /// `Admin.OplogStart`: starts the node's op-log (`path` empty: the configured one).
    ///
    /// # Errors
    /// The daemon's status (already active, no path, file not writable).
    pub async fn oplog_start(
        &self,
        path: &str,
        format: &str,
        plain: bool,
    ) -> Result<v1::OplogInfo> {
        let req = v1::OplogStartRequest {
            path: path.to_string(),
            format: format.to_string(),
            plain,
        };
        Ok(self.admin.clone().oplog_start(req).await?.into_inner())
    }

    /// `Admin.OplogStop`: flushes every accepted row and closes the file.
    ///
    /// # Errors
    /// The daemon's status (not active).
    pub async fn oplog_stop(&self) -> Result<v1::OplogInfo> {
        Ok(self
            .admin
            .clone()
            .oplog_stop(v1::OplogStopRequest {})
            .await?
            .into_inner())
    }

    /// `Admin.OplogRotate`: closes the current file into `PATH.1` and starts a new one.
    ///
    /// # Errors
    /// The daemon's status (not active, rename failed).
    pub async fn oplog_rotate(&self) -> Result<v1::OplogInfo> {
        Ok(self
            .admin
            .clone()
            .oplog_rotate(v1::OplogRotateRequest {})
            .await?
            .into_inner())
    }

    /// `Admin.OplogStatus`.
    ///
    /// # Errors
    /// The daemon's status.
    pub async fn oplog_status(&self) -> Result<v1::OplogInfo> {
        Ok(self
            .admin
            .clone()
            .oplog_status(v1::OplogStatusRequest {})
            .await?
            .into_inner())
    }
}

/// Turns the tagged, possibly interleaved message stream into whole items.
fn reassemble(
    responses: tonic::Streaming<v1::GetManyResponse>,
) -> impl Stream<Item = Result<ManyItem>> + Send + 'static {
    let pending: HashMap<u64, (v1::ObjectHeader, BytesMut)> = HashMap::new();
    futures::stream::unfold(
        (responses, pending),
        |(mut responses, mut pending)| async move {
            loop {
                let msg = match responses.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => return None,
                    Err(s) => return Some((Err(Error::from(s)), (responses, pending))),
                };
                let tag = msg.tag;
                let done = match msg.kind {
                    Some(get_many_response::Kind::Header(h)) => {
                        let cap = h.length as usize;
                        pending.insert(tag, (h, BytesMut::with_capacity(cap)));
                        msg.last
                    }
                    Some(get_many_response::Kind::Data(d)) => match pending.get_mut(&tag) {
                        Some((_, buf)) => {
                            buf.extend_from_slice(&d);
                            msg.last
                        }
                        None => {
                            let e =
                                Error::Protocol(format!("get_many: data for unknown tag {tag}"));
                            return Some((Err(e), (responses, pending)));
                        }
                    },
                    Some(get_many_response::Kind::Error(e)) => {
                        pending.remove(&tag);
                        let code = tonic::Code::from_i32(e.code);
                        let item = ManyItem {
                            tag,
                            result: Err(Error::Status {
                                code,
                                message: e.message,
                            }),
                        };
                        return Some((Ok(item), (responses, pending)));
                    }
                    Some(get_many_response::Kind::Shm(_)) | None => {
                        let e =
                            Error::Protocol(format!("get_many: unexpected message for tag {tag}"));
                        return Some((Err(e), (responses, pending)));
                    }
                };
                if done {
                    let (header, buf) = pending
                        .remove(&tag)
                        .expect("tag was inserted by its header");
                    let item = ManyItem {
                        tag,
                        result: Ok((header, buf.freeze())),
                    };
                    return Some((Ok(item), (responses, pending)));
                }
            }
        },
    )
}
