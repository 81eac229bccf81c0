//! `hashrig bench`: hash rate of each CPU kernel on a synthetic job, side by side with the
//! baseline "sha2 crate, plain Sha256(Sha256(header)), one thread" measured in the same run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::algo::sha256d::reference_digest;
use crate::backend::cpu::{cpu_name, CpuBackend, CpuError, Kernel};
#[cfg(feature = "gpu")]
use crate::backend::Backend;
use crate::chain::{Header, Target};
use crate::job::{Generation, Job, NonceRange, NONCE_SPACE};
use crate::verify::Verifier;
use crate::work::Work;

/// The synthetic job's header: mainnet block 125552 (any real header would do). Its nonce is
/// overwritten by the search; the time field is bumped whenever the nonce space runs out.
const BENCH_HEADER: &str = crate::work::SYNTHETIC_HEADER;

/// What to measure.
pub struct BenchConfig {
    /// Measure the CPU kernels.
    pub cpu: bool,
    /// GPUs to measure, one row each.
    #[cfg(feature = "gpu")]
    pub gpus: Vec<crate::backend::gpu::GpuDevice>,
    /// The kernel for the all-threads row (and the only one at one thread); `None`: every
    /// supported kernel at one thread and the best one at all threads.
    pub kernel: Option<Kernel>,
    /// Threads for the all-threads row.
    pub threads: usize,
    /// Measuring time per row.
    pub seconds: f64,
    /// Also measure the CPU and every GPU together on one job (`--backend all`).
    pub together: bool,
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    #[error(transparent)]
    Cpu(#[from] CpuError),
    #[cfg(feature = "gpu")]
    #[error(transparent)]
    Gpu(#[from] crate::backend::gpu::GpuError),
    #[error("{0}")]
    Together(#[from] crate::dispatch::BackendFailed),
}

/// One measured row.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub backend: String,
    pub device: String,
    pub kernel: String,
    pub threads: usize,
    pub hashes: u64,
    pub seconds: f64,
    /// Hashes per second.
    pub hashrate: f64,
    pub hw_errors: u64,
    /// `hashrate / baseline.hashrate`.
    pub ratio: f64,
}

/// The reference every row is compared to.
#[derive(Clone, Debug, Serialize)]
pub struct Baseline {
    pub name: String,
    pub threads: usize,
    pub hashes: u64,
    pub seconds: f64,
    pub hashrate: f64,
}

/// The whole benchmark, as printed with `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub algo: String,
    pub baseline: Baseline,
    pub results: Vec<BenchResult>,
    /// Devices that failed while measured ("gpu NAME: error"); they are left out of the rows
    /// after their failure, the rest is measured.
    pub failures: Vec<String>,
}

/// The synthetic job for generation `generation`; `round` varies the header's time so that
/// every round has a fresh nonce space.
pub fn synthetic_job(round: u32, generation: u64) -> Job {
    let mut header = Header::from_hex(BENCH_HEADER).expect("embedded header is valid");
    header.set_time(header.time().wrapping_add(round));
    // Difficulty 1: about one share per 2^32 hashes, so verification runs but rarely.
    Job::new(
        format!("bench-{round}"),
        header,
        Target::MAX,
        NonceRange::FULL,
        generation,
    )
}

/// Measures the sha2 baseline on this thread for `seconds`.
pub fn measure_baseline(seconds: f64) -> Baseline {
    let mut header = synthetic_job(0, 0).header;
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut nonce = 0u32;
    loop {
        for _ in 0..4096 {
            header.set_nonce(nonce);
            black_box(reference_digest(black_box(header.as_bytes())));
            nonce = nonce.wrapping_add(1);
        }
        if start.elapsed() >= budget {
            break;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let hashes = u64::from(nonce);
    Baseline {
        name: "sha2 crate: plain Sha256(Sha256(header))".to_string(),
        threads: 1,
        hashes,
        seconds: elapsed,
        hashrate: hashes as f64 / elapsed,
    }
}

/// Totals of one measuring loop.
struct Measured {
    hashes: u64,
    hw_errors: u64,
    seconds: f64,
}

impl Measured {
    /// The row for these totals (its `ratio` is filled in once the baseline is known).
    fn row(self, backend: &str, device: String, kernel: String, threads: usize) -> BenchResult {
        BenchResult {
            backend: backend.to_string(),
            device,
            kernel,
            threads,
            hashes: self.hashes,
            seconds: self.seconds,
            hashrate: self.hashes as f64 / self.seconds,
            hw_errors: self.hw_errors,
            ratio: 0.0,
        }
    }
}

/// Scans consecutive ranges of the synthetic job for `seconds` (the job's time is bumped when
/// its nonce space runs out), verifying every candidate. `batch` says how many nonces to hand
/// out next; `progress` gets the running rate.
fn measure_loop<E>(
    seconds: f64,
    batch: &mut dyn FnMut() -> u64,
    scan: &mut dyn FnMut(&Job, NonceRange) -> Result<crate::backend::ScanReport, E>,
    progress: &mut dyn FnMut(f64),
) -> Result<Measured, E> {
    let verifier = Verifier::new();
    let budget = Duration::from_secs_f64(seconds);
    let mut round = 0;
    let mut job = synthetic_job(round, 0);
    let mut next = 0u64;
    let (mut hashes, mut hw_errors) = (0u64, 0u64);
    let start = Instant::now();
    while start.elapsed() < budget {
        let range = NonceRange::from_start(next as u32, batch());
        let report = scan(&job, range)?;
        hashes += report.hashes;
        hw_errors += report.hw_errors;
        for candidate in report.candidates {
            // Errors are counted (and logged) by the verifier.
            let _ = verifier.verify(&job.header, &job.target, candidate);
        }
        next = range.end();
        if next >= NONCE_SPACE {
            round += 1;
            job = synthetic_job(round, 0);
            next = 0;
        }
        progress(hashes as f64 / start.elapsed().as_secs_f64());
    }
    Ok(Measured {
        hashes,
        hw_errors: hw_errors + verifier.hw_errors(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Measures `kernel` on `threads` threads for `seconds`; `progress` gets the running rate.
pub fn measure_cpu(
    kernel: Kernel,
    threads: usize,
    seconds: f64,
    progress: &mut dyn FnMut(f64),
) -> Result<BenchResult, CpuError> {
    let backend = CpuBackend::new(kernel, threads)?;
    let generation = Generation::new();
    // Batches of about 50 ms once the rate is known.
    let batch = std::cell::Cell::new((1u64 << 16) * threads as u64);
    let m = measure_loop(
        seconds,
        &mut || batch.get(),
        &mut |job, range| {
            let t = Instant::now();
            let report = backend.scan(job, range, &generation);
            let rate = report.hashes as f64 / t.elapsed().as_secs_f64().max(1e-9);
            batch.set(((rate * 0.05) as u64).clamp(1 << 12, 1 << 30));
            Ok::<_, CpuError>(report)
        },
        progress,
    )?;
    Ok(m.row("cpu", cpu_name(), kernel.name().to_string(), threads))
}

/// Measures one GPU for `seconds`; `progress` gets the running rate.
#[cfg(feature = "gpu")]
pub fn measure_gpu(
    gpu: &crate::backend::gpu::GpuDevice,
    seconds: f64,
    progress: &mut dyn FnMut(f64),
) -> Result<BenchResult, crate::backend::gpu::GpuError> {
    let generation = Generation::new();
    // One warm-up dispatch: pipeline caches and the first batch-size tuning step.
    gpu.scan(
        &synthetic_job(u32::MAX, 0),
        NonceRange::from_start(0, gpu.batch()),
        &generation,
    )
    .map_err(|f| f.error)?;
    let m = measure_loop(
        seconds,
        &mut || gpu.batch(),
        &mut |job, range| gpu.scan(job, range, &generation).map_err(|f| f.error),
        progress,
    )?;
    let info = gpu.info();
    let device = format!(
        "{} ({}, {}, driver {})",
        info.name, info.backend, info.device_type, info.driver
    );
    let kernel = format!(
        "wgsl {} batch={} ({} ms target)",
        gpu.options(),
        gpu.batch(),
        gpu.kernel_time().as_millis()
    );
    Ok(m.row("gpu", device, kernel, 1))
}

/// One batch size of a GPU sweep.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SweepRow {
    /// Nonces per dispatch.
    pub batch: u64,
    /// Measured time of one dispatch.
    pub kernel_ms: f64,
    pub hashrate: f64,
}

/// `bench --sweep`: measures `gpu` at fixed batch sizes (powers of two from 2^16 up to the
/// first that takes over ~0.5 s a dispatch, or 2^28), `seconds` each, so a user sees where the
/// card saturates. The device's own tuning is restored after.
#[cfg(feature = "gpu")]
pub fn sweep_gpu(
    gpu: &mut crate::backend::gpu::GpuDevice,
    seconds: f64,
    progress: &mut dyn FnMut(u64, f64),
) -> Result<Vec<SweepRow>, crate::backend::gpu::GpuError> {
    let target = gpu.kernel_time();
    let tuned = gpu.batch();
    gpu.set_kernel_time(Duration::ZERO);
    let generation = Generation::new();
    let mut rows = Vec::new();
    let mut batch = 1u64 << 16;
    let result = loop {
        gpu.set_batch(batch);
        let b = gpu.batch();
        // Warm-up at this size.
        if let Err(f) = gpu.scan(
            &synthetic_job(u32::MAX, 0),
            NonceRange::from_start(0, b),
            &generation,
        ) {
            break Err(f.error);
        }
        let m = match measure_loop(
            seconds,
            &mut || b,
            &mut |job, range| gpu.scan(job, range, &generation).map_err(|f| f.error),
            &mut |rate| progress(b, rate),
        ) {
            Ok(m) => m,
            Err(e) => break Err(e),
        };
        let dispatches = (m.hashes as f64 / b as f64).max(1.0);
        let kernel_ms = m.seconds * 1000.0 / dispatches;
        rows.push(SweepRow {
            batch: b,
            kernel_ms,
            hashrate: m.hashes as f64 / m.seconds,
        });
        if kernel_ms > 500.0 || batch >= 1 << 28 {
            break Ok(rows);
        }
        batch *= 2;
    };
    gpu.set_kernel_time(target);
    gpu.set_batch(tuned);
    result
}

/// The synthetic job as [`Work`] for the dispatcher (see [`Work::synthetic`]).
pub fn synthetic_work() -> Work {
    Work::synthetic()
}

/// [`crate::dispatch::measure_together`] as a bench row.
#[cfg(feature = "gpu")]
fn measure_together(
    backends: &[Backend],
    seconds: f64,
    progress: &mut dyn FnMut(f64),
) -> Result<BenchResult, BenchError> {
    let t = crate::dispatch::measure_together(backends, &synthetic_work(), seconds, progress)?;
    let devices: Vec<String> = backends.iter().map(Backend::device_name).collect();
    let cpu = backends.iter().find_map(Backend::as_cpu);
    let m = Measured {
        hashes: t.hashes,
        hw_errors: t.hw_errors,
        seconds: t.seconds,
    };
    Ok(m.row(
        "all",
        devices.join(" + "),
        format!("{}+wgsl", cpu.map_or("none", |c| c.kernel().name())),
        cpu.map_or(0, |c| c.threads()),
    ))
}

/// Runs the benchmark: baseline, the chosen kernels at one thread, then the chosen kernel at
/// `config.threads`. `progress(row, rows, label, rate)` is called while it runs.
pub fn run(
    config: BenchConfig,
    progress: &mut dyn FnMut(usize, usize, &str, f64),
) -> Result<BenchReport, BenchError> {
    let single: Vec<Kernel> = match (config.cpu, config.kernel) {
        (false, _) => vec![],
        (true, Some(k)) => vec![k],
        (true, None) => Kernel::supported(),
    };
    let chosen = config.kernel.unwrap_or_else(Kernel::best);
    #[cfg(feature = "gpu")]
    let gpu_rows = config.gpus.len();
    #[cfg(not(feature = "gpu"))]
    let gpu_rows = 0;
    let rows = 1 + gpu_rows + single.len() + usize::from(config.cpu) + usize::from(config.together);

    progress(1, rows, "sha2 baseline x1", 0.0);
    let baseline = measure_baseline(config.seconds);
    progress(1, rows, "sha2 baseline x1", baseline.hashrate);

    let mut results = Vec::with_capacity(rows - 1);
    #[cfg_attr(not(feature = "gpu"), allow(unused_mut))]
    let mut failures = Vec::new();
    #[cfg(feature = "gpu")]
    let mut working = Vec::new();
    #[cfg(feature = "gpu")]
    for gpu in config.gpus {
        let row = results.len() + failures.len() + 2;
        let label = format!("gpu {}", gpu.info().name);
        match measure_gpu(&gpu, config.seconds, &mut |rate| {
            progress(row, rows, &label, rate)
        }) {
            Ok(mut result) => {
                result.ratio = result.hashrate / baseline.hashrate;
                results.push(result);
                working.push(gpu);
            }
            Err(e) => failures.push(format!("{label}: {e}")),
        }
    }
    let mut plan: Vec<(Kernel, usize)> = single.iter().map(|&k| (k, 1)).collect();
    if config.cpu {
        plan.push((chosen, config.threads));
    }
    for (kernel, threads) in plan {
        let row = results.len() + failures.len() + 2;
        let label = format!("cpu {} x{threads}", kernel.name());
        let mut result = measure_cpu(kernel, threads, config.seconds, &mut |rate| {
            progress(row, rows, &label, rate)
        })?;
        result.ratio = result.hashrate / baseline.hashrate;
        results.push(result);
    }
    #[cfg(feature = "gpu")]
    if config.together && !working.is_empty() {
        let row = results.len() + failures.len() + 2;
        let mut backends: Vec<Backend> = working.into_iter().map(Backend::Gpu).collect();
        backends.push(Backend::Cpu(CpuBackend::new(chosen, config.threads)?));
        match measure_together(&backends, config.seconds, &mut |rate| {
            progress(row, rows, "all together", rate)
        }) {
            Ok(mut result) => {
                result.ratio = result.hashrate / baseline.hashrate;
                results.push(result);
            }
            Err(e) => failures.push(format!("all together: {e}")),
        }
    }
    Ok(BenchReport {
        algo: "sha256d".to_string(),
        baseline,
        results,
        failures,
    })
}
