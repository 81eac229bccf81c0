//! What goes wrong with a GPU: the errors of the backend, a scan's failure with what it found
//! before it, and the self-test's comparison of hits.

use crate::backend::ScanReport;
use crate::job::NonceRange;

/// Errors of the GPU backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    #[error("no GPU adapter found (for a software Vulkan device install the Vulkan driver, e.g. `apt-get install mesa-vulkan-drivers libvulkan1`)")]
    NoAdapter,
    #[error("no GPU matches {0:?} (see `hashrig devices`)")]
    NoSuchDevice(String),
    #[error("could not open GPU {name}: {source}")]
    Open {
        name: String,
        #[source]
        source: wgpu::RequestDeviceError,
    },
    #[error("GPU {name}: the {label} shader does not compile: {source}")]
    Shader {
        name: String,
        label: &'static str,
        #[source]
        source: wgpu::Error,
    },
    #[error("GPU {name} failed: {reason}")]
    Device { name: String, reason: String },
    #[error("GPU {name} failed its self-test, so it is not used (check its driver): {source}")]
    SelfTest {
        name: String,
        #[source]
        source: HitMismatch,
    },
}

/// A scan that did not report exactly the expected hits (a self-test failure).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("nonces {start:#x}..{end:#x}: expected {expected} hits, got {got} ({missed} missed, e.g. {examples:x?}; {wrong} reported hashes wrong)")]
pub struct HitMismatch {
    pub start: u64,
    pub end: u64,
    pub expected: usize,
    pub got: usize,
    pub missed: usize,
    pub examples: Vec<u32>,
    pub wrong: u64,
}

/// A scan that stopped on a device failure: what was found before it, and the error.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct ScanFailure {
    /// Everything found (and hashed) before the failure; still to be verified and used.
    pub found: ScanReport,
    #[source]
    pub error: GpuError,
}

/// Checks a scan's hits against the `expected` nonces (ascending): every hit reported, none
/// extra, no hardware error.
pub(super) fn compare_hits(
    expected: &[u32],
    report: &ScanReport,
    range: NonceRange,
) -> Result<(), HitMismatch> {
    let mut found: Vec<u32> = report.candidates.iter().map(|c| c.nonce).collect();
    found.sort_unstable();
    let missed: Vec<u32> = expected
        .iter()
        .copied()
        .filter(|n| found.binary_search(n).is_err())
        .collect();
    if !missed.is_empty() || found.len() != expected.len() || report.hw_errors > 0 {
        return Err(HitMismatch {
            start: range.start(),
            end: range.end(),
            expected: expected.len(),
            got: found.len(),
            missed: missed.len(),
            examples: missed[..missed.len().min(4)].to_vec(),
            wrong: report.hw_errors,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Candidate;

    #[test]
    fn compare_hits_catches_missed_extra_and_wrong_hits() {
        let hits = |nonces: &[u32]| ScanReport {
            candidates: nonces
                .iter()
                .map(|&nonce| Candidate {
                    nonce,
                    digest: [0; 32],
                })
                .collect(),
            ..Default::default()
        };
        let r = NonceRange::from_start(0, 16);
        assert_eq!(compare_hits(&[3, 9], &hits(&[9, 3]), r), Ok(()));
        assert_eq!(compare_hits(&[], &hits(&[]), r), Ok(()));
        let missed = compare_hits(&[3, 9], &hits(&[3]), r)
            .unwrap_err()
            .to_string();
        assert!(missed.contains("1 missed, e.g. [9]"), "{missed}");
        assert!(
            compare_hits(&[3], &hits(&[3, 4]), r).is_err(),
            "an extra hit"
        );
        assert!(
            compare_hits(&[3], &hits(&[3, 3]), r).is_err(),
            "a duplicate"
        );
        let mut wrong = hits(&[3]);
        wrong.hw_errors = 1;
        assert!(compare_hits(&[3], &wrong, r)
            .unwrap_err()
            .to_string()
            .contains("1 reported hashes wrong"));
    }
}
