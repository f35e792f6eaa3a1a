//! Starting and stopping the real daemon: socket ownership, graceful shutdown, config.

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use rustix::process::Signal;
use s3dlio_e2e::{bin, err_stderr, ok_stdout, TestDaemon};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_in_flight_transfer_then_removes_the_socket() {
    let mut d = TestDaemon::start_with_config("shutdown_grace = \"20s\"\n");
    let c = d.client().await;
    let uri = d.file_uri("big.bin");
    c.put_generated(&uri, 256 << 20, 1).await.unwrap();
    let (header, mut body) = c.get_stream(&uri, None).await.unwrap();
    // Take the first chunk, then ask the daemon to stop while the rest is still to come.
    let mut received = body.next().await.unwrap().unwrap().len() as u64;
    d.signal(Signal::TERM);
    while let Some(part) = body.next().await {
        received += part.expect("the in-flight transfer completes").len() as u64;
    }
    assert_eq!(received, header.length);
    let status = d.wait(Duration::from_secs(30));
    assert!(status.success(), "exit status {status}");
    assert!(!d.socket.exists(), "the socket is removed on exit");
    assert!(d.log_text().contains("SIGTERM"), "{}", d.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_shutdown_exits_zero() {
    let mut d = TestDaemon::start();
    d.client().await.shutdown(1000).await.unwrap();
    let status = d.wait(Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");
    assert!(!d.socket.exists());
}

#[test]
fn a_live_socket_is_refused_and_a_stale_one_replaced() {
    let mut d = TestDaemon::start();
    let out = Command::new(bin("s3dliod"))
        .arg("--socket")
        .arg(&d.socket)
        .output()
        .unwrap();
    let err = err_stderr(&out);
    assert!(err.contains("already serving"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(d.socket.exists(), "the live daemon's socket is untouched");

    d.kill(); // SIGKILL leaves the socket file behind, as a crash would
    assert!(d.socket.exists());
    d.restart("");
    assert!(d.log_text().contains("stale"), "{}", d.log_text());
}

#[test]
fn print_config_shows_every_layer() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "shutdown_grace = \"7s\"\n[get_many]\nmax_concurrency = 99\n",
    )
    .unwrap();
    let out = Command::new(bin("s3dliod"))
        .arg("--config")
        .arg(&cfg)
        .arg("--socket")
        .arg("/tmp/from-flag.sock")
        .arg("--print-config")
        .env("S3DLIOD_LOG__FORMAT", "json")
        .output()
        .unwrap();
    let text = ok_stdout(&out);
    assert!(text.contains("socket = \"/tmp/from-flag.sock\""), "{text}");
    assert!(text.contains("shutdown_grace = \"7s\""), "{text}");
    assert!(text.contains("max_concurrency = 99"), "{text}");
    assert!(text.contains("format = \"json\""), "{text}");

    std::fs::write(&cfg, "no_such_key = 1\n").unwrap();
    let out = Command::new(bin("s3dliod"))
        .arg("--config")
        .arg(&cfg)
        .arg("--print-config")
        .output()
        .unwrap();
    let err = err_stderr(&out);
    assert!(err.contains("no_such_key"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_listener_serves_admin_but_not_local_files() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let d = TestDaemon::start_with_config(&format!("tcp_listen = \"127.0.0.1:{port}\"\n"));
    let local = d.client().await;
    let uri = d.file_uri("t.bin");
    local.put(&uri, Bytes::from_static(b"x")).await.unwrap();

    let remote = s3dlio_client::Client::connect_tcp(&format!("127.0.0.1:{port}"), Some("remote"))
        .await
        .unwrap();
    assert_eq!(remote.status().await.unwrap().pid, d.pid());
    let e = remote.get(&uri).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e}");
    let sessions = local.sessions().await.unwrap();
    assert!(
        sessions
            .iter()
            .any(|s| s.transport == "tcp" && s.uid.is_none()),
        "{sessions:?}"
    );
}

#[test]
fn the_daemon_starts_with_no_config_at_all() {
    // No --config, no /etc file (tests do not create one), only a socket: serves file://.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("d.sock");
    let mut child = Command::new(bin("s3dliod"))
        .env("S3DLIOD_SOCKET", &socket)
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !socket.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new(bin("s3dlioctl"))
        .arg("--socket")
        .arg(&socket)
        .arg("status")
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let text = ok_stdout(&out);
    assert!(text.contains("file"), "{text}");
}

#[test]
fn sigint_stops_cleanly_and_json_logs_are_one_object_per_line() {
    let mut d = TestDaemon::start_with_config("[log]\nformat = \"json\"\n");
    d.signal(Signal::INT);
    let status = d.wait(Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");
    assert!(!d.socket.exists());
    let log = d.log_text();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["message"] == "s3dliod serving"),
        "{log}"
    );
    assert!(lines.iter().any(|l| l["signal"] == "SIGINT"), "{log}");
}
