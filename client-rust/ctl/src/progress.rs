//! Progress bars (indicatif) for long transfers and deletes.
//!
//! Bars are drawn on stderr, and only when stderr is a terminal: in a pipe, a log file or a
//! test, they are hidden but still count, so the same code reads rates and totals either way.
//! Lines printed while a bar may be visible go through [`eprintln_above`], which lifts the bar
//! out of the way first.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// True when bars and terminal-only summaries should be shown.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

fn target() -> ProgressDrawTarget {
    if stderr_is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

fn styled(len: Option<u64>, template: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(template)
        .expect("progress templates are constants")
        .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(len, target()).with_style(style);
    if !bar.is_hidden() {
        bar.enable_steady_tick(Duration::from_millis(200));
    }
    bar
}

/// A bar over `total` bytes: bytes done, rate and ETA.
pub fn bytes(total: u64) -> ProgressBar {
    styled(
        Some(total),
        "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
    )
}

/// A bar over `total` items named `unit` ("objects"), with items/s, ETA and a message
/// (used for bytes and bytes/s).
pub fn items(total: u64, unit: &'static str) -> ProgressBar {
    let template = format!(
        "{{elapsed_precise}} [{{wide_bar}}] {{human_pos}}/{{human_len}} {unit} {{per_sec:0}} ETA {{eta}} {{msg}}"
    );
    styled(Some(total), &template)
}

/// A delete bar: position = objects done (deleted or failed), length = listed so far (it
/// grows while the listing runs), message = what was done and how many failed.
pub fn deletes() -> ProgressBar {
    styled(
        Some(0),
        "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} {per_sec:0} ETA {eta} {msg}",
    )
}

/// Prints one line on stderr without tearing the bar.
pub fn eprintln_above(bar: &ProgressBar, line: &str) {
    bar.suspend(|| eprintln!("{line}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_valid_and_hidden_bars_still_count() {
        for bar in [bytes(10), items(10, "objects"), deletes()] {
            bar.inc(3);
            assert_eq!(bar.position(), 3);
            bar.finish_and_clear();
        }
    }
}
