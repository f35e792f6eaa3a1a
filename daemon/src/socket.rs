//! Binding the Unix socket: never steal a live daemon's socket, replace a stale one, and
//! remove ours on exit.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("another s3dliod is already serving on {0}; stop it first or choose another --socket")]
    InUse(PathBuf),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("cannot bind {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

/// Owns the socket path: unlinks it when dropped, if the path still is the socket we bound.
#[derive(Debug)]
pub struct SocketGuard {
    path: PathBuf,
    inode: u64,
}

impl SocketGuard {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        // Only remove the file if it is still ours: a newer daemon may have replaced it.
        if std::fs::symlink_metadata(&self.path)
            .map(|m| m.ino() == self.inode)
            .unwrap_or(false)
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds `path` with permission bits `mode`, creating its directory (0755) if needed.
///
/// An existing socket that accepts connections belongs to a live daemon: refused. One that
/// refuses them is stale (left by a crash): replaced.
///
/// # Errors
/// [`SocketError`], naming the path.
pub fn bind(path: &Path, mode: u32) -> Result<(UnixListener, SocketGuard), SocketError> {
    let io_err = |source| SocketError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(io_err)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .map_err(io_err)?;
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(SocketError::InUse(path.to_path_buf())),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    tracing::warn!(socket = %path.display(), "replacing a stale socket left by a previous daemon");
                    std::fs::remove_file(path).map_err(io_err)?;
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        Ok(_) => return Err(SocketError::NotASocket(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(e)),
    }
    let listener = UnixListener::bind(path).map_err(io_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_err)?;
    let inode = std::fs::symlink_metadata(path).map_err(io_err)?.ino();
    Ok((
        listener,
        SocketGuard {
            path: path.to_path_buf(),
            inode,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn live_socket_is_refused_stale_replaced_file_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/d.sock");
        let (first, _first_guard) = bind(&path, 0o600).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(matches!(bind(&path, 0o600), Err(SocketError::InUse(_))));

        // A socket nobody listens on any more: stale. Dropping the listener without unlinking
        // simulates a crash.
        drop(first);
        let stale = bind(&path, 0o600);
        assert!(stale.is_ok(), "{stale:?}");
        drop(stale);
        assert!(!path.exists(), "dropping the bound socket removes it");

        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, b"keep me").unwrap();
        assert!(matches!(
            bind(&file, 0o600),
            Err(SocketError::NotASocket(_))
        ));
        assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
    }
}
