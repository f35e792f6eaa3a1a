//! Where the daemon listens by default: one rule for the daemon and every client.

use std::path::PathBuf;

/// Environment variable that names the socket for both `s3dliod` and its clients.
pub const SOCKET_ENV: &str = "S3DLIOD_SOCKET";

/// The default socket path, ignoring `S3DLIOD_SOCKET`:
/// `/run/s3dliod/s3dliod.sock` for root, else `$XDG_RUNTIME_DIR/s3dliod.sock`,
/// else `/tmp/s3dliod-$UID.sock`.
pub fn default_socket_path() -> PathBuf {
    let uid = current_uid();
    if uid == 0 {
        return PathBuf::from("/run/s3dliod/s3dliod.sock");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("s3dliod.sock"),
        _ => PathBuf::from(format!("/tmp/s3dliod-{uid}.sock")),
    }
}

/// The real uid of this process, read from `/proc/self` (no libc call, no `unsafe`).
fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_ends_with_a_socket_name() {
        let p = default_socket_path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("s3dliod"), "{p:?}");
        assert!(name.ends_with(".sock"), "{p:?}");
    }
}
