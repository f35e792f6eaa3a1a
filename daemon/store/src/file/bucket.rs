//! Buckets of the local-file backends: directories.
//!
//! `create-bucket` makes a directory and its missing parents (mode 0755 less the umask,
//! owned by the caller); an existing directory is fine. `delete-bucket` removes one empty
//! directory: never a configured root, never recursively.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use super::FileStore;
use crate::error::{Error, Result};
use crate::uri::Location;

const CREATE: &str = "create-bucket";
const DELETE: &str = "delete-bucket";

/// Creates the directory `location` names, with its parents.
pub(super) async fn create(store: &FileStore, location: &Location) -> Result<()> {
    let uri = location.to_string();
    let (key, u) = (PathBuf::from(&location.key), uri.clone());
    store
        .run(CREATE, &uri, move |b| {
            let path = b.roots.resolve(CREATE, &u, &key)?;
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&path)
                .map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory => {
                        Error::FailedPrecondition {
                            op: CREATE,
                            uri: u.clone(),
                            reason: "a file is in the way: the path or a parent exists and is not a directory".into(),
                        }
                    }
                    _ => Error::from_io(CREATE, &u, e),
                })
        })
        .await
}

/// Removes the empty directory `location` names.
pub(super) async fn delete(store: &FileStore, location: &Location) -> Result<()> {
    let uri = location.to_string();
    let (key, u) = (PathBuf::from(&location.key), uri.clone());
    store
        .run(DELETE, &uri, move |b| {
            if std::fs::canonicalize(&key).is_ok_and(|c| b.roots.paths().contains(&c)) {
                return Err(Error::FailedPrecondition {
                    op: DELETE,
                    uri: u,
                    reason: "is a configured root of this backend".into(),
                });
            }
            let (dir, name) = b.roots.resolve_entry(DELETE, &u, &key)?;
            let path = dir.join(name);
            std::fs::remove_dir(&path).map_err(|e| Error::from_io(DELETE, &u, e))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{fixture, put_bytes};
    use super::*;
    use crate::store::ObjectStore;

    #[tokio::test]
    async fn create_bucket_makes_parents_and_accepts_an_existing_directory() {
        let fx = fixture(false);
        let store = fx.store();
        store.create_bucket(&fx.loc("a/b/c/")).await.unwrap();
        assert!(fx.path("a/b/c").is_dir());
        store.create_bucket(&fx.loc("a/b/c")).await.unwrap();
        put_bytes(&store, &fx.loc("f"), b"x", 0).await.unwrap();
        let e = store.create_bucket(&fx.loc("f/sub")).await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::FailedPrecondition {
                    op: "create-bucket",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn delete_bucket_removes_only_empty_directories() {
        let fx = fixture(false);
        let store = fx.store();
        store.create_bucket(&fx.loc("b/inner")).await.unwrap();
        let e = store.delete_bucket(&fx.loc("b")).await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::FailedPrecondition {
                    op: "delete-bucket",
                    ..
                }
            ),
            "{e}"
        );
        store.delete_bucket(&fx.loc("b/inner/")).await.unwrap();
        store.delete_bucket(&fx.loc("b")).await.unwrap();
        assert!(!fx.path("b").exists());
        let e = store.delete_bucket(&fx.loc("b")).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        put_bytes(&store, &fx.loc("file"), b"x", 0).await.unwrap();
        let e = store.delete_bucket(&fx.loc("file")).await.unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_configured_root_is_never_deleted() {
        let fx = fixture(false);
        let root = crate::Location::parse(&format!("file://{}", fx.root.display())).unwrap();
        let e = fx.store().delete_bucket(&root).await.unwrap_err();
        assert!(e.to_string().contains("is a configured root"), "{e}");
        assert!(fx.root.is_dir());
    }
}
