//! `Storage.GetMany`: items stream in, results stream out in completion order.
//!
//! A driver task admits items while fewer than `concurrency` are in flight (the permit is held
//! until the item's last message is queued), so memory is bounded by the concurrency and the
//! output channel, whatever the number of items. Each item is fetched on its own task.

use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use s3dlio_proto::v1::{self, get_many_request, get_many_response::Kind, Delivery};
use s3dlio_store::Caller;

use crate::convert;
use crate::metrics::Op;
use crate::sessions::Session;
use crate::shm::{self, SessionArena};
use crate::state::Daemon;
use crate::status::code_of;

use super::get::{fetch, fetch_into, rechunk};

pub type GetManyStream = ReceiverStream<Result<v1::GetManyResponse, Status>>;

type Tx = mpsc::Sender<Result<v1::GetManyResponse, Status>>;

pub async fn get_many(
    daemon: Arc<Daemon>,
    session: Arc<Session>,
    caller: Caller,
    mut input: Streaming<v1::GetManyRequest>,
) -> Result<GetManyStream, Status> {
    let mut options = v1::GetManyOptions::default();
    let mut first_item = None;
    match input.message().await? {
        Some(v1::GetManyRequest {
            kind: Some(get_many_request::Kind::Options(o)),
        }) => options = o,
        Some(v1::GetManyRequest {
            kind: Some(get_many_request::Kind::Item(i)),
        }) => first_item = Some(i),
        Some(v1::GetManyRequest { kind: None }) => {
            return Err(Status::invalid_argument("get_many: empty request message"))
        }
        None => {}
    }
    let arena = if options.delivery() == Delivery::Shm {
        Some(shm::session_arena(&session, "get_many", "(stream)")?)
    } else {
        None
    };
    let limits = &daemon.config.get_many;
    let concurrency = match options.concurrency {
        0 => limits.default_concurrency,
        n => n.min(limits.max_concurrency),
    } as usize;
    let chunk = convert::chunk_size(options.chunk_size);
    let (tx, rx) = mpsc::channel(concurrency.max(16) * 2);
    tokio::spawn(drive(
        daemon,
        session,
        caller,
        input,
        first_item,
        concurrency,
        chunk,
        arena,
        tx,
    ));
    Ok(ReceiverStream::new(rx))
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    daemon: Arc<Daemon>,
    session: Arc<Session>,
    caller: Caller,
    mut input: Streaming<v1::GetManyRequest>,
    mut first_item: Option<v1::GetManyItem>,
    concurrency: usize,
    chunk: usize,
    arena: Option<Arc<SessionArena>>,
    tx: Tx,
) {
    let permits = Arc::new(Semaphore::new(concurrency));
    loop {
        let item = match first_item.take() {
            Some(i) => i,
            None => match input.message().await {
                Ok(Some(v1::GetManyRequest {
                    kind: Some(get_many_request::Kind::Item(i)),
                })) => i,
                Ok(Some(_)) => {
                    let _ = tx
                        .send(Err(Status::invalid_argument(
                            "get_many: options may only come as the first message",
                        )))
                        .await;
                    return;
                }
                Ok(None) => return,
                Err(status) => {
                    tracing::debug!(%status, "get_many: client stream ended with an error");
                    return;
                }
            },
        };
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("semaphore is never closed"),
            _ = tx.closed() => return,
        };
        let (daemon, session, caller, tx, arena) = (
            daemon.clone(),
            session.clone(),
            caller.clone(),
            tx.clone(),
            arena.clone(),
        );
        tokio::spawn(async move {
            // A client that goes away stops its fetches, including ones waiting for space.
            tokio::select! {
                _ = async {
                    match arena {
                        Some(arena) => fetch_item_shm(&daemon, session, &caller, item, arena, &tx).await,
                        None => fetch_item(&daemon, session, &caller, item, chunk, &tx).await,
                    }
                } => {}
                _ = tx.closed() => {}
            }
            drop(permit);
        });
    }
}

/// DELIVERY_SHM: the item is one message, its header inside the slice (or the header alone,
/// `last`, for an empty range).
async fn fetch_item_shm(
    daemon: &Arc<Daemon>,
    session: Arc<Session>,
    caller: &Caller,
    item: v1::GetManyItem,
    arena: Arc<SessionArena>,
    tx: &Tx,
) {
    let mut guard = daemon.guard(session, Op::Get);
    guard.target(&item.uri);
    let result = fetch_into(daemon, caller, &item.uri, convert::range(item.range), arena).await;
    let kind = match result {
        Ok(r) => {
            let header = convert::header(&r.meta, &r.range);
            match r.dest {
                Some(dest) => {
                    guard.first_byte();
                    let slice = shm::publish(dest);
                    guard.add_bytes(slice.len, false);
                    Kind::Shm(shm::to_proto(slice, Some(header)))
                }
                None => Kind::Header(header),
            }
        }
        Err(e) => {
            guard.fail(&e);
            Kind::Error(v1::ItemError {
                code: code_of(&e) as i32,
                message: e.to_string(),
                uri: item.uri.clone(),
            })
        }
    };
    let _ = tx
        .send(Ok(v1::GetManyResponse {
            tag: item.tag,
            kind: Some(kind),
            last: true,
        }))
        .await;
}

async fn fetch_item(
    daemon: &Arc<Daemon>,
    session: Arc<Session>,
    caller: &Caller,
    item: v1::GetManyItem,
    chunk: usize,
    tx: &Tx,
) {
    let mut guard = daemon.guard(session, Op::Get);
    guard.target(&item.uri);
    let tag = item.tag;
    let msg = |kind, last| {
        Ok(v1::GetManyResponse {
            tag,
            kind: Some(kind),
            last,
        })
    };
    let error = |e: s3dlio_store::Error| {
        msg(
            Kind::Error(v1::ItemError {
                code: code_of(&e) as i32,
                message: e.to_string(),
                uri: item.uri.clone(),
            }),
            true,
        )
    };
    let result = match fetch(daemon, caller, &item.uri, convert::range(item.range), chunk).await {
        Ok(r) => r,
        Err(e) => {
            guard.fail(&e);
            let _ = tx.send(error(e)).await;
            return;
        }
    };
    let length = result.range.end - result.range.start;
    if tx
        .send(msg(
            Kind::Header(convert::header(&result.meta, &result.range)),
            length == 0,
        ))
        .await
        .is_err()
    {
        return;
    }
    let mut sent = 0u64;
    let mut body = rechunk(result.body, chunk);
    while let Some(part) = body.next().await {
        let out = match part {
            Ok(data) => {
                guard.first_byte();
                sent += data.len() as u64;
                guard.add_bytes(data.len() as u64, false);
                msg(Kind::Data(data), sent >= length)
            }
            Err(e) => {
                guard.fail(&e);
                error(e)
            }
        };
        let stop = matches!(out, Ok(v1::GetManyResponse { last: true, .. }));
        if tx.send(out).await.is_err() || stop {
            return;
        }
    }
    if sent < length {
        let e = s3dlio_store::Error::Unavailable {
            op: "get",
            uri: item.uri.clone(),
            reason: format!("the backend ended the body after {sent} of {length} bytes"),
        };
        guard.fail(&e);
        let _ = tx.send(error(e)).await;
    }
}
