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
    /// Candidates beyond [`MAX_CANDIDATES`] in one scan: counted, not kept (a target far too
    /// easy for the device; the dispatcher clamps it from the next batch on).
    pub overflow: u64,
}

/// The most candidates one scan keeps (about 2 MB): memory stays bounded whatever target a
/// source asks for (a pool's difficulty 1e-300 makes every hash a candidate). Mining never
/// comes near it (the dispatcher clamps easy targets to the measured rate); kernel tests that
/// scan at easy targets on purpose stay well below it.
pub const MAX_CANDIDATES: usize = 1 << 16;

impl ScanReport {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: ScanReport) {
        self.hashes += other.hashes;
        self.overflow += other.overflow;
        for c in other.candidates {
            self.candidate(c);
        }
        self.hw_errors += other.hw_errors;
        self.stale |= other.stale;
        self.rescanned += other.rescanned;
    }

    /// Keeps `candidate`, or counts it as overflow once [`MAX_CANDIDATES`] are kept.
    pub fn candidate(&mut self, candidate: Candidate) {
        if self.candidates.len() < MAX_CANDIDATES {
            self.candidates.push(candidate);
        } else {
            self.overflow += 1;
        }
    }

    /// True once no more candidates are kept (the rest are only counted).
    pub fn full(&self) -> bool {
        self.candidates.len() >= MAX_CANDIDATES
    }
}

use std::time::Duration;

use crate::job::{Generation, Job, NonceRange};
use cpu::{CpuBackend, CpuError, Kernel};

/// A scan that ended on a device failure: what was found before it, and what went wrong.
#[derive(Debug)]
pub struct BackendFailure {
    pub found: ScanReport,
    pub error: String,
}

/// One backend the dispatcher drives: the CPU pool or one GPU.
pub enum Backend {
    Cpu(CpuBackend),
    #[cfg(feature = "gpu")]
    Gpu(gpu::GpuDevice),
}

/// A CPU batch of about this long once the rate is known.
const CPU_BATCH_TIME: f64 = 0.05;

impl Backend {
    /// "cpu avx512 x2", "gpu NAME".
    pub fn name(&self) -> String {
        match self {
            Backend::Cpu(c) => format!("cpu {} x{}", c.kernel_name(), c.threads()),
            #[cfg(feature = "gpu")]
            Backend::Gpu(g) => format!("gpu {}", g.info().name),
        }
    }

    /// The device's name: the CPU model or the adapter's name.
    pub fn device_name(&self) -> String {
        match self {
            Backend::Cpu(_) => cpu::cpu_name(),
            #[cfg(feature = "gpu")]
            Backend::Gpu(g) => g.info().name.clone(),
        }
    }

    /// The CPU pool, if this is it.
    pub fn as_cpu(&self) -> Option<&CpuBackend> {
        match self {
            Backend::Cpu(c) => Some(c),
            #[cfg(feature = "gpu")]
            Backend::Gpu(_) => None,
        }
    }

    /// Nonces to hand out next, from the last scan's `(hashes, time)` (CPU) or the device's own
    /// tuning (GPU).
    pub fn next_batch(&self, last: Option<(u64, Duration)>) -> u64 {
        match self {
            Backend::Cpu(c) => match last {
                Some((hashes, took)) if hashes > 0 => {
                    let rate = hashes as f64 / took.as_secs_f64().max(1e-9);
                    ((rate * CPU_BATCH_TIME) as u64).clamp(c.threads() as u64, 1 << 30)
                }
                _ => c.first_batch(),
            },
            #[cfg(feature = "gpu")]
            Backend::Gpu(g) => g.batch(),
        }
    }

    /// A modest guess of the hash rate before anything was measured (a CPU thread does tens of
    /// MH/s of SHA-256d, thousands of scrypt hashes; a GPU as its batch tuning says): the
    /// dispatcher's share-rate floor starts from it and follows the measured rate from the
    /// first batch on.
    pub fn expected_rate(&self) -> f64 {
        match self {
            Backend::Cpu(c) => c.expected_rate(),
            #[cfg(feature = "gpu")]
            Backend::Gpu(g) => g.batch() as f64 / g.kernel_time().as_secs_f64().max(1e-3),
        }
    }

    /// Scans `range` of `job` until done or until `generation` moves on.
    pub fn scan(
        &self,
        job: &Job,
        range: NonceRange,
        generation: &Generation,
    ) -> Result<ScanReport, BackendFailure> {
        match self {
            Backend::Cpu(c) => Ok(c.scan(job, range, generation)),
            #[cfg(feature = "gpu")]
            Backend::Gpu(g) => g.scan(job, range, generation).map_err(|f| BackendFailure {
                found: f.found,
                error: f.error.to_string(),
            }),
        }
    }
}

/// Which backends to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// CPU threads only.
    Cpu,
    /// Every GPU (software adapters included); an error when there is none.
    Gpu,
    /// The CPU and every GPU.
    All,
    /// Every hardware GPU and the CPU; the CPU alone when there is no GPU.
    Auto,
}

/// What to open, checked.
#[derive(Clone, Debug)]
pub struct BackendSpec {
    pub selection: Selection,
    /// The proof of work to mine.
    pub algo: crate::algo::Algo,
    pub kernel: Kernel,
    /// The CPU's scrypt kernel.
    pub scrypt_kernel: cpu::scrypt::ScryptKernel,
    /// The GPUs' scrypt lookup gap (`None`: chosen from each adapter's limits).
    pub lookup_gap: Option<u32>,
    pub threads: usize,
    /// An adapter index or part of its name.
    pub gpu: Option<String>,
    #[cfg(feature = "gpu")]
    pub shader: gpu::ShaderOptions,
    pub gpu_kernel_time: Duration,
    /// Testing aid: every GPU destroys itself this long after it was opened.
    pub lose_gpus_after: Option<Duration>,
}

/// Why the backends could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error(transparent)]
    Cpu(#[from] CpuError),
    #[cfg(feature = "gpu")]
    #[error(transparent)]
    Gpu(#[from] gpu::GpuError),
    #[error("this hashrig was built without the `gpu` feature")]
    NoGpuSupport,
}

impl BackendSpec {
    /// Opens the GPUs this spec asks for (none for `Cpu`). `Auto` keeps hardware adapters only
    /// and leaves out, with one line, one that cannot be opened or fails its self-test;
    /// `Gpu`/`All` fail instead.
    #[cfg(feature = "gpu")]
    pub fn open_gpus(&self) -> Result<Vec<gpu::GpuDevice>, OpenError> {
        use gpu::{GpuDevice, GpuError};
        let selector = self.gpu.as_deref();
        let algo = self.algo;
        // A device that cannot mine the algorithm (scrypt's scratchpad, its self-test) is an
        // error, or left out with one line in `auto`.
        let gap = self.lookup_gap;
        let for_algo = |mut g: GpuDevice| {
            g.set_lookup_gap(gap)?;
            g.set_algo(algo).map(|()| g)
        };
        let opened = match self.selection {
            Selection::Cpu => return Ok(vec![]),
            Selection::Gpu | Selection::All => GpuDevice::open_all_with(selector, self.shader)?
                .into_iter()
                .map(for_algo)
                .collect::<Result<Vec<_>, _>>()?,
            Selection::Auto => {
                match GpuDevice::open_each(selector, self.shader, |i| i.device_type != "Cpu") {
                    Ok(gpus) => gpus
                        .into_iter()
                        .filter_map(|g| {
                            g.and_then(for_algo)
                                .inspect_err(|e| crate::elog!("{e}; going on without it"))
                                .ok()
                        })
                        .collect(),
                    Err(GpuError::NoAdapter) => vec![],
                    Err(e) => return Err(e.into()),
                }
            }
        };
        if self.selection == Selection::All {
            for g in opened.iter().filter(|g| g.info().device_type == "Cpu") {
                crate::elog!(
                    "note: {} is a software adapter running on the same CPU cores: together they \
                     will hash less than the CPU alone",
                    g.info().name
                );
            }
        }
        if self.selection == Selection::Auto && opened.is_empty() {
            crate::elog!("no hardware GPU adapter found: using the CPU only (software adapters such as lavapipe run with --backend gpu)");
        }
        Ok(opened
            .into_iter()
            .map(|mut g| {
                g.set_kernel_time(self.gpu_kernel_time);
                if let Some(after) = self.lose_gpus_after {
                    g.lose_after(after);
                }
                g
            })
            .collect())
    }

    /// Without the GPU backend only `cpu` and `auto` can be served.
    #[cfg(not(feature = "gpu"))]
    pub fn open_gpus(&self) -> Result<Vec<std::convert::Infallible>, OpenError> {
        match self.selection {
            Selection::Gpu => Err(OpenError::NoGpuSupport),
            _ => Ok(vec![]),
        }
    }

    /// The CPU pool, unless only GPUs were asked for.
    pub fn open_cpu(&self) -> Result<Option<CpuBackend>, OpenError> {
        if self.selection == Selection::Gpu {
            return Ok(None);
        }
        Ok(Some(
            CpuBackend::new(self.kernel, self.threads)?.for_algo(self.algo, self.scrypt_kernel),
        ))
    }

    /// Every backend: the GPUs first (they want feeding), then the CPU pool.
    pub fn open(&self) -> Result<Vec<Backend>, OpenError> {
        #[allow(unused_mut)]
        let mut backends: Vec<Backend> = Vec::new();
        #[cfg(feature = "gpu")]
        backends.extend(self.open_gpus()?.into_iter().map(Backend::Gpu));
        #[cfg(not(feature = "gpu"))]
        let _ = self.open_gpus()?;
        backends.extend(self.open_cpu()?.map(Backend::Cpu));
        Ok(backends)
    }
}
