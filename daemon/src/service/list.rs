//! `Storage.List`: the store's sorted listing, regex-filtered, in batches.

use futures::{Stream, StreamExt};
use regex::Regex;
use tonic::Status;

use s3dlio_proto::v1;
use s3dlio_store::{filter_listing, Caller, ListOptions};

use crate::convert;
use crate::state::{Daemon, OpGuard};
use crate::status::{invalid, to_status};

pub type ListStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<v1::ListResponse, Status>> + Send>>;

const DEFAULT_BATCH: usize = 1000;
const MAX_BATCH: usize = 10_000;

pub fn list(
    daemon: &Daemon,
    mut guard: OpGuard,
    caller: Caller,
    req: v1::ListRequest,
) -> Result<ListStream, Status> {
    guard.target(&req.uri);
    let (store, location) = guard
        .check(daemon.registry.resolve(&req.uri, &caller))
        .map_err(to_status)?;
    let pattern = match req.pattern.as_str() {
        "" => None,
        p => Some(
            guard
                .check(Regex::new(p))
                .map_err(|e| invalid("list", &req.uri, format!("bad pattern: {e}")))?,
        ),
    };
    let batch = match req.batch_size as usize {
        0 => DEFAULT_BATCH,
        n => n.min(MAX_BATCH),
    };
    let entries = filter_listing(
        &location,
        pattern,
        store.list(
            &location,
            ListOptions {
                recursive: req.recursive,
            },
        ),
    );
    let mut listed = 0u64;
    let stream = entries.ready_chunks(batch).flat_map(move |chunk| {
        let mut out = Vec::with_capacity(2);
        let mut entries = Vec::with_capacity(chunk.len());
        for item in chunk {
            match item {
                Ok(e) => entries.push(convert::list_entry(&e)),
                Err(e) => {
                    guard.fail(&e);
                    if !entries.is_empty() {
                        out.push(Ok(v1::ListResponse {
                            entries: std::mem::take(&mut entries),
                        }));
                    }
                    out.push(Err(to_status(e)));
                    break;
                }
            }
        }
        listed += entries.len() as u64;
        guard.objects(listed);
        if !entries.is_empty() {
            out.push(Ok(v1::ListResponse { entries }));
        }
        futures::stream::iter(out)
    });
    Ok(Box::pin(stream))
}
