//! Test harness: starts the real `s3dliod` binary on a socket in a temporary directory, waits
//! until it answers, and hands out clients and `s3dlioctl` runs against it.
//!
//! The binaries must be built first (`cargo build --workspace --bins`; `tests/run.sh` does it):
//! a missing binary is a failure with that instruction, never a skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub use s3dlio_client::Client;

pub mod proxy;

/// Path of a workspace binary next to the test executable (`target/<profile>/NAME`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/test-hash → target/<profile>/NAME
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile> directory");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first with `cargo build --workspace --bins` (tests/run.sh does)",
        path.display()
    );
    path
}

/// A running daemon, killed when dropped.
pub struct TestDaemon {
    child: Option<Child>,
    pub socket: PathBuf,
    /// Scratch directory of the test: socket, config, log, data.
    pub dir: tempfile::TempDir,
    log: PathBuf,
}

impl TestDaemon {
    /// Starts a daemon with the default configuration.
    pub fn start() -> Self {
        Self::start_with_config("")
    }

    /// Starts a daemon with extra TOML configuration.
    pub fn start_with_config(toml: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("s3dliod-e2e-")
            .tempdir()
            .expect("tempdir");
        let socket = dir.path().join("s3dliod.sock");
        let mut d = TestDaemon {
            child: None,
            socket,
            dir,
            log: PathBuf::new(),
        };
        d.spawn(toml);
        d
    }

    /// Starts another daemon process on this daemon's socket (after this one stopped).
    pub fn restart(&mut self, toml: &str) {
        assert!(self.child.is_none(), "stop the daemon before restarting it");
        self.spawn(toml);
    }

    fn spawn(&mut self, toml: &str) {
        let config = self.dir.path().join("config.toml");
        std::fs::write(&config, toml).expect("write config");
        self.log = self.dir.path().join(format!(
            "daemon-{}.log",
            Instant::now().elapsed().as_nanos()
        ));
        let log = std::fs::File::create(&self.log).expect("log file");
        let child = Command::new(bin("s3dliod"))
            .arg("--socket")
            .arg(&self.socket)
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            .env_remove("S3DLIOD_SOCKET")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn s3dliod");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("try_wait"))
            {
                panic!(
                    "s3dliod exited with {status} before serving; log:\n{}",
                    self.log_text()
                );
            }
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "s3dliod did not serve within 30 s; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    /// A client connected to this daemon.
    pub async fn client(&self) -> Client {
        Client::connect(Some(&self.socket), Some("e2e"))
            .await
            .expect("connect to the test daemon")
    }

    /// Runs `s3dlioctl --socket <socket> ARGS...` and returns its output.
    pub fn ctl<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Command::new(bin("s3dlioctl"))
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run s3dlioctl")
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).expect("pid is positive");
        rustix::process::kill_process(pid, signal).expect("signal the daemon");
    }

    /// Waits for the daemon to exit (up to `timeout`) and returns its status.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("daemon running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "s3dliod did not exit within {timeout:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs the daemon, leaving its socket behind as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A path inside the test's scratch directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `file://` URI of a path inside the scratch directory.
    pub fn file_uri(&self, rel: &str) -> String {
        format!("file://{}", self.path(rel).display())
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Hex SHA-256 of a buffer.
pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Deterministic test bytes.
pub fn pattern_bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The stdout of a run as text, asserting it succeeded.
pub fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

/// The stderr of a run as text, asserting it failed.
pub fn err_stderr(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "command unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).expect("utf-8 stderr")
}

/// The Python of the checkout's `.venv` (created by `tests/run.sh`, with the packages the tests
/// use), or `S3DLIO_TEST_PYTHON`. Missing is a failure with the instruction, never a skip.
pub fn python() -> PathBuf {
    let path = std::env::var_os("S3DLIO_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    assert!(
        path.exists(),
        "{} is missing: run tests/run.sh, which creates .venv with the test packages",
        path.display()
    );
    path
}

/// A variable `tests/servers/start.sh` exports, or a failure saying how to get it.
pub fn server_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test needs the real S3 server; run it with \
             `bash tests/run.sh`, or `bash tests/servers/start.sh` and source .test-servers/env"
        )
    })
}

/// The daemon's `[s3]` table for SeaweedFS (or a proxy in front of it) at `endpoint`, with
/// these keys; more keys of the table may follow it.
pub fn s3_table(endpoint: &str, key: &str, secret: &str) -> String {
    format!(
        "[s3]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\nforce_path_style = true\n\
         access_key_id = \"{key}\"\nsecret_access_key = \"{secret}\"\n"
    )
}

/// A [`proxy::Proxy`] in front of SeaweedFS, a daemon whose `[s3]` goes through it (with
/// `extra` TOML appended), and a fresh bucket name (`s3://...`, not yet created).
pub fn s3_behind_proxy(extra: &str) -> (proxy::Proxy, TestDaemon, String) {
    let proxy = proxy::Proxy::start(&server_var("S3DLIO_TEST_SEAWEED_ENDPOINT"));
    let table = s3_table(
        &proxy.endpoint(),
        &server_var("S3DLIO_TEST_S3_ACCESS_KEY"),
        &server_var("S3DLIO_TEST_S3_SECRET_KEY"),
    );
    let d = TestDaemon::start_with_config(&format!("{table}{extra}\n"));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let bucket = format!("s3://e2e-{}-{nanos:x}", std::process::id());
    (proxy, d, bucket)
}

/// Runs a prefix delete to the end; `(deleted, failed, error messages)`.
pub async fn delete_prefix(
    c: &s3dlio_client::Client,
    uri: &str,
    pattern: Option<&str>,
) -> (u64, u64, Vec<String>) {
    use futures::StreamExt;
    let target = s3dlio_client::DeleteTarget::Prefix {
        uri: uri.to_string(),
        pattern: pattern.map(str::to_string),
    };
    let mut progress = std::pin::pin!(c.delete(target, false).await.unwrap());
    let (mut deleted, mut failed, mut errors) = (0, 0, vec![]);
    while let Some(p) = progress.next().await {
        let p = p.unwrap();
        deleted = p.deleted;
        failed = p.failed;
        errors.extend(p.errors.into_iter().map(|e| e.message));
    }
    (deleted, failed, errors)
}

/// Objects below `uri`, listed recursively.
pub async fn count(c: &s3dlio_client::Client, uri: &str) -> usize {
    use futures::StreamExt;
    let mut n = 0;
    let mut entries = std::pin::pin!(c.list(uri, true, None).await.unwrap());
    while let Some(e) = entries.next().await {
        e.unwrap();
        n += 1;
    }
    n
}
