//! Who a local-file request acts as, and per-thread impersonation of local callers.
//!
//! A client must never read, write or list through the daemon what its own uid could not:
//! - daemon running as root: each blocking step runs with the thread's credentials switched
//!   to the caller's (supplementary groups, then effective gid, then effective uid) through
//!   the raw per-thread system calls (`rustix::thread::set_thread_*`; glibc's wrappers would
//!   switch every thread of the process). Real and saved ids stay 0, so the thread can switch
//!   back; [`Impersonation`]'s `Drop` restores uid, gid and groups in reverse order, on
//!   success, error and panic alike. A root caller needs no switch;
//! - daemon not running as root: it can act only for its own uid (or root's, which it
//!   serves with its own, smaller, permissions); any other uid is refused;
//! - remote (TCP) callers have no credentials: refused;
//! - the daemon itself: its own permissions.
//!
//! Invariants:
//! - a thread never returns to the pool with a caller's credentials. If restoring fails,
//!   which the kernel does not do while the saved uid is 0, the process aborts rather than
//!   serve the next request with the wrong identity;
//! - nothing spawns a thread (or a blocking task, which may start a pool thread) while
//!   impersonating: a new thread inherits the credentials of the thread that creates it,
//!   and would serve later requests as that caller. Code under an [`Impersonation`] does
//!   plain system calls only.

use rustix::process::{Gid, Uid};

use crate::error::{Error, Result};
use crate::identity::{Caller, Identity};

/// What a [`super::FileStore`] acts as, decided once per request.
#[derive(Debug)]
pub(super) enum Access {
    /// The daemon's own credentials.
    AsDaemon,
    /// Switch each blocking thread to this identity (daemon is root, caller is not).
    Impersonate(Identity),
    /// The caller cannot be served; the reason names why.
    Refused(String),
}

impl Access {
    /// Decides how to act for `caller` in a daemon whose effective uid is `daemon_euid`.
    pub(super) fn new(caller: Caller, daemon_euid: u32) -> Self {
        match caller {
            Caller::Daemon => Access::AsDaemon,
            Caller::Remote => {
                Access::Refused("local files are served only over the Unix socket".into())
            }
            Caller::Local(id) if id.uid == 0 || id.uid == daemon_euid => Access::AsDaemon,
            Caller::Local(id) if daemon_euid != 0 => Access::Refused(format!(
                "s3dliod runs as uid {daemon_euid} and cannot act for uid {}; \
                 run it as root to serve several users",
                id.uid
            )),
            Caller::Local(id) => {
                // -1 means "unchanged" to set*id(2): never a valid identity to switch to.
                let invalid =
                    id.uid == u32::MAX || id.gid == u32::MAX || id.groups.contains(&u32::MAX);
                if invalid {
                    Access::Refused(format!("invalid caller identity {id:?}"))
                } else {
                    Access::Impersonate(id)
                }
            }
        }
    }

    /// Refuses a caller this backend cannot act for.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`] naming `op` and `uri`, with the reason.
    pub(super) fn check(&self, op: &'static str, uri: &str) -> Result<()> {
        match self {
            Access::Refused(reason) => Err(Error::PermissionDenied {
                op,
                uri: uri.to_string(),
                reason: reason.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Switches the current (blocking-pool) thread to the caller's credentials until the
    /// returned guard is dropped. Must not be called on a runtime worker thread.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`] for a refused caller or when the kernel refuses a switch
    /// (the thread is then back to the daemon's credentials).
    pub(super) fn enter(&self, op: &'static str, uri: &str) -> Result<Option<Impersonation>> {
        self.check(op, uri)?;
        let Access::Impersonate(id) = self else {
            return Ok(None);
        };
        Impersonation::switch_to(id)
            .map(Some)
            .map_err(|e| Error::PermissionDenied {
                op,
                uri: uri.to_string(),
                reason: format!("cannot switch to uid {} gid {}: {e}", id.uid, id.gid),
            })
    }
}

/// The current thread acting as a caller; dropping it restores the daemon's credentials.
#[derive(Debug)]
pub(super) struct Impersonation {
    saved_uid: Uid,
    saved_gid: Gid,
    saved_groups: Vec<Gid>,
    groups_set: bool,
    gid_set: bool,
    uid_set: bool,
}

impl Impersonation {
    fn switch_to(id: &Identity) -> rustix::io::Result<Self> {
        let mut guard = Impersonation {
            saved_uid: rustix::process::geteuid(),
            saved_gid: rustix::process::getegid(),
            saved_groups: rustix::process::getgroups()?,
            groups_set: false,
            gid_set: false,
            uid_set: false,
        };
        // On an early return the guard restores whatever was already switched.
        let groups: Vec<Gid> = id.groups.iter().map(|&g| Gid::from_raw(g)).collect();
        rustix::thread::set_thread_groups(&groups)?;
        guard.groups_set = true;
        rustix::thread::set_thread_res_gid(None, Gid::from_raw(id.gid), None)?;
        guard.gid_set = true;
        rustix::thread::set_thread_res_uid(None, Uid::from_raw(id.uid), None)?;
        guard.uid_set = true;
        Ok(guard)
    }
}

impl Drop for Impersonation {
    fn drop(&mut self) {
        // Reverse order: the uid first, which gives back the capabilities the gid and group
        // switches need.
        if self.uid_set {
            restore_or_abort(
                "uid",
                rustix::thread::set_thread_res_uid(None, self.saved_uid, None),
            );
        }
        if self.gid_set {
            restore_or_abort(
                "gid",
                rustix::thread::set_thread_res_gid(None, self.saved_gid, None),
            );
        }
        if self.groups_set {
            restore_or_abort(
                "groups",
                rustix::thread::set_thread_groups(&self.saved_groups),
            );
        }
    }
}

fn restore_or_abort(what: &str, result: rustix::io::Result<()>) {
    if let Err(e) = result {
        tracing::error!("cannot restore the daemon's {what} after acting for a caller: {e}");
        eprintln!(
            "s3dliod: cannot restore the daemon's {what} after acting for a caller: {e}; aborting"
        );
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(uid: u32) -> Caller {
        Caller::Local(Identity {
            uid,
            gid: uid,
            groups: vec![],
        })
    }

    #[test]
    fn a_non_root_daemon_serves_only_its_own_uid_and_root() {
        assert!(matches!(Access::new(local(1000), 1000), Access::AsDaemon));
        assert!(matches!(Access::new(local(0), 1000), Access::AsDaemon));
        let a = Access::new(local(1001), 1000);
        let e = a.check("get", "file:///x").unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }));
        assert!(
            e.to_string()
                .contains("s3dliod runs as uid 1000 and cannot act for uid 1001"),
            "{e}"
        );
    }

    #[test]
    fn a_root_daemon_impersonates_every_other_uid() {
        assert!(matches!(Access::new(local(0), 0), Access::AsDaemon));
        assert!(matches!(
            Access::new(local(65534), 0),
            Access::Impersonate(_)
        ));
        assert!(matches!(
            Access::new(local(u32::MAX), 0),
            Access::Refused(_)
        ));
    }

    #[test]
    fn remote_callers_are_refused_and_the_daemon_acts_as_itself() {
        let e = Access::new(Caller::Remote, 0)
            .check("list", "file:///")
            .unwrap_err();
        assert!(e.to_string().contains("only over the Unix socket"), "{e}");
        assert!(matches!(
            Access::new(Caller::Daemon, 1000),
            Access::AsDaemon
        ));
    }

    #[test]
    fn impersonation_switches_this_thread_only_and_restores_it() {
        assert!(
            rustix::process::geteuid().is_root(),
            "this test must run as root: it checks per-thread credential switching"
        );
        let access = Access::new(
            Caller::Local(Identity {
                uid: 65534,
                gid: 65534,
                groups: vec![65533],
            }),
            0,
        );
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || {
            wait.recv().unwrap();
            rustix::process::geteuid().as_raw()
        });
        {
            let _g = access.enter("get", "u").unwrap().expect("impersonates");
            assert_eq!(rustix::process::geteuid().as_raw(), 65534);
            assert_eq!(rustix::process::getegid().as_raw(), 65534);
            assert_eq!(rustix::process::getuid().as_raw(), 0, "real uid stays 0");
            let groups = rustix::process::getgroups().unwrap();
            assert_eq!(groups, vec![Gid::from_raw(65533)]);
            // A thread that was already running keeps the daemon's credentials.
            go.send(()).unwrap();
            assert_eq!(other.join().unwrap(), 0);
        }
        assert!(rustix::process::geteuid().is_root());
        assert!(rustix::process::getegid().is_root());
    }

    #[test]
    fn a_panic_while_impersonating_restores_the_thread() {
        assert!(
            rustix::process::geteuid().is_root(),
            "this test must run as root: it checks per-thread credential switching"
        );
        let access = Access::new(local(65534), 0);
        let r = std::panic::catch_unwind(|| {
            let _g = access.enter("get", "u").unwrap();
            panic!("boom");
        });
        assert!(r.is_err());
        assert!(rustix::process::geteuid().is_root());
    }

    mod through_the_store {
        use super::super::super::testutil::{fixture, get_range, list_keys, put_bytes};
        use super::*;
        use crate::store::{ListOptions, ObjectStore};
        use futures::StreamExt;
        use std::os::unix::fs::{MetadataExt, PermissionsExt};

        const NOBODY: u32 = 65534;

        fn nobody() -> Caller {
            Caller::Local(Identity {
                uid: NOBODY,
                gid: NOBODY,
                groups: vec![],
            })
        }

        fn chmod(path: &std::path::Path, mode: u32) {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }

        fn must_be_root() {
            assert!(
                rustix::process::geteuid().is_root(),
                "these tests must run as root: they check that the daemon acts with each \
                 caller's own permissions (run `cargo test` as root, e.g. in the CI container)"
            );
        }

        #[tokio::test]
        async fn a_caller_cannot_read_list_or_write_what_its_uid_could_not() {
            must_be_root();
            let fx = fixture(false);
            chmod(&fx.root, 0o755);
            std::fs::write(fx.path("secret"), b"root only").unwrap();
            chmod(&fx.path("secret"), 0o600);
            std::fs::create_dir(fx.path("private")).unwrap();
            std::fs::write(fx.path("private/f"), b"x").unwrap();
            chmod(&fx.path("private"), 0o700);
            std::fs::create_dir(fx.path("rootdir")).unwrap();
            chmod(&fx.path("rootdir"), 0o755);
            let store = fx.store_as(nobody());

            let e = get_range(&store, &fx.loc("secret"), None, 0)
                .await
                .unwrap_err();
            assert!(
                matches!(e, Error::PermissionDenied { op: "get", .. }),
                "{e}"
            );
            let e = list_keys(&store, &fx.loc("private/"), true)
                .await
                .unwrap_err();
            assert!(
                matches!(e, Error::PermissionDenied { op: "list", .. }),
                "{e}"
            );
            assert_eq!(
                e.uri(),
                fx.loc("private/").to_string(),
                "names the unreadable directory"
            );
            // A walk from above reaches the directory and stops there, naming it.
            let e = list_keys(&store, &fx.loc(""), true).await.unwrap_err();
            assert_eq!(e.uri(), fx.loc("private/").to_string(), "{e}");
            let e = store.head(&fx.loc("private/f")).await.unwrap_err();
            assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
            let e = put_bytes(&store, &fx.loc("rootdir/new"), b"x", 0)
                .await
                .unwrap_err();
            assert!(
                matches!(e, Error::PermissionDenied { op: "put", .. }),
                "{e}"
            );
            assert_eq!(std::fs::read_dir(fx.path("rootdir")).unwrap().count(), 0);
            let e = store.delete(&fx.loc("secret")).await.unwrap_err();
            assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
            let e = store
                .create_bucket(&fx.loc("rootdir/sub"))
                .await
                .unwrap_err();
            assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
            // The daemon itself still can.
            assert_eq!(
                get_range(&fx.store(), &fx.loc("secret"), None, 0)
                    .await
                    .unwrap(),
                &b"root only"[..]
            );
        }

        #[tokio::test]
        async fn a_caller_reads_what_it_may_and_owns_what_it_writes() {
            must_be_root();
            let fx = fixture(false);
            chmod(&fx.root, 0o755);
            std::fs::write(fx.path("public"), b"everyone").unwrap();
            chmod(&fx.path("public"), 0o644);
            std::fs::create_dir(fx.path("mine")).unwrap();
            std::os::unix::fs::chown(fx.path("mine"), Some(NOBODY), Some(NOBODY)).unwrap();
            let store = fx.store_as(nobody());

            assert_eq!(
                get_range(&store, &fx.loc("public"), None, 0).await.unwrap(),
                &b"everyone"[..]
            );
            put_bytes(&store, &fx.loc("mine/a/obj"), b"data", 0)
                .await
                .unwrap();
            let file = std::fs::metadata(fx.path("mine/a/obj")).unwrap();
            let dir = std::fs::metadata(fx.path("mine/a")).unwrap();
            assert_eq!((file.uid(), file.gid()), (NOBODY, NOBODY));
            assert_eq!((dir.uid(), dir.gid()), (NOBODY, NOBODY));
            assert_eq!(
                file.mode() & 0o7777 & !0o644,
                0,
                "at most 0644 (less the umask)"
            );
            assert_eq!(
                dir.mode() & 0o7777 & !0o755,
                0,
                "at most 0755 (less the umask)"
            );
            assert_eq!(file.mode() & 0o600, 0o600, "the owner can read and write");
            let listed = list_keys(&store, &fx.loc("mine/"), true).await.unwrap();
            assert_eq!(listed, vec![fx.loc("mine/a/obj").key]);
            store.delete(&fx.loc("mine/a/obj")).await.unwrap();
            store.delete_bucket(&fx.loc("mine/a")).await.unwrap();
            // Credentials of the blocking pool's threads were restored after every request.
            let root_view = tokio::task::spawn_blocking(|| rustix::process::geteuid().as_raw());
            assert_eq!(root_view.await.unwrap(), 0);
        }

        #[tokio::test]
        async fn remote_callers_get_nothing_from_local_files() {
            let fx = fixture(false);
            std::fs::write(fx.path("f"), b"x").unwrap();
            let store = fx.store_as(Caller::Remote);
            let errors = [
                get_range(&store, &fx.loc("f"), None, 0).await.unwrap_err(),
                put_bytes(&store, &fx.loc("g"), b"x", 0).await.unwrap_err(),
                store.head(&fx.loc("f")).await.unwrap_err(),
                store.delete(&fx.loc("f")).await.unwrap_err(),
                store.create_bucket(&fx.loc("d")).await.unwrap_err(),
                store
                    .list(&fx.loc(""), ListOptions::default())
                    .next()
                    .await
                    .unwrap()
                    .unwrap_err(),
            ];
            for e in errors {
                assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
                assert!(e.to_string().contains("only over the Unix socket"), "{e}");
            }
            assert!(!fx.path("g").exists() && !fx.path("d").exists());
        }
    }
}
