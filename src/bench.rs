//! `hashrig bench`: hash rate of each CPU kernel on a synthetic job, side by side with the
//! baseline measured in the same run: "sha2 crate, plain Sha256(Sha256(header)), one thread"
//! for SHA-256d, "scrypt crate, one thread" for scrypt (`--algo scrypt`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::algo::Algo;
use crate::backend::cpu::scrypt::ScryptKernel;
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
    /// The proof of work measured.
    pub algo: Algo,
    /// For scrypt: the kernel for the all-threads row (`None`: every supported one at one
    /// thread, the best at all threads).
    pub scrypt_kernel: Option<ScryptKernel>,
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
    /// Measuring time per row and round.
    pub seconds: f64,
    /// Rounds: every row is measured once per round, rows interleaved, so that a machine
    /// that slows down or gets busy shows as spread, not as one row's bias.
    pub rounds: usize,
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
    /// Over every round.
    pub hashes: u64,
    pub seconds: f64,
    /// Hashes per second: the median of the rounds.
    pub hashrate: f64,
    /// Each round's rate, in order.
    pub rounds: Vec<f64>,
    /// (max - min) / median of the rounds, in percent.
    pub spread_percent: f64,
    pub hw_errors: u64,
    /// `hashrate / baseline.hashrate` (medians).
    pub ratio: f64,
}

/// The reference every row is compared to.
#[derive(Clone, Debug, Serialize)]
pub struct Baseline {
    pub name: String,
    pub threads: usize,
    pub hashes: u64,
    pub seconds: f64,
    /// The median of the rounds.
    pub hashrate: f64,
    pub rounds: Vec<f64>,
    pub spread_percent: f64,
}

/// The whole benchmark, as printed with `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub algo: String,
    /// Rounds per row, and seconds per row and round.
    pub rounds: usize,
    pub seconds_per_round: f64,
    pub baseline: Baseline,
    pub results: Vec<BenchResult>,
    /// Devices that failed while measured ("gpu NAME: error"); they are left out of the rows
    /// after their failure, the rest is measured.
    pub failures: Vec<String>,
    /// Why the figures may not be trusted: a busy machine, rows that varied between rounds.
    pub warnings: Vec<String>,
}

/// A row's rounds varying more than this (percent) gets a warning.
pub const NOISY_SPREAD: f64 = 10.0;

/// The median and the spread ((max - min) / median, percent) of `rates`.
pub fn median_spread(rates: &[f64]) -> (f64, f64) {
    if rates.is_empty() {
        return (0.0, 0.0);
    }
    let mut sorted = rates.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    let spread = if median > 0.0 {
        100.0 * (sorted[n - 1] - sorted[0]) / median
    } else {
        0.0
    };
    (median, spread)
}

/// How busy the machine is before anything is measured: the load average (1 min) and the
/// share of CPU time other processes took over a quarter second; `None` where unknown.
pub fn machine_load() -> Option<(f64, f64)> {
    let load = std::fs::read_to_string("/proc/loadavg").ok()?;
    let load1: f64 = load.split_whitespace().next()?.parse().ok()?;
    let ticks = || -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
        let v: Vec<u64> = cpu
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
        Some((v.iter().sum(), idle))
    };
    let (t0, i0) = ticks()?;
    std::thread::sleep(Duration::from_millis(250));
    let (t1, i1) = ticks()?;
    let busy = if t1 > t0 {
        1.0 - (i1 - i0) as f64 / (t1 - t0) as f64
    } else {
        0.0
    };
    Some((load1, busy.clamp(0.0, 1.0)))
}

/// The warnings for a machine with `load` (see [`machine_load`]) and `cores` cores.
pub fn load_warnings(load: Option<(f64, f64)>, cores: usize) -> Vec<String> {
    let mut out = Vec::new();
    if let Some((load1, busy)) = load {
        if busy > 0.25 {
            out.push(format!(
                "other processes were using {:.0}% of the CPU just before measuring: the figures will be low and noisy",
                busy * 100.0
            ));
        } else if load1 > 0.5 * cores as f64 {
            out.push(format!(
                "the load average is {load1:.2} on {cores} cores: the figures may be low and noisy"
            ));
        }
    }
    out
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

/// The baseline's name in the table.
pub fn baseline_label(algo: Algo) -> &'static str {
    match algo {
        Algo::Sha256d => "sha2 baseline x1",
        Algo::Scrypt => "scrypt crate x1",
    }
}

/// Measures the baseline on this thread for `seconds`: the `sha2` crate's plain SHA-256d, or
/// the RustCrypto `scrypt` crate.
pub fn measure_baseline(algo: Algo, seconds: f64) -> Baseline {
    let mut header = synthetic_job(0, 0).header;
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut nonce = 0u32;
    let step = match algo {
        Algo::Sha256d => 4096,
        Algo::Scrypt => 8,
    };
    loop {
        for _ in 0..step {
            header.set_nonce(nonce);
            black_box(algo.reference_pow(black_box(header.as_bytes())));
            nonce = nonce.wrapping_add(1);
        }
        if start.elapsed() >= budget {
            break;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let hashes = u64::from(nonce);
    let name = match algo {
        Algo::Sha256d => "sha2 crate: plain Sha256(Sha256(header))",
        Algo::Scrypt => "scrypt crate 0.11: scrypt(header, header, N=1024, r=1, p=1)",
    };
    Baseline {
        name: name.to_string(),
        threads: 1,
        hashes,
        seconds: elapsed,
        hashrate: hashes as f64 / elapsed,
        rounds: vec![hashes as f64 / elapsed],
        spread_percent: 0.0,
    }
}

/// Totals of one measuring loop.
#[derive(Clone, Copy)]
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
            rounds: vec![self.hashes as f64 / self.seconds],
            spread_percent: 0.0,
            hw_errors: self.hw_errors,
            ratio: 0.0,
        }
    }
}

/// Scans consecutive ranges of the synthetic job for `seconds` (the job's time is bumped when
/// its nonce space runs out), verifying every candidate. `batch` says how many nonces to hand
/// out next; `progress` gets the running rate.
fn measure_loop<E>(
    algo: Algo,
    seconds: f64,
    batch: &mut dyn FnMut() -> u64,
    scan: &mut dyn FnMut(&Job, NonceRange) -> Result<crate::backend::ScanReport, E>,
    progress: &mut dyn FnMut(f64),
) -> Result<Measured, E> {
    let verifier = Verifier::new();
    let budget = Duration::from_secs_f64(seconds);
    let mut round = 0;
    let mut job = synthetic_job(round, 0).with_algo(algo);
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
            let _ = verifier.verify(job.algo, &job.header, &job.target, candidate);
        }
        next = range.end();
        if next >= NONCE_SPACE {
            round += 1;
            job = synthetic_job(round, 0).with_algo(algo);
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

/// The CPU kernels a row can measure.
#[derive(Clone, Copy, Debug)]
pub enum CpuKernel {
    Sha256d(Kernel),
    Scrypt(ScryptKernel),
}

impl CpuKernel {
    pub fn name(self) -> &'static str {
        match self {
            CpuKernel::Sha256d(k) => k.name(),
            CpuKernel::Scrypt(k) => k.name(),
        }
    }
}

/// Measures `kernel` on `threads` threads for `seconds`; `progress` gets the running rate.
pub fn measure_cpu(
    kernel: CpuKernel,
    threads: usize,
    seconds: f64,
    progress: &mut dyn FnMut(f64),
) -> Result<BenchResult, CpuError> {
    let (algo, backend) = match kernel {
        CpuKernel::Sha256d(k) => (Algo::Sha256d, CpuBackend::new(k, threads)?),
        CpuKernel::Scrypt(k) => (
            Algo::Scrypt,
            CpuBackend::new(Kernel::best(), threads)?.for_algo(Algo::Scrypt, k),
        ),
    };
    let generation = Generation::new();
    // Batches of about 50 ms once the rate is known.
    let batch = std::cell::Cell::new(backend.first_batch());
    let m = measure_loop(
        algo,
        seconds,
        &mut || batch.get(),
        &mut |job, range| {
            let t = Instant::now();
            let report = backend.scan(job, range, &generation);
            let rate = report.hashes as f64 / t.elapsed().as_secs_f64().max(1e-9);
            batch.set(((rate * 0.05) as u64).clamp(threads as u64, 1 << 30));
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
    let m = measure_gpu_raw(gpu, seconds, progress)?;
    let info = gpu.info();
    let device = format!(
        "{} ({}, {}, driver {})",
        info.name, info.backend, info.device_type, info.driver
    );
    let kernel = match gpu.scrypt_gap() {
        Some(gap) => format!(
            "wgsl-scrypt gap={gap} batch={} ({} ms target)",
            gpu.batch(),
            gpu.kernel_time().as_millis()
        ),
        None => format!(
            "wgsl {} batch={} ({} ms target)",
            gpu.options(),
            gpu.batch(),
            gpu.kernel_time().as_millis()
        ),
    };
    Ok(m.row("gpu", device, kernel, 1))
}

/// One warm-up dispatch (pipeline caches, the first tuning step), then `seconds` of the
/// device's own batches.
#[cfg(feature = "gpu")]
fn measure_gpu_raw(
    gpu: &crate::backend::gpu::GpuDevice,
    seconds: f64,
    progress: &mut dyn FnMut(f64),
) -> Result<Measured, crate::backend::gpu::GpuError> {
    let generation = Generation::new();
    let algo = gpu.algo();
    gpu.scan(
        &synthetic_job(u32::MAX, 0).with_algo(algo),
        NonceRange::from_start(0, gpu.batch()),
        &generation,
    )
    .map_err(|f| f.error)?;
    measure_loop(
        algo,
        seconds,
        &mut || gpu.batch(),
        &mut |job, range| gpu.scan(job, range, &generation).map_err(|f| f.error),
        progress,
    )
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
            Algo::Sha256d,
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

/// One lookup gap of a GPU scrypt sweep.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GapRow {
    pub gap: u32,
    /// Hashes the scratchpad holds at this gap: the largest dispatch.
    pub max_hashes: u64,
    /// Hashes per dispatch, tuned towards the kernel time while measuring.
    pub batch: u64,
    /// Time of one dispatch of `batch` at the measured rate.
    pub kernel_ms: f64,
    pub hashrate: f64,
}

/// `bench --sweep --algo scrypt`: measures `gpu` at each lookup gap that fits one workgroup
/// (its search made again at that gap, self-test included), the batch tuned towards the
/// device's kernel time, `seconds` each. A larger gap lets more hashes run at once in the same
/// memory and costs recomputation: where the two meet depends on the card. The device is left
/// at the gap it had.
#[cfg(feature = "gpu")]
pub fn sweep_gpu_scrypt(
    gpu: &mut crate::backend::gpu::GpuDevice,
    seconds: f64,
    progress: &mut dyn FnMut(u32, f64),
) -> Result<Vec<GapRow>, crate::backend::gpu::GpuError> {
    use crate::backend::gpu::scrypt::GAPS;
    let asked = gpu.lookup_gap();
    let mut rows = Vec::new();
    let mut result = Ok(());
    for gap in GAPS {
        if let Err(e) = gpu.set_lookup_gap(Some(gap)) {
            // A gap too small for this adapter's buffers: the larger ones may fit.
            tracing::info!("lookup gap {gap} left out: {e}");
            continue;
        }
        let m = match measure_gpu_raw(gpu, seconds, &mut |rate| progress(gap, rate)) {
            Ok(m) => m,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let hashrate = m.hashes as f64 / m.seconds;
        let batch = gpu.batch();
        rows.push(GapRow {
            gap,
            max_hashes: gpu.scrypt_max_hashes().unwrap_or(0),
            batch,
            kernel_ms: batch as f64 / hashrate.max(1e-9) * 1000.0,
            hashrate,
        });
    }
    // Back to the gap the run asked for (or the planned one).
    let restored = gpu.set_lookup_gap(asked);
    result.and(restored)?;
    Ok(rows)
}

/// The synthetic job as [`Work`] for the dispatcher (see [`Work::synthetic`]).
pub fn synthetic_work() -> Work {
    Work::synthetic()
}

/// [`crate::dispatch::measure_together`] as a bench row.
#[cfg(feature = "gpu")]
fn measure_together(
    backends: &[Backend],
    algo: Algo,
    seconds: f64,
    progress: &mut dyn FnMut(f64),
) -> Result<BenchResult, BenchError> {
    let work = Work {
        algo,
        ..synthetic_work()
    };
    let t = crate::dispatch::measure_together(backends, &work, seconds, progress)?;
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
        format!("{}+wgsl", cpu.map_or("none", |c| c.kernel_name())),
        cpu.map_or(0, |c| c.threads()),
    ))
}

/// What a row measures.
enum Row {
    #[cfg(feature = "gpu")]
    Gpu(usize),
    Cpu(CpuKernel, usize),
    #[cfg(feature = "gpu")]
    Together,
}

/// Adds one round's `result` to the row's totals in `acc`.
fn add_round(acc: &mut Option<BenchResult>, result: BenchResult) {
    match acc {
        None => *acc = Some(result),
        Some(a) => {
            a.hashes += result.hashes;
            a.seconds += result.seconds;
            a.hw_errors += result.hw_errors;
            a.rounds.extend(result.rounds);
            // A GPU's kernel line (batch) as of the last round.
            a.kernel = result.kernel;
        }
    }
}

/// Runs the benchmark: the baseline, each GPU, the chosen kernels at one thread, the chosen
/// kernel at `config.threads` (and all together), every row once per round, rows interleaved.
/// `progress(step, steps, label, rate)` is called while it runs.
pub fn run(
    config: BenchConfig,
    progress: &mut dyn FnMut(usize, usize, &str, f64),
) -> Result<BenchReport, BenchError> {
    let algo = config.algo;
    let single: Vec<CpuKernel> = match (config.cpu, algo) {
        (false, _) => vec![],
        (true, Algo::Sha256d) => match config.kernel {
            Some(k) => vec![CpuKernel::Sha256d(k)],
            None => Kernel::supported()
                .into_iter()
                .map(CpuKernel::Sha256d)
                .collect(),
        },
        (true, Algo::Scrypt) => match config.scrypt_kernel {
            Some(k) => vec![CpuKernel::Scrypt(k)],
            None => ScryptKernel::PREFERENCE
                .into_iter()
                .filter(|k| k.is_supported())
                .map(CpuKernel::Scrypt)
                .collect(),
        },
    };
    let chosen = match algo {
        Algo::Sha256d => CpuKernel::Sha256d(config.kernel.unwrap_or_else(Kernel::best)),
        Algo::Scrypt => CpuKernel::Scrypt(config.scrypt_kernel.unwrap_or_else(ScryptKernel::best)),
    };
    let base_label = baseline_label(algo);
    let rounds = config.rounds.max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut warnings = load_warnings(machine_load(), cores);

    #[cfg_attr(not(feature = "gpu"), allow(unused_mut))]
    let mut rows: Vec<(Row, String)> = Vec::new();
    #[cfg(feature = "gpu")]
    let mut backends: Vec<Backend> = Vec::new();
    #[cfg(feature = "gpu")]
    for (i, gpu) in config.gpus.into_iter().enumerate() {
        rows.push((Row::Gpu(i), format!("gpu {}", gpu.info().name)));
        backends.push(Backend::Gpu(gpu));
    }
    for &k in &single {
        rows.push((Row::Cpu(k, 1), format!("cpu {} x1", k.name())));
    }
    if config.cpu {
        rows.push((
            Row::Cpu(chosen, config.threads),
            format!("cpu {} x{}", chosen.name(), config.threads),
        ));
    }
    #[cfg(feature = "gpu")]
    if config.together && !backends.is_empty() {
        let cpu = match chosen {
            CpuKernel::Sha256d(k) => CpuBackend::new(k, config.threads)?,
            CpuKernel::Scrypt(k) => {
                CpuBackend::new(Kernel::best(), config.threads)?.for_algo(Algo::Scrypt, k)
            }
        };
        backends.push(Backend::Cpu(cpu));
        rows.push((Row::Together, "all together".to_string()));
    }
    let steps = rounds * (rows.len() + 1);
    let mut step = 0;
    let mut baseline: Option<Baseline> = None;
    let mut acc: Vec<Option<BenchResult>> = vec![None; rows.len()];
    let mut failed = vec![false; rows.len()];
    #[cfg_attr(not(feature = "gpu"), allow(unused_mut))]
    let mut failures = Vec::new();
    for _ in 0..rounds {
        step += 1;
        progress(step, steps, base_label, 0.0);
        let b = measure_baseline(algo, config.seconds);
        progress(step, steps, base_label, b.hashrate);
        match &mut baseline {
            None => baseline = Some(b),
            Some(a) => {
                a.hashes += b.hashes;
                a.seconds += b.seconds;
                a.rounds.extend(b.rounds);
            }
        }
        for (r, (row, label)) in rows.iter().enumerate() {
            step += 1;
            if failed[r] {
                continue;
            }
            let mut report = |rate: f64| progress(step, steps, label, rate);
            let measured: Result<BenchResult, BenchError> = match row {
                #[cfg(feature = "gpu")]
                Row::Gpu(i) => match &backends[*i] {
                    Backend::Gpu(gpu) => {
                        measure_gpu(gpu, config.seconds, &mut report).map_err(BenchError::from)
                    }
                    Backend::Cpu(_) => unreachable!("GPU rows index GPUs"),
                },
                // A CPU that cannot run its kernel ends the benchmark (as before rounds).
                Row::Cpu(kernel, threads) => {
                    Ok(measure_cpu(*kernel, *threads, config.seconds, &mut report)?)
                }
                #[cfg(feature = "gpu")]
                Row::Together => {
                    // Without a GPU that failed (reported above) there is no "together".
                    if failed.iter().any(|f| *f) {
                        failed[r] = true;
                        continue;
                    } else {
                        measure_together(&backends, algo, config.seconds, &mut report)
                    }
                }
            };
            match measured {
                Ok(result) => add_round(&mut acc[r], result),
                Err(e) => {
                    failed[r] = true;
                    failures.push(format!("{label}: {e}"));
                }
            }
        }
    }
    let mut baseline = baseline.expect("at least one round");
    let (median, spread) = median_spread(&baseline.rounds);
    baseline.hashrate = median;
    baseline.spread_percent = spread;
    let mut results = Vec::new();
    for (r, result) in acc.into_iter().enumerate() {
        let Some(mut result) = result.filter(|_| !failed[r]) else {
            continue;
        };
        let (median, spread) = median_spread(&result.rounds);
        result.hashrate = median;
        result.spread_percent = spread;
        result.ratio = median / baseline.hashrate;
        results.push(result);
    }
    let noisy: Vec<String> = std::iter::once((base_label.to_string(), baseline.spread_percent))
        .chain(results.iter().map(|r| {
            let kernel = r.kernel.split(' ').next().unwrap_or("");
            (
                format!("{} {kernel} x{}", r.backend, r.threads),
                r.spread_percent,
            )
        }))
        .filter(|(_, spread)| rounds > 1 && *spread > NOISY_SPREAD)
        .map(|(label, spread)| format!("{label} {spread:.0}%"))
        .collect();
    if !noisy.is_empty() {
        warnings.push(format!(
            "rows that varied by more than {NOISY_SPREAD:.0}% between rounds: {}; the machine is noisy (more --rounds or --seconds, or a quieter machine)",
            noisy.join(", ")
        ));
    }
    Ok(BenchReport {
        algo: algo.name().to_string(),
        rounds,
        seconds_per_round: config.seconds,
        baseline,
        results,
        failures,
        warnings,
    })
}

#[cfg(test)]
mod rounds_tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        assert_eq!(median_spread(&[3.0, 1.0, 2.0]), (2.0, 100.0));
        assert_eq!(median_spread(&[4.0, 2.0]), (3.0, 200.0 / 3.0));
        assert_eq!(median_spread(&[5.0]), (5.0, 0.0));
        assert_eq!(median_spread(&[]), (0.0, 0.0));
    }

    #[test]
    fn a_busy_machine_is_named() {
        assert!(load_warnings(Some((0.1, 0.05)), 2).is_empty());
        assert!(load_warnings(Some((3.0, 0.05)), 2)[0].contains("load average is 3.00 on 2 cores"));
        assert!(load_warnings(Some((0.1, 0.6)), 2)[0].contains("60% of the CPU"));
        assert!(load_warnings(None, 2).is_empty());
    }
}
