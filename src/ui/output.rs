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
    ///
    /// One case no program can see: the terminal re-wraps its screen first and sets the
    /// tty's size a moment later, so an erase written for the old width and read after the
    /// re-wrap leaves the top rows of that one block in the history. Only a shrink that makes
    /// block lines wrap can do it, only with output in flight at that instant, and the next
    /// write (at the new width) is right again.
    fn erase(&self, err: &mut impl Write) {
        if self.lines.is_empty() {
            return;
        }
        let now = crate::ui::terminal::width();
        let rows: usize = if now == self.width {
            self.lines.len()
        } else {
            self.lines
                .iter()
                .map(|l| crate::ui::terminal::rows(l, now))
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
        self.width = crate::ui::terminal::width();
        for l in &mut self.lines {
            if crate::ui::terminal::columns(l) > self.width {
                *l = crate::ui::terminal::cut(l, self.width);
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

/// How lines are logged: the format, the log file (every line printed also goes there), and
/// whether lines on a terminal get a short timestamp.
pub struct LogSetup {
    pub json: bool,
    pub file: Option<std::fs::File>,
    /// A "15:04:05 " (UTC) before each line on a terminal.
    pub stamp_terminal: bool,
}

struct Log {
    json: bool,
    file: Option<Mutex<std::fs::File>>,
    stamp_stdout: bool,
    stamp_stderr: bool,
}

static LOG: std::sync::OnceLock<Log> = std::sync::OnceLock::new();

/// Sets how lines are logged (once, at start; before that, plain lines and no file).
pub fn configure(setup: LogSetup) {
    use std::io::IsTerminal;
    let _ = LOG.set(Log {
        json: setup.json,
        file: setup.file.map(Mutex::new),
        stamp_stdout: setup.stamp_terminal && std::io::stdout().is_terminal(),
        stamp_stderr: setup.stamp_terminal && std::io::stderr().is_terminal(),
    });
}

/// True when lines are logged as JSON records.
pub fn json() -> bool {
    LOG.get().is_some_and(|l| l.json)
}

/// The time now as RFC 3339 (UTC, microseconds), as `tracing` writes it.
pub fn timestamp() -> String {
    use tracing_subscriber::fmt::time::FormatTime;
    let mut s = String::new();
    let _ = tracing_subscriber::fmt::time::SystemTime
        .format_time(&mut tracing_subscriber::fmt::format::Writer::new(&mut s));
    s
}

/// The level a printed line stands for in a log ("error: ..." lines are errors).
fn level_of(text: &str) -> &'static str {
    if text.starts_with("error") {
        "ERROR"
    } else if text.starts_with("warning") {
        "WARN"
    } else {
        "INFO"
    }
}

/// A JSON log record for `text`, in `tracing`'s JSON layout.
fn json_record(text: &str) -> String {
    serde_json::json!({
        "timestamp": timestamp(),
        "level": level_of(text),
        "fields": {"message": text},
    })
    .to_string()
}

/// What goes on the terminal (or pipe) for `text`, and what goes into the log file.
fn shape(text: &str, stamp: bool) -> (String, Option<String>) {
    let Some(log) = LOG.get() else {
        return (text.to_string(), None);
    };
    if log.json {
        let record = json_record(text);
        let file = log.file.is_some().then(|| record.clone());
        return (record, file);
    }
    let file = log
        .file
        .is_some()
        .then(|| format!("{} {:>5} {text}", timestamp(), level_of(text)));
    let shown = if stamp {
        let t = timestamp();
        format!("{} {text}", t.get(11..19).unwrap_or(""))
    } else {
        text.to_string()
    };
    (shown, file)
}

/// Appends one record (a line) to the log file, if there is one.
fn to_file(record: Option<String>) {
    if let (Some(record), Some(file)) = (record, LOG.get().and_then(|l| l.file.as_ref())) {
        let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(f, "{record}");
    }
}

/// Writes one line to stdout (and the log file); errors (a closed pipe) are ignored.
pub fn line(args: std::fmt::Arguments<'_>) {
    let stamp = LOG.get().is_some_and(|l| l.stamp_stdout);
    let (shown, file) = shape(&args.to_string(), stamp);
    to_file(file);
    let mut b = block();
    let mut err = std::io::stderr().lock();
    b.erase(&mut err);
    let _ = err.flush();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{shown}");
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

/// Writes one line to stderr (and the log file), above the status block.
pub fn err(args: std::fmt::Arguments<'_>) {
    let stamp = LOG.get().is_some_and(|l| l.stamp_stderr);
    let (shown, file) = shape(&args.to_string(), stamp);
    to_file(file);
    let mut b = block();
    let mut err = std::io::stderr().lock();
    b.erase(&mut err);
    let _ = writeln!(err, "{shown}");
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

/// The log file for `tracing` (records as they are: the subscriber formats them).
#[derive(Clone, Copy, Default)]
pub struct FileWriter;

impl Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(file) = LOG.get().and_then(|l| l.file.as_ref()) {
            let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
            f.write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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
        $crate::ui::output::err(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_records_have_tracing_layout() {
        let r: serde_json::Value = serde_json::from_str(&json_record("error: x \"y\"")).unwrap();
        assert_eq!(r["level"], "ERROR");
        assert_eq!(r["fields"]["message"], "error: x \"y\"");
        let t = r["timestamp"].as_str().unwrap();
        assert!(
            t.len() >= 20 && t.ends_with('Z') && &t[10..11] == "T",
            "{t}"
        );
    }

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
