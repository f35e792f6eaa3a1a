//! `Storage.Delete`: a list of objects, or a prefix (optionally regex-filtered), deleted with
//! bounded concurrency while the listing is still running; progress streams back at most every
//! 100 ms, with every per-key failure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use regex::Regex;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use s3dlio_proto::v1::{self, delete_request::Target};
use s3dlio_store::{filter_listing, BoxStream, Caller, ListEntry, ListOptions, Location};

use crate::metrics::Op;
use crate::sessions::Session;
use crate::state::Daemon;
use crate::status::{code_of, invalid, to_status};

pub type DeleteStream = ReceiverStream<Result<v1::DeleteProgress, Status>>;

/// What the listing side hands to the deleting side.
enum Item {
    Object(Location),
    /// A key that cannot be deleted before even trying (a bad URI).
    Bad(v1::KeyError),
}

const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// Flush progress early when this many errors or dry-run URIs are pending.
const PENDING_FLUSH: usize = 1000;

pub fn delete(
    daemon: Arc<Daemon>,
    session: Arc<Session>,
    caller: Caller,
    req: v1::DeleteRequest,
) -> Result<DeleteStream, Status> {
    let source = match req.target {
        None => return Err(Status::invalid_argument("delete: name objects or a prefix")),
        Some(Target::Objects(list)) => {
            if list.uris.is_empty() {
                return Err(Status::invalid_argument("delete: the object list is empty"));
            }
            objects_source(list.uris)
        }
        Some(Target::Prefix(p)) => prefix_source(&daemon, &caller, p)?,
    };
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run(daemon, session, caller, source, req.dry_run, tx));
    Ok(ReceiverStream::new(rx))
}

fn objects_source(uris: Vec<String>) -> BoxStream<'static, Result<Item, Status>> {
    Box::pin(futures::stream::iter(uris.into_iter().map(|uri| {
        Ok(
            match Location::parse(&uri).and_then(|l| l.require_object("delete").map(|()| l)) {
                Ok(l) => Item::Object(l),
                Err(e) => Item::Bad(v1::KeyError {
                    uri,
                    code: code_of(&e) as i32,
                    message: e.to_string(),
                }),
            },
        )
    })))
}

fn prefix_source(
    daemon: &Daemon,
    caller: &Caller,
    p: v1::PrefixTarget,
) -> Result<BoxStream<'static, Result<Item, Status>>, Status> {
    let (store, location) = daemon.registry.resolve(&p.uri, caller).map_err(to_status)?;
    if location.scheme.is_local() && location.key.trim_end_matches('/').is_empty() {
        return Err(invalid(
            "delete",
            &p.uri,
            "refusing to delete everything under the file system root",
        ));
    }
    let pattern = match p.pattern.as_str() {
        "" => None,
        pat => Some(
            Regex::new(pat).map_err(|e| invalid("delete", &p.uri, format!("bad pattern: {e}")))?,
        ),
    };
    let listing = filter_listing(
        &location,
        pattern,
        store.list(&location, ListOptions { recursive: true }),
    );
    Ok(Box::pin(listing.filter_map(|entry| {
        futures::future::ready(match entry {
            Ok(ListEntry::Object(m)) => Some(Ok(Item::Object(m.location))),
            Ok(ListEntry::Prefix(_)) => None,
            Err(e) => Some(Err(to_status(e))),
        })
    })))
}

async fn run(
    daemon: Arc<Daemon>,
    session: Arc<Session>,
    caller: Caller,
    source: BoxStream<'static, Result<Item, Status>>,
    dry_run: bool,
    tx: mpsc::Sender<Result<v1::DeleteProgress, Status>>,
) {
    let listed = Arc::new(AtomicU64::new(0));
    let counted = {
        let listed = listed.clone();
        source.inspect(move |_| {
            listed.fetch_add(1, Ordering::Relaxed);
        })
    };
    let concurrency = daemon.config.delete.concurrency as usize;
    let mut outcomes = counted
        .map(|item| {
            let (daemon, session, caller) = (daemon.clone(), session.clone(), caller.clone());
            async move {
                match item? {
                    Item::Bad(err) => Ok(Err(err)),
                    Item::Object(location) if dry_run => Ok(Ok(location.to_string())),
                    Item::Object(location) => {
                        Ok(delete_one(&daemon, session, &caller, location).await)
                    }
                }
            }
        })
        .buffer_unordered(concurrency);

    let mut progress = v1::DeleteProgress::default();
    let mut last_sent = tokio::time::Instant::now();
    loop {
        tokio::select! {
            next = outcomes.next() => match next {
                None => break,
                Some(Err(fatal)) => {
                    let _ = tx.send(Err(fatal)).await;
                    return;
                }
                Some(Ok(Ok(uri))) => {
                    if dry_run {
                        progress.dry_run_uris.push(uri);
                    } else {
                        progress.deleted += 1;
                    }
                }
                Some(Ok(Err(err))) => {
                    progress.failed += 1;
                    progress.errors.push(err);
                }
            },
            _ = tokio::time::sleep_until(last_sent + PROGRESS_EVERY) => {}
        }
        let pending = progress.errors.len() + progress.dry_run_uris.len();
        if pending >= PENDING_FLUSH || last_sent.elapsed() >= PROGRESS_EVERY {
            progress.listed = listed.load(Ordering::Relaxed);
            if tx.send(Ok(take_progress(&mut progress))).await.is_err() {
                return; // the client went away: stop deleting
            }
            last_sent = tokio::time::Instant::now();
        }
    }
    progress.listed = listed.load(Ordering::Relaxed);
    progress.done = true;
    let _ = tx.send(Ok(progress)).await;
}

/// Sends the running totals and clears the per-message lists.
fn take_progress(p: &mut v1::DeleteProgress) -> v1::DeleteProgress {
    v1::DeleteProgress {
        listed: p.listed,
        deleted: p.deleted,
        failed: p.failed,
        errors: std::mem::take(&mut p.errors),
        dry_run_uris: std::mem::take(&mut p.dry_run_uris),
        done: false,
    }
}

async fn delete_one(
    daemon: &Arc<Daemon>,
    session: Arc<Session>,
    caller: &Caller,
    location: Location,
) -> Result<String, v1::KeyError> {
    let mut guard = daemon.guard(session, Op::Delete);
    let uri = location.to_string();
    guard.target(&uri);
    let result = async {
        daemon
            .registry
            .store_for(&location, caller)?
            .delete(&location)
            .await
    }
    .await;
    guard
        .check(result)
        .map(|()| uri.clone())
        .map_err(|e| v1::KeyError {
            uri,
            code: code_of(&e) as i32,
            message: e.to_string(),
        })
}
