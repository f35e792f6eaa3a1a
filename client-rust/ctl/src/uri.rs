//! The little URI arithmetic the CLI does itself: joining a prefix and a name, taking a
//! basename, and recognising a whole bucket (or the file system root) before a recursive delete.
//!
//! Everything else about URIs (validation, schemes, `..`) is the daemon's business: the CLI
//! passes URIs through untouched and prints the daemon's errors.

/// `prefix` + `name`, with exactly one `/` between them.
pub fn join(prefix: &str, name: &str) -> String {
    let name = name.trim_start_matches('/');
    if prefix.ends_with('/') {
        format!("{prefix}{name}")
    } else {
        format!("{prefix}/{name}")
    }
}

/// `uri` with a trailing `/` (unchanged if it has one).
pub fn as_prefix(uri: &str) -> String {
    if uri.ends_with('/') {
        uri.to_string()
    } else {
        format!("{uri}/")
    }
}

/// The last path segment of an object URI; `None` for a URI that ends in `/`, has no path,
/// or ends in `.` or `..`.
pub fn basename(uri: &str) -> Option<&str> {
    let path = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let name = path.rsplit('/').next()?;
    match name {
        "" | "." | ".." => None,
        _ if !path.contains('/') => None,
        _ => Some(name),
    }
}

/// True when `uri` names a whole bucket or container, or the root of a local file system:
/// `s3://b`, `s3://b/`, `gs://b/`, `az://acct/c/`, `file:///`, `direct:///`.
pub fn is_bucket_root(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return false;
    };
    // Segments of the path, ignoring empty ones ("b//" is still the bucket).
    let segments = rest.split('/').filter(|s| !s.is_empty()).count();
    match scheme.to_ascii_lowercase().as_str() {
        "s3" | "gs" | "gcs" => segments <= 1,
        "az" | "azure" => segments <= 2,
        "file" | "direct" => segments == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_puts_exactly_one_slash() {
        assert_eq!(join("s3://b/p/", "x.dat"), "s3://b/p/x.dat");
        assert_eq!(join("s3://b/p", "x.dat"), "s3://b/p/x.dat");
        assert_eq!(join("s3://b", "x"), "s3://b/x");
        assert_eq!(join("file:///tmp/d/", "/x"), "file:///tmp/d/x");
    }

    #[test]
    fn as_prefix_adds_one_trailing_slash() {
        assert_eq!(as_prefix("s3://b/p"), "s3://b/p/");
        assert_eq!(as_prefix("s3://b/p/"), "s3://b/p/");
    }

    #[test]
    fn basename_is_the_last_segment() {
        assert_eq!(basename("s3://b/dir/x.dat"), Some("x.dat"));
        assert_eq!(basename("file:///etc/hostname"), Some("hostname"));
        assert_eq!(basename("az://acct/c/blob"), Some("blob"));
    }

    #[test]
    fn basename_refuses_prefixes_and_dots() {
        assert_eq!(basename("s3://b/dir/"), None);
        assert_eq!(basename("s3://b"), None);
        assert_eq!(basename("file:///"), None);
        assert_eq!(basename("file:///tmp/.."), None);
    }

    #[test]
    fn whole_buckets_are_roots() {
        for uri in [
            "s3://b",
            "s3://b/",
            "gs://b/",
            "gcs://b",
            "az://acct/c/",
            "az://acct/c",
            "azure://acct/c/",
            "file:///",
            "file://",
            "direct:///",
            "S3://b/",
        ] {
            assert!(is_bucket_root(uri), "{uri}");
        }
    }

    #[test]
    fn prefixes_inside_buckets_are_not_roots() {
        for uri in [
            "s3://b/p",
            "s3://b/p/",
            "gs://b/x/y",
            "az://acct/c/blob/",
            "file:///tmp/",
            "file:///tmp/data",
            "direct:///data/",
            "not-a-uri",
            "http://host/",
        ] {
            assert!(!is_bucket_root(uri), "{uri}");
        }
    }
}
