//! Parsing storage URIs into [`Location`]s, once, at the edge.
//!
//! Forms: `s3://bucket/key`, `az://account/container/blob` (or `azure://`),
//! `gs://bucket/object` (or `gcs://`), `file:///abs/path`, `direct:///abs/path`.
//! URIs are taken literally: no percent-decoding, so a key may hold any character but NUL.
//! A Location renders back to the URI it was parsed from, in the scheme spelling the user gave.

use std::fmt;

use crate::error::{Error, Result};

/// The storage backend a URI addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    S3,
    Azure,
    Gcs,
    File,
    Direct,
}

impl Scheme {
    /// Canonical name, as used in config and status output.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Azure => "az",
            Scheme::Gcs => "gs",
            Scheme::File => "file",
            Scheme::Direct => "direct",
        }
    }

    /// All schemes, in the order status output shows them.
    pub const ALL: [Scheme; 5] = [
        Scheme::File,
        Scheme::Direct,
        Scheme::S3,
        Scheme::Azure,
        Scheme::Gcs,
    ];

    /// True for the two local-file backends.
    pub fn is_local(self) -> bool {
        matches!(self, Scheme::File | Scheme::Direct)
    }
}

/// A parsed, validated storage URI.
///
/// For cloud schemes `bucket` is the bucket (S3, GCS) or the account (Azure, whose container is
/// in `container`) and `key` is the object key without a leading `/`. For `file` and `direct`,
/// `bucket` is empty and `key` is the absolute path, starting with `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub scheme: Scheme,
    /// The scheme as the user spelled it (`azure`, `gcs`...), kept for rendering.
    spelling: &'static str,
    pub bucket: String,
    pub container: Option<String>,
    pub key: String,
}

impl Location {
    /// Parses and validates a URI.
    ///
    /// # Errors
    /// [`Error::InvalidUri`] for a missing or unknown scheme, a missing bucket/account/container,
    /// a relative `file://` path, `..` components, or NUL bytes.
    pub fn parse(uri: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidUri {
            uri: uri.to_string(),
            reason: reason.to_string(),
        };
        if uri.is_empty() {
            return Err(bad("empty URI"));
        }
        if uri.contains('\0') {
            return Err(bad("contains a NUL byte"));
        }
        let Some((scheme_str, rest)) = uri.split_once("://") else {
            return Err(bad("missing scheme; expected s3://, az://, azure://, gs://, gcs://, file:// or direct://"));
        };
        let (scheme, spelling) = match scheme_str {
            "s3" => (Scheme::S3, "s3"),
            "az" => (Scheme::Azure, "az"),
            "azure" => (Scheme::Azure, "azure"),
            "gs" => (Scheme::Gcs, "gs"),
            "gcs" => (Scheme::Gcs, "gcs"),
            "file" => (Scheme::File, "file"),
            "direct" => (Scheme::Direct, "direct"),
            other => {
                return Err(bad(&format!(
                    "unsupported scheme {other:?}; expected s3, az, azure, gs, gcs, file or direct"
                )))
            }
        };
        match scheme {
            Scheme::File | Scheme::Direct => {
                if !rest.starts_with('/') {
                    return Err(bad(&format!(
                        "{spelling}:// needs an absolute path, as in {spelling}:///data/file (three slashes)"
                    )));
                }
                if rest.split('/').any(|c| c == "..") {
                    return Err(bad("'..' path components are not allowed"));
                }
                Ok(Location {
                    scheme,
                    spelling,
                    bucket: String::new(),
                    container: None,
                    key: rest.to_string(),
                })
            }
            Scheme::S3 | Scheme::Gcs => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(bad("missing bucket name"));
                }
                Ok(Location {
                    scheme,
                    spelling,
                    bucket: bucket.to_string(),
                    container: None,
                    key: key.to_string(),
                })
            }
            Scheme::Azure => {
                let mut parts = rest.splitn(3, '/');
                let account = parts.next().unwrap_or_default();
                let container = parts.next().unwrap_or_default();
                let key = parts.next().unwrap_or_default();
                if account.is_empty() {
                    return Err(bad(
                        "missing storage account; expected az://account/container/blob",
                    ));
                }
                if container.is_empty() {
                    return Err(bad(
                        "missing container; expected az://account/container/blob",
                    ));
                }
                Ok(Location {
                    scheme,
                    spelling,
                    bucket: account.to_string(),
                    container: Some(container.to_string()),
                    key: key.to_string(),
                })
            }
        }
    }

    /// A location in the same bucket/container (or file system) with another key.
    pub fn with_key(&self, key: impl Into<String>) -> Location {
        Location {
            key: key.into(),
            ..self.clone()
        }
    }

    /// The URI of this location's bucket, container, or (for files) the path itself.
    pub fn root_uri(&self) -> String {
        match self.scheme {
            Scheme::File | Scheme::Direct => format!("{}://{}", self.spelling, self.key),
            Scheme::Azure => {
                format!(
                    "{}://{}/{}",
                    self.spelling,
                    self.bucket,
                    self.container.as_deref().unwrap_or("")
                )
            }
            Scheme::S3 | Scheme::Gcs => format!("{}://{}", self.spelling, self.bucket),
        }
    }

    /// True when the URI names an object (not only a bucket, a container or `/`).
    pub fn names_object(&self) -> bool {
        match self.scheme {
            Scheme::File | Scheme::Direct => self.key.len() > 1 && !self.key.ends_with('/'),
            _ => !self.key.is_empty() && !self.key.ends_with('/'),
        }
    }

    /// Checks that the URI names an object, for operations that need one.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming `op` when it names a bucket or a prefix ending in `/`.
    pub fn require_object(&self, op: &'static str) -> Result<()> {
        if self.names_object() {
            Ok(())
        } else {
            Err(Error::InvalidArgument {
                op,
                uri: self.to_string(),
                reason: "the URI names a bucket, container or directory, not an object".into(),
            })
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scheme {
            Scheme::File | Scheme::Direct => write!(f, "{}://{}", self.spelling, self.key),
            Scheme::Azure => write!(
                f,
                "{}://{}/{}/{}",
                self.spelling,
                self.bucket,
                self.container.as_deref().unwrap_or(""),
                self.key
            ),
            Scheme::S3 | Scheme::Gcs => {
                write!(f, "{}://{}/{}", self.spelling, self.bucket, self.key)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scheme_and_alias() {
        let s3 = Location::parse("s3://my.dotted.bucket/a/b c").unwrap();
        assert_eq!(
            (s3.scheme, s3.bucket.as_str(), s3.key.as_str()),
            (Scheme::S3, "my.dotted.bucket", "a/b c")
        );
        let az = Location::parse("azure://acct/cont/x/y").unwrap();
        assert_eq!(az.scheme, Scheme::Azure);
        assert_eq!(
            (az.bucket.as_str(), az.container.as_deref(), az.key.as_str()),
            ("acct", Some("cont"), "x/y")
        );
        assert_eq!(az.to_string(), "azure://acct/cont/x/y");
        assert_eq!(Location::parse("az://acct/cont").unwrap().key, "");
        let gs = Location::parse("gcs://b/o").unwrap();
        assert_eq!(
            (gs.scheme, gs.to_string().as_str()),
            (Scheme::Gcs, "gcs://b/o")
        );
        let f = Location::parse("file:///data/x.bin").unwrap();
        assert_eq!((f.scheme, f.key.as_str()), (Scheme::File, "/data/x.bin"));
        let d = Location::parse("direct:///data/ü ñ.bin").unwrap();
        assert_eq!(
            (d.scheme, d.key.as_str()),
            (Scheme::Direct, "/data/ü ñ.bin")
        );
    }

    #[test]
    fn renders_back_to_the_same_uri() {
        for u in [
            "s3://b/k/x",
            "s3://b/",
            "gs://b/o",
            "az://a/c/b",
            "file:///a/b/",
            "direct:///x",
        ] {
            assert_eq!(Location::parse(u).unwrap().to_string(), u);
        }
    }

    #[test]
    fn rejects_bad_uris_with_a_reason() {
        for (u, why) in [
            ("", "empty"),
            ("/data/x", "missing scheme"),
            ("ftp://h/x", "unsupported scheme"),
            ("file://data/x", "absolute path"),
            ("file:///data/../etc/passwd", "'..'"),
            ("s3:///key", "missing bucket"),
            ("az://acct", "missing container"),
            ("az:///c/b", "missing storage account"),
            ("s3://b/k\0", "NUL"),
        ] {
            let e = Location::parse(u).unwrap_err().to_string();
            assert!(e.contains(why), "{u:?}: {e}");
        }
    }

    #[test]
    fn distinguishes_objects_from_buckets_and_prefixes() {
        assert!(Location::parse("s3://b/k").unwrap().names_object());
        assert!(!Location::parse("s3://b").unwrap().names_object());
        assert!(!Location::parse("s3://b/dir/").unwrap().names_object());
        assert!(!Location::parse("file:///").unwrap().names_object());
        assert!(Location::parse("file:///x").unwrap().names_object());
        assert!(Location::parse("s3://b")
            .unwrap()
            .require_object("get")
            .is_err());
    }
}
