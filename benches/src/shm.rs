//! `benches/run.sh shm`: how fast a client process receives objects into memory it can read,
//! from `file://` with a warm page cache, for 4 KiB, 64 KiB, 1 MiB and 16 MiB objects, with 1
//! and 8 client processes:
//!
//! - `shm`: s3dliod, shared-memory delivery (`GetMany`, payload views dropped after a touch);
//! - `inline`: s3dliod, inline gRPC delivery (`GetMany`, payloads assembled into `Bytes`);
//! - `inproc`: the same files read in-process with `read_at` into a reused buffer;
//! - `memcpy`: copying a buffer of the object size, the physical limit.
//!
//! Every system runs in separate worker processes (this binary with `worker`), each for a fixed
//! time; the parent sums bytes and objects and divides by the longest worker's time.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use s3dlio_bench::harness;
use serde_json::json;

const SIZES: [(u64, &str, usize); 4] = [
    (4 << 10, "4KiB", 4096),
    (64 << 10, "64KiB", 512),
    (1 << 20, "1MiB", 64),
    (16 << 20, "16MiB", 4),
];
const PROCS: [usize; 2] = [1, 8];
const SYSTEMS: [&str; 4] = ["shm", "inline", "inproc", "memcpy"];
const RUN_FOR: Duration = Duration::from_millis(1500);

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        return worker(&args[2..]);
    }
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .with_context(|| format!("missing {flag}"))
    };
    let daemon_bin = PathBuf::from(arg("--daemon")?);
    let out = PathBuf::from(arg("--out")?);
    let dir = tempfile::Builder::new()
        .prefix("s3dliod-bench-")
        .tempdir()?;
    let socket = dir.path().join("s3dliod.sock");
    let config = dir.path().join("config.toml");
    // 8 clients × up to 16 MiB × concurrency: a 512 MiB arena each would exceed RAM, so 128 MiB.
    std::fs::write(
        &config,
        "[shm]\ndefault_arena = 134217728\n[get_many]\nmax_concurrency = 512\n",
    )?;
    let mut daemon = Command::new(&daemon_bin)
        .arg("--socket")
        .arg(&socket)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .spawn()
        .context("start s3dliod")?;
    let ready = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        anyhow::ensure!(
            ready.elapsed() < Duration::from_secs(30),
            "s3dliod did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let result = measure_all(dir.path(), &socket);
    let _ = daemon.kill();
    let _ = daemon.wait();
    let (runs, ratios) = result?;
    let doc = json!({
        "bench": "shm",
        "when": harness::now_rfc3339(),
        "machine": harness::machine(),
        "runs": runs,
        "ratios": ratios,
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&doc)? + "\n")?;
    println!("\n{:<36} {:>10}", "ratio", "value");
    if let Some(map) = ratios.as_object() {
        for (k, v) in map {
            println!("{:<36} {:>10.3}", k, v.as_f64().unwrap_or(f64::NAN));
        }
    }
    println!("\nraw numbers: {}", out.display());
    Ok(())
}

fn measure_all(
    root: &Path,
    socket: &Path,
) -> anyhow::Result<(serde_json::Value, serde_json::Value)> {
    let mut runs = vec![];
    let mut ratios = serde_json::Map::new();
    for (size, label, count) in SIZES {
        let sub = root.join(label);
        std::fs::create_dir_all(&sub)?;
        let mut list = String::new();
        let block = vec![0xa5u8; size as usize];
        for i in 0..count {
            let p = sub.join(format!("{i}.bin"));
            std::fs::write(&p, &block)?;
            list.push_str(&p.display().to_string());
            list.push('\n');
        }
        let list_path = root.join(format!("{label}.list"));
        std::fs::write(&list_path, list)?;
        // Warm the page cache.
        for line in std::fs::read_to_string(&list_path)?.lines() {
            std::fs::read(line)?;
        }
        for procs in PROCS {
            let mut gbps = std::collections::HashMap::new();
            for system in SYSTEMS {
                let (bytes, objects, secs) =
                    spawn_workers(system, procs, socket, &list_path, size)?;
                let workload = format!("{label}_x{procs}");
                let gb = bytes as f64 / secs / 1e9;
                let ops = objects as f64 / secs;
                eprintln!("{workload:<12} {system:<7} {gb:>8.3} GB/s {ops:>12.0} objects/s");
                runs.push(json!({"workload": workload, "system": system, "metric": "throughput", "value": gb, "unit": "GB/s"}));
                runs.push(json!({"workload": workload, "system": system, "metric": "objects_per_s", "value": ops, "unit": "objects/s"}));
                gbps.insert(system, (gb, ops));
            }
            let w = format!("{label}_x{procs}");
            ratios.insert(
                format!("{w}_shm_vs_inproc"),
                json!(gbps["shm"].0 / gbps["inproc"].0),
            );
            ratios.insert(
                format!("{w}_shm_vs_inline"),
                json!(gbps["shm"].0 / gbps["inline"].0),
            );
            ratios.insert(
                format!("{w}_shm_vs_memcpy"),
                json!(gbps["shm"].0 / gbps["memcpy"].0),
            );
            if size == 4 << 10 {
                ratios.insert(
                    format!("{w}_shm_objects_per_s_vs_100k"),
                    json!(gbps["shm"].1 / 100_000.0),
                );
            }
        }
    }
    Ok((json!(runs), json!(ratios)))
}

/// Runs `procs` workers at once; returns (bytes, objects, longest worker time in s).
fn spawn_workers(
    system: &str,
    procs: usize,
    socket: &Path,
    list: &Path,
    size: u64,
) -> anyhow::Result<(u64, u64, f64)> {
    let exe = std::env::current_exe()?;
    let children: Vec<_> = (0..procs)
        .map(|_| {
            Command::new(&exe)
                .args(["worker", system])
                .arg(socket)
                .arg(list)
                .arg(size.to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let (mut bytes, mut objects, mut secs) = (0u64, 0u64, 0f64);
    for c in children {
        let out = c.wait_with_output()?;
        anyhow::ensure!(out.status.success(), "{system} worker failed");
        let text = String::from_utf8(out.stdout)?;
        let v: Vec<f64> = text
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0.0))
            .collect();
        bytes += v[0] as u64;
        objects += v[1] as u64;
        secs = secs.max(v[2]);
    }
    Ok((bytes, objects, secs))
}

/// A worker: reads the listed files with `system` for [`RUN_FOR`], prints "bytes objects secs".
fn worker(args: &[String]) -> anyhow::Result<()> {
    let system = args[0].clone();
    let socket = PathBuf::from(&args[1]);
    let files: Vec<String> = std::fs::read_to_string(&args[2])?
        .lines()
        .map(String::from)
        .collect();
    let size: usize = args[3].parse()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (bytes, objects, secs) = rt.block_on(async move {
        let start = Instant::now();
        let (mut bytes, mut objects) = (0u64, 0u64);
        let mut sink = 0u64;
        match system.as_str() {
            "shm" | "inline" => {
                let client = s3dlio_client::Client::connect(Some(&socket), Some("bench")).await?;
                let shm = if system == "shm" {
                    Some(client.attach(0).await?)
                } else {
                    None
                };
                let uris: Vec<String> = files.iter().map(|f| format!("file://{f}")).collect();
                let concurrency = if size >= 16 << 20 { 4 } else { 64 };
                while start.elapsed() < RUN_FOR {
                    if let Some(shm) = &shm {
                        let items = uris
                            .iter()
                            .enumerate()
                            .map(|(i, u)| (i as u64, u.clone(), None))
                            .collect();
                        let mut s = shm.get_many(items, concurrency).await?;
                        while let Some(item) = s.next().await {
                            let p = item?.result?;
                            sink = sink.wrapping_add(u64::from(p[p.len() - 1]));
                            bytes += p.len() as u64;
                            objects += 1;
                        }
                    } else {
                        let mut s =
                            std::pin::pin!(client.get_many(uris.clone(), concurrency).await?);
                        while let Some(item) = s.next().await {
                            let (_, b) = item?.result?;
                            sink = sink.wrapping_add(u64::from(b[b.len() - 1]));
                            bytes += b.len() as u64;
                            objects += 1;
                        }
                    }
                }
            }
            "inproc" => {
                let mut buf = vec![0u8; size];
                while start.elapsed() < RUN_FOR {
                    for f in &files {
                        let file = std::fs::File::open(f)?;
                        file.read_exact_at(&mut buf, 0)?;
                        sink = sink.wrapping_add(u64::from(buf[size - 1]));
                        bytes += size as u64;
                        objects += 1;
                    }
                }
            }
            _ => {
                let src = vec![0x5au8; size];
                let mut dst = vec![0u8; size];
                while start.elapsed() < RUN_FOR {
                    for _ in 0..files.len() {
                        dst.copy_from_slice(std::hint::black_box(&src));
                        sink = sink.wrapping_add(u64::from(std::hint::black_box(&dst)[size - 1]));
                        bytes += size as u64;
                        objects += 1;
                    }
                }
            }
        }
        std::hint::black_box(sink);
        Ok::<_, anyhow::Error>((bytes, objects, start.elapsed().as_secs_f64()))
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{bytes} {objects} {secs}")?;
    Ok(())
}
