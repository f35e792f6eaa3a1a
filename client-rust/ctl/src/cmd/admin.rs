//! `status`, `sessions`, `stats`, `drain`, `shutdown`: what the daemon is doing, and stopping it.
//!
//! Each prints a small human report (key/value lines and tables) or, with `--json`, one JSON
//! document whose fields mirror the `Admin` service's messages (times as RFC3339 strings,
//! latencies in microseconds).

use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use serde_json::json;

use s3dlio_client::{v1, Client};

use crate::cli::{DeadlineArgs, StatsArgs, StatusArgs};
use crate::output::{self, Align, Out, Table};

#[derive(Serialize)]
struct StatusJson<'a> {
    version: &'a str,
    pid: u32,
    started_at: Option<String>,
    uptime_ms: u64,
    socket: &'a str,
    sessions: u32,
    in_flight: u64,
    draining: bool,
    backends: Vec<BackendJson<'a>>,
    config_toml: &'a str,
}

#[derive(Serialize)]
struct BackendJson<'a> {
    scheme: &'a str,
    configured: bool,
    detail: &'a str,
}

pub async fn status(client: &Client, args: StatusArgs, out: &mut Out) -> Result<()> {
    let s = client.status().await?;
    if out.json {
        out.json_doc(&StatusJson {
            version: &s.version,
            pid: s.pid,
            started_at: output::rfc3339(s.started_at.as_ref()),
            uptime_ms: s.uptime_ms,
            socket: &s.socket,
            sessions: s.sessions,
            in_flight: s.in_flight,
            draining: s.draining,
            backends: s
                .backends
                .iter()
                .map(|b| BackendJson {
                    scheme: &b.scheme,
                    configured: b.configured,
                    detail: &b.detail,
                })
                .collect(),
            config_toml: &s.config_toml,
        })?;
        return Ok(());
    }
    let uptime = humantime::format_duration(Duration::from_secs(s.uptime_ms / 1000));
    let started = output::rfc3339_seconds(s.started_at.as_ref()).unwrap_or_else(|| "-".into());
    for (key, value) in [
        ("version", s.version.clone()),
        ("pid", s.pid.to_string()),
        ("started", started),
        ("uptime", uptime.to_string()),
        ("socket", s.socket.clone()),
        ("sessions", s.sessions.to_string()),
        ("in-flight", s.in_flight.to_string()),
        ("draining", output::yes_no(s.draining).to_string()),
    ] {
        out.line(format_args!("{:<11}{value}", format!("{key}:")))?;
    }
    out.line("")?;
    let mut table = Table::new(&[
        ("BACKEND", Align::Left),
        ("CONFIGURED", Align::Left),
        ("DETAIL", Align::Left),
    ]);
    for b in &s.backends {
        table.row(vec![
            b.scheme.clone(),
            output::yes_no(b.configured).into(),
            b.detail.clone(),
        ]);
    }
    out.text(&table.render())?;
    if args.config {
        out.line("")?;
        out.line("# effective configuration")?;
        out.text(&s.config_toml)?;
        if !s.config_toml.ends_with('\n') {
            out.line("")?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct SessionJson<'a> {
    id: u64,
    name: &'a str,
    uid: Option<u32>,
    gid: Option<u32>,
    pid: Option<u32>,
    transport: &'a str,
    requests: u64,
    in_flight: u64,
    bytes_in: u64,
    bytes_out: u64,
    connected_at: Option<String>,
}

impl<'a> From<&'a v1::SessionInfo> for SessionJson<'a> {
    fn from(s: &'a v1::SessionInfo) -> Self {
        SessionJson {
            id: s.id,
            name: &s.name,
            uid: s.uid,
            gid: s.gid,
            pid: s.pid,
            transport: &s.transport,
            requests: s.requests,
            in_flight: s.in_flight,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            connected_at: output::rfc3339(s.connected_at.as_ref()),
        }
    }
}

pub async fn sessions(client: &Client, out: &mut Out) -> Result<()> {
    let sessions = client.sessions().await?;
    if out.json {
        let list: Vec<SessionJson> = sessions.iter().map(SessionJson::from).collect();
        out.json_doc(&json!({ "sessions": list }))?;
        return Ok(());
    }
    let mut table = Table::new(&[
        ("ID", Align::Right),
        ("NAME", Align::Left),
        ("UID", Align::Right),
        ("PID", Align::Right),
        ("TRANSPORT", Align::Left),
        ("REQUESTS", Align::Right),
        ("IN-FLIGHT", Align::Right),
        ("BYTES-IN", Align::Right),
        ("BYTES-OUT", Align::Right),
        ("CONNECTED", Align::Left),
    ]);
    let opt = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    for s in &sessions {
        table.row(vec![
            s.id.to_string(),
            s.name.clone(),
            opt(s.uid),
            opt(s.pid),
            s.transport.clone(),
            s.requests.to_string(),
            s.in_flight.to_string(),
            output::human_bytes(s.bytes_in),
            output::human_bytes(s.bytes_out),
            output::rfc3339_seconds(s.connected_at.as_ref()).unwrap_or_else(|| "-".into()),
        ]);
    }
    out.text(&table.render())?;
    Ok(())
}

#[derive(Serialize)]
struct OpJson<'a> {
    op: &'a str,
    count: u64,
    errors: u64,
    bytes: u64,
    mean_us: f64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
}

impl<'a> From<&'a v1::OpStats> for OpJson<'a> {
    fn from(o: &'a v1::OpStats) -> Self {
        OpJson {
            op: &o.op,
            count: o.count,
            errors: o.errors,
            bytes: o.bytes,
            mean_us: o.mean_us,
            p50_us: o.p50_us,
            p90_us: o.p90_us,
            p99_us: o.p99_us,
            p999_us: o.p999_us,
            max_us: o.max_us,
        }
    }
}

pub async fn stats(client: &Client, args: StatsArgs, out: &mut Out) -> Result<()> {
    let stats = client.stats(args.reset).await?;
    if out.json {
        out.json_doc(&json!({ "window_ms": stats.window_ms, "reset": args.reset, "ops": op_stats_json(&stats.ops) }))?;
        return Ok(());
    }
    let window = humantime::format_duration(Duration::from_secs(stats.window_ms / 1000));
    out.line(format_args!(
        "window: {window} (since start or last reset){}",
        if args.reset {
            "; counters now reset"
        } else {
            ""
        }
    ))?;
    out.text(&op_stats_table(&stats.ops))?;
    Ok(())
}

/// The per-operation latency table of `stats` and `oplog stats`.
pub fn op_stats_table(ops: &[v1::OpStats]) -> String {
    let mut table = Table::new(&[
        ("OP", Align::Left),
        ("COUNT", Align::Right),
        ("ERRORS", Align::Right),
        ("BYTES", Align::Right),
        ("MEAN", Align::Right),
        ("P50", Align::Right),
        ("P90", Align::Right),
        ("P99", Align::Right),
        ("P99.9", Align::Right),
        ("MAX", Align::Right),
    ]);
    for o in ops {
        let timed = o.count > 0;
        let cell = |us: f64| {
            if timed {
                output::latency_us(us)
            } else {
                "-".into()
            }
        };
        table.row(vec![
            o.op.clone(),
            o.count.to_string(),
            o.errors.to_string(),
            output::human_bytes(o.bytes),
            cell(o.mean_us),
            cell(o.p50_us as f64),
            cell(o.p90_us as f64),
            cell(o.p99_us as f64),
            cell(o.p999_us as f64),
            cell(o.max_us as f64),
        ]);
    }
    table.render()
}

/// The JSON form of per-operation rows, shared by `stats` and `oplog stats`.
pub fn op_stats_json(ops: &[v1::OpStats]) -> serde_json::Value {
    json!(ops.iter().map(OpJson::from).collect::<Vec<_>>())
}

fn deadline_ms(args: &DeadlineArgs) -> u64 {
    args.deadline.map_or(0, |d| {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
    })
}

pub async fn drain(client: &Client, args: DeadlineArgs, out: &mut Out) -> Result<()> {
    let in_flight = client.drain(deadline_ms(&args)).await?;
    if out.json {
        out.json_doc(&json!({ "draining": true, "in_flight": in_flight }))?;
    } else if in_flight == 0 {
        out.line("drained: no operations in flight")?;
    } else {
        out.line(format_args!(
            "draining: deadline passed with {in_flight} operations still in flight"
        ))?;
    }
    Ok(())
}

pub async fn shutdown(client: &Client, args: DeadlineArgs, out: &mut Out) -> Result<()> {
    client.shutdown(deadline_ms(&args)).await?;
    if out.json {
        out.json_doc(&json!({ "shutdown": true }))?;
    } else {
        out.line("s3dliod is shutting down")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_become_milliseconds_and_absent_means_default() {
        let d = |deadline| DeadlineArgs { deadline };
        assert_eq!(deadline_ms(&d(None)), 0);
        assert_eq!(deadline_ms(&d(Some(Duration::from_secs(30)))), 30_000);
        // 0 would mean "the configured grace": an explicit tiny deadline stays tiny.
        assert_eq!(deadline_ms(&d(Some(Duration::ZERO))), 1);
    }
}
