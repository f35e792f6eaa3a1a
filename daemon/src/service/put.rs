//! `Storage.Put`: a header, then chunks (or generated data), written through the store's
//! atomic put without ever holding the whole body.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use tonic::{Status, Streaming};

use s3dlio_proto::v1::{self, put_request::Kind};
use s3dlio_store::{Caller, Error, PutBody, PutOptions};

use crate::generate::generated_body;
use crate::state::{Daemon, OpGuard};
use crate::status::{invalid, to_status};

pub async fn put(
    daemon: &Daemon,
    mut guard: OpGuard,
    caller: Caller,
    mut input: Streaming<v1::PutRequest>,
) -> Result<v1::PutResponse, Status> {
    let header = match input.message().await? {
        Some(v1::PutRequest {
            kind: Some(Kind::Header(h)),
        }) => h,
        _ => {
            let status = Status::invalid_argument(
                "put: the first message must be a PutHeader naming the URI",
            );
            guard.fail(status.message());
            return Err(status);
        }
    };
    let uri = header.uri.clone();
    guard.target(&uri);
    let received = Arc::new(AtomicU64::new(0));
    let result = async {
        let (store, location) = daemon.registry.resolve(&uri, &caller).map_err(to_status)?;
        location.require_object("put").map_err(to_status)?;
        let (body, size): (PutBody, Option<u64>) = match header.generate {
            Some(g) => {
                if header.size.is_some_and(|s| s != g.size) {
                    return Err(invalid("put", &uri, "size and generate.size differ"));
                }
                (
                    Box::pin(generated_body(&uri, g.seed, g.size).map(Ok)),
                    Some(g.size),
                )
            }
            None => (
                client_body(input, uri.clone(), received.clone()),
                header.size,
            ),
        };
        let content_type = Some(header.content_type).filter(|c| !c.is_empty());
        store
            .put(&location, body, PutOptions { size, content_type })
            .await
            .map_err(to_status)
    }
    .await;
    let received = received.load(Ordering::Relaxed);
    guard.add_session_bytes(received, true);
    guard.set_bytes(result.as_ref().map_or(received, |done| done.size));
    let done = guard.check(result)?;
    Ok(v1::PutResponse {
        uri,
        size: done.size,
        etag: done.etag.unwrap_or_default(),
    })
}

/// The client's data messages as a put body; anything else aborts the put.
fn client_body(input: Streaming<v1::PutRequest>, uri: String, received: Arc<AtomicU64>) -> PutBody {
    Box::pin(input.map(move |msg| match msg {
        Ok(v1::PutRequest {
            kind: Some(Kind::Data(data)),
        }) => {
            received.fetch_add(data.len() as u64, Ordering::Relaxed);
            Ok(data)
        }
        Ok(_) => Err(Error::InvalidArgument {
            op: "put",
            uri: uri.clone(),
            reason: "only data messages may follow the PutHeader".into(),
        }),
        Err(status) => Err(Error::Unavailable {
            op: "put",
            uri: uri.clone(),
            reason: format!("the client's stream broke: {}", status.message()),
        }),
    }))
}
