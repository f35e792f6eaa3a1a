//! A daemon running as root must not let a client read, write or list what the client's own
//! uid could not: the client here runs as `nobody` (65534) through `s3dlioctl`.

use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use s3dlio_e2e::{bin, TestDaemon};

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

struct AsNobody {
    ctl: PathBuf,
    socket: PathBuf,
}

impl AsNobody {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.ctl)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .uid(NOBODY)
            .gid(NOBODY)
            .current_dir("/")
            .output()
            .expect("run s3dlioctl as nobody")
    }
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_client_gets_exactly_its_own_uids_permissions() {
    assert!(
        is_root(),
        "this test checks the root daemon's impersonation and must run as root (CI does)"
    );
    let d = TestDaemon::start_with_config("socket_mode = \"0666\"\n");
    let root = d.dir.path();
    chmod(root, 0o755);
    // s3dlioctl where nobody can execute it.
    let ctl = root.join("s3dlioctl");
    std::fs::copy(bin("s3dlioctl"), &ctl).unwrap();
    chmod(&ctl, 0o755);
    let nobody = AsNobody {
        ctl,
        socket: d.socket.clone(),
    };

    std::fs::write(root.join("secret.bin"), b"root only").unwrap();
    chmod(&root.join("secret.bin"), 0o600);
    std::fs::write(root.join("public.bin"), b"for everyone").unwrap();
    chmod(&root.join("public.bin"), 0o644);
    std::fs::create_dir(root.join("private")).unwrap();
    std::fs::write(root.join("private/x"), b"x").unwrap();
    chmod(&root.join("private"), 0o700);
    std::fs::create_dir(root.join("rootdir")).unwrap();
    chmod(&root.join("rootdir"), 0o755);
    std::fs::create_dir(root.join("mine")).unwrap();
    chown(root.join("mine"), Some(NOBODY), Some(NOBODY)).unwrap();

    let uri = |rel: &str| format!("file://{}/{rel}", root.display());
    let denied = |out: Output, what: &str| {
        assert!(!out.status.success(), "{what} should be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("permission denied"), "{what}: {err}");
    };

    denied(
        nobody.run(&["get", &uri("secret.bin"), "-o", "-"]),
        "reading a 0600 root file",
    );
    denied(
        nobody.run(&["stat", &uri("private/x")]),
        "stat inside a 0700 root dir",
    );
    denied(
        nobody.run(&["ls", "-r", &uri("private/")]),
        "listing a 0700 root dir",
    );
    denied(
        nobody.run(&["put", "/etc/hostname", &uri("rootdir/new.bin")]),
        "writing into a root-owned dir",
    );
    assert!(!root.join("rootdir/new.bin").exists());
    denied(
        nobody.run(&["rm", &uri("public.bin")]),
        "deleting from a root-owned dir",
    );
    assert!(root.join("public.bin").exists());

    let out = nobody.run(&["get", &uri("public.bin"), "-o", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"for everyone");

    let out = nobody.run(&["put", "/etc/hostname", &uri("mine/new.bin")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = std::fs::metadata(root.join("mine/new.bin")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        (meta.uid(), meta.gid()),
        (NOBODY, NOBODY),
        "files are created as the client"
    );

    // Root itself, through the same daemon, still reads the secret.
    let out = d.ctl(["get", &uri("secret.bin"), "-o", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"root only");
}

#[test]
fn paths_outside_the_configured_roots_are_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(scratch.path().join("outside.bin"), b"outside").unwrap();
    std::os::unix::fs::symlink(scratch.path().join("outside.bin"), data.join("escape.bin"))
        .unwrap();
    std::fs::write(data.join("inside.bin"), b"inside").unwrap();

    let d2 = TestDaemon::start_with_config(&format!("[file]\nroots = [\"{}\"]\n", data.display()));
    let ok = d2.ctl([
        "get",
        &format!("file://{}/inside.bin", data.display()),
        "-o",
        "-",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(ok.stdout, b"inside");
    for uri in [
        format!("file://{}/escape.bin", data.display()),
        "file:///etc/hostname".to_string(),
    ] {
        let out = d2.ctl(["get", &uri, "-o", "-"]);
        assert!(!out.status.success(), "{uri} should be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("outside the configured roots"), "{uri}: {err}");
    }
}
