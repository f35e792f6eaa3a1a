//! Byte-range arithmetic shared by every backend, so that all of them agree on edge cases.

use std::ops::Range;

use crate::error::{Error, Result};

/// A requested byte range: `length: None` reads to the end of the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GetRange {
    pub offset: u64,
    pub length: Option<u64>,
}

impl GetRange {
    /// Resolves the request against an object of `size` bytes.
    ///
    /// Rules (one for every backend): the offset must be below the size, except that offset 0
    /// is valid on an empty object; a range running past the end is cut at the end; a length
    /// of 0 is invalid (omit it to read to the end).
    ///
    /// # Errors
    /// [`Error::OutOfRange`] when the offset is past the end, [`Error::InvalidArgument`] for
    /// a zero length or an offset + length that overflows.
    pub fn resolve(self, op: &'static str, uri: &str, size: u64) -> Result<Range<u64>> {
        if self.length == Some(0) {
            return Err(Error::InvalidArgument {
                op,
                uri: uri.to_string(),
                reason: "range length 0 is invalid; omit the length to read to the end".into(),
            });
        }
        if self.offset >= size && !(self.offset == 0 && size == 0) {
            return Err(Error::OutOfRange {
                op,
                uri: uri.to_string(),
                offset: self.offset,
                size,
            });
        }
        let end = match self.length {
            None => size,
            Some(len) => self
                .offset
                .checked_add(len)
                .ok_or_else(|| Error::InvalidArgument {
                    op,
                    uri: uri.to_string(),
                    reason: format!("range offset {} + length {len} overflows", self.offset),
                })?,
        };
        Ok(self.offset..end.min(size))
    }
}

/// Checks a backend's answer to a ranged read and returns `(object size, bytes sent)`.
///
/// `content_range` is the answer's `Content-Range` header (`bytes 0-99/1234`), if any, and
/// `length` its `Content-Length`. Every HTTP backend shares these rules, so they agree on a
/// server that ignores the `Range` header or sends another length than asked.
///
/// # Errors
/// [`Error::Io`] for such an answer, or the rules of [`GetRange::resolve`].
pub(crate) fn check_answer(
    uri: &str,
    requested: Option<GetRange>,
    content_range: Option<&str>,
    length: u64,
) -> Result<(u64, Range<u64>)> {
    let io = |msg: String| Error::Io {
        op: "get",
        uri: uri.to_string(),
        source: std::io::Error::other(msg),
    };
    let size = match content_range.and_then(total_of_content_range) {
        Some(total) => total,
        None if requested.is_some_and(|r| r.offset > 0) => {
            return Err(io(
                "the server ignored the Range header (no Content-Range in the response)".into(),
            ));
        }
        None => length,
    };
    let resolved = requested.unwrap_or_default().resolve("get", uri, size)?;
    if resolved.end - resolved.start != length {
        return Err(io(format!(
            "asked for bytes {resolved:?} of {size} but the server sends {length}"
        )));
    }
    Ok((size, resolved))
}

/// `bytes 0-99/1234` → 1234.
fn total_of_content_range(v: &str) -> Option<u64> {
    v.rsplit_once('/')?.1.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edge_cases() {
        let r = |o, l| GetRange {
            offset: o,
            length: l,
        };
        assert_eq!(r(0, None).resolve("get", "u", 0).unwrap(), 0..0);
        assert_eq!(r(0, None).resolve("get", "u", 10).unwrap(), 0..10);
        assert_eq!(r(9, Some(1)).resolve("get", "u", 10).unwrap(), 9..10);
        assert_eq!(r(5, Some(100)).resolve("get", "u", 10).unwrap(), 5..10);
        assert!(matches!(
            r(10, None).resolve("get", "u", 10),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            r(1, None).resolve("get", "u", 0),
            Err(Error::OutOfRange { .. })
        ));
        assert!(matches!(
            r(0, Some(0)).resolve("get", "u", 10),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            r(1, Some(u64::MAX)).resolve("get", "u", 10),
            Err(Error::InvalidArgument { .. })
        ));
    }

    proptest! {
        #[test]
        fn resolved_ranges_stay_inside_the_object(size in 0u64..1 << 40, offset in 0u64..1 << 41, len in proptest::option::of(1u64..1 << 41)) {
            match (GetRange { offset, length: len }).resolve("get", "u", size) {
                Ok(r) => {
                    prop_assert!(r.start <= r.end && r.end <= size);
                    prop_assert_eq!(r.start, offset);
                    if let Some(l) = len { prop_assert!(r.end - r.start <= l); }
                    if len.is_none() { prop_assert_eq!(r.end, size); }
                }
                Err(Error::OutOfRange { .. }) => prop_assert!(offset >= size && !(offset == 0 && size == 0)),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }

    #[test]
    fn content_range_total_is_parsed() {
        assert_eq!(total_of_content_range("bytes 0-99/1234"), Some(1234));
        assert_eq!(total_of_content_range("bytes */0"), Some(0));
        assert_eq!(total_of_content_range("garbage"), None);
    }
}
