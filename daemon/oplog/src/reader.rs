//! Reading op-logs as a stream of rows, with memory that does not grow with the log: zstd or
//! plain, TSV or JSON lines, detected from the content (not the file name); TSV columns found by
//! header name with the aliases other s3dlio tools write.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::columns::Column;
use crate::record::{parse_time, unescape, Op, OpRecord};

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// A row that could not be read, with its line number.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: line {line}: {reason}")]
    Row {
        path: String,
        line: u64,
        reason: String,
    },
}

enum Layout {
    /// Column meaning by position, from the header.
    Tsv(Vec<Option<Column>>),
    Jsonl,
}

/// Streams the rows of one op-log.
pub struct OpLogReader {
    input: Box<dyn BufRead + Send>,
    layout: Layout,
    path: String,
    line_no: u64,
    line: String,
    next_idx: u64,
}

impl std::fmt::Debug for OpLogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpLogReader")
            .field("path", &self.path)
            .field("line", &self.line_no)
            .finish()
    }
}

impl OpLogReader {
    /// Opens a log file.
    ///
    /// # Errors
    /// The file cannot be opened or decompressed, or it has neither a TSV header naming an
    /// `op` and a `file` column nor JSON lines.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| ReadError::Io {
            path: name.clone(),
            source,
        })?;
        Self::from_reader(file, name)
    }

    /// Reads a log from any byte stream; `name` is used in errors.
    ///
    /// # Errors
    /// As [`OpLogReader::open`].
    pub fn from_reader(input: impl Read + Send + 'static, name: String) -> Result<Self, ReadError> {
        let io_err = |source| ReadError::Io {
            path: name.clone(),
            source,
        };
        let mut buffered = BufReader::with_capacity(256 * 1024, input);
        let is_zstd = buffered
            .fill_buf()
            .map_err(io_err)?
            .starts_with(&ZSTD_MAGIC);
        let input: Box<dyn BufRead + Send> = if is_zstd {
            Box::new(BufReader::with_capacity(
                256 * 1024,
                zstd::Decoder::with_buffer(buffered).map_err(io_err)?,
            ))
        } else {
            Box::new(buffered)
        };
        let mut reader = OpLogReader {
            input,
            layout: Layout::Jsonl,
            path: name,
            line_no: 0,
            line: String::new(),
            next_idx: 0,
        };
        reader.detect_layout()?;
        Ok(reader)
    }

    fn detect_layout(&mut self) -> Result<(), ReadError> {
        // Skip leading blank lines; peek the first real one without consuming a JSON row.
        loop {
            let first = match self.input.fill_buf() {
                Ok(buf) => buf.first().copied(),
                Err(source) => {
                    return Err(ReadError::Io {
                        path: self.path.clone(),
                        source,
                    })
                }
            };
            match first {
                None => return Ok(()), // empty log: no rows
                Some(b @ (b'\n' | b'\r')) => {
                    self.input.consume(1);
                    self.line_no += u64::from(b == b'\n');
                }
                Some(b'{') => {
                    self.layout = Layout::Jsonl;
                    return Ok(());
                }
                Some(_) => break,
            }
        }
        self.read_line()?;
        let columns: Vec<Option<Column>> = self.line.split('\t').map(Column::from_name).collect();
        for needed in [Column::Op, Column::File] {
            if !columns.contains(&Some(needed)) {
                return Err(self.row_error(format!(
                    "not an op-log: the header has no {needed:?} column (header: {:?})",
                    self.line
                )));
            }
        }
        self.layout = Layout::Tsv(columns);
        Ok(())
    }

    /// Reads the next line into `self.line` without its newline; false at the end.
    fn read_line(&mut self) -> Result<bool, ReadError> {
        self.line.clear();
        let n = self
            .input
            .read_line(&mut self.line)
            .map_err(|source| ReadError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.line_no += 1;
        while self.line.ends_with(['\n', '\r']) {
            self.line.pop();
        }
        Ok(n > 0)
    }

    fn row_error(&self, reason: String) -> ReadError {
        ReadError::Row {
            path: self.path.clone(),
            line: self.line_no,
            reason,
        }
    }

    fn parse_row(&mut self) -> Result<OpRecord, ReadError> {
        let mut fields = Fields::default();
        match &self.layout {
            Layout::Tsv(columns) => {
                for (col, value) in columns.iter().zip(self.line.split('\t')) {
                    if let Some(col) = col {
                        fields.set(*col, unescape(value).into_owned());
                    }
                }
            }
            Layout::Jsonl => {
                let value: serde_json::Value = serde_json::from_str(&self.line)
                    .map_err(|e| self.row_error(format!("bad JSON: {e}")))?;
                let serde_json::Value::Object(map) = value else {
                    return Err(self.row_error("a JSON line must be an object".into()));
                };
                for (key, v) in map {
                    if let Some(col) = Column::from_name(&key) {
                        let text = match v {
                            serde_json::Value::String(s) => s,
                            serde_json::Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        fields.set(col, text);
                    }
                }
            }
        }
        fields
            .into_record(self.next_idx)
            .map_err(|reason| self.row_error(reason))
    }
}

impl Iterator for OpLogReader {
    type Item = Result<OpRecord, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.read_line() {
                Err(e) => return Some(Err(e)),
                Ok(false) => return None,
                Ok(true) if self.line.trim().is_empty() => continue,
                Ok(true) => {
                    let row = self.parse_row();
                    if let Ok(r) = &row {
                        self.next_idx = r.idx + 1;
                    }
                    return Some(row);
                }
            }
        }
    }
}

/// The raw text of each known column of one row.
#[derive(Default)]
struct Fields {
    values: [Option<String>; 13],
}

impl Fields {
    fn set(&mut self, col: Column, value: String) {
        self.values[col as usize] = Some(value);
    }

    fn take(&mut self, col: Column) -> Option<String> {
        self.values[col as usize].take().filter(|v| !v.is_empty())
    }

    fn number(&mut self, col: Column) -> Result<Option<u64>, String> {
        match self.take(col) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| *x >= 0.0)
                .map(|x| Some(x as u64))
                .ok_or_else(|| format!("{col:?} {v:?} is not a number")),
        }
    }

    fn time(&mut self, col: Column) -> Result<Option<SystemTime>, String> {
        match self.take(col) {
            None => Ok(None),
            Some(v) => parse_time(&v)
                .map(Some)
                .ok_or_else(|| format!("{col:?} {v:?} is not a time")),
        }
    }

    fn into_record(mut self, default_idx: u64) -> Result<OpRecord, String> {
        let op: Op = self
            .take(Column::Op)
            .ok_or("no op")?
            .parse()
            .unwrap_or_else(|e| match e {});
        let file = self.take(Column::File).ok_or("no file / uri")?;
        let start = self.time(Column::Start)?.unwrap_or(SystemTime::UNIX_EPOCH);
        let duration = self.number(Column::DurationNs)?;
        let end = match (self.time(Column::End)?, duration) {
            (Some(end), _) => end,
            (None, Some(ns)) => start + Duration::from_nanos(ns),
            (None, None) => start,
        };
        Ok(OpRecord {
            idx: self.number(Column::Idx)?.unwrap_or(default_idx),
            thread: self.take(Column::Thread).unwrap_or_default(),
            op,
            client_id: self.take(Column::ClientId).unwrap_or_default(),
            n_objects: self.number(Column::NObjects)?.unwrap_or(1),
            bytes: self.number(Column::Bytes)?.unwrap_or(0),
            endpoint: self.take(Column::Endpoint).unwrap_or_default(),
            file,
            error: self.take(Column::Error).unwrap_or_default(),
            start,
            first_byte: self.time(Column::FirstByte)?,
            end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{Format, OpLogWriter, WriterOptions, HEADER};
    use std::io::Cursor;

    fn record(idx: u64, op: Op, error: &str) -> OpRecord {
        let start = SystemTime::UNIX_EPOCH + Duration::new(1_759_000_000, idx as u32 * 1000);
        OpRecord {
            idx,
            thread: "session-1".into(),
            op,
            client_id: "trainer\tone".into(),
            n_objects: 1,
            bytes: idx * 10,
            endpoint: "file://".into(),
            file: format!("file:///data/obj {idx}"),
            error: error.into(),
            start,
            first_byte: Some(start + Duration::from_micros(5)),
            end: start + Duration::from_micros(20),
        }
    }

    fn round_trip(options: WriterOptions) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let rows: Vec<_> = (0..100)
            .map(|i| {
                record(
                    i,
                    if i % 3 == 0 { Op::Put } else { Op::Get },
                    if i == 7 {
                        "get x: not found\n(again)"
                    } else {
                        ""
                    },
                )
            })
            .collect();
        let mut w = OpLogWriter::create(&path, options).unwrap();
        for r in &rows {
            w.write(r).unwrap();
        }
        w.finish().unwrap();
        let back: Vec<_> = OpLogReader::open(&path)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(back, rows, "{options:?}");
    }

    #[test]
    fn every_format_round_trips_exactly() {
        for format in [Format::Tsv, Format::Jsonl] {
            for zstd in [true, false] {
                round_trip(WriterOptions {
                    format,
                    zstd,
                    level: 1,
                });
            }
        }
    }

    #[test]
    fn tsv_has_exactly_the_seed_header_and_one_line_per_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.tsv");
        let mut w = OpLogWriter::create(
            &path,
            WriterOptions {
                zstd: false,
                ..Default::default()
            },
        )
        .unwrap();
        w.write(&record(0, Op::Get, "bad\tthing\nhappened"))
            .unwrap();
        w.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror\tstart\tfirst_byte\tend\tduration_ns");
        assert_eq!(lines.len(), 2);
        let cols: Vec<_> = lines[1].split('\t').collect();
        assert_eq!(cols.len(), HEADER.len());
        assert_eq!(cols[2], "GET");
        assert_eq!(cols[9], "2025-09-27T19:06:40.000000000Z");
        assert_eq!(cols[12], "20000");
    }

    #[test]
    fn aliases_minimal_columns_and_numeric_times_are_understood() {
        let text = "operation\tpath\tsize\tt_start_ns\tlatency_ns\nHEAD\ts3://b/k\t12\t1000000000\t500\nget\ts3://b/j\t\t2000000000\t\n";
        let rows: Vec<_> = OpLogReader::from_reader(Cursor::new(text), "mem".into())
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].op, Op::Stat);
        assert_eq!(rows[0].bytes, 12);
        assert_eq!(rows[0].duration_ns(), 500);
        assert_eq!(
            rows[0].start,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1)
        );
        assert_eq!((rows[1].op.clone(), rows[1].idx), (Op::Get, 1));
    }

    #[test]
    fn bad_rows_are_errors_with_line_numbers_and_reading_goes_on() {
        let text = "idx\top\tfile\tstart\n0\tGET\tfile:///a\tnot-a-time\n1\tGET\tfile:///b\t2025-01-01T00:00:00Z\n";
        let rows: Vec<_> = OpLogReader::from_reader(Cursor::new(text), "mem".into())
            .unwrap()
            .collect();
        let e = rows[0].as_ref().unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("not a time"), "{e}");
        assert_eq!(rows[1].as_ref().unwrap().file, "file:///b");

        let e = OpLogReader::from_reader(Cursor::new("a\tb\n"), "mem".into())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an op-log"), "{e}");
        assert_eq!(
            OpLogReader::from_reader(Cursor::new(""), "mem".into())
                .unwrap()
                .count(),
            0
        );
    }
}
