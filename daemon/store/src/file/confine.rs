//! Confinement of paths to the configured roots.
//!
//! A path is resolved by canonicalising its longest existing ancestor (following every
//! symlink in it) and appending the components that do not exist yet; the result must lie
//! inside one of the canonical roots, or the operation is refused with
//! [`Error::PermissionDenied`]. `..` never reaches here (URI parsing rejects it), so the
//! appended, not-yet-existing components cannot climb out.
//!
//! Two resolutions exist:
//! - [`Roots::resolve`] follows the path to what it finally names: reads, `create-bucket`
//!   and listings use it;
//! - [`Roots::resolve_entry`] resolves only the parent directory and keeps the last name as
//!   it is: put, delete and `delete-bucket` change the directory *entry* (a symlink there is
//!   replaced or removed, never followed), so only the directory they change must be inside.
//!
//! Resolution runs on the blocking pool with the caller's credentials, so it reveals nothing
//! about paths the caller could not look at itself.
//!
//! TOCTOU window: between resolution and the system call that uses the resolved path, someone
//! with write access inside a root can replace a directory of that path with a symlink that
//! leads out of the roots. Every operation runs with the caller's own credentials, so the
//! window never grants a caller more than its own uid can do; it only weakens the roots as a
//! second fence. Closing it needs `openat2(RESOLVE_BENEATH)` relative to a root descriptor
//! for every step (open, mkdir, rename, unlink); the listing walker already opens
//! subdirectories with `O_NOFOLLOW` relative to their parent.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The canonical roots of one backend.
#[derive(Debug, Clone)]
pub(super) struct Roots {
    roots: Vec<PathBuf>,
}

impl Roots {
    /// Canonicalises every root.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (op `configure`) for an empty list or a root that does not
    /// exist, cannot be resolved, or is not a directory.
    pub(super) fn new(roots: &[PathBuf], scheme: &str) -> Result<Self> {
        let bad = |root: &Path, reason: String| Error::InvalidArgument {
            op: "configure",
            uri: format!("{scheme}://{}", root.display()),
            reason,
        };
        if roots.is_empty() {
            return Err(Error::InvalidArgument {
                op: "configure",
                uri: format!("{scheme}://"),
                reason: "no roots configured; give at least one directory (\"/\" for all)".into(),
            });
        }
        let mut canonical = Vec::with_capacity(roots.len());
        for root in roots {
            if !root.is_absolute() {
                return Err(bad(root, "a root must be an absolute path".into()));
            }
            let c = std::fs::canonicalize(root)
                .map_err(|e| bad(root, format!("root directory cannot be resolved: {e}")))?;
            if !c.is_dir() {
                return Err(bad(root, "a root must be a directory".into()));
            }
            canonical.push(c);
        }
        Ok(Roots { roots: canonical })
    }

    /// The canonical roots, for status output and error messages.
    pub(super) fn paths(&self) -> &[PathBuf] {
        &self.roots
    }

    /// True when the canonical path `path` lies inside a root.
    pub(super) fn contains(&self, path: &Path) -> bool {
        self.roots.iter().any(|r| path.starts_with(r))
    }

    /// Resolves `path` (following symlinks) and checks it stays inside the roots.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`] when the resolution leaves the roots; the OS error of a
    /// component that cannot be looked up (permission denied, not a directory...);
    /// [`Error::NotFound`] when a directory on the way is a dangling symlink.
    pub(super) fn resolve(&self, op: &'static str, uri: &str, path: &Path) -> Result<PathBuf> {
        let resolved = resolve_path(path).map_err(|e| Error::from_io(op, uri, e))?;
        self.check(op, uri, resolved)
    }

    /// Resolves the parent of `path` and returns it with the last name, unresolved.
    ///
    /// # Errors
    /// As [`Roots::resolve`] for the parent; [`Error::InvalidArgument`] when `path` has no
    /// last name (`/`).
    pub(super) fn resolve_entry(
        &self,
        op: &'static str,
        uri: &str,
        path: &Path,
    ) -> Result<(PathBuf, OsString)> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Error::InvalidArgument {
                op,
                uri: uri.to_string(),
                reason: "the path names no file".into(),
            });
        };
        Ok((self.resolve(op, uri, parent)?, name.to_os_string()))
    }

    fn check(&self, op: &'static str, uri: &str, resolved: PathBuf) -> Result<PathBuf> {
        if self.contains(&resolved) {
            Ok(resolved)
        } else {
            Err(Error::PermissionDenied {
                op,
                uri: uri.to_string(),
                reason: format!(
                    "resolves to {}, outside the configured roots {:?}",
                    resolved.display(),
                    self.roots
                ),
            })
        }
    }
}

/// Canonicalises the longest existing ancestor of the absolute `path` and appends the rest.
///
/// A dangling symlink as the last component resolves to the link itself (it names nothing
/// a read could follow, and a put replaces it); a dangling symlink further up is an error,
/// since what it would lead to once created cannot be checked.
fn resolve_path(path: &Path) -> io::Result<PathBuf> {
    let mut existing = path.to_path_buf();
    let mut rest: Vec<OsString> = Vec::new();
    loop {
        match std::fs::canonicalize(&existing) {
            Ok(mut out) => {
                out.extend(rest.iter().rev());
                return Ok(out);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                    return Err(e);
                };
                if existing.symlink_metadata().is_ok() && !rest.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{} is a dangling symbolic link", existing.display()),
                    ));
                }
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, PathBuf, Roots) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
        let roots = Roots::new(std::slice::from_ref(&root), "file").unwrap();
        (tmp, root, roots)
    }

    #[test]
    fn missing_components_are_appended_to_the_canonical_ancestor() {
        let (_tmp, root, roots) = setup();
        let p = root.join("sub/new/deeper/file");
        assert_eq!(roots.resolve("put", "u", &p).unwrap(), p);
    }

    #[test]
    fn symlinks_inside_the_roots_are_followed() {
        let (_tmp, root, roots) = setup();
        symlink(root.join("sub"), root.join("alias")).unwrap();
        assert_eq!(
            roots.resolve("get", "u", &root.join("alias/x")).unwrap(),
            root.join("sub/x")
        );
    }

    #[test]
    fn symlink_escaping_the_roots_is_refused() {
        let (tmp, root, roots) = setup();
        symlink(tmp.path().join("outside"), root.join("escape")).unwrap();
        let e = roots
            .resolve("get", "file:///x", &root.join("escape/secret"))
            .unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
        assert!(
            e.to_string().contains("outside the configured roots"),
            "{e}"
        );
    }

    #[test]
    fn path_outside_the_roots_is_refused() {
        let (tmp, _root, roots) = setup();
        let e = roots
            .resolve("get", "u", &tmp.path().join("outside/x"))
            .unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
    }

    #[test]
    fn a_root_that_does_not_exist_is_a_configuration_error() {
        let e = Roots::new(&[PathBuf::from("/definitely/not/here")], "file").unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        assert!(Roots::new(&[], "file").is_err());
        assert!(Roots::new(&[PathBuf::from("relative")], "file").is_err());
    }

    #[test]
    fn entry_resolution_keeps_the_last_name_unresolved() {
        let (tmp, root, roots) = setup();
        symlink(tmp.path().join("outside"), root.join("link")).unwrap();
        let (dir, name) = roots
            .resolve_entry("delete", "u", &root.join("link"))
            .unwrap();
        assert_eq!((dir, name), (root.clone(), OsString::from("link")));
        assert!(roots.resolve_entry("delete", "u", Path::new("/")).is_err());
    }

    #[test]
    fn dangling_symlinks_are_the_entry_itself_at_the_end_and_an_error_on_the_way() {
        let (tmp, root, roots) = setup();
        symlink(tmp.path().join("nowhere"), root.join("dangling")).unwrap();
        assert_eq!(
            roots.resolve("get", "u", &root.join("dangling")).unwrap(),
            root.join("dangling")
        );
        let e = roots
            .resolve("put", "u", &root.join("dangling/x"))
            .unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
    }
}
