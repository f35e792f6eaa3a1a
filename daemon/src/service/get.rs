//! `Storage.Get`: a header, then the payload as inline chunks streamed as the backend reads,
//! or (DELIVERY_SHM) as one slice of the session's arena, written there by the backend.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tonic::Status;

use s3dlio_proto::v1::{self, get_response::Kind, Delivery};
use s3dlio_store::{Caller, GetIntoResult, GetOptions, GetResult};

use crate::convert;
use crate::shm;
use crate::state::{Daemon, OpGuard};
use crate::status::to_status;

pub type GetStream = std::pin::Pin<Box<dyn Stream<Item = Result<v1::GetResponse, Status>> + Send>>;

pub async fn get(
    daemon: &Daemon,
    mut guard: OpGuard,
    caller: Caller,
    req: v1::GetRequest,
) -> Result<GetStream, Status> {
    guard.target(&req.uri);
    if req.delivery() == Delivery::Shm {
        return get_shm(daemon, guard, caller, req).await;
    }
    let chunk = convert::chunk_size(req.chunk_size);
    let result = fetch(daemon, &caller, &req.uri, convert::range(req.range), chunk).await;
    let result = guard.check(result).map_err(to_status)?;
    let header = v1::GetResponse {
        kind: Some(Kind::Header(convert::header(&result.meta, &result.range))),
    };
    let body = rechunk(result.body, chunk).map(move |item| match item {
        Ok(data) => {
            guard.first_byte();
            guard.add_bytes(data.len() as u64, false);
            Ok(v1::GetResponse {
                kind: Some(Kind::Data(data)),
            })
        }
        Err(e) => {
            guard.fail(&e);
            Err(to_status(e))
        }
    });
    Ok(Box::pin(
        futures::stream::once(async { Ok(header) }).chain(body),
    ))
}

/// DELIVERY_SHM: reserve, fill, publish; two messages (header, slice).
async fn get_shm(
    daemon: &Daemon,
    mut guard: OpGuard,
    caller: Caller,
    req: v1::GetRequest,
) -> Result<GetStream, Status> {
    let arena = guard.check(shm::session_arena(guard.session(), "get", &req.uri))?;
    let result = fetch_into(daemon, &caller, &req.uri, convert::range(req.range), arena).await;
    let result = guard.check(result).map_err(to_status)?;
    let mut out = vec![Ok(v1::GetResponse {
        kind: Some(Kind::Header(convert::header(&result.meta, &result.range))),
    })];
    if let Some(dest) = result.dest {
        guard.first_byte();
        let slice = shm::publish(dest);
        guard.add_bytes(slice.len, false);
        out.push(Ok(v1::GetResponse {
            kind: Some(Kind::Shm(shm::to_proto(slice, None))),
        }));
    }
    Ok(Box::pin(futures::stream::iter(out)))
}

/// Resolves one object and reads it into the session's arena.
pub async fn fetch_into(
    daemon: &Daemon,
    caller: &Caller,
    uri: &str,
    range: Option<s3dlio_store::GetRange>,
    arena: std::sync::Arc<shm::SessionArena>,
) -> s3dlio_store::Result<GetIntoResult> {
    let (store, location) = daemon.registry.resolve(uri, caller)?;
    location.require_object("get")?;
    let mut reserve = shm::ShmReserve::new(arena, uri);
    store
        .get_into(
            &location,
            GetOptions {
                range,
                chunk_size: 0,
                ..Default::default()
            },
            &mut reserve,
        )
        .await
}

/// Resolves and opens one object for reading.
pub async fn fetch(
    daemon: &Daemon,
    caller: &Caller,
    uri: &str,
    range: Option<s3dlio_store::GetRange>,
    chunk: usize,
) -> s3dlio_store::Result<GetResult> {
    let (store, location) = daemon.registry.resolve(uri, caller)?;
    location.require_object("get")?;
    store
        .get(
            &location,
            GetOptions {
                range,
                chunk_size: chunk,
                ..Default::default()
            },
        )
        .await
}

/// Splits body chunks larger than `max` into zero-copy slices of at most `max` bytes.
pub fn rechunk<S>(body: S, max: usize) -> impl Stream<Item = s3dlio_store::Result<Bytes>> + Send
where
    S: Stream<Item = s3dlio_store::Result<Bytes>> + Send,
{
    body.flat_map(move |item| {
        let parts: Vec<_> = match item {
            Ok(b) if b.len() > max => (0..b.len())
                .step_by(max)
                .map(|i| Ok(b.slice(i..(i + max).min(b.len()))))
                .collect(),
            other => vec![other],
        };
        futures::stream::iter(parts)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rechunk_splits_without_copying_and_keeps_order() {
        let big = Bytes::from((0..10u8).collect::<Vec<_>>());
        let input = futures::stream::iter(vec![Ok(big.clone()), Ok(Bytes::from_static(b"xy"))]);
        let out: Vec<Bytes> = rechunk(input, 4).map(|r| r.unwrap()).collect().await;
        assert_eq!(
            out.iter().map(|b| b.len()).collect::<Vec<_>>(),
            vec![4, 4, 2, 2]
        );
        assert_eq!(out[..3].concat(), big.to_vec());
        assert_eq!(
            out[1].as_ptr(),
            big[4..].as_ptr(),
            "slices share the original buffer"
        );
    }
}
