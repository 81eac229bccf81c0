//! The found-block journal: no found block is lost.
//!
//! A block is written (one write of record and newline, fsync'd) *before* it is sent, and
//! removed once the node has given a definite answer. A block that could not be sent (node
//! down, timeout) stays and is retried until the node answers, also by a later run pointed at
//! the same journal. Each entry names its chain (the genesis hash), and is only ever sent to a
//! node of that chain. One run holds the journal at a time (a lock on `FILE.lock`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// One found block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundBlock {
    pub height: u32,
    /// Block hash, display order.
    pub hash: String,
    /// The previous block's hash, display order.
    #[serde(default)]
    pub prev: Option<String>,
    /// The chain it belongs to: its genesis block hash, display order (absent in journals
    /// written before hashrig recorded it).
    #[serde(default)]
    pub chain: Option<String>,
    /// The serialized block, hex.
    pub block: String,
    /// Unix time when it was found.
    pub found_at: u64,
}

/// Journal file errors.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("found-block journal {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("found-block journal {path} is in use by another hashrig (its lock {lock} is held); give this run its own --journal")]
    Locked { path: String, lock: String },
}

/// Append-only JSON-lines file of blocks not yet answered by the node.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// Held (locked) for as long as the journal is open.
    _lock: File,
    temp_counter: AtomicU64,
}

/// fsyncs the directory holding `path`, so that a create or rename in it is durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`, takes its lock, and repairs a torn
    /// last line (a record cut by a crash is left on a line of its own).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| JournalError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut lock_name = path.as_os_str().to_owned();
        lock_name.push(".lock");
        let lock_path = PathBuf::from(lock_name);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Locked {
                    path: path.display().to_string(),
                    lock: lock_path.display().to_string(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        if !existed {
            sync_dir(&path).map_err(io)?;
        }
        let len = file.metadata().map_err(io)?.len();
        if len > 0 {
            file.seek(SeekFrom::Start(len - 1)).map_err(io)?;
            let mut last = [0u8; 1];
            file.read_exact(&mut last).map_err(io)?;
            if last[0] != b'\n' {
                crate::elog!(
                    "warning: {}: the last record was cut short (a crash while writing it); it is left on a line of its own",
                    path.display()
                );
                file.write_all(b"\n").map_err(io)?;
                file.sync_all().map_err(io)?;
            }
        }
        Ok(Journal {
            path,
            _lock: lock,
            temp_counter: AtomicU64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Appends `block` (record and newline in one write) and syncs it to disk.
    pub fn append(&self, block: &FoundBlock) -> Result<(), JournalError> {
        let mut file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| self.err(e))?;
        let mut line = serde_json::to_string(block).expect("serializable");
        line.push('\n');
        file.write_all(line.as_bytes()).map_err(|e| self.err(e))?;
        file.sync_data().map_err(|e| self.err(e))
    }

    /// Blocks still waiting for an answer. Lines that do not parse are reported and kept.
    pub fn pending(&self) -> Result<Vec<FoundBlock>, JournalError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(self.err(e)),
        };
        let (blocks, bad) = parse_journal(&text);
        for (line, e) in bad {
            tracing::warn!(
                "{}: line {line} is not a found block ({}); left as it is",
                self.path.display(),
                crate::ui::output::clip(&e, 120)
            );
        }
        Ok(blocks)
    }

    /// Removes the block `hash`: the file is rewritten to a unique temporary name, synced,
    /// renamed over the journal, and the directory synced. Unparsable lines are kept.
    pub fn remove(&self, hash: &str) -> Result<(), JournalError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.err(e)),
        };
        let kept: String = text
            .lines()
            .filter(|l| {
                !l.trim().is_empty()
                    && serde_json::from_str::<FoundBlock>(l).map_or(true, |b| b.hash != hash)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "journal".into());
        let tmp = self.path.with_file_name(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            self.temp_counter.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(kept.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            sync_dir(&self.path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(|e| self.err(e))
    }
}

/// The blocks of a journal's text, each once (the first record of a hash wins), and the
/// lines that are not a found block (number, why). No I/O: the fuzzers feed it anything.
pub fn parse_journal(text: &str) -> (Vec<FoundBlock>, Vec<(usize, String)>) {
    let mut out: Vec<FoundBlock> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<FoundBlock>(line) {
            Ok(b) => {
                if seen.insert(b.hash.clone()) {
                    out.push(b)
                }
            }
            Err(e) => bad.push((i + 1, e.to_string())),
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: u32) -> FoundBlock {
        FoundBlock {
            height: n,
            hash: format!("{n:064x}"),
            prev: None,
            chain: Some("00".repeat(32)),
            block: "00".into(),
            found_at: 1,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("hashrig-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("found.jsonl")
    }

    #[test]
    fn journal_keeps_until_removed() {
        let path = scratch("keep");
        let j = Journal::open(&path).unwrap();
        assert!(j.pending().unwrap().is_empty());
        j.append(&block(1)).unwrap();
        j.append(&block(2)).unwrap();
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"not json\n")
            .unwrap();
        assert_eq!(j.pending().unwrap(), vec![block(1), block(2)]);
        j.remove(&block(1).hash).unwrap();
        drop(j);
        assert_eq!(
            Journal::open(&path).unwrap().pending().unwrap(),
            vec![block(2)]
        );
        assert!(std::fs::read_to_string(&path).unwrap().contains("not json"));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    /// A crash between writing a record and its newline (or in the middle of the record)
    /// must not make the next record unparsable.
    #[test]
    fn a_torn_last_line_is_repaired_on_open() {
        let path = scratch("torn");
        let full = serde_json::to_string(&block(1)).unwrap();
        std::fs::write(&path, format!("{full}\n{}", &full[..20])).unwrap();
        let j = Journal::open(&path).unwrap();
        j.append(&block(3)).unwrap();
        assert_eq!(j.pending().unwrap(), vec![block(1), block(3)]);
        // A record whose newline alone is missing is kept whole.
        drop(j);
        std::fs::write(&path, &full).unwrap();
        let j = Journal::open(&path).unwrap();
        j.append(&block(4)).unwrap();
        assert_eq!(j.pending().unwrap(), vec![block(1), block(4)]);
    }

    #[test]
    fn a_second_run_on_the_same_journal_is_refused() {
        let path = scratch("lock");
        let first = Journal::open(&path).unwrap();
        let err = Journal::open(&path).unwrap_err();
        assert!(matches!(err, JournalError::Locked { .. }), "{err}");
        assert!(
            err.to_string().contains("in use by another hashrig"),
            "{err}"
        );
        drop(first);
        Journal::open(&path).expect("free again once the first run is gone");
    }

    #[test]
    fn old_entries_without_a_chain_still_parse() {
        let path = scratch("old");
        std::fs::write(
            &path,
            format!(
                "{{\"height\":1,\"hash\":\"{}\",\"block\":\"00\",\"found_at\":1}}\n",
                "11".repeat(32)
            ),
        )
        .unwrap();
        let pending = Journal::open(&path).unwrap().pending().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].chain, None);
    }
}
