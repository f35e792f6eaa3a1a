//! Range arithmetic of the RangeEngine: how one read is cut into chunks.
//!
//! Offsets here are absolute byte positions in the object; a plan covers its range exactly,
//! in order, with no gap and no overlap.

use std::ops::Range;

/// Cuts `range` into pieces of `chunk` bytes (the last one shorter), in order.
///
/// # Panics
/// If `chunk` is 0 (configuration validation forbids it).
pub fn chunks(range: Range<u64>, chunk: u64) -> Vec<Range<u64>> {
    assert!(chunk > 0, "chunk size must be positive");
    let mut out =
        Vec::with_capacity(range.end.saturating_sub(range.start).div_ceil(chunk) as usize);
    let mut at = range.start;
    while at < range.end {
        let end = range.end.min(at.saturating_add(chunk));
        out.push(at..end);
        at = end;
    }
    out
}

/// The rest of a read after its first request returned `first`: what is still to fetch of
/// `wanted`, cut into chunks. Empty when the first response covered everything.
pub fn rest(wanted: Range<u64>, first: Range<u64>, chunk: u64) -> Vec<Range<u64>> {
    chunks(first.end.max(wanted.start)..wanted.end, chunk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_exact_multiple_gives_equal_chunks() {
        assert_eq!(chunks(0..12, 4), vec![0..4, 4..8, 8..12]);
        assert_eq!(chunks(5..6, 4), vec![5..6]);
        assert!(chunks(7..7, 4).is_empty());
    }

    #[test]
    fn the_rest_starts_where_the_first_response_ended() {
        assert_eq!(rest(0..10, 0..4, 4), vec![4..8, 8..10]);
        assert!(rest(0..4, 0..4, 4).is_empty());
    }

    proptest! {
        #[test]
        fn chunks_cover_the_range_in_order_without_gaps(
            start in 0u64..1 << 40, len in 0u64..1 << 30, chunk in 1u64..1 << 26,
        ) {
            let range = start..start + len;
            let parts = chunks(range.clone(), chunk);
            let mut at = range.start;
            for p in &parts {
                prop_assert_eq!(p.start, at);
                prop_assert!(p.end > p.start && p.end - p.start <= chunk);
                at = p.end;
            }
            prop_assert_eq!(at, range.end);
            prop_assert_eq!(parts.len() as u64, len.div_ceil(chunk));
        }
    }
}
