//! The command line of `s3dlioctl`, declared with clap's derive API.
//!
//! Everything a user can type is here, with its help text; the help documents every output
//! format, because scripts and the end-to-end tests parse them. Values are validated while
//! parsing (sizes, durations, counts), so the commands receive checked numbers.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

use crate::size;

/// Admin CLI of s3dliod: inspect the daemon, and list, copy and delete objects through it.
#[derive(Debug, Parser)]
#[command(
    name = "s3dlioctl",
    version,
    propagate_version = true,
    after_help = "Exit status: 0 on success; non-zero with one line `s3dlioctl: <message>` on stderr \
                  otherwise (130 when interrupted).\n\
                  With --json, results go to stdout as one JSON document (status, sessions, stats, \
                  stat, get, rm, drain, shutdown, mb, rb) or as JSON lines, one object per line \
                  (ls, put, rm --dry-run). Progress bars and summaries go to stderr."
)]
pub struct Cli {
    /// The daemon's Unix socket [env: S3DLIOD_SOCKET] [default: /run/s3dliod/s3dliod.sock for
    /// root, else $XDG_RUNTIME_DIR/s3dliod.sock, else /tmp/s3dliod-$UID.sock]
    // Not clap's `env`: the client reads S3DLIOD_SOCKET itself (an empty value counts as unset),
    // so the CLI and every other client resolve the socket by one rule.
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Machine-readable output on stdout (JSON document or JSON lines; see each command)
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the daemon's version, pid, uptime, sessions, in-flight operations and backends
    #[command(
        after_help = "--json: {\"version\", \"pid\", \"started_at\" (RFC3339 or null), \"uptime_ms\", \
                      \"socket\", \"sessions\", \"in_flight\", \"draining\", \"backends\": \
                      [{\"scheme\", \"configured\", \"detail\"}], \"config_toml\"}"
    )]
    Status(StatusArgs),

    /// List the daemon's sessions (one per client connection)
    #[command(
        after_help = "--json: {\"sessions\": [{\"id\", \"name\", \"uid\", \"gid\", \"pid\" (null over \
                      TCP), \"transport\", \"requests\", \"in_flight\", \"bytes_in\", \"bytes_out\", \
                      \"connected_at\"}]}"
    )]
    Sessions,

    /// Show per-operation counts, errors, bytes and latency percentiles
    #[command(
        after_help = "--json: {\"window_ms\", \"reset\", \"ops\": [{\"op\", \"count\", \"errors\", \
                      \"bytes\", \"mean_us\", \"p50_us\", \"p90_us\", \"p99_us\", \"p999_us\", \
                      \"max_us\"}]}"
    )]
    Stats(StatsArgs),

    /// Stop taking new data operations and wait for in-flight ones
    #[command(
        after_help = "--json: {\"draining\": true, \"in_flight\": N} (N still running at \
                            the deadline; the command exits 0 either way)"
    )]
    Drain(DeadlineArgs),

    /// Drain, then stop the daemon
    #[command(after_help = "--json: {\"shutdown\": true}")]
    Shutdown(DeadlineArgs),

    /// List objects and prefixes under a URI
    #[command(after_help = "Output, one entry per line, sorted by key:\n  \
                            URI                      (default; prefixes end in '/')\n  \
                            SIZE MTIME URI           (-l; SIZE in bytes, MTIME RFC3339 in UTC to \
                            the second; '-' for prefixes or when unknown)\n  \
                            {\"uri\", \"is_prefix\", \"size\", \"last_modified\"}   (--json, one \
                            object per line; last_modified RFC3339 or null)\n\
                            A count summary goes to stderr when stderr is a terminal.")]
    Ls(LsArgs),

    /// Show one object's size, last-modified time, etag and content type
    #[command(
        after_help = "Output: `key: value` lines (uri, size, last-modified, etag, \
                            content-type).\n\
                            --json: {\"uri\", \"size\", \"last_modified\", \"etag\", \"content_type\"}"
    )]
    Stat(UriArg),

    /// Download one object (or a byte range of it) to a file or stdout
    #[command(
        after_help = "The object is streamed into a temporary file beside the destination, \
                            renamed into place at the end: a failed download leaves no partial \
                            file. A one-line summary goes to stderr.\n\
                            --json: {\"uri\", \"path\", \"bytes\", \"seconds\"} on stdout (not with \
                            -o -)"
    )]
    Get(GetArgs),

    /// Upload local files, or generate objects of a given size
    #[command(
        override_usage = "s3dlioctl put [OPTIONS] FILE... URI\n       \
                          s3dlioctl put [OPTIONS] URI --num N --size SIZE",
        after_help = "Naming: one FILE goes to URI itself, unless URI ends in '/'; several FILEs go to \
                      URI/<basename> each. Generated objects go to URI/<template>, where the first {} \
                      of the template is the index 0..N-1 and the second is N.\n\
                      A one-line summary goes to stderr.\n\
                      --json: one line per uploaded object: {\"uri\", \"size\", \"etag\"}"
    )]
    Put(PutArgs),

    /// Delete objects, or everything under prefixes (-r)
    #[command(
        after_help = "--dry-run prints the URIs that would be deleted, one per line on stdout \
                            (--json: {\"uri\"} per line). Per-object failures are printed on stderr, \
                            one line each; the summary `deleted N objects, M failed in T` ends on \
                            stderr, and the exit status is 1 if anything failed.\n\
                            --json: {\"listed\", \"deleted\", \"failed\", \"seconds\", \"errors\": \
                            [{\"uri\", \"code\", \"message\"}]} (code: gRPC status number)"
    )]
    Rm(RmArgs),

    /// Create a bucket, container or directory (an existing one is fine)
    #[command(after_help = "Output: `created URI`. --json: {\"uri\", \"created\": true}")]
    Mb(UriArg),

    /// Delete an empty bucket, container or directory
    #[command(after_help = "Output: `removed URI`. --json: {\"uri\", \"removed\": true}")]
    Rb(UriArg),

    /// Read, summarise and replay op-logs (s3dlio's format: TSV or JSON lines, zstd or plain)
    #[command(subcommand)]
    Oplog(OplogCommand),

    /// Print a shell completion script to stdout
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Also print the daemon's effective configuration (TOML, secrets redacted)
    #[arg(long)]
    pub config: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Zero the counters after reading them
    #[arg(long)]
    pub reset: bool,
}

#[derive(Debug, Args)]
pub struct DeadlineArgs {
    /// How long to wait for in-flight operations (`30s`, `2m`, `500ms`; plain numbers are
    /// seconds) [default: the daemon's configured shutdown grace]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct UriArg {
    /// Object or bucket URI (s3://, az://, gs://, file://, direct://)
    pub uri: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// List every object below, not only one level
    #[arg(short, long)]
    pub recursive: bool,

    /// Long format: size in bytes and last-modified time before each URI
    #[arg(short = 'l', long = "long")]
    pub long: bool,

    /// Only entries whose key, relative to URI, matches this regular expression
    #[arg(long, value_name = "RE")]
    pub pattern: Option<String>,

    /// Prefix to list (file:///data/train/ lists inside the directory)
    pub uri: String,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The object to download (with -r: the prefix)
    pub uri: String,

    /// Download every object under the prefix URI into the directory given with -o (default
    /// `.`), keeping the key's path below the prefix; fetched through one GetMany
    #[arg(short, long)]
    pub recursive: bool,

    /// Receive payloads inline in gRPC messages instead of through shared memory (the default
    /// on the local Unix socket)
    #[arg(long)]
    pub inline: bool,

    /// Destination file, an existing directory, or `-` for stdout [default: the URI's basename
    /// in the current directory]
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// First byte to read (a size: 4096, 4KiB, 1GB)
    #[arg(long, value_name = "N", value_parser = size::parse)]
    pub offset: Option<u64>,

    /// Bytes to read from the offset (a size); default: to the end
    #[arg(long, value_name = "N", value_parser = size::parse)]
    pub length: Option<u64>,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    /// Local files, then the destination URI (last); with --num, only the URI prefix
    #[arg(required = true, num_args = 1.., value_name = "ARGS")]
    pub args: Vec<String>,

    /// Generate this many objects instead of uploading files
    #[arg(long, value_name = "N", requires = "size", value_parser = clap::value_parser!(u64).range(1..))]
    pub num: Option<u64>,

    /// Size of each generated object (4096, 4KiB, 16MiB, 1GB)
    #[arg(long, value_name = "SIZE", requires = "num", value_parser = size::parse)]
    pub size: Option<u64>,

    /// Name of generated objects: first {} = index, second {} = count
    /// [default: object_{}_of_{}.dat]
    #[arg(long, value_name = "T", requires = "num")]
    pub template: Option<String>,

    /// Seed of generated content (same URI and seed, same bytes) [default: 0]
    #[arg(long, value_name = "S", requires = "num")]
    pub seed: Option<u64>,

    /// Objects uploaded at once
    #[arg(short, long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub jobs: u32,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Treat each URI as a prefix and delete every object below it
    #[arg(short, long)]
    pub recursive: bool,

    /// With -r: only objects whose key, relative to the prefix, matches this regex
    #[arg(long, value_name = "RE")]
    pub pattern: Option<String>,

    /// With -r: allow a whole bucket or container as the prefix
    #[arg(long)]
    pub all: bool,

    /// Print what would be deleted, delete nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Objects (or prefixes, with -r)
    #[arg(required = true, num_args = 1.., value_name = "URI")]
    pub uris: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate the script for
    pub shell: Shell,
}

/// Parses `30s`, `2m`, `1h 30m`, `500ms` (humantime), or a plain number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e} (e.g. 30s, 2m)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_accept_units_and_plain_seconds() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn put_generate_needs_both_num_and_size() {
        assert!(Cli::try_parse_from(["s3dlioctl", "put", "s3://b/p/", "--num", "3"]).is_err());
        assert!(Cli::try_parse_from(["s3dlioctl", "put", "s3://b/p/", "--size", "1"]).is_err());
        let ok = Cli::try_parse_from([
            "s3dlioctl",
            "put",
            "s3://b/p/",
            "--num",
            "3",
            "--size",
            "4KiB",
        ])
        .unwrap();
        match ok.command {
            Command::Put(p) => {
                assert_eq!(p.num, Some(3));
                assert_eq!(p.size, Some(4096));
                assert_eq!(p.jobs, 8);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "s3dlioctl",
            "ls",
            "file:///tmp/",
            "--json",
            "--socket",
            "/x",
        ])
        .unwrap();
        assert!(cli.json);
        assert_eq!(cli.socket, Some(PathBuf::from("/x")));
    }

    #[test]
    fn get_offsets_accept_sizes() {
        let cli = Cli::try_parse_from([
            "s3dlioctl",
            "get",
            "file:///x",
            "--offset",
            "1KiB",
            "--length",
            "2MB",
        ])
        .unwrap();
        match cli.command {
            Command::Get(g) => {
                assert_eq!(g.offset, Some(1024));
                assert_eq!(g.length, Some(2_000_000));
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}

/// `s3dlioctl oplog ...`: tools over op-log files. They read the file locally (constant memory,
/// whatever its size); only `replay` talks to the daemon.
#[derive(Debug, Subcommand)]
pub enum OplogCommand {
    /// Start the daemon's op-log: every operation of every session, one file per node
    #[command(after_help = OPLOG_INFO_JSON)]
    Start(OplogStartArgs),
    /// Stop it: every accepted row is written and the file closed (complete and readable)
    #[command(after_help = OPLOG_INFO_JSON)]
    Stop,
    /// Close the current file into PATH.1 (older ones shift) and start a new PATH
    #[command(after_help = OPLOG_INFO_JSON)]
    Rotate,
    /// Show whether it is on, where, and rows accepted / written / dropped
    #[command(after_help = OPLOG_INFO_JSON)]
    Status,
    /// Print the rows, decoded and filtered: `idx op bytes duration start client uri [error]`
    #[command(after_help = "--json: one object per row, keys as the op-log header.")]
    Cat(OplogCatArgs),
    /// Per operation: count, bytes, errors, latency percentiles; and throughput over time
    #[command(after_help = STATS_JSON)]
    Stats(OplogStatsArgs),
    /// Replay the log through the daemon on its original timeline (scaled by --speed)
    #[command(after_help = REPLAY_HELP)]
    Replay(OplogReplayArgs),
}

const OPLOG_INFO_JSON: &str = "--json: {\"active\", \"path\", \"format\", \"zstd\", \"policy\", \"accepted\", \"written\", \"dropped\", \"rows_in_file\", \"rotations\", \"error\"}";

#[derive(Debug, Args)]
pub struct OplogStartArgs {
    /// File to write, as the daemon sees it [default: the daemon's oplog.path]
    pub path: Option<PathBuf>,
    /// Row format
    #[arg(long, value_parser = ["tsv", "jsonl"], default_value = "tsv")]
    pub format: String,
    /// Write plain text instead of zstd
    #[arg(long)]
    pub plain: bool,
}

const STATS_JSON: &str =
    "--json: {\"rows\", \"span_ms\", \"ops\": [{\"op\", \"count\", \"errors\", \
\"bytes\", \"mean_us\", \"p50_us\", \"p90_us\", \"p99_us\", \"p999_us\", \"max_us\"}], \
\"timeline\": [{\"offset_ms\", \"ops\", \"bytes\"}]}";

const REPLAY_HELP: &str =
    "PUTs write generated data of the logged size. --retarget FROM=TO rewrites \
URIs starting with FROM (e.g. s3://a/=az://acct/c/). A row that failed when recorded and fails \
again counts as failed_as_recorded, not as a failure; any other failure makes the exit status 1.\n\
--json: {\"rows\", \"replayed\", \"failed\", \"failed_as_recorded\", \"skipped\", \"seconds\", \
\"max_lag_ms\", \"ops\": [{\"op\", \"count\", \"recorded_p50_us\", \"replayed_p50_us\", \
\"recorded_p99_us\", \"replayed_p99_us\"}]}";

/// Which rows an op-log command looks at.
#[derive(Debug, Args, Clone, Default)]
pub struct OplogFilter {
    /// Only these operations (GET, PUT, LIST, HEAD or STAT, DELETE...); repeatable
    #[arg(long = "op", value_name = "OP")]
    pub ops: Vec<String>,
    /// Only rows whose client_id matches this regex
    #[arg(long, value_name = "REGEX")]
    pub client: Option<String>,
    /// Only rows whose URI matches this regex
    #[arg(long, value_name = "REGEX")]
    pub uri: Option<String>,
    /// Only rows that start at or after this time (RFC 3339)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only rows that start before this time (RFC 3339)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

#[derive(Debug, Args)]
pub struct OplogCatArgs {
    /// The op-log file
    pub file: PathBuf,
    #[command(flatten)]
    pub filter: OplogFilter,
}

#[derive(Debug, Args)]
pub struct OplogStatsArgs {
    /// The op-log file
    pub file: PathBuf,
    #[command(flatten)]
    pub filter: OplogFilter,
    /// Width of the throughput-over-time buckets
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
}

#[derive(Debug, Args)]
pub struct OplogReplayArgs {
    /// The op-log file
    pub file: PathBuf,
    #[command(flatten)]
    pub filter: OplogFilter,
    /// Timeline speed: 2 replays twice as fast, 0.5 at half speed (any positive number)
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Most operations in flight at once
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Rewrite URIs starting with FROM to start with TO; repeatable, first match wins
    #[arg(long, value_name = "FROM=TO")]
    pub retarget: Vec<String>,
    /// Keep going after a failed operation (default: stop at the first failure)
    #[arg(long)]
    pub continue_on_error: bool,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!(
            "speed {s:?} must be a positive number such as 0.25, 1 or 7.5"
        )),
    }
}
