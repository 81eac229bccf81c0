//! Every line hashrig prints goes through here: stdout lines that never take the process
//! down (a closed stdout, EPIPE, e.g. `hashrig mine | head -1`, loses the line, not the
//! miner; `println!` would panic), and stderr lines that keep the live status block (see
//! `status`) at the bottom of the terminal: the block is erased, the line printed, the block
//! drawn again.

use std::io::Write;
use std::sync::Mutex;

/// The status block drawn at the bottom of the terminal: its lines and the terminal width
/// they were drawn at.
struct Block {
    lines: Vec<String>,
    width: usize,
}

static BLOCK: Mutex<Block> = Mutex::new(Block {
    lines: Vec::new(),
    width: 0,
});

fn block() -> std::sync::MutexGuard<'static, Block> {
    BLOCK.lock().unwrap_or_else(|p| p.into_inner())
}

impl Block {
    /// Moves to the block's first screen row and clears to the end of the screen. The block
    /// is erased by screen rows: after a resize the terminal may have re-wrapped its lines
    /// (tmux, VTE), so each takes as many rows as it needs at the width now.
    fn erase(&self, err: &mut impl Write) {
        if self.lines.is_empty() {
            return;
        }
        let now = crate::terminal::width();
        let rows: usize = if now == self.width {
            self.lines.len()
        } else {
            self.lines
                .iter()
                .map(|l| crate::terminal::rows(l, now))
                .sum()
        };
        // Up to the block's first row and clear it, then clear from the next row to the end
        // of the screen. Never "clear to the end" from the top-left corner: tmux (option
        // scroll-on-clear) keeps a whole cleared screen in the scrollback, which would leave
        // a block drawn at the top of a fresh terminal in the history.
        let _ = write!(err, "\r\x1b[{rows}F\x1b[2K");
        if rows > 1 {
            let _ = write!(err, "\x1b[1B\x1b[0J\x1b[1A");
        }
    }

    /// Draws the lines, each cut to the terminal's width now (a line never wraps).
    fn draw(&mut self, err: &mut impl Write) {
        self.width = crate::terminal::width();
        for l in &mut self.lines {
            if crate::terminal::columns(l) > self.width {
                *l = crate::terminal::cut(l, self.width);
            }
            let _ = writeln!(err, "{l}");
        }
        let _ = err.flush();
    }
}

/// At most `max` characters of `text` that came from outside (a pool, a node, a client) for a
/// log line: control characters (escape sequences, newlines) are shown escaped, never written
/// raw to the operator's terminal; longer text ends in "..." and its length.
pub fn clip(text: &str, max: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len().min(max) + 16);
    for (i, c) in text.chars().enumerate() {
        if i == max {
            let _ = write!(out, "... ({} bytes)", text.len());
            break;
        }
        if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes one line to stdout; errors (a closed pipe) are ignored.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut b = block();
    let mut err = std::io::stderr().lock();
    b.erase(&mut err);
    let _ = err.flush();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{args}");
        let _ = out.flush();
    }
    b.draw(&mut err);
}

/// Writes `text` as it is to stdout; errors are ignored.
pub fn text(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Writes one line to stderr, above the status block.
pub fn err(args: std::fmt::Arguments<'_>) {
    let mut b = block();
    let mut err = std::io::stderr().lock();
    b.erase(&mut err);
    let _ = writeln!(err, "{args}");
    b.draw(&mut err);
}

/// Writes raw bytes (a log record) to stderr, above the status block.
pub fn err_bytes(bytes: &[u8]) {
    let mut b = block();
    let mut err = std::io::stderr().lock();
    b.erase(&mut err);
    let _ = err.write_all(bytes);
    b.draw(&mut err);
}

/// Replaces the status block with `lines` (drawn at once).
pub fn set_block(lines: Vec<String>) {
    let mut b = block();
    let mut err = std::io::stderr().lock();
    b.erase(&mut err);
    b.lines = lines;
    b.draw(&mut err);
}

/// Leaves the last block on the screen as ordinary lines: what is printed next goes below it.
pub fn end_block() {
    block().lines.clear();
}

/// stderr for `tracing`, above the status block.
#[derive(Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        err_bytes(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `eprintln!` for hashrig: a line on stderr that keeps the status block in place.
#[macro_export]
macro_rules! elog {
    ($($arg:tt)*) => {
        $crate::output::err(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn remote_text_is_clipped_and_escaped() {
        assert_eq!(clip("hello", 10), "hello");
        assert_eq!(clip("a\x1b[2Jb\nc\u{9b}", 50), "a\\u{1b}[2Jb\\nc\\u{9b}");
        assert_eq!(
            clip(&"x".repeat(10_000_000), 5),
            "xxxxx... (10000000 bytes)"
        );
        // Right-to-left overrides cannot reorder the line either.
        assert!(!clip("a\u{202e}b", 10).contains('\u{202e}'));
    }
}
