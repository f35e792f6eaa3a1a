//! Put Blob for small objects, staged blocks (Put Block × N, then Put Block List) for large ones.
//!
//! The body is read until `block_upload_threshold` bytes have arrived: a body that ends first
//! goes out as one Put Blob. Otherwise blocks of [`AzureConfig::block_size_for`] bytes (so the
//! object fits in 50,000 blocks) are staged with at most `blocks_in_flight` at once, and the
//! block list is committed once every block is staged and the size matches the announced one.
//! Until that commit, staged blocks are invisible: readers see the old blob or none, so a
//! failed put leaves nothing visible; Azure discards uncommitted blocks after a week.
//!
//! [`AzureConfig::block_size_for`]: super::AzureConfig::block_size_for

use std::num::NonZero;

use azure_core::http::{NoFormat, RequestContent};
use azure_storage_blob::models::{
    BlockBlobClientCommitBlockListOptions, BlockBlobClientUploadOptions, BlockLookupList,
};
use bytes::{Bytes, BytesMut};
use futures::stream::FuturesUnordered;
use futures::StreamExt;

use crate::body::{check_size, fill};
use crate::error::{Error, Result};
use crate::store::{PutBody, PutOptions, PutResult};
use crate::uri::Location;

use super::client::Account;
use super::{container_of, AzureStore};

impl AzureStore {
    pub(crate) async fn put_blob(
        &self,
        location: &Location,
        mut body: PutBody,
        options: PutOptions,
    ) -> Result<PutResult> {
        location.require_object("put")?;
        let account = self.account("put", location)?;
        let uri = location.to_string();
        let threshold = account.config.block_upload_threshold;
        let block_size = account.config.block_size_for(options.size);
        let (first, ended) = fill(&mut body, threshold.max(block_size)).await?;
        if ended && (first.len() as u64) < threshold {
            check_size(&uri, options.size, first.len() as u64)?;
            return single_put(&account, location, first, &options).await;
        }
        let (ids, size) = stage_blocks(&account, location, body, first, block_size).await?;
        check_size(&uri, options.size, size)?;
        commit(&account, location, ids, size, &options).await
    }
}

async fn single_put(
    account: &Account,
    location: &Location,
    data: Bytes,
    options: &PutOptions,
) -> Result<PutResult> {
    let uri = location.to_string();
    let size = data.len() as u64;
    let out = account
        .call("put", &uri, || {
            let blob = account
                .blob(container_of(location), &location.key, &uri)?
                .block_blob_client();
            let opts = BlockBlobClientUploadOptions {
                blob_content_type: options.content_type.clone(),
                parallel: Some(NonZero::<usize>::MIN),
                partition_size: NonZero::new(u64::MAX / 2),
                ..BlockBlobClientUploadOptions::default()
            };
            let content = <RequestContent<Bytes, NoFormat> as From<Bytes>>::from(data.clone());
            Ok(async move { blob.upload(content, Some(opts)).await })
        })
        .await?;
    Ok(PutResult {
        size,
        etag: out.etag.map(|e| e.to_string()),
    })
}

/// The id of block `n`: all ids of a blob must have the same length.
fn block_id(n: u64) -> Vec<u8> {
    format!("s3dlio-{n:010}").into_bytes()
}

/// Stages the blocks, `blocks_in_flight` at a time; returns their ids in order and the size.
async fn stage_blocks(
    account: &Account,
    location: &Location,
    body: PutBody,
    first: Bytes,
    block_size: u64,
) -> Result<(Vec<Vec<u8>>, u64)> {
    let mut body = body;
    let in_flight = account.config.blocks_in_flight;
    let mut running = FuturesUnordered::new();
    let mut staged = 0u64;
    let mut total = 0u64;
    let mut number = 0u64;
    let mut pending = first;
    let mut ended = false;
    loop {
        while running.len() < in_flight {
            let block = if pending.len() as u64 >= block_size || (ended && !pending.is_empty()) {
                let n = (block_size as usize).min(pending.len());
                pending.split_to(n)
            } else if ended {
                break;
            } else {
                let (more, end) = fill(&mut body, block_size - pending.len() as u64).await?;
                ended = end;
                if pending.is_empty() {
                    pending = more;
                } else {
                    let mut b = BytesMut::with_capacity(pending.len() + more.len());
                    b.extend_from_slice(&pending);
                    b.extend_from_slice(&more);
                    pending = b.freeze();
                }
                continue;
            };
            if number >= super::MAX_BLOCKS {
                return Err(Error::InvalidArgument {
                    op: "put",
                    uri: location.to_string(),
                    reason: format!(
                        "the body needs more than {} blocks of {block_size} bytes; announce its \
                         size so the block size can grow",
                        super::MAX_BLOCKS
                    ),
                });
            }
            total += block.len() as u64;
            running.push(stage_block(account, location, number, block));
            number += 1;
        }
        match running.next().await {
            None => break,
            Some(r) => {
                r?;
                staged += 1;
            }
        }
    }
    debug_assert_eq!(staged, number);
    Ok(((0..number).map(block_id).collect(), total))
}

async fn stage_block(account: &Account, location: &Location, n: u64, data: Bytes) -> Result<()> {
    let uri = location.to_string();
    let id = block_id(n);
    account
        .call("put", &uri, || {
            let blob = account
                .blob(container_of(location), &location.key, &uri)?
                .block_blob_client();
            let (id, data) = (id.clone(), data.clone());
            Ok(async move {
                let len = data.len() as u64;
                blob.stage_block(
                    &id,
                    len,
                    <RequestContent<Bytes, NoFormat> as From<Bytes>>::from(data),
                    None,
                )
                .await
            })
        })
        .await?;
    Ok(())
}

async fn commit(
    account: &Account,
    location: &Location,
    ids: Vec<Vec<u8>>,
    size: u64,
    options: &PutOptions,
) -> Result<PutResult> {
    let uri = location.to_string();
    let out = account
        .call("put", &uri, || {
            let blob = account
                .blob(container_of(location), &location.key, &uri)?
                .block_blob_client();
            let list = BlockLookupList {
                latest: Some(ids.clone()),
                ..BlockLookupList::default()
            };
            let content: RequestContent<BlockLookupList, _> =
                list.try_into().map_err(|e: azure_core::Error| Error::Io {
                    op: "put",
                    uri: uri.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?;
            let opts = BlockBlobClientCommitBlockListOptions {
                blob_content_type: options.content_type.clone(),
                ..BlockBlobClientCommitBlockListOptions::default()
            };
            Ok(async move { blob.commit_block_list(content, Some(opts)).await })
        })
        .await?;
    use azure_storage_blob::models::BlockBlobClientCommitBlockListResultHeaders;
    Ok(PutResult {
        size,
        etag: out.etag().ok().flatten().map(|e| e.to_string()),
    })
}
