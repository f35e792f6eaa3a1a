//! Wire types ⇄ store types. Requests are validated here, once, on the way in.

use std::time::SystemTime;

use s3dlio_proto::v1;
use s3dlio_store::{GetRange, ListEntry, ObjectMeta};

/// `SystemTime` → protobuf `Timestamp` (before 1970 clamps to the epoch).
pub fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

pub fn range(r: Option<v1::ByteRange>) -> Option<GetRange> {
    r.map(|r| GetRange {
        offset: r.offset,
        length: r.length,
    })
}

/// Inline chunk size from a request: 0 → default, capped at the maximum.
pub fn chunk_size(requested: u32) -> usize {
    match requested {
        0 => s3dlio_proto::DEFAULT_INLINE_CHUNK as usize,
        n => n.min(s3dlio_proto::MAX_INLINE_CHUNK) as usize,
    }
}

pub fn object_meta(m: &ObjectMeta) -> v1::ObjectMeta {
    v1::ObjectMeta {
        uri: m.location.to_string(),
        size: m.size,
        last_modified: m.last_modified.map(timestamp),
        etag: m.etag.clone().unwrap_or_default(),
        content_type: m.content_type.clone().unwrap_or_default(),
    }
}

pub fn list_entry(e: &ListEntry) -> v1::ListEntry {
    match e {
        ListEntry::Object(m) => v1::ListEntry {
            uri: m.location.to_string(),
            is_prefix: false,
            size: m.size,
            last_modified: m.last_modified.map(timestamp),
        },
        ListEntry::Prefix(l) => v1::ListEntry {
            uri: l.to_string(),
            is_prefix: true,
            size: 0,
            last_modified: None,
        },
    }
}

pub fn header(meta: &ObjectMeta, range: &std::ops::Range<u64>) -> v1::ObjectHeader {
    v1::ObjectHeader {
        object_size: meta.size,
        offset: range.start,
        length: range.end - range.start,
        etag: meta.etag.clone().unwrap_or_default(),
        last_modified: meta.last_modified.map(timestamp),
    }
}
