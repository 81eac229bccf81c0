//! The terminal the status block is drawn on: its size (asked of the terminal itself, not of
//! `$COLUMNS`, which shells do not export), and the width of text as it appears there
//! (escape sequences take no columns, wide characters two).

use unicode_width::UnicodeWidthChar;

/// Columns and rows of the terminal on stderr, if stderr is one.
pub fn size() -> Option<(usize, usize)> {
    let (w, h) = terminal_size::terminal_size_of(std::io::stderr())?;
    (w.0 > 0 && h.0 > 0).then_some((usize::from(w.0), usize::from(h.0)))
}

/// Columns of the terminal: its own size, else `$COLUMNS`, else 80.
pub fn width() -> usize {
    size().map(|s| s.0).unwrap_or_else(|| {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse().ok())
            .filter(|&c| c > 0)
            .unwrap_or(80)
    })
}

/// Rows of the terminal, else `$LINES`, else 24.
pub fn height() -> usize {
    size().map(|s| s.1).unwrap_or_else(|| {
        std::env::var("LINES")
            .ok()
            .and_then(|c| c.trim().parse().ok())
            .filter(|&c| c > 0)
            .unwrap_or(24)
    })
}

/// Splits `text` into its pieces: escape sequences (CSI `ESC [ ... final`) and characters.
fn pieces(text: &str) -> impl Iterator<Item = (&str, usize)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        if let Some(after) = rest.strip_prefix("\x1b[") {
            let end = after
                .find(|c: char| ('\x40'..='\x7e').contains(&c))
                .map_or(after.len(), |i| i + 1);
            let (piece, tail) = rest.split_at(2 + end);
            rest = tail;
            return Some((piece, 0));
        }
        let c = rest.chars().next()?;
        let (piece, tail) = rest.split_at(c.len_utf8());
        rest = tail;
        Some((piece, c.width().unwrap_or(0)))
    })
}

/// Columns `text` takes on a terminal.
pub fn columns(text: &str) -> usize {
    pieces(text).map(|(_, w)| w).sum()
}

/// `text` cut to at most `width` columns: what does not fit is replaced by "…" (escape
/// sequences kept, and a reset added after a cut line that had any).
pub fn cut(text: &str, width: usize) -> String {
    if columns(text) <= width {
        return text.to_string();
    }
    let room = width.saturating_sub(1);
    let mut out = String::with_capacity(text.len());
    let mut used = 0;
    let mut styled = false;
    for (piece, w) in pieces(text) {
        if w == 0 {
            styled |= piece.starts_with('\x1b');
            out.push_str(piece);
        } else if used + w <= room {
            used += w;
            out.push_str(piece);
        } else {
            break;
        }
    }
    if width > 0 {
        out.push('…');
    }
    if styled {
        out.push_str("\x1b[0m");
    }
    out
}

/// Screen rows `text` takes on a terminal `width` columns wide (a line that wraps takes more).
pub fn rows(text: &str, width: usize) -> usize {
    columns(text).div_ceil(width.max(1)).max(1)
}

/// One line from fields in screen order, each with a rank (0: always kept; the highest rank
/// goes first when the line does not fit), joined by `sep`, then cut to `width`. A field
/// whose text starts with a space is glued to the one before it (no separator).
pub fn fit_fields(fields: &[(u8, String)], sep: &str, width: usize) -> String {
    let mut keep: Vec<bool> = fields.iter().map(|f| !f.1.is_empty()).collect();
    let join = |keep: &[bool]| {
        let mut line = String::new();
        for (f, _) in fields.iter().zip(keep).filter(|(_, k)| **k) {
            if !line.is_empty() && !f.1.starts_with(' ') {
                line.push_str(sep);
            }
            line.push_str(&f.1);
        }
        line
    };
    let mut line = join(&keep);
    while columns(&line) > width {
        // The least useful field still shown (the rightmost of the highest rank).
        let Some(drop) = (0..fields.len())
            .filter(|&i| keep[i] && fields[i].0 > 0)
            .max_by_key(|&i| (fields[i].0, i))
        else {
            break;
        };
        keep[drop] = false;
        line = join(&keep);
    }
    cut(&line, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_take_no_columns() {
        assert_eq!(columns("\x1b[1mhashrig\x1b[0m ▁▂█"), 11);
        assert_eq!(columns("日本"), 4);
    }

    #[test]
    fn cut_lines_fit_and_keep_their_colours_closed() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        let c = cut("\x1b[1mhashrig\x1b[0m rest of it", 5);
        assert_eq!(columns(&c), 5);
        assert!(c.ends_with("\x1b[0m"), "{c:?}");
        assert_eq!(columns(&cut("日本語", 4)), 3);
    }

    #[test]
    fn wrapped_lines_take_more_rows() {
        assert_eq!(rows("", 80), 1);
        assert_eq!(rows(&"x".repeat(80), 80), 1);
        assert_eq!(rows(&"x".repeat(81), 80), 2);
        assert_eq!(rows(&"x".repeat(100), 60), 2);
    }

    #[test]
    fn the_least_useful_fields_go_first() {
        let fields = [
            (0, "rate 5 MH/s".to_string()),
            (3, "source a long one".to_string()),
            (1, "accepted 4".to_string()),
            (2, "up 00:01:00".to_string()),
        ];
        let all = "rate 5 MH/s | source a long one | accepted 4 | up 00:01:00";
        assert_eq!(fit_fields(&fields, " | ", 100), all);
        assert_eq!(
            fit_fields(&fields, " | ", 40),
            "rate 5 MH/s | accepted 4 | up 00:01:00"
        );
        assert_eq!(fit_fields(&fields, " | ", 30), "rate 5 MH/s | accepted 4");
        assert_eq!(fit_fields(&fields, " | ", 8), "rate 5 …");
        let glued = [
            (0, "pool 0".to_string()),
            (1, " url".to_string()),
            (0, "n".into()),
        ];
        assert_eq!(fit_fields(&glued, " | ", 20), "pool 0 url | n");
        assert_eq!(fit_fields(&glued, " | ", 12), "pool 0 | n");
    }
}
