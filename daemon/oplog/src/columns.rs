//! Column names and the aliases other s3dlio tools write, mapped to one meaning each.

/// The meaning of a column, whatever its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Idx,
    Thread,
    Op,
    ClientId,
    NObjects,
    Bytes,
    Endpoint,
    File,
    Error,
    Start,
    FirstByte,
    End,
    DurationNs,
}

impl Column {
    /// Maps a header name (case-insensitive) to its column; unknown names are ignored.
    pub(crate) fn from_name(name: &str) -> Option<Column> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "idx" | "index" | "seq" => Column::Idx,
            "thread" | "tid" | "thread_id" => Column::Thread,
            "op" | "operation" | "op_type" | "type" => Column::Op,
            "client_id" | "client" => Column::ClientId,
            "n_objects" | "objects" | "num_objects" => Column::NObjects,
            "bytes" | "size" | "length" | "nbytes" => Column::Bytes,
            "endpoint" | "base_uri" => Column::Endpoint,
            "file" | "uri" | "path" | "key" | "object" => Column::File,
            "error" | "err" | "error_message" => Column::Error,
            "start" | "t_start_ns" | "start_time" | "ts" | "timestamp" => Column::Start,
            "first_byte" | "t_first_byte" | "ttfb" => Column::FirstByte,
            "end" | "t_end_ns" | "end_time" => Column::End,
            "duration_ns" | "duration" | "latency_ns" => Column::DurationNs,
            _ => return None,
        })
    }
}
