//! One op-log row: the operation, who did it, on what, how much, how long, and how it ended.
//!
//! The columns and their meanings are s3dlio's, so that tools built for s3dlio op-logs read
//! ours and ours read theirs: `idx thread op client_id n_objects bytes endpoint file error start
//! first_byte end duration_ns`, times RFC 3339 UTC with nanoseconds.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The operation of a row. Names are s3dlio's (`HEAD` is read as [`Op::Stat`]); anything else
/// is kept as [`Op::Other`] rather than refused, so a reader never chokes on a new operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    Get,
    Put,
    List,
    Stat,
    Delete,
    CreateBucket,
    DeleteBucket,
    Other(String),
}

impl Op {
    /// The name written to the log.
    pub fn as_str(&self) -> &str {
        match self {
            Op::Get => "GET",
            Op::Put => "PUT",
            Op::List => "LIST",
            Op::Stat => "HEAD",
            Op::Delete => "DELETE",
            Op::CreateBucket => "CREATE_BUCKET",
            Op::DeleteBucket => "DELETE_BUCKET",
            Op::Other(s) => s,
        }
    }
}

impl FromStr for Op {
    type Err = std::convert::Infallible;
    /// Case-insensitive, with the aliases s3dlio's tools use.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_uppercase().as_str() {
            "GET" | "GETOBJECT" | "READ" => Op::Get,
            "PUT" | "PUTOBJECT" | "WRITE" => Op::Put,
            "LIST" | "LISTOBJECTS" => Op::List,
            "STAT" | "HEAD" | "HEADOBJECT" => Op::Stat,
            "DELETE" | "DELETEOBJECT" | "RM" => Op::Delete,
            "CREATE_BUCKET" | "CREATEBUCKET" | "MB" => Op::CreateBucket,
            "DELETE_BUCKET" | "DELETEBUCKET" | "RB" => Op::DeleteBucket,
            _ => Op::Other(s.trim().to_string()),
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Op {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Op {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().unwrap_or(Op::Other(s)))
    }
}

/// One row of an op-log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// Sequence number in the log, from 0.
    pub idx: u64,
    /// Who ran it inside the client: for s3dliod, `session-ID`.
    pub thread: String,
    pub op: Op,
    /// The client: the name it gave at attach, else `pid@uid`.
    pub client_id: String,
    /// Objects the row covers (1, or a batch's size).
    pub n_objects: u64,
    /// Payload bytes moved.
    pub bytes: u64,
    /// Where the object lives, as a URI prefix: `s3://bucket`, `az://acct/container`,
    /// `file://`.
    pub endpoint: String,
    /// The object: its full URI (a ranged GET appends nothing; see `docs/oplog.md`).
    pub file: String,
    /// Empty on success, else the one-line error.
    pub error: String,
    pub start: SystemTime,
    /// When the first payload byte was available (GETs); `None` where it has no meaning.
    pub first_byte: Option<SystemTime>,
    pub end: SystemTime,
}

impl OpRecord {
    /// `end - start` in nanoseconds (0 if the clock went backwards).
    pub fn duration_ns(&self) -> u64 {
        self.end
            .duration_since(self.start)
            .unwrap_or(Duration::ZERO)
            .as_nanos() as u64
    }

    /// The URI to act on when replaying: `file` if it is a URI, else `endpoint` + `file`.
    pub fn uri(&self) -> String {
        if self.file.contains("://") || self.endpoint.is_empty() {
            self.file.clone()
        } else {
            let sep = if self.endpoint.ends_with('/') || self.file.starts_with('/') {
                ""
            } else {
                "/"
            };
            format!("{}{sep}{}", self.endpoint, self.file)
        }
    }
}

/// RFC 3339 UTC with nanoseconds: `2025-10-01T12:34:56.123456789Z`.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Parses RFC 3339 (`Z` or without zone, any fraction), or integer nanoseconds since the
/// epoch (as some s3dlio tools write).
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(ns) = s.parse::<u64>() {
        return Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns));
    }
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok()
}

/// Escapes a field so that it can never break a TSV row: `\` `\t` `\n` `\r`.
pub fn escape(field: &str) -> std::borrow::Cow<'_, str> {
    if !field.contains(['\\', '\t', '\n', '\r']) {
        return field.into();
    }
    let mut out = String::with_capacity(field.len() + 8);
    for c in field.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.into()
}

/// Reverses [`escape`]; an unknown escape is kept as written.
pub fn unescape(field: &str) -> std::borrow::Cow<'_, str> {
    if !field.contains('\\') {
        return field.into();
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ops_parse_with_aliases_and_keep_unknown_names() {
        assert_eq!("head".parse::<Op>().unwrap(), Op::Stat);
        assert_eq!("GET".parse::<Op>().unwrap(), Op::Get);
        assert_eq!("Delete".parse::<Op>().unwrap(), Op::Delete);
        assert_eq!("COPY".parse::<Op>().unwrap(), Op::Other("COPY".into()));
        assert_eq!(Op::Other("COPY".into()).as_str(), "COPY");
    }

    #[test]
    fn times_round_trip_with_nanoseconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_759_321_496, 123_456_789);
        let s = format_time(t);
        assert_eq!(s, "2025-10-01T12:24:56.123456789Z");
        assert_eq!(parse_time(&s), Some(t));
        assert_eq!(parse_time("1759321496123456789"), Some(t));
        assert_eq!(parse_time(""), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn replay_uri_joins_endpoint_and_relative_file() {
        let mut r = OpRecord {
            idx: 0,
            thread: "t".into(),
            op: Op::Get,
            client_id: "c".into(),
            n_objects: 1,
            bytes: 0,
            endpoint: "s3://bucket".into(),
            file: "s3://bucket/k".into(),
            error: String::new(),
            start: SystemTime::UNIX_EPOCH,
            first_byte: None,
            end: SystemTime::UNIX_EPOCH,
        };
        assert_eq!(r.uri(), "s3://bucket/k");
        r.file = "dir/k".into();
        assert_eq!(r.uri(), "s3://bucket/dir/k");
        r.endpoint = "file://".into();
        r.file = "/data/x".into();
        assert_eq!(r.uri(), "file:///data/x");
    }

    proptest! {
        #[test]
        fn escaped_fields_never_hold_tabs_or_newlines_and_round_trip(s in ".*") {
            let e = escape(&s);
            prop_assert!(!e.contains(['\t', '\n', '\r']));
            let back = unescape(&e).into_owned();
            prop_assert_eq!(back, s);
        }
    }
}
