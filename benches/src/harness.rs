//! What every benchmark shares: a release daemon on a scratch socket, and the result file in the
//! format of DESIGN.md (`{"bench", "when", "machine", "runs", "ratios"}`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// A release `s3dliod` on a socket in a scratch directory; killed when dropped.
pub struct Daemon {
    child: Child,
    pub socket: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start(config_toml: &str) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("s3dlio-bench-").tempdir()?;
        let socket = dir.path().join("s3dliod.sock");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, config_toml)?;
        let child = Command::new(sibling("s3dliod")?)
            .arg("--socket")
            .arg(&socket)
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("start s3dliod")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            if Instant::now() > deadline {
                bail!("s3dliod did not start serving within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Daemon { child, socket, dir })
    }

    pub async fn client(&self, name: &str) -> Result<s3dlio_client::Client> {
        Ok(s3dlio_client::Client::connect(Some(&self.socket), Some(name)).await?)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A binary built next to this one (`target/release/NAME`).
fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("executable directory")?.join(name);
    if !path.is_file() {
        bail!(
            "{} is missing: run benches/run.sh, which builds it",
            path.display()
        );
    }
    Ok(path)
}

/// A variable `benches/run.sh` sets (the test servers' addresses and keys).
pub fn var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: run this through `benches/run.sh`, which starts the servers")
    })
}

/// The daemon's `[s3]` table for SeaweedFS at `endpoint` (default: SeaweedFS itself), with
/// the test servers' admin keys.
pub fn seaweed_s3(endpoint: Option<&str>) -> Result<String> {
    let endpoint = match endpoint {
        Some(e) => e.to_string(),
        None => var("S3DLIO_TEST_SEAWEED_ENDPOINT")?,
    };
    Ok(s3dlio_e2e::s3_table(
        &endpoint,
        &var("S3DLIO_TEST_S3_ACCESS_KEY")?,
        &var("S3DLIO_TEST_S3_SECRET_KEY")?,
    ))
}

/// Runs the benchmark Python (`S3DLIO_BENCH_PYTHON`, else `.venv/bin/python`, where
/// `benches/run.sh` installs the peers) with `args`, pointed at SeaweedFS through the usual
/// AWS variables; returns its stdout, or its stderr as the error.
pub fn python(args: &[&str]) -> Result<String> {
    let py = std::env::var("S3DLIO_BENCH_PYTHON").unwrap_or_else(|_| ".venv/bin/python".into());
    let out = Command::new(&py)
        .args(args)
        .env("AWS_ENDPOINT_URL", var("S3DLIO_TEST_SEAWEED_ENDPOINT")?)
        .env("AWS_ACCESS_KEY_ID", var("S3DLIO_TEST_S3_ACCESS_KEY")?)
        .env("AWS_SECRET_ACCESS_KEY", var("S3DLIO_TEST_S3_SECRET_KEY")?)
        .env("AWS_REGION", "us-east-1")
        .stderr(Stdio::piped())
        .output()
        .with_context(|| {
            format!("run {py} (benches/run.sh installs the Python peers into .venv)")
        })?;
    if !out.status.success() {
        bail!(
            "{py} {} failed: {}",
            args.first().copied().unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The results of one benchmark.
pub struct Report {
    pub bench: &'static str,
    pub runs: Vec<Value>,
    pub ratios: Vec<(String, f64)>,
}

impl Report {
    pub fn new(bench: &'static str) -> Self {
        Report {
            bench,
            runs: Vec::new(),
            ratios: Vec::new(),
        }
    }

    pub fn run(&mut self, workload: &str, system: &str, metric: &str, value: f64, unit: &str) {
        self.runs.push(json!({"workload": workload, "system": system, "metric": metric, "value": value, "unit": unit}));
    }

    pub fn ratio(&mut self, name: impl Into<String>, value: f64) {
        self.ratios.push((name.into(), value));
    }

    /// Writes `benches/results/<bench>.json` and prints the ratios as a table.
    pub fn save_and_print(&self) -> Result<()> {
        let doc = json!({
            "bench": self.bench,
            "when": now_rfc3339(),
            "machine": machine(),
            "runs": self.runs,
            "ratios": self.ratios.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        });
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.json", self.bench));
        std::fs::write(&path, serde_json::to_string_pretty(&doc)? + "\n")?;
        println!("{:<44} {:>10}", "ratio", "value");
        for (k, v) in &self.ratios {
            println!("{k:<44} {v:>10.3}");
        }
        println!("raw numbers: benches/results/{}.json", self.bench);
        Ok(())
    }
}

/// Now, as RFC 3339 UTC to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// What the numbers were measured on: CPU, cores, memory, kernel.
pub fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|x| x.parse::<u64>().ok())
        })
        .unwrap_or(0);
    json!({
        "mem_gib": mem_kib as f64 / 1_048_576.0,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "kernel": kernel,
    })
}

/// The median of a few samples.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
