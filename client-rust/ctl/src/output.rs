//! What the commands print on stdout: aligned tables and lines for people, or JSON for scripts
//! (one document, or one object per line for listings), plus the formatting of sizes,
//! latencies, times and rates shared by every command.
//!
//! Stdout is buffered and written through [`Out`], whose methods return I/O errors instead of
//! panicking, so `s3dlioctl ls … | head` ends quietly on a closed pipe (see `main`).
//! Diagnostics, progress and summaries never go to stdout.

use std::fmt::Display;
use std::io::{self, BufWriter, Stdout, Write};
use std::time::Duration;

use prost_types::Timestamp;
use serde::Serialize;

/// Buffered stdout, and whether the user asked for JSON.
pub struct Out {
    w: BufWriter<Stdout>,
    pub json: bool,
}

impl Out {
    pub fn new(json: bool) -> Self {
        Out {
            w: BufWriter::with_capacity(64 * 1024, io::stdout()),
            json,
        }
    }

    /// One line of text.
    pub fn line(&mut self, s: impl Display) -> io::Result<()> {
        writeln!(self.w, "{s}")
    }

    /// Text written as it is (tables bring their own newlines).
    pub fn text(&mut self, s: &str) -> io::Result<()> {
        self.w.write_all(s.as_bytes())
    }

    /// One JSON document, pretty-printed.
    pub fn json_doc<T: Serialize>(&mut self, v: &T) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut self.w, v)?;
        writeln!(self.w)
    }

    /// One JSON object on one line (JSON lines).
    pub fn json_line<T: Serialize>(&mut self, v: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.w, v)?;
        writeln!(self.w)
    }

    /// Raw bytes (object payloads for `get -o -`).
    pub fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.w.write_all(b)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// Column alignment in a [`Table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A plain text table: a header row, columns separated by two spaces, no borders.
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&'static str, Align)]) -> Self {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows.push(cells);
    }

    /// The table as text, each line ending in a newline; trailing spaces are trimmed.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .map(|(h, _)| h.chars().count())
            .collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.columns.iter().map(|(h, _)| h.to_string()).collect();
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i].saturating_sub(cell.chars().count());
                match self.columns[i].1 {
                    Align::Left => {
                        line.push_str(cell);
                        line.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        line.push_str(&" ".repeat(pad));
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// RFC3339 in UTC with the sub-second digits the timestamp has (`…T10:00:00.250Z`).
pub fn rfc3339(ts: Option<&Timestamp>) -> Option<String> {
    ts.map(|t| t.to_string())
}

/// RFC3339 in UTC to the second (`2024-05-01T10:00:00Z`), for tables.
pub fn rfc3339_seconds(ts: Option<&Timestamp>) -> Option<String> {
    ts.map(|t| {
        Timestamp {
            seconds: t.seconds,
            nanos: 0,
        }
        .to_string()
    })
}

/// Bytes with a binary unit, `1.50 MiB`.
pub fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// A latency in microseconds with a unit that keeps 3 significant digits: `850µs`,
/// `12.3ms`, `1.25s`.
pub fn latency_us(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.0}µs")
    } else if us < 1_000_000.0 {
        format!("{}ms", three_digits(us / 1_000.0))
    } else {
        format!("{}s", three_digits(us / 1_000_000.0))
    }
}

fn three_digits(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// A duration for summaries: `4.2ms` under a second, `12.34s` under a minute, else `1h 2m 3s`.
pub fn elapsed(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1}ms", d.as_secs_f64() * 1e3)
    } else if d < Duration::from_secs(60) {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

/// Throughput in decimal megabytes per second (10^6 bytes), as storage tools report it.
pub fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    let secs = d.as_secs_f64();
    if secs > 0.0 {
        bytes as f64 / 1e6 / secs
    } else {
        0.0
    }
}

/// `yes` / `no`.
pub fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_trims_trailing_space() {
        let mut t = Table::new(&[("NAME", Align::Left), ("COUNT", Align::Right)]);
        t.row(vec!["get".into(), "7".into()]);
        t.row(vec!["list_objects".into(), "1234".into()]);
        assert_eq!(
            t.render(),
            "NAME          COUNT\nget               7\nlist_objects   1234\n"
        );
    }

    #[test]
    fn latencies_carry_units() {
        assert_eq!(latency_us(850.0), "850µs");
        assert_eq!(latency_us(12_345.0), "12.3ms");
        assert_eq!(latency_us(1_250_000.0), "1.25s");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let ts = Timestamp {
            seconds: 1_714_557_600,
            nanos: 250_000_000,
        };
        assert_eq!(rfc3339(Some(&ts)).unwrap(), "2024-05-01T10:00:00.250Z");
        assert_eq!(rfc3339_seconds(Some(&ts)).unwrap(), "2024-05-01T10:00:00Z");
        assert_eq!(rfc3339(None), None);
    }

    #[test]
    fn elapsed_times_pick_a_readable_unit() {
        assert_eq!(elapsed(Duration::from_micros(4_200)), "4.2ms");
        assert_eq!(elapsed(Duration::from_millis(12_340)), "12.34s");
        assert_eq!(elapsed(Duration::from_secs(3_723)), "1h 2m 3s");
    }

    #[test]
    fn rates_are_decimal_megabytes() {
        assert_eq!(mb_per_s(10_000_000, Duration::from_secs(2)), 5.0);
        assert_eq!(mb_per_s(1, Duration::ZERO), 0.0);
    }
}
