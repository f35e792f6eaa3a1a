//! Daemon configuration: defaults < TOML file < `S3DLIOD_*` environment < command-line flags,
//! merged by figment, then validated once into [`Config`].
//!
//! Nested keys come from the environment with `__` as separator (`S3DLIOD_FILE__ROOTS='["/data"]'`).
//! The seed's `S3DLIO_RT_THREADS` sets the runtime's worker threads, as it did in s3dlio, and
//! its `S3DLIO_MAX_HTTP_CONNECTIONS`, `S3DLIO_HTTP_IDLE_TIMEOUT_MS` and
//! `S3DLIO_OPERATION_TIMEOUT_SECS` set `s3.max_connections`, `s3.idle_timeout` and
//! `s3.operation_timeout` (below the `S3DLIOD_*` variables, above the file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use s3dlio_store::azure::AzureConfig;
use s3dlio_store::file::FileConfig;
use s3dlio_store::gcs::GcsConfig;
use s3dlio_store::range_engine::RangeEngineConfig;
use s3dlio_store::s3::S3Config;
use s3dlio_store::StoreConfig;

use crate::oplog::OplogConfig;

/// Default config file, read when present and no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/s3dliod/config.toml";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event, for terminals and journald.
    #[default]
    Human,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter (`info`, `s3dliod=debug,info`...); `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

/// `[get_many]`: bounds of one `GetMany` call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GetManyConfig {
    /// Objects fetched at once when the client does not say.
    pub default_concurrency: u32,
    /// Most objects fetched at once for one call, whatever the client asks.
    pub max_concurrency: u32,
}

impl Default for GetManyConfig {
    fn default() -> Self {
        GetManyConfig {
            default_concurrency: 32,
            max_concurrency: 512,
        }
    }
}

/// `[delete]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeleteConfig {
    /// Deletes in flight at once for one `Delete` call.
    pub concurrency: u32,
}

impl Default for DeleteConfig {
    fn default() -> Self {
        DeleteConfig { concurrency: 64 }
    }
}

/// `[shm]`: shared-memory arenas (one per attached session, see `docs/protocol.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShmConfig {
    /// Offer shared-memory delivery at all (`Attach` fails with FAILED_PRECONDITION if not).
    pub enabled: bool,
    /// Arena size, in bytes, when the client does not ask for one.
    pub default_arena: u64,
    /// Largest arena one session may ask for, in bytes.
    pub max_arena: u64,
    /// All arenas of the node together, in bytes: memory the daemon may pin for clients.
    pub max_total: u64,
}

impl Default for ShmConfig {
    fn default() -> Self {
        ShmConfig {
            enabled: true,
            default_arena: 256 << 20,
            max_arena: 4 << 30,
            max_total: 16 << 30,
        }
    }
}

/// The whole configuration, as read from every layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Unix socket path; absent: `/run/s3dliod/s3dliod.sock` for root, else
    /// `$XDG_RUNTIME_DIR/s3dliod.sock`, else `/tmp/s3dliod-$UID.sock`.
    pub socket: Option<PathBuf>,
    /// Permission bits of the socket file, in octal. Who can connect is who can use the
    /// daemon; local-file access is still checked against each client's own uid.
    pub socket_mode: String,
    /// Optional TCP listener (e.g. `127.0.0.1:7451`) for remote admin and inline data; off by
    /// default. TCP clients have no peer credentials, so `file://` and `direct://` refuse them.
    pub tcp_listen: Option<SocketAddr>,
    /// Peer uids allowed to use the daemon (empty: anyone who can open the socket).
    pub allowed_uids: Vec<u32>,
    /// Peer gids (primary or supplementary) allowed to use the daemon (empty: any).
    pub allowed_gids: Vec<u32>,
    /// How long a shutdown waits for in-flight calls before it stops them.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Tokio worker threads (0: one per core). The seed's `S3DLIO_RT_THREADS` sets it too.
    pub runtime_threads: usize,
    /// Most client connections at once.
    pub max_connections: usize,
    pub log: LogConfig,
    pub get_many: GetManyConfig,
    pub delete: DeleteConfig,
    pub shm: ShmConfig,
    /// `file://` backend.
    pub file: FileConfig,
    /// `direct://` backend (O_DIRECT).
    pub direct: FileConfig,
    /// The node's op-log.
    pub oplog: OplogConfig,
    /// `s3://` backend: the default endpoint profile, and named ones in `[s3.endpoints.NAME]`.
    pub s3: S3Config,
    /// `az://` / `azure://` backend: the storage account and its credential.
    pub azure: AzureConfig,
    /// `gs://` / `gcs://` backend: the endpoint and credential.
    pub gcs: GcsConfig,
    /// The RangeEngine: parallel ranged reads, `[range_engine.s3]`... per backend.
    pub range_engine: RangeEngineConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            socket: None,
            socket_mode: "0660".into(),
            tcp_listen: None,
            allowed_uids: Vec::new(),
            allowed_gids: Vec::new(),
            shutdown_grace: Duration::from_secs(30),
            runtime_threads: 0,
            max_connections: 4096,
            log: LogConfig::default(),
            get_many: GetManyConfig::default(),
            delete: DeleteConfig::default(),
            shm: ShmConfig::default(),
            file: FileConfig::default(),
            direct: FileConfig::default(),
            oplog: OplogConfig::default(),
            s3: S3Config::default(),
            azure: AzureConfig::default(),
            gcs: GcsConfig::default(),
            range_engine: RangeEngineConfig::default(),
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogOverrides>,
}

/// `--log-format` / `--log-level`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

/// A configuration that failed to load or validate; the message names the key and the source.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Merges every layer. `file` is `--config`; without it [`DEFAULT_CONFIG_PATH`] is read if
    /// it exists.
    ///
    /// # Errors
    /// A config file that is missing (when named explicitly) or malformed, an unknown key, a
    /// value of the wrong type, or a value that fails [`Config::validate`].
    pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                if !path.is_file() {
                    return Err(ConfigError(format!(
                        "config file {} does not exist",
                        path.display()
                    )));
                }
                fig = fig.merge(Toml::file_exact(path));
            }
            None if Path::new(DEFAULT_CONFIG_PATH).is_file() => {
                fig = fig.merge(Toml::file_exact(DEFAULT_CONFIG_PATH));
            }
            None => {}
        }
        let config: Config = fig
            .merge(
                Env::raw()
                    .only(&["S3DLIO_RT_THREADS"])
                    .map(|_| "runtime_threads".into()),
            )
            .merge(Serialized::defaults(seed_s3_env()?))
            .merge(Env::prefixed("S3DLIOD_").split("__").ignore(&["config"]))
            .merge(Serialized::globals(flags))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that types alone cannot.
    ///
    /// # Errors
    /// The first invalid value, named by its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.socket_mode_bits()?;
        if self.get_many.default_concurrency == 0 || self.get_many.max_concurrency == 0 {
            return Err(ConfigError(
                "get_many concurrency values must be at least 1".into(),
            ));
        }
        let shm = &self.shm;
        if shm.default_arena == 0
            || shm.default_arena > shm.max_arena
            || shm.max_arena > shm.max_total
        {
            return Err(ConfigError(
                "shm sizes must satisfy 0 < default_arena <= max_arena <= max_total".into(),
            ));
        }
        if self.delete.concurrency == 0 {
            return Err(ConfigError("delete.concurrency must be at least 1".into()));
        }
        if self.oplog.queue == 0 {
            return Err(ConfigError("oplog.queue must be at least 1".into()));
        }
        if self.oplog.enabled && self.oplog.path.is_none() {
            return Err(ConfigError("oplog.enabled needs oplog.path".into()));
        }
        if self.max_connections == 0 {
            return Err(ConfigError("max_connections must be at least 1".into()));
        }
        self.s3
            .validate("s3")
            .map_err(|e| ConfigError(e.to_string()))?;
        self.azure
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        self.gcs
            .validate()
            .map_err(|e| ConfigError(e.to_string()))?;
        for (name, fc) in [("file", &self.file), ("direct", &self.direct)] {
            if fc.roots.is_empty() {
                return Err(ConfigError(format!(
                    "{name}.roots must name at least one directory"
                )));
            }
            if fc.read_chunk == 0 {
                return Err(ConfigError(format!("{name}.read_chunk must be at least 1")));
            }
            if !fc.alignment.is_power_of_two() || fc.alignment < 512 {
                return Err(ConfigError(format!(
                    "{name}.alignment must be a power of two of at least 512, got {}",
                    fc.alignment
                )));
            }
        }
        Ok(())
    }

    /// `socket_mode` as permission bits.
    ///
    /// # Errors
    /// A value that is not an octal number up to 0777.
    pub fn socket_mode_bits(&self) -> Result<u32, ConfigError> {
        u32::from_str_radix(self.socket_mode.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| {
                ConfigError(format!(
                    "socket_mode {:?} is not an octal mode like \"0660\"",
                    self.socket_mode
                ))
            })
    }

    /// The socket to listen on: configured, or the default for this user.
    pub fn socket_path(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(s3dlio_proto::default_socket_path)
    }

    /// The store layer's part of the configuration.
    pub fn store(&self) -> StoreConfig {
        StoreConfig {
            file: self.file.clone(),
            direct: self.direct.clone(),
            s3: self.s3.clone(),
            azure: self.azure.clone(),
            gcs: self.gcs.clone(),
            range_engine: self.range_engine.clone(),
        }
    }

    /// The effective configuration as TOML, for `--print-config` and `Admin.Status`.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.socket.is_none() {
            shown.socket = Some(self.socket_path());
        }
        // Secrets never leave the process.
        fn hide(secrets: [&mut Option<String>; 3]) {
            for secret in secrets.into_iter().filter(|s| s.is_some()) {
                *secret = Some("<redacted>".into());
            }
        }
        fn redact(p: &mut S3Config) {
            hide([&mut p.secret_access_key, &mut p.session_token, &mut None]);
            p.endpoints.values_mut().for_each(redact);
        }
        redact(&mut shown.s3);
        let az = &mut shown.azure;
        hide([
            &mut az.connection_string,
            &mut az.account_key,
            &mut az.sas_token,
        ]);
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// The seed's S3 tuning variables, as a `{ s3 = { ... } }` layer.
fn seed_s3_env() -> Result<figment::value::Dict, ConfigError> {
    use figment::value::{Dict, Value};
    let num = |name: &str| -> Result<Option<u64>, ConfigError> {
        match std::env::var(name) {
            Err(_) => Ok(None),
            Ok(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ConfigError(format!("{name}={v:?} is not a whole number"))),
        }
    };
    let mut s3 = Dict::new();
    if let Some(n) = num("S3DLIO_MAX_HTTP_CONNECTIONS")? {
        s3.insert("max_connections".into(), Value::from(n));
    }
    if let Some(ms) = num("S3DLIO_HTTP_IDLE_TIMEOUT_MS")? {
        s3.insert("idle_timeout".into(), Value::from(format!("{ms}ms")));
    }
    if let Some(secs) = num("S3DLIO_OPERATION_TIMEOUT_SECS")? {
        s3.insert("operation_timeout".into(), Value::from(format!("{secs}s")));
    }
    let mut root = Dict::new();
    if !s3.is_empty() {
        root.insert("s3".into(), Value::from(s3));
    }
    Ok(root)
}

#[cfg(test)]
// figment's `Jail` closures return `figment::Error`, which is large; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn layers_apply_in_order_defaults_file_env_flags() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                r#"
                socket = "/from/file.sock"
                shutdown_grace = "5s"
                [log]
                level = "debug"
                [file]
                roots = ["/srv"]
                "#,
            )?;
            let path = jail.directory().join("c.toml");
            let c = Config::load(Some(&path), &FlagOverrides::default()).unwrap();
            assert_eq!(c.socket.as_deref(), Some(Path::new("/from/file.sock")));
            assert_eq!(c.shutdown_grace, Duration::from_secs(5));
            assert_eq!(c.log.level, "debug");
            assert_eq!(c.file.roots, vec![PathBuf::from("/srv")]);
            assert_eq!(
                c.get_many,
                GetManyConfig::default(),
                "untouched keys keep defaults"
            );

            jail.set_env("S3DLIOD_SOCKET", "/from/env.sock");
            jail.set_env("S3DLIOD_LOG__LEVEL", "warn");
            jail.set_env("S3DLIOD_GET_MANY__MAX_CONCURRENCY", "7");
            jail.set_env("S3DLIO_RT_THREADS", "3");
            let c = Config::load(Some(&path), &FlagOverrides::default()).unwrap();
            assert_eq!(c.socket.as_deref(), Some(Path::new("/from/env.sock")));
            assert_eq!(c.log.level, "warn");
            assert_eq!(c.get_many.max_concurrency, 7);
            assert_eq!(c.runtime_threads, 3);

            let flags = FlagOverrides {
                socket: Some("/from/flag.sock".into()),
                log: Some(LogOverrides {
                    format: Some(LogFormat::Json),
                    level: None,
                }),
                ..Default::default()
            };
            let c = Config::load(Some(&path), &flags).unwrap();
            assert_eq!(c.socket.as_deref(), Some(Path::new("/from/flag.sock")));
            assert_eq!(c.log.format, LogFormat::Json);
            assert_eq!(c.log.level, "warn", "a flag left unset keeps the env value");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "socket_mode = \"999\"\n")?;
            let e = Config::load(
                Some(&jail.directory().join("bad.toml")),
                &FlagOverrides::default(),
            )
            .unwrap_err();
            assert!(e.to_string().contains("socket_mode"), "{e}");

            jail.create_file("unknown.toml", "sokcet = \"/x\"\n")?;
            let e = Config::load(
                Some(&jail.directory().join("unknown.toml")),
                &FlagOverrides::default(),
            )
            .unwrap_err();
            assert!(e.to_string().contains("sokcet"), "{e}");

            let e = Config::load(
                Some(Path::new("/nonexistent/c.toml")),
                &FlagOverrides::default(),
            )
            .unwrap_err();
            assert!(e.to_string().contains("does not exist"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn s3_profiles_and_the_seed_variables_load() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "s3.toml",
                r#"
                [s3]
                region = "eu-west-1"
                secret_access_key = "top-secret"
                access_key_id = "AKIA"
                [s3.retry]
                max_attempts = 3
                [s3.endpoints.onprem]
                endpoint = "http://minio.local:9000"
                force_path_style = true
                buckets = ["datasets"]
                "#,
            )?;
            jail.set_env("S3DLIO_MAX_HTTP_CONNECTIONS", "32");
            jail.set_env("S3DLIO_HTTP_IDLE_TIMEOUT_MS", "1500");
            jail.set_env("S3DLIO_OPERATION_TIMEOUT_SECS", "9");
            jail.set_env("S3DLIOD_S3__PART_SIZE", "16777216");
            let path = jail.directory().join("s3.toml");
            let c = Config::load(Some(&path), &FlagOverrides::default()).unwrap();
            assert_eq!(c.s3.region.as_deref(), Some("eu-west-1"));
            assert_eq!(c.s3.retry.max_attempts, 3);
            assert_eq!(c.s3.max_connections, 32);
            assert_eq!(c.s3.idle_timeout, Duration::from_millis(1500));
            assert_eq!(c.s3.operation_timeout, Duration::from_secs(9));
            assert_eq!(c.s3.part_size, 16 << 20);
            let onprem = &c.s3.endpoints["onprem"];
            assert!(onprem.force_path_style);
            assert_eq!(onprem.buckets, ["datasets"]);
            let shown = c.to_toml();
            assert!(
                !shown.contains("top-secret") && shown.contains("<redacted>"),
                "{shown}"
            );

            jail.create_file("bad.toml", "[s3]\nparts_in_flight = 0\n")?;
            let e = Config::load(
                Some(&jail.directory().join("bad.toml")),
                &FlagOverrides::default(),
            )
            .unwrap_err();
            assert!(e.to_string().contains("s3.parts_in_flight"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn azure_loads_from_file_and_environment_and_its_secrets_are_redacted() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "az.toml",
                r#"
                [azure]
                account = "devstoreaccount1"
                endpoint = "http://127.0.0.1:10000/devstoreaccount1"
                account_key = "a2V5LXRvcC1zZWNyZXQ="
                "#,
            )?;
            jail.set_env("S3DLIOD_AZURE__SAS_TOKEN", "sv=2024&sig=sas-top-secret");
            let c = Config::load(
                Some(&jail.directory().join("az.toml")),
                &FlagOverrides::default(),
            )
            .unwrap();
            assert_eq!(c.azure.account.as_deref(), Some("devstoreaccount1"));
            assert!(c.azure.sas_token.is_some());
            assert!(c.store().azure.account_key.is_some());
            let shown = c.to_toml();
            assert!(
                !shown.contains("a2V5LXRvcC1zZWNyZXQ=") && !shown.contains("sas-top-secret"),
                "{shown}"
            );
            assert!(shown.contains("account_key = \"<redacted>\""), "{shown}");

            jail.create_file("bad.toml", "[azure]\nmax_connections = 0\n")?;
            let e = Config::load(
                Some(&jail.directory().join("bad.toml")),
                &FlagOverrides::default(),
            )
            .unwrap_err();
            assert!(e.to_string().contains("azure.max_connections"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn no_config_at_all_serves_local_files() {
        Jail::expect_with(|_| {
            let c = Config::load(None, &FlagOverrides::default()).unwrap();
            assert_eq!(c.file.roots, vec![PathBuf::from("/")]);
            assert!(c.tcp_listen.is_none(), "TCP is off by default");
            assert!(c.to_toml().contains("socket = "));
            Ok(())
        });
    }
}
