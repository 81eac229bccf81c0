//! CPU backend: rayon workers run one kernel over disjoint pieces of a nonce range: a SHA-256d
//! kernel ([`Kernel`]) or, for scrypt jobs, a scrypt kernel ([`scrypt::ScryptKernel`]) with
//! each thread's scratchpads allocated at its first scrypt job and kept.
//!
//! Kernels are chosen in one place ([`Kernel`]): CPU features are detected at run time, the
//! portable `scalar` kernel is always compiled, and any kernel can be forced by name for tests
//! and benchmarks. All `unsafe` code of the backend lives in the `x86_*` leaf files.

mod lanes;
mod scalar;
pub mod scrypt;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;
#[cfg(target_arch = "x86_64")]
mod x86_avx512;
#[cfg(target_arch = "x86_64")]
mod x86_scrypt;
#[cfg(target_arch = "x86_64")]
mod x86_sha_ni;

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use rayon::prelude::*;

use crate::algo::scrypt as scrypt_algo;
use crate::algo::sha256d::{digest_from_midstate, digest_h7, Prepared};
use crate::algo::Algo;
use crate::backend::ScanReport;
use crate::chain::hash_meets;
use crate::job::{Generation, Job, NonceRange};
use crate::verify::Candidate;
use scrypt::{ScryptKernel, ScryptWorker};

/// A nonce whose H7 passed the early reject: `h7.swap_bytes() <= target top word`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub nonce: u32,
    /// The kernel's H7 (big-endian digest word 7) for this nonce.
    pub h7: u32,
}

/// The CPU kernels hashrig knows, in no particular order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelKind {
    /// Portable reference, one nonce at a time.
    Scalar,
    /// x86 SHA extensions, several nonces interleaved.
    ShaNi,
    /// x86 AVX2, 8 lanes.
    Avx2,
    /// x86 AVX-512 F+BW, 16 lanes with native rotates and ternary logic.
    Avx512,
}

impl KernelKind {
    /// Every kernel, in order of preference (fastest first, as measured; see BENCHMARKS.md).
    pub const ALL: [KernelKind; 4] = [
        KernelKind::Avx512,
        KernelKind::ShaNi,
        KernelKind::Avx2,
        KernelKind::Scalar,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Scalar => "scalar",
            KernelKind::ShaNi => "sha-ni",
            KernelKind::Avx2 => "avx2",
            KernelKind::Avx512 => "avx512",
        }
    }

    /// The CPU features the kernel needs, as a user would look them up.
    pub fn requirement(self) -> &'static str {
        match self {
            KernelKind::Scalar => "nothing",
            KernelKind::ShaNi => "x86-64 with the SHA extensions and SSE4.1",
            KernelKind::Avx2 => "x86-64 with AVX2",
            KernelKind::Avx512 => "x86-64 with AVX-512F and AVX-512BW",
        }
    }

    /// True when this CPU can run the kernel (runtime detection).
    pub fn is_supported(self) -> bool {
        match self {
            KernelKind::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            KernelKind::ShaNi => {
                is_x86_feature_detected!("sha") && is_x86_feature_detected!("sse4.1")
            }
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Nonces hashed per kernel step.
    pub fn lanes(self) -> usize {
        match self {
            KernelKind::Scalar => 1,
            #[cfg(target_arch = "x86_64")]
            KernelKind::ShaNi => x86_sha_ni::WAYS,
            #[cfg(not(target_arch = "x86_64"))]
            KernelKind::ShaNi => 1,
            KernelKind::Avx2 => 8,
            KernelKind::Avx512 => 16,
        }
    }
}

impl fmt::Display for KernelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KernelKind {
    type Err = CpuError;
    fn from_str(s: &str) -> Result<Self, CpuError> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        KernelKind::ALL
            .into_iter()
            .find(|k| k.name() == wanted || (wanted == "shani" && *k == KernelKind::ShaNi))
            .ok_or_else(|| CpuError::UnknownKernel(s.to_string()))
    }
}

/// Errors of the CPU backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CpuError {
    #[error("unknown CPU kernel {0:?} (known: scalar, sha-ni, avx2, avx512)")]
    UnknownKernel(String),
    #[error(
        "CPU kernel {kernel} needs {needs}, which this CPU lacks (this CPU can run: {available})"
    )]
    Unsupported {
        kernel: KernelKind,
        needs: &'static str,
        available: String,
    },
    #[error("could not start {threads} CPU worker threads: {source}")]
    ThreadPool {
        threads: usize,
        source: rayon::ThreadPoolBuildError,
    },
}

type ScanFn = unsafe fn(&Prepared, NonceRange, u32, &mut Vec<Hit>);

/// A kernel this CPU can run. Only [`Kernel::new`] makes one, after checking the CPU.
#[derive(Clone, Copy)]
pub struct Kernel {
    kind: KernelKind,
    scan_fn: ScanFn,
}

impl fmt::Debug for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Kernel").field(&self.kind).finish()
    }
}

impl Kernel {
    /// The kernel `kind`, or an error naming what the CPU lacks.
    pub fn new(kind: KernelKind) -> Result<Self, CpuError> {
        if !kind.is_supported() {
            return Err(CpuError::Unsupported {
                kernel: kind,
                needs: kind.requirement(),
                available: Kernel::supported()
                    .iter()
                    .map(|k| k.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let scan_fn: ScanFn = match kind {
            KernelKind::Scalar => scalar::scan,
            #[cfg(target_arch = "x86_64")]
            KernelKind::ShaNi => x86_sha_ni::scan,
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx2 => x86_avx2::scan,
            #[cfg(target_arch = "x86_64")]
            KernelKind::Avx512 => x86_avx512::scan,
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("is_supported is false off x86-64"),
        };
        Ok(Kernel { kind, scan_fn })
    }

    /// Every kernel this CPU can run, fastest first.
    pub fn supported() -> Vec<Kernel> {
        KernelKind::ALL
            .into_iter()
            .filter(|k| k.is_supported())
            .map(|k| Kernel::new(k).expect("supported"))
            .collect()
    }

    /// The fastest kernel this CPU can run.
    pub fn best() -> Kernel {
        Kernel::supported()[0]
    }

    pub fn kind(&self) -> KernelKind {
        self.kind
    }
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// Scans `range`, appending hits whose H7 passes `target_top`.
    pub fn scan(&self, p: &Prepared, range: NonceRange, target_top: u32, hits: &mut Vec<Hit>) {
        // SAFETY: `self` was made by `Kernel::new`, which checked that this CPU has every
        // feature `scan_fn` was compiled for.
        unsafe { (self.scan_fn)(p, range, target_top, hits) }
    }

    /// Nonces per unit of work handed to a thread: about a millisecond, so that a stale job
    /// stops within a few milliseconds.
    fn chunk_nonces(&self) -> u64 {
        match self.kind {
            KernelKind::Scalar => 1 << 12,
            _ => 1 << 14,
        }
    }
}

/// The full check of a kernel's hit: the complete digest from the midstate. A hit whose digest
/// disagrees with the kernel's H7 is a hardware error; one that meets the target is a candidate.
fn full_check(job: &Job, hit: Hit, report: &mut ScanReport) {
    if report.full() {
        // Over the cap: not worth a full check (the hit is only counted).
        report.overflow += 1;
        return;
    }
    let digest = digest_from_midstate(&job.prepared().midstate, &job.header, hit.nonce);
    if digest_h7(&digest) != hit.h7 {
        tracing::error!(
            "hardware error: kernel H7 {:#010x} != full check {:#010x} for nonce {:#010x} of header {}",
            hit.h7,
            digest_h7(&digest),
            hit.nonce,
            job.header
        );
        report.hw_errors += 1;
    } else if hash_meets(&digest, &job.target) {
        report.candidate(Candidate {
            nonce: hit.nonce,
            digest,
        });
    }
}

/// The CPU backend: a kernel and a pool of worker threads.
pub struct CpuBackend {
    kernel: Kernel,
    pool: rayon::ThreadPool,
    threads: usize,
    algo: Algo,
    scrypt_kernel: ScryptKernel,
    /// One per worker thread (by rayon's thread index), made at the first scrypt job.
    scrypt_workers: Vec<Mutex<Option<ScryptWorker>>>,
}

/// scrypt hashes per piece of work per kernel lane: a few milliseconds (scrypt runs at
/// thousands of hashes a second per thread).
const SCRYPT_PIECE_STEPS: u64 = 8;

impl CpuBackend {
    pub fn new(kernel: Kernel, threads: usize) -> Result<Self, CpuError> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("hashrig-cpu-{i}"))
            .build()
            .map_err(|source| CpuError::ThreadPool { threads, source })?;
        Ok(CpuBackend {
            kernel,
            pool,
            threads,
            algo: Algo::Sha256d,
            scrypt_kernel: ScryptKernel::best(),
            scrypt_workers: (0..threads).map(|_| Mutex::new(None)).collect(),
        })
    }

    /// The same backend for `algo` (its name and rate guesses follow), scrypt jobs with
    /// `scrypt_kernel`.
    pub fn for_algo(mut self, algo: Algo, scrypt_kernel: ScryptKernel) -> Self {
        self.algo = algo;
        self.scrypt_kernel = scrypt_kernel;
        self
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }
    pub fn threads(&self) -> usize {
        self.threads
    }
    pub fn algo(&self) -> Algo {
        self.algo
    }

    /// The name of the kernel this backend mines `algo()` with.
    pub fn kernel_name(&self) -> &'static str {
        match self.algo {
            Algo::Sha256d => self.kernel.name(),
            Algo::Scrypt => self.scrypt_kernel.name(),
        }
    }

    /// Nonces in the first batch, before any rate is known: about a second's worth.
    pub fn first_batch(&self) -> u64 {
        let per_thread = match self.algo {
            Algo::Sha256d => 1 << 16,
            Algo::Scrypt => self.scrypt_kernel.lanes() as u64 * SCRYPT_PIECE_STEPS,
        };
        per_thread * self.threads as u64
    }

    /// A modest guess of the hash rate before anything was measured.
    pub fn expected_rate(&self) -> f64 {
        let per_thread = match self.algo {
            Algo::Sha256d => 5e6,
            Algo::Scrypt => 5e3,
        };
        per_thread * self.threads as f64
    }

    /// Searches `range` of `job` on every worker. Workers take disjoint pieces of about a
    /// millisecond each and stop taking new ones as soon as `generation` moves past the job's,
    /// so a new job or a stop request ends the scan within a few milliseconds. Whatever was
    /// found before that is kept in the report.
    pub fn scan(&self, job: &Job, range: NonceRange, generation: &Generation) -> ScanReport {
        if let Some(p) = job.scrypt() {
            return self.scan_scrypt(job, p, range, generation);
        }
        let chunk = self.kernel.chunk_nonces();
        let pieces = range.chunk_count(chunk) as usize;
        let target_top = job.target_top_word();
        let found = Mutex::new(ScanReport::default());
        let kernel = self.kernel;
        let result = self.pool.install(|| {
            (0..pieces)
                .into_par_iter()
                .try_for_each_init(Vec::new, |hits, i| {
                    if generation.is_stale(job.generation) {
                        return Err(());
                    }
                    let piece = range.chunk(chunk, i as u64);
                    hits.clear();
                    kernel.scan(job.prepared(), piece, target_top, hits);
                    let mut report = ScanReport {
                        hashes: piece.len(),
                        ..ScanReport::default()
                    };
                    for &hit in hits.iter() {
                        full_check(job, hit, &mut report);
                    }
                    found.lock().expect("no panics while held").merge(report);
                    Ok(())
                })
        });
        let mut report = found.into_inner().expect("no panics while held");
        report.stale = result.is_err();
        report
    }

    /// [`CpuBackend::scan`] of a scrypt job: each worker hashes its pieces with its own
    /// scratchpads, a kernel's worth of nonces at a time, and keeps the hashes that meet the
    /// target (the kernels return whole hashes: there is no early reject to re-check).
    fn scan_scrypt(
        &self,
        job: &Job,
        p: &scrypt_algo::Prepared,
        range: NonceRange,
        generation: &Generation,
    ) -> ScanReport {
        let kernel = self.scrypt_kernel;
        let lanes = kernel.lanes() as u64;
        let chunk = lanes * SCRYPT_PIECE_STEPS;
        let pieces = range.chunk_count(chunk) as usize;
        let found = Mutex::new(ScanReport::default());
        let result = self.pool.install(|| {
            (0..pieces).into_par_iter().try_for_each(|i| {
                if generation.is_stale(job.generation) {
                    return Err(());
                }
                let piece = range.chunk(chunk, i as u64);
                let slot = rayon::current_thread_index().unwrap_or(0) % self.scrypt_workers.len();
                let mut worker = self.scrypt_workers[slot]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let worker = match &mut *worker {
                    Some(w) if w.kernel() == kernel => w,
                    w => w.insert(ScryptWorker::new(kernel).expect("checked when chosen")),
                };
                let mut report = ScanReport::default();
                let mut first = piece.start();
                while first < piece.end() {
                    let hashes = worker.hashes(p, first as u32);
                    for (i, digest) in hashes.iter().enumerate() {
                        let nonce = first + i as u64;
                        if nonce < piece.end() && hash_meets(digest, &job.target) {
                            report.candidate(Candidate {
                                nonce: nonce as u32,
                                digest: *digest,
                            });
                        }
                    }
                    first += lanes;
                }
                report.hashes = piece.len();
                found.lock().expect("no panics while held").merge(report);
                Ok(())
            })
        });
        let mut report = found.into_inner().expect("no panics while held");
        report.stale = result.is_err();
        report
    }
}

/// The CPU's model name, for reports ("cpu" when unknown).
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "cpu".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MAX_CANDIDATES;
    use crate::chain::{Header, Target};

    /// Issue 15: with a target every hash meets (a pool's difficulty 1e-300), a scan kept every
    /// hash as a candidate. It keeps [`MAX_CANDIDATES`] and counts the rest.
    #[test]
    fn a_scan_keeps_at_most_the_cap_and_counts_the_rest() {
        let cpu = CpuBackend::new(Kernel::best(), 2).unwrap();
        let everything = Target::from_le_bytes([0xff; 32]);
        let job = Job::new(
            "all",
            Header::from_bytes([7; 80]),
            everything,
            NonceRange::FULL,
            0,
        );
        let range = NonceRange::from_start(0, 1 << 19);
        let report = cpu.scan(&job, range, &Generation::new());
        assert_eq!(report.hashes, 1 << 19);
        assert_eq!(report.candidates.len(), MAX_CANDIDATES);
        assert_eq!(report.overflow, (1 << 19) - MAX_CANDIDATES as u64);
        assert_eq!(report.hw_errors, 0);
    }
}
