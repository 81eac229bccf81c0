//! The only place a [`Share`] is made: every [`Candidate`] from any backend is re-hashed with
//! the algorithm's reference implementation (`sha2`'s plain double SHA-256 of the 80 bytes, or
//! the RustCrypto `scrypt` crate). A candidate whose hash differs from what the backend
//! reported, or that does not meet the target, is counted as a hardware error, logged with its
//! header and nonce, and dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::algo::sha256d::reference_digest;
use crate::algo::Algo;
use crate::chain::{hash_meets, target::display_hash, Header, Target};

/// A nonce that a backend claims meets the job's target. Not trusted until verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub nonce: u32,
    /// The proof-of-work hash the backend computed (internal byte order).
    pub digest: [u8; 32],
}

/// A verified solution: the reference hash of `header` meets the job's target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// The complete header, nonce included.
    pub header: Header,
    /// The reference proof-of-work hash of `header` (internal byte order): what targets are
    /// compared with. For SHA-256d it is also the block's id.
    pub digest: [u8; 32],
    pub algo: Algo,
}

impl Share {
    pub fn nonce(&self) -> u32 {
        self.header.nonce()
    }
    /// The block's id (SHA-256d for every algorithm) in display order.
    pub fn hash_hex(&self) -> String {
        match self.algo {
            Algo::Sha256d => display_hash(&self.digest),
            _ => display_hash(&reference_digest(self.header.as_bytes())),
        }
    }
    /// The proof-of-work hash in display order.
    pub fn pow_hex(&self) -> String {
        display_hash(&self.digest)
    }
}

/// Why a candidate was not accepted as a share.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HardwareError {
    #[error(
        "backend digest differs from the reference for nonce {nonce:#010x} of header {header}"
    )]
    DigestMismatch { header: Header, nonce: u32 },
    #[error(
        "reference hash {hash} of nonce {nonce:#010x} does not meet the target (header {header})"
    )]
    AboveTarget {
        header: Header,
        nonce: u32,
        hash: String,
    },
}

/// Re-checks candidates and counts hardware errors.
#[derive(Debug, Default)]
pub struct Verifier {
    hw_errors: AtomicU64,
    shares: AtomicU64,
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks `candidate` against `algo`'s reference hash of `header` with its nonce.
    pub fn verify(
        &self,
        algo: Algo,
        header: &Header,
        target: &Target,
        candidate: Candidate,
    ) -> Result<Share, HardwareError> {
        let header = header.with_nonce(candidate.nonce);
        let digest = algo.reference_pow(header.as_bytes());
        let result = if digest != candidate.digest {
            Err(HardwareError::DigestMismatch {
                header,
                nonce: candidate.nonce,
            })
        } else if !hash_meets(&digest, target) {
            Err(HardwareError::AboveTarget {
                header,
                nonce: candidate.nonce,
                hash: display_hash(&digest),
            })
        } else {
            Ok(Share {
                header,
                digest,
                algo,
            })
        };
        match &result {
            Ok(_) => self.shares.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                tracing::error!("hardware error: {e}");
                self.hw_errors.fetch_add(1, Ordering::Relaxed)
            }
        };
        result
    }

    /// Counts a hardware error found before verification (e.g. a kernel whose early-reject word
    /// disagreed with its own full check).
    pub fn count_hw_error(&self, what: &str) {
        tracing::error!("hardware error: {what}");
        self.hw_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn hw_errors(&self) -> u64 {
        self.hw_errors.load(Ordering::Relaxed)
    }
    pub fn shares(&self) -> u64 {
        self.shares.load(Ordering::Relaxed)
    }
}
