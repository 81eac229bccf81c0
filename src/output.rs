//! Lines on standard output that never take the process down: a closed stdout (EPIPE, e.g.
//! `hashrig mine | head -1`) loses the line, not the miner. `println!` would panic there.

use std::io::Write;

/// Writes one line to stdout; errors (a closed pipe) are ignored.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{args}");
    let _ = out.flush();
}

/// Writes `text` as it is to stdout; errors are ignored.
pub fn text(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
