//! `direct://`: O_DIRECT reads and writes with aligned buffers, offsets and lengths.
//!
//! - Buffers: a zeroed `Vec` one alignment longer than needed, used from its first aligned
//!   byte; reads hand out `Bytes::from(vec).slice(..)` of it, so no byte is copied after the
//!   kernel's DMA.
//! - Reads: the aligned superset of the requested range is read and the range sliced out; a
//!   short read at the end of the file (whose size need not be aligned) is expected.
//! - Writes: chunks are gathered into an aligned buffer and written in full aligned blocks;
//!   the last partial block is padded with zeros and the file cut back to its real size with
//!   `set_len` before the rename makes it visible.
//! - Never a silent fallback to buffered I/O: a file system that refuses O_DIRECT (open fails
//!   with `EINVAL`) is [`Error::FailedPrecondition`]. So is tmpfs, which accepts the flag since
//!   Linux 6.6 but keeps every page in memory anyway (older kernels refuse it): `direct://`
//!   there would measure the page cache while claiming to bypass it.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;

use bytes::Bytes;

use crate::error::{Error, Result};

/// `O_DIRECT` for `OpenOptionsExt::custom_flags`.
pub(super) const O_DIRECT: i32 = rustix::fs::OFlags::DIRECT.bits() as i32;

/// `statfs.f_type` of tmpfs and ramfs: memory-only file systems.
const TMPFS_MAGIC: i128 = 0x0102_1994;
const RAMFS_MAGIC: i128 = 0x8584_58f6;

/// The error for a file system that refuses O_DIRECT or where it would be meaningless.
pub(super) fn refused(op: &'static str, uri: &str) -> Error {
    Error::FailedPrecondition {
        op,
        uri: uri.to_string(),
        reason: "the file system refuses O_DIRECT (tmpfs does: it keeps every page in memory); \
                 use file:// there"
            .into(),
    }
}

/// Maps an I/O error of an O_DIRECT read or write: `EINVAL` there means the alignment is
/// smaller than the device needs.
pub(super) fn io_error(op: &'static str, uri: &str, align: usize, err: io::Error) -> Error {
    if err.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) {
        Error::FailedPrecondition {
            op,
            uri: uri.to_string(),
            reason: format!(
                "O_DIRECT refused I/O aligned to {align} bytes ({err}); \
                 raise [direct] alignment to the device's block size"
            ),
        }
    } else {
        Error::from_io(op, uri, err)
    }
}

/// True for an `open` error that means "this file system does not do O_DIRECT".
pub(super) fn is_refusal(err: &io::Error) -> bool {
    err.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
}

/// Refuses an open O_DIRECT file on a memory-only file system.
///
/// # Errors
/// [`refused`] on tmpfs or ramfs; the OS error if `fstatfs` fails.
pub(super) fn check_file(file: &File, op: &'static str, uri: &str) -> Result<()> {
    let fs = rustix::fs::fstatfs(file).map_err(|e| Error::from_io(op, uri, e.into()))?;
    check_fs_type(i128::from(fs.f_type), op, uri)
}

/// Refuses a directory on a memory-only file system before a put writes into it.
///
/// # Errors
/// As [`check_file`].
pub(super) fn check_dir(dir: &Path, op: &'static str, uri: &str) -> Result<()> {
    let fs = rustix::fs::statfs(dir).map_err(|e| Error::from_io(op, uri, e.into()))?;
    check_fs_type(i128::from(fs.f_type), op, uri)
}

fn check_fs_type(f_type: i128, op: &'static str, uri: &str) -> Result<()> {
    if f_type == TMPFS_MAGIC || f_type == RAMFS_MAGIC {
        Err(refused(op, uri))
    } else {
        Ok(())
    }
}

/// A zeroed buffer of `len` bytes whose start is aligned to `align`.
struct AlignedBuf {
    vec: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new(len: usize, align: usize) -> Self {
        let vec = vec![0u8; len + align];
        // Not `align_offset`, which may legally answer "cannot align" (usize::MAX).
        let start = (align - vec.as_ptr().addr() % align) % align;
        AlignedBuf { vec, start, len }
    }

    fn as_slice(&self) -> &[u8] {
        &self.vec[self.start..self.start + self.len]
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.vec[self.start..self.start + self.len]
    }

    /// The bytes `range` (relative to the aligned start), without copying.
    fn into_bytes(self, range: Range<usize>) -> Bytes {
        Bytes::from(self.vec).slice(self.start + range.start..self.start + range.end)
    }
}

/// Reads `range` of an O_DIRECT file through its aligned superset.
///
/// # Errors
/// The OS error, or `UnexpectedEof` if the file ends before `range.end` (it shrank after
/// the size was taken).
pub(super) fn read_aligned(file: &File, range: Range<u64>, align: usize) -> io::Result<Bytes> {
    if range.is_empty() {
        return Ok(Bytes::new());
    }
    let a = align as u64;
    let start = range.start - range.start % a;
    let end = range.end.next_multiple_of(a);
    let len = usize::try_from(end - start).map_err(io::Error::other)?;
    let mut buf = AlignedBuf::new(len, align);
    let dst = buf.as_mut_slice();
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut dst[filled..], start + filled as u64) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                // An unaligned count is the end of the file: the next offset would be
                // unaligned too.
                if n % align != 0 {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let want = (range.start - start) as usize..(range.end - start) as usize;
    if filled < want.end {
        return Err(super::read::shrank());
    }
    Ok(buf.into_bytes(want))
}

/// Writes a stream of chunks to an O_DIRECT file in aligned blocks.
pub(super) struct AlignedWriter {
    file: File,
    buf: AlignedBuf,
    /// Bytes gathered in `buf`, not yet written.
    fill: usize,
    /// Bytes written to the file so far (always a multiple of the alignment).
    written: u64,
    align: usize,
}

impl AlignedWriter {
    /// A writer with a buffer of `buf_len` bytes (a multiple of `align`).
    pub(super) fn new(file: File, buf_len: usize, align: usize) -> Self {
        debug_assert_eq!(buf_len % align, 0);
        AlignedWriter {
            file,
            buf: AlignedBuf::new(buf_len, align),
            fill: 0,
            written: 0,
            align,
        }
    }

    /// The alignment this writer keeps.
    pub(super) fn alignment(&self) -> usize {
        self.align
    }

    /// Appends `data`, writing every buffer that fills up.
    pub(super) fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = (self.buf.len - self.fill).min(data.len());
            self.buf.as_mut_slice()[self.fill..self.fill + n].copy_from_slice(&data[..n]);
            self.fill += n;
            data = &data[n..];
            if self.fill == self.buf.len {
                self.file.write_all_at(self.buf.as_slice(), self.written)?;
                self.written += self.fill as u64;
                self.fill = 0;
            }
        }
        Ok(())
    }

    /// Writes the last, zero-padded block and cuts the file to the bytes actually written.
    pub(super) fn finish(mut self) -> io::Result<File> {
        let size = self.written + self.fill as u64;
        if self.fill > 0 {
            let padded = self.fill.next_multiple_of(self.align);
            self.buf.as_mut_slice()[self.fill..padded].fill(0);
            self.file
                .write_all_at(&self.buf.as_slice()[..padded], self.written)?;
            self.file.set_len(size)?;
        }
        Ok(self.file)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{fixture, get_range, pattern, put_bytes};
    use super::*;
    use crate::store::ObjectStore;
    use crate::GetRange;

    #[test]
    fn aligned_buffers_start_on_the_alignment_and_slice_without_copying() {
        for align in [512, 4096, 65536] {
            let buf = AlignedBuf::new(3 * align, align);
            assert_eq!(buf.as_slice().as_ptr().addr() % align, 0);
            let ptr = buf.as_slice().as_ptr();
            let bytes = buf.into_bytes(1..5);
            assert_eq!(bytes.as_ptr(), ptr.wrapping_add(1));
        }
    }

    #[tokio::test]
    async fn direct_round_trips_sizes_that_are_not_multiples_of_the_alignment() {
        let fx = fixture(true);
        let store = fx.store();
        for size in [0usize, 1, 4095, 4096, 4097, (1 << 20) + 3] {
            let loc = fx.loc(&format!("d/obj-{size}"));
            let data = pattern(size);
            let put = put_bytes(&store, &loc, &data, 1000).await.unwrap();
            assert_eq!(put.size, size as u64);
            assert_eq!(
                std::fs::metadata(fx.path(&format!("d/obj-{size}")))
                    .unwrap()
                    .len(),
                size as u64
            );
            let got = get_range(&store, &loc, None, 0).await.unwrap();
            assert!(got == data[..], "size {size}");
        }
    }

    #[tokio::test]
    async fn direct_reads_unaligned_ranges_in_aligned_chunks() {
        let fx = fixture(true);
        let store = fx.store();
        let size = 3 * 4096 + 123;
        let data = pattern(size);
        let loc = fx.loc("ranges");
        put_bytes(&store, &loc, &data, 4096 * 2 + 7).await.unwrap();
        for (offset, length) in [
            (0u64, Some(1u64)),
            (1, Some(4095)),
            (4095, Some(2)),
            (4097, None),
            (size as u64 - 1, None),
            (100, Some(10_000)),
            (5000, Some(1 << 30)),
        ] {
            let r = GetRange { offset, length };
            // Chunks of 4096 bytes, so unaligned ranges span several aligned reads.
            let got = get_range(&store, &loc, Some(r), 4096).await.unwrap();
            let end = length.map_or(size, |l| (offset + l).min(size as u64) as usize);
            assert!(got == data[offset as usize..end], "{offset} {length:?}");
        }
        let past = store
            .get(
                &loc,
                crate::GetOptions {
                    range: Some(GetRange {
                        offset: size as u64,
                        length: None,
                    }),
                    chunk_size: 0,
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(past, Error::OutOfRange { .. }), "{past}");
    }

    #[tokio::test]
    async fn direct_on_tmpfs_is_a_clear_failed_precondition() {
        let shm =
            tempfile::tempdir_in("/dev/shm").expect("/dev/shm (tmpfs) is needed for this test");
        let fx = super::super::testutil::fixture_in(shm.path(), true);
        let store = fx.store();
        let loc = fx.loc("x");
        let e = put_bytes(&store, &fx.loc("new/dir/x"), b"hello", 0)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition { .. }), "{e}");
        let e = put_bytes(&store, &loc, b"hello", 0).await.unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition { .. }), "{e}");
        assert!(e.to_string().contains("refuses O_DIRECT"), "{e}");
        assert!(e.to_string().contains("use file://"), "{e}");
        std::fs::write(shm.path().join("y"), b"data").unwrap();
        let e = store
            .get(&fx.loc("y"), Default::default())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition { .. }), "{e}");
        // Nothing was left behind by the refused put.
        let names: Vec<_> = std::fs::read_dir(shm.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("y")]);
    }
}
