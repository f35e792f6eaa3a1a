//! Reading put bodies: buffering a stream of chunks up to a part or block size, and checking
//! the size a caller announced. Shared by the cloud backends' staged uploads.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::store::PutBody;

/// Reads chunks until `want` bytes are buffered or the body ends (`true`). A single chunk of
/// exactly the right size is passed on without a copy.
pub(crate) async fn fill(body: &mut PutBody, want: u64) -> Result<(Bytes, bool)> {
    let mut buf = BytesMut::new();
    let mut only: Option<Bytes> = None;
    loop {
        let have = only.as_ref().map_or(buf.len(), Bytes::len) as u64;
        if have >= want {
            break;
        }
        match body.next().await {
            None => {
                return Ok((only.unwrap_or_else(|| buf.freeze()), true));
            }
            Some(chunk) => {
                let chunk = chunk?;
                if chunk.is_empty() {
                    continue;
                }
                if let Some(o) = only.take() {
                    buf.reserve(want as usize);
                    buf.extend_from_slice(&o);
                }
                if buf.is_empty() && (chunk.len() as u64) <= want {
                    only = Some(chunk);
                } else {
                    buf.extend_from_slice(&chunk);
                }
            }
        }
    }
    Ok((only.unwrap_or_else(|| buf.freeze()), false))
}

pub(crate) fn check_size(uri: &str, expected: Option<u64>, got: u64) -> Result<()> {
    match expected {
        Some(n) if n != got => Err(Error::InvalidArgument {
            op: "put",
            uri: uri.to_string(),
            reason: format!("the body has {got} bytes but {n} were announced; nothing was written"),
        }),
        _ => Ok(()),
    }
}
