//! `Storage.Delete`: a list of objects, or a prefix (optionally regex-filtered), deleted with
//! bounded concurrency while the listing is still running; progress streams back at most every
//! 100 ms, with every per-key failure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use regex::Regex;
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use s3dlio_proto::v1::{self, delete_request::Target};
use s3dlio_store::{
    filter_listing, BoxStream, Caller, ListEntry, ListOptions, Location, ObjectStore,
};

use crate::metrics::Op;
use crate::sessions::Session;
use crate::state::Daemon;
use crate::status::{code_of, invalid, to_status};

pub type DeleteStream = ReceiverStream<Result<v1::DeleteProgress, Status>>;

/// The objects to delete, as the listing (or the request) yields them.
type Source = BoxStream<'static, Result<Item, Status>>;

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
    // Named objects go one by one (a missing one is NOT_FOUND); listed ones in the
    // backend's batches (S3: 1,000 keys a request).
    let (source, batcher) = match req.target {
        None => return Err(Status::invalid_argument("delete: name objects or a prefix")),
        Some(Target::Objects(list)) => {
            if list.uris.is_empty() {
                return Err(Status::invalid_argument("delete: the object list is empty"));
            }
            (objects_source(list.uris), None)
        }
        Some(Target::Prefix(p)) => prefix_source(&daemon, &caller, p)?,
    };
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(run(
        daemon,
        session,
        caller,
        source,
        batcher,
        req.dry_run,
        tx,
    ));
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

/// The listing of a prefix target, and its store if that deletes listed objects in batches.
fn prefix_source(
    daemon: &Daemon,
    caller: &Caller,
    p: v1::PrefixTarget,
) -> Result<(Source, Option<Arc<dyn ObjectStore>>), Status> {
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
    let batcher = (store.delete_batch_size() > 1).then_some(store);
    let items = listing.filter_map(|entry| {
        futures::future::ready(match entry {
            Ok(ListEntry::Object(m)) => Some(Ok(Item::Object(m.location))),
            Ok(ListEntry::Prefix(_)) => None,
            Err(e) => Some(Err(to_status(e))),
        })
    });
    Ok((Box::pin(items), batcher))
}

/// Requests in flight for `listed` objects so far: the seed's rule (1 below 10 objects, 10
/// below 100, a tenth of them up to 100 below 10,000, a tenth up to 1,000 above), so a small
/// delete stays gentle and a large one ramps up as its listing grows.
fn adaptive_concurrency(listed: u64) -> usize {
    match listed {
        0..10 => 1,
        10..100 => 10,
        100..10_000 => (listed / 10).min(100) as usize,
        _ => (listed / 10).min(1000) as usize,
    }
}

async fn run(
    daemon: Arc<Daemon>,
    session: Arc<Session>,
    caller: Caller,
    source: BoxStream<'static, Result<Item, Status>>,
    batcher: Option<Arc<dyn ObjectStore>>,
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
    // Deleting starts with the first page of the listing; requests in flight grow with what
    // has been listed (`adaptive_concurrency`), up to `[delete] concurrency`.
    let max = (daemon.config.delete.concurrency as usize).max(1);
    let permits = Arc::new(Semaphore::new(1));
    let mut granted = 1usize;
    let listed_now = listed.clone();
    let batch = batcher.as_ref().map_or(1, |s| s.delete_batch_size());
    let mut outcomes = counted
        .ready_chunks(batch)
        .map(move |items| {
            let want = adaptive_concurrency(listed_now.load(Ordering::Relaxed)).min(max);
            if want > granted {
                permits.add_permits(want - granted);
                granted = want;
            }
            let (daemon, session, caller) = (daemon.clone(), session.clone(), caller.clone());
            let (permits, batcher) = (permits.clone(), batcher.clone());
            async move {
                let _permit = permits.acquire_owned().await.expect("never closed");
                let mut out = Vec::with_capacity(items.len());
                let mut objects = Vec::new();
                for item in items {
                    match item? {
                        Item::Bad(err) => out.push(Err(err)),
                        Item::Object(location) if dry_run => out.push(Ok(location.to_string())),
                        Item::Object(location) => objects.push(location),
                    }
                }
                match batcher {
                    Some(store) if !objects.is_empty() => {
                        out.extend(delete_listed(&daemon, &session, &*store, objects).await)
                    }
                    _ => {
                        for location in objects {
                            out.push(delete_one(&daemon, session.clone(), &caller, location).await);
                        }
                    }
                }
                Ok::<_, Status>(out)
            }
        })
        .buffer_unordered(max);

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
                Some(Ok(batch)) => {
                    for outcome in batch {
                        match outcome {
                            Ok(uri) if dry_run => progress.dry_run_uris.push(uri),
                            Ok(_) => progress.deleted += 1,
                            Err(err) => {
                                progress.failed += 1;
                                progress.errors.push(err);
                            }
                        }
                    }
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

/// Deletes listed objects with the backend's batch requests; one op-log row per key, each
/// with the batch's latency.
async fn delete_listed(
    daemon: &Arc<Daemon>,
    session: &Arc<Session>,
    store: &dyn ObjectStore,
    objects: Vec<Location>,
) -> Vec<Result<String, v1::KeyError>> {
    let mut guards: std::collections::HashMap<String, crate::state::OpGuard> = objects
        .iter()
        .map(|l| {
            let uri = l.to_string();
            let mut g = daemon.guard(session.clone(), Op::Delete);
            g.target(&uri);
            (uri, g)
        })
        .collect();
    store
        .delete_listed(objects)
        .await
        .into_iter()
        .map(|(location, result)| {
            let uri = location.to_string();
            let result = match guards.get_mut(&uri) {
                Some(g) => g.check(result),
                None => result,
            };
            result.map(|()| uri.clone()).map_err(|e| v1::KeyError {
                uri,
                code: code_of(&e) as i32,
                message: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::adaptive_concurrency;

    #[test]
    fn concurrency_follows_the_seed_rule() {
        assert_eq!(adaptive_concurrency(0), 1);
        assert_eq!(adaptive_concurrency(9), 1);
        assert_eq!(adaptive_concurrency(10), 10);
        assert_eq!(adaptive_concurrency(500), 50);
        assert_eq!(adaptive_concurrency(9_999), 100);
        assert_eq!(adaptive_concurrency(10_000), 1000);
        assert_eq!(adaptive_concurrency(10_000_000), 1000);
    }
}
