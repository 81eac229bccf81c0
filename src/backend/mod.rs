//! Backends search nonce ranges of a [`Job`](crate::job::Job) and report what they found as
//! unverified [`Candidate`]s; [`crate::verify`] turns those into shares.

pub mod cpu;
#[cfg(feature = "gpu")]
pub mod gpu;

use crate::verify::Candidate;

/// What one scan of a nonce range produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Nonces actually hashed (less than the range when the scan was cancelled).
    pub hashes: u64,
    /// Nonces whose full hash met the target, to be verified.
    pub candidates: Vec<Candidate>,
    /// Kernel results that disagreed with the backend's own full check (counted and dropped).
    pub hw_errors: u64,
    /// True when the job went stale before the whole range was scanned.
    pub stale: bool,
    /// Nonces a GPU hashed whose hits overflowed its result buffer, so that they were hashed
    /// again on the CPU (included in `hashes` once).
    pub rescanned: u64,
}

impl ScanReport {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: ScanReport) {
        self.hashes += other.hashes;
        self.candidates.extend(other.candidates);
        self.hw_errors += other.hw_errors;
        self.stale |= other.stale;
        self.rescanned += other.rescanned;
    }
}
