//! Every line hashrig prints goes through here: stdout lines that never take the process
//! down (a closed stdout, EPIPE, e.g. `hashrig mine | head -1`, loses the line, not the
//! miner; `println!` would panic), and stderr lines that keep the live status block (see
//! `status`) at the bottom of the terminal: the block is erased, the line printed, the block
//! drawn again.

use std::io::Write;
use std::sync::Mutex;

/// The status block drawn at the bottom of the terminal (its lines), if any.
static BLOCK: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn block() -> std::sync::MutexGuard<'static, Vec<String>> {
    BLOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn erase(err: &mut impl Write, lines: usize) {
    if lines > 0 {
        // To the start of the block's first line, then clear to the end of the screen.
        let _ = write!(err, "\x1b[{lines}F\x1b[0J");
    }
}

fn draw(err: &mut impl Write, lines: &[String]) {
    for l in lines {
        let _ = writeln!(err, "{l}");
    }
    let _ = err.flush();
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
    let b = block();
    let mut err = std::io::stderr().lock();
    erase(&mut err, b.len());
    let _ = err.flush();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{args}");
        let _ = out.flush();
    }
    draw(&mut err, &b);
}

/// Writes `text` as it is to stdout; errors are ignored.
pub fn text(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Writes one line to stderr, above the status block.
pub fn err(args: std::fmt::Arguments<'_>) {
    let b = block();
    let mut err = std::io::stderr().lock();
    erase(&mut err, b.len());
    let _ = writeln!(err, "{args}");
    draw(&mut err, &b);
}

/// Writes raw bytes (a log record) to stderr, above the status block.
pub fn err_bytes(bytes: &[u8]) {
    let b = block();
    let mut err = std::io::stderr().lock();
    erase(&mut err, b.len());
    let _ = err.write_all(bytes);
    draw(&mut err, &b);
}

/// Replaces the status block with `lines` (drawn at once).
pub fn set_block(lines: Vec<String>) {
    let mut b = block();
    let mut err = std::io::stderr().lock();
    erase(&mut err, b.len());
    draw(&mut err, &lines);
    *b = lines;
}

/// Leaves the last block on the screen as ordinary lines: what is printed next goes below it.
pub fn end_block() {
    block().clear();
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
