//! Submitting found blocks, and the found-block journal that makes sure none is lost.
//!
//! A block is written to the journal *before* it is sent (write-ahead, fsync'd) and removed
//! once the node has given a definite answer (accepted or rejected). A block that could not be
//! sent (node down, timeout) stays in the journal and is retried until the node answers, also
//! by a later run of hashrig pointed at the same journal.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::source::node::{Node, RpcError, SubmitOutcome};

/// One found block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundBlock {
    pub height: u32,
    /// Block hash, display order.
    pub hash: String,
    /// The serialized block, hex.
    pub block: String,
    /// Unix time when it was found.
    pub found_at: u64,
}

/// What became of a submission.
#[derive(Debug)]
pub enum Submitted {
    /// The node took it (or already had it).
    Accepted,
    Rejected(String),
    /// The node could not be asked; the block stays in the journal.
    Kept(RpcError),
}

/// Journal file errors.
#[derive(Debug, thiserror::Error)]
#[error("found-block journal {path}: {source}")]
pub struct JournalError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Append-only JSON-lines file of blocks not yet answered by the node.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let journal = Journal { path };
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal.path)
            .map_err(|e| journal.err(e))?;
        Ok(journal)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: std::io::Error) -> JournalError {
        JournalError {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Appends `block` and syncs it to disk.
    pub fn append(&self, block: &FoundBlock) -> Result<(), JournalError> {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.err(e))?;
        let line = serde_json::to_string(block).expect("serializable");
        writeln!(file, "{line}").map_err(|e| self.err(e))?;
        file.sync_all().map_err(|e| self.err(e))
    }

    /// Blocks still waiting for an answer. Lines that do not parse are reported and kept.
    pub fn pending(&self) -> Result<Vec<FoundBlock>, JournalError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(self.err(e)),
        };
        let mut out = Vec::new();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| self.err(e))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<FoundBlock>(&line) {
                Ok(b) => {
                    if !out.iter().any(|o: &FoundBlock| o.hash == b.hash) {
                        out.push(b)
                    }
                }
                Err(e) => tracing::error!(
                    "{}: line {} is not a found block ({e}); left as it is",
                    self.path.display(),
                    i + 1
                ),
            }
        }
        Ok(out)
    }

    /// Removes the block `hash` (rewrites the file atomically; unparsable lines are kept).
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
        let tmp = self.path.with_extension("tmp");
        {
            let mut f = File::create(&tmp).map_err(|e| self.err(e))?;
            f.write_all(kept.as_bytes()).map_err(|e| self.err(e))?;
            f.sync_all().map_err(|e| self.err(e))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| self.err(e))
    }
}

/// Journals `block`, sends it, and clears it from the journal once the node has answered.
pub fn submit(
    node: &Node,
    journal: &Journal,
    block: &FoundBlock,
) -> Result<Submitted, JournalError> {
    journal.append(block)?;
    resubmit(node, journal, block)
}

/// Sends a block that is already in the journal.
pub fn resubmit(
    node: &Node,
    journal: &Journal,
    block: &FoundBlock,
) -> Result<Submitted, JournalError> {
    match node.submit(&block.block) {
        Ok(SubmitOutcome::Accepted) => {
            journal.remove(&block.hash)?;
            Ok(Submitted::Accepted)
        }
        // BIP22: "duplicate" means the node already has it, "inconclusive" that it was accepted
        // but is not (yet) on the best chain: either way it is the node's now.
        Ok(SubmitOutcome::Rejected(reason))
            if reason == "duplicate" || reason == "inconclusive" =>
        {
            journal.remove(&block.hash)?;
            Ok(Submitted::Accepted)
        }
        Ok(SubmitOutcome::Rejected(reason)) => {
            journal.remove(&block.hash)?;
            Ok(Submitted::Rejected(reason))
        }
        Err(e) => Ok(Submitted::Kept(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: u32) -> FoundBlock {
        FoundBlock {
            height: n,
            hash: format!("{n:064x}"),
            block: "00".into(),
            found_at: 1,
        }
    }

    #[test]
    fn journal_keeps_until_removed() {
        let dir = std::env::temp_dir().join(format!("hashrig-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("found.jsonl");
        let _ = std::fs::remove_file(&path);
        let j = Journal::open(&path).unwrap();
        assert!(j.pending().unwrap().is_empty());
        j.append(&block(1)).unwrap();
        j.append(&block(2)).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"not json\n")
            .unwrap();
        assert_eq!(j.pending().unwrap(), vec![block(1), block(2)]);
        j.remove(&block(1).hash).unwrap();
        assert_eq!(
            Journal::open(&path).unwrap().pending().unwrap(),
            vec![block(2)]
        );
        assert!(std::fs::read_to_string(&path).unwrap().contains("not json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
