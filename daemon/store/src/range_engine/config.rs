//! `[range_engine]`: node-wide bounds and one table of settings per backend.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::uri::Scheme;

const MIB: u64 = 1024 * 1024;

/// Settings of the engine for one backend (`[range_engine.s3]`, `.azure`, `.gcs`, `.file`,
/// `.direct`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RangeConfig {
    /// On or off; absent: on for the cloud backends, off for local files (where one `read_at`
    /// into the destination is already as fast as the disk, measured in `benches/`).
    pub enabled: Option<bool>,
    /// Bytes per range, the first request's included.
    pub chunk_size: u64,
    /// Ranges of one object in flight at once.
    pub max_ranges_per_object: usize,
    /// A read whose size is known in advance is split from its first request only above this
    /// many bytes (smaller ones go out as one plain request).
    pub split_threshold: u64,
    /// Longest time one range may take, its body included.
    #[serde(with = "humantime_serde")]
    pub range_timeout: Duration,
    /// Further attempts of a range that failed in a retryable way (throttled, cut off, timed
    /// out); the range starts again from its first byte.
    pub range_retries: u32,
}

impl Default for RangeConfig {
    fn default() -> Self {
        RangeConfig {
            enabled: None,
            chunk_size: 8 * MIB,
            max_ranges_per_object: 16,
            split_threshold: 8 * MIB,
            range_timeout: Duration::from_secs(60),
            range_retries: 3,
        }
    }
}

impl RangeConfig {
    /// Whether the engine runs for `scheme`.
    pub fn is_enabled(&self, scheme: Scheme) -> bool {
        self.enabled.unwrap_or(!scheme.is_local())
    }

    fn validate(&self, table: &str) -> Result<()> {
        let bad = |reason: String| Error::InvalidArgument {
            op: "configure",
            uri: format!("[range_engine.{table}]"),
            reason,
        };
        if self.chunk_size < 64 * 1024 {
            return Err(bad(format!(
                "chunk_size {} must be at least 65536 bytes",
                self.chunk_size
            )));
        }
        if self.max_ranges_per_object == 0 {
            return Err(bad("max_ranges_per_object must be at least 1".into()));
        }
        if self.range_timeout.is_zero() {
            return Err(bad("range_timeout must be positive".into()));
        }
        Ok(())
    }
}

/// `[range_engine]` of the daemon's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RangeEngineConfig {
    /// Ranges in flight on the whole node, every object and session together.
    pub max_ranges_node: usize,
    /// Objects whose size and version the node remembers (0: none).
    pub size_cache_entries: usize,
    /// How long a remembered size is trusted.
    #[serde(with = "humantime_serde")]
    pub size_cache_ttl: Duration,
    pub s3: RangeConfig,
    pub azure: RangeConfig,
    pub gcs: RangeConfig,
    pub file: RangeConfig,
    pub direct: RangeConfig,
}

impl Default for RangeEngineConfig {
    fn default() -> Self {
        RangeEngineConfig {
            max_ranges_node: 64,
            size_cache_entries: 100_000,
            size_cache_ttl: Duration::from_secs(300),
            s3: RangeConfig::default(),
            azure: RangeConfig::default(),
            gcs: RangeConfig::default(),
            file: RangeConfig::default(),
            direct: RangeConfig::default(),
        }
    }
}

impl RangeEngineConfig {
    /// The settings for `scheme`.
    pub fn for_scheme(&self, scheme: Scheme) -> &RangeConfig {
        match scheme {
            Scheme::S3 => &self.s3,
            Scheme::Azure => &self.azure,
            Scheme::Gcs => &self.gcs,
            Scheme::File => &self.file,
            Scheme::Direct => &self.direct,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_ranges_node == 0 {
            return Err(Error::InvalidArgument {
                op: "configure",
                uri: "[range_engine]".into(),
                reason: "max_ranges_node must be at least 1".into(),
            });
        }
        for (table, cfg) in [
            ("s3", &self.s3),
            ("azure", &self.azure),
            ("gcs", &self.gcs),
            ("file", &self.file),
            ("direct", &self.direct),
        ] {
            cfg.validate(table)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_for_the_cloud_and_off_for_local_files_by_default() {
        let c = RangeEngineConfig::default();
        assert!(c.s3.is_enabled(Scheme::S3));
        assert!(c.gcs.is_enabled(Scheme::Gcs));
        assert!(!c.file.is_enabled(Scheme::File));
        assert!(!c.direct.is_enabled(Scheme::Direct));
        let on = RangeConfig {
            enabled: Some(true),
            ..RangeConfig::default()
        };
        assert!(on.is_enabled(Scheme::File));
    }

    #[test]
    fn tiny_chunks_and_zero_bounds_are_refused() {
        let mut c = RangeEngineConfig::default();
        c.s3.chunk_size = 1000;
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("[range_engine.s3]") && e.contains("chunk_size"),
            "{e}"
        );
        let c = RangeEngineConfig {
            max_ranges_node: 0,
            ..RangeEngineConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
