//! Work as the backends see it: a [`Job`] (header template, share target, nonce space) and the
//! [`NonceRange`]s it is split into, plus the generation counter that makes old work stale.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::algo::sha256d::Prepared;
use crate::algo::{scrypt, Algo};
use crate::chain::{target_top_word, Header, Target};

/// Size of the 32-bit nonce space.
pub const NONCE_SPACE: u64 = 1 << 32;

/// A half-open range `start..end` of nonces, `end <= 2^32`.
///
/// `u64` bounds so the full space `0..2^32` and a range ending at nonce `0xffff_ffff` are
/// written without wrap-around.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NonceRange {
    start: u64,
    end: u64,
}

impl NonceRange {
    /// The whole nonce space.
    pub const FULL: NonceRange = NonceRange {
        start: 0,
        end: NONCE_SPACE,
    };

    /// `start..end`; `None` unless `start <= end <= 2^32`.
    pub fn new(start: u64, end: u64) -> Option<Self> {
        (start <= end && end <= NONCE_SPACE).then_some(NonceRange { start, end })
    }

    /// `count` nonces from `start` (clamped to the end of the nonce space).
    pub fn from_start(start: u32, count: u64) -> Self {
        let start = u64::from(start);
        NonceRange {
            start,
            end: (start + count).min(NONCE_SPACE),
        }
    }

    pub fn start(&self) -> u64 {
        self.start
    }
    pub fn end(&self) -> u64 {
        self.end
    }
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
    pub fn contains(&self, nonce: u32) -> bool {
        (self.start..self.end).contains(&u64::from(nonce))
    }

    /// The `index`-th piece of `size` nonces (the last one may be shorter).
    pub fn chunk(&self, size: u64, index: u64) -> NonceRange {
        let start = (self.start + index * size).min(self.end);
        NonceRange {
            start,
            end: (start + size).min(self.end),
        }
    }

    /// Number of pieces of `size` nonces needed to cover the range.
    pub fn chunk_count(&self, size: u64) -> u64 {
        self.len().div_ceil(size)
    }

    /// Splits off the first `count` nonces: `(taken, rest)`.
    pub fn split_at(&self, count: u64) -> (NonceRange, NonceRange) {
        let mid = (self.start + count).min(self.end);
        (
            NonceRange {
                start: self.start,
                end: mid,
            },
            NonceRange {
                start: mid,
                end: self.end,
            },
        )
    }
}

/// Shared generation counter: bumping it (new job, stop request) makes every job handed out
/// under an older generation stale, and backends stop working on it at their next check.
#[derive(Clone, Debug, Default)]
pub struct Generation(Arc<AtomicU64>);

impl Generation {
    pub fn new() -> Self {
        Self::default()
    }
    /// The current generation.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
    /// Makes all outstanding work stale; returns the new generation.
    pub fn bump(&self) -> u64 {
        self.0.fetch_add(1, Ordering::AcqRel) + 1
    }
    /// True when work of generation `generation` should stop.
    pub fn is_stale(&self, generation: u64) -> bool {
        self.current() != generation
    }
}

/// One unit of work: a header template whose nonce is to be searched, the share target, the
/// nonce space to search and the generation it belongs to.
#[derive(Clone, Debug)]
pub struct Job {
    /// Identifies the job to the work source (block template id, pool job id, ...).
    pub id: String,
    /// Header with every field but the nonce final.
    pub header: Header,
    /// A hash at or below this is a share (for solo mining, the block target).
    pub target: Target,
    /// Nonces this job may use.
    pub nonces: NonceRange,
    /// The [`Generation`] this job was issued under.
    pub generation: u64,
    /// The proof of work `target` is compared with.
    pub algo: Algo,
    prepared: Arc<Prepared>,
    /// scrypt's per-job work (only for scrypt jobs).
    scrypt: Option<Arc<scrypt::Prepared>>,
}

impl Job {
    pub fn new(
        id: impl Into<String>,
        header: Header,
        target: Target,
        nonces: NonceRange,
        generation: u64,
    ) -> Self {
        Job {
            id: id.into(),
            prepared: Arc::new(Prepared::new(&header)),
            header,
            target,
            nonces,
            generation,
            algo: Algo::Sha256d,
            scrypt: None,
        }
    }

    /// The same job for `algo`'s proof of work.
    pub fn with_algo(mut self, algo: Algo) -> Self {
        self.algo = algo;
        self.scrypt = match algo {
            Algo::Sha256d => None,
            Algo::Scrypt => Some(Arc::new(scrypt::Prepared::new(self.header.as_bytes()))),
        };
        self
    }

    /// scrypt's nonce-independent work; `None` unless this is a scrypt job.
    pub fn scrypt(&self) -> Option<&scrypt::Prepared> {
        self.scrypt.as_deref()
    }

    /// The nonce-independent SHA-256d work, computed once when the job was made.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// The top 32 bits of the share target, for the kernels' early reject.
    pub fn target_top_word(&self) -> u32 {
        target_top_word(&self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_without_overlap() {
        let r = NonceRange::new(10, 1000).unwrap();
        let n = r.chunk_count(64);
        assert_eq!(n, 16);
        let mut next = r.start();
        for i in 0..n {
            let c = r.chunk(64, i);
            assert_eq!(c.start(), next);
            next = c.end();
        }
        assert_eq!(next, r.end());
        assert_eq!(r.chunk(64, n - 1).len(), 990 - 15 * 64);
    }

    #[test]
    fn full_range_reaches_the_last_nonce() {
        assert!(NonceRange::FULL.contains(u32::MAX));
        assert_eq!(NonceRange::from_start(u32::MAX, 10).len(), 1);
        assert!(NonceRange::new(5, 4).is_none());
        assert!(NonceRange::new(0, NONCE_SPACE + 1).is_none());
        let (a, b) = NonceRange::FULL.split_at(100);
        assert_eq!((a.len(), b.start()), (100, 100));
    }

    #[test]
    fn generation_bump_makes_work_stale() {
        let g = Generation::new();
        let gen = g.current();
        assert!(!g.is_stale(gen));
        g.bump();
        assert!(g.is_stale(gen));
    }
}
