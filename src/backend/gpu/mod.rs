//! GPU backend: the WGSL SHA-256d search shader run through wgpu (Vulkan, Metal, DX12).
//!
//! One [`GpuDevice`] per adapter. A scan splits its nonce range into dispatches on a 2-D grid,
//! reads back the hit list after each, rescans a dispatch on the CPU when its result buffer
//! overflowed, and checks for a stale job between dispatches. Every hit is run through the same
//! full check as the CPU's and reported as an unverified [`Candidate`].

mod adapters;
mod error;
pub mod scrypt;
mod shader;

use adapters::{adapters, info};
pub use adapters::{devices, select, DeviceInfo};

pub use shader::{sha256d_digests_wgsl, sha256d_wgsl, Rotate, ShaderOptions, WORKGROUP_SIZES};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};

use crate::algo::sha256d::{digest_from_midstate, reference_digest, Prepared};
use crate::backend::cpu::Kernel;
use crate::backend::ScanReport;
use crate::chain::{hash_meets, Header, Target, MAINNET_125552};
use crate::job::{Generation, Job, NonceRange};
use crate::verify::Candidate;
use error::compare_hits;
pub use error::{GpuError, HitMismatch, ScanFailure};

/// Params buffer. Mirrors `struct Params` in shaders/sha256d.wgsl: keep the two in step.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct GpuParams {
    state3: [u32; 8],
    midstate: [u32; 8],
    target_words: [u32; 8],
    t1_3: u32,
    t2_3: u32,
    w16: u32,
    w17: u32,
    w18_part: u32,
    w19_part: u32,
    w31_part: u32,
    nonce_base: u32,
    count: u32,
    capacity: u32,
    pad0: u32,
    pad1: u32,
}

impl GpuParams {
    fn new(p: &Prepared, job: &Job, range: NonceRange, capacity: u32) -> Self {
        let le = job.target.to_le_bytes();
        GpuParams {
            state3: p.state3,
            midstate: p.midstate,
            target_words: std::array::from_fn(|i| {
                u32::from_le_bytes(le[4 * i..4 * i + 4].try_into().expect("4 bytes"))
            }),
            t1_3: p.t1_3,
            t2_3: p.t2_3,
            w16: p.w16,
            w17: p.w17,
            w18_part: p.w18_part,
            w19_part: p.w19_part,
            w31_part: p.w31_part,
            nonce_base: range.start() as u32,
            count: range.len() as u32,
            capacity,
            pad0: 0,
            pad1: 0,
        }
    }
}

/// Most hits one dispatch stores; more sets the overflow condition (and a CPU rescan).
pub const DEFAULT_CAPACITY: u32 = 1024;

/// Default target duration of one dispatch: long enough to amortise submission and readback,
/// short enough that a new job is picked up quickly.
pub const DEFAULT_KERNEL_TIME: Duration = Duration::from_millis(50);
const MIN_BATCH: u64 = 1 << 12;
/// Most nonces one dispatch covers. The shader numbers invocations in u32: the grid's
/// overshoot (under one workgroup per row) must not carry that number past 2^32, where it
/// would wrap onto nonces of the same dispatch and report their hits twice.
const MAX_BATCH: u64 = 1 << 31;

/// Largest workgroup count per grid dimension (WebGPU's guaranteed limit).
const MAX_GROUPS_PER_DIM: u32 = 65_535;

/// 2-D grid for `groups` workgroups with little overshoot: rows = ceil(groups / 65535),
/// cols = ceil(groups / rows).
pub fn grid(groups: u32) -> (u32, u32) {
    let rows = groups.div_ceil(MAX_GROUPS_PER_DIM).max(1);
    let cols = groups.div_ceil(rows).max(1);
    (cols, rows)
}

/// Dispatches kept in flight per device: while the host reads one back, the next runs.
pub const IN_FLIGHT: usize = 2;

/// Buffers of one in-flight dispatch.
struct Slot {
    params: wgpu::Buffer,
    results: wgpu::Buffer,
    readback: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

/// A dispatch that was submitted and is being mapped for reading.
struct Pending {
    slot: usize,
    range: NonceRange,
    submitted: Instant,
    index: wgpu::SubmissionIndex,
    mapped: mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
}

/// One GPU, ready to search.
pub struct GpuDevice {
    info: DeviceInfo,
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipeline: wgpu::ComputePipeline,
    options: ShaderOptions,
    slots: Vec<Slot>,
    capacity: u32,
    /// Nonces per dispatch, re-tuned after every dispatch towards `kernel_time`.
    batch: AtomicU64,
    /// Wanted duration of one dispatch.
    kernel_time: Duration,
    /// When set, the device destroys itself at its first dispatch from then on (tests).
    lose_at: Option<Instant>,
    /// The first failure wgpu reported outside a call's result: device lost, or an error
    /// from a submission (wgpu's default for those is to panic).
    failed: Arc<std::sync::Mutex<Option<String>>>,
    /// The proof of work this device mines ([`GpuDevice::set_algo`]).
    algo: crate::algo::Algo,
    /// The scrypt search, once set up for scrypt.
    scrypt: Option<Box<scrypt::ScryptSearch>>,
    /// The scrypt lookup gap asked for (`--lookup-gap`); `None`: chosen from the limits.
    lookup_gap: Option<u32>,
}

impl GpuDevice {
    /// Opens every adapter, or the one `selector` names (an index or part of a name), with
    /// the default shader.
    pub fn open_all(selector: Option<&str>) -> Result<Vec<GpuDevice>, GpuError> {
        GpuDevice::open_all_with(selector, ShaderOptions::default())
    }

    /// [`GpuDevice::open_all`] with the shader built as `options` say.
    pub fn open_all_with(
        selector: Option<&str>,
        options: ShaderOptions,
    ) -> Result<Vec<GpuDevice>, GpuError> {
        GpuDevice::open_each(selector, options, |_| true)?
            .into_iter()
            .collect()
    }

    /// Opens the adapters `selector` picks (see [`select`]) and `keep` accepts, one by one: the outer error says
    /// there is no adapter or none matches `selector`, an inner one that this adapter could not
    /// be opened or failed its self-test.
    pub fn open_each(
        selector: Option<&str>,
        options: ShaderOptions,
        keep: impl Fn(&DeviceInfo) -> bool,
    ) -> Result<Vec<Result<GpuDevice, GpuError>>, GpuError> {
        let adapters = adapters();
        if adapters.is_empty() {
            return Err(GpuError::NoAdapter);
        }
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        let wanted = match selector {
            None => (0..adapters.len()).collect(),
            Some(sel) => select(sel, &names)?,
        };
        let chosen: Vec<(usize, wgpu::Adapter)> = adapters
            .into_iter()
            .enumerate()
            .filter(|(i, _)| wanted.contains(i))
            .collect();
        Ok(chosen
            .into_iter()
            .filter(|(i, a)| keep(&info(*i, a)))
            .map(|(i, a)| GpuDevice::open(i, a, DEFAULT_CAPACITY, options))
            .collect())
    }

    fn open(
        index: usize,
        adapter: wgpu::Adapter,
        capacity: u32,
        options: ShaderOptions,
    ) -> Result<GpuDevice, GpuError> {
        let info = info(index, &adapter);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("hashrig"),
            required_features: wgpu::Features::empty(),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|source| GpuError::Open {
            name: info.name.clone(),
            source,
        })?;
        let failed: Arc<std::sync::Mutex<Option<String>>> = Default::default();
        let record = |failed: &Arc<std::sync::Mutex<Option<String>>>, what: String| {
            if let Ok(mut f) = failed.lock() {
                f.get_or_insert(what);
            }
        };
        let on_lost = Arc::clone(&failed);
        device.set_device_lost_callback(move |reason, message| {
            let message = message.trim();
            let what = match reason {
                wgpu::DeviceLostReason::Destroyed => "device lost (destroyed)".to_string(),
                _ => "device lost".to_string(),
            };
            record(
                &on_lost,
                if message.is_empty() {
                    what
                } else {
                    format!("{what}: {message}")
                },
            );
        });
        let on_error = Arc::clone(&failed);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            tracing::error!("GPU error: {e}");
            record(&on_error, format!("GPU error: {e}"));
        }));

        let pipeline = compile(&device, &sha256d_wgsl(options), "sha256d").map_err(|source| {
            GpuError::Shader {
                name: info.name.clone(),
                label: "sha256d",
                source,
            }
        })?;
        let slots = (0..IN_FLIGHT)
            .map(|_| make_slot(&device, &pipeline, 4 * (1 + u64::from(capacity))))
            .collect();
        let gpu = GpuDevice {
            info,
            device,
            queue,
            pipeline,
            options,
            slots,
            capacity,
            batch: AtomicU64::new(1 << 20),
            kernel_time: DEFAULT_KERNEL_TIME,
            failed,
            lose_at: None,
            algo: crate::algo::Algo::Sha256d,
            scrypt: None,
            lookup_gap: None,
        };
        gpu.self_test()?;
        Ok(gpu)
    }

    /// Known answers before any real work: a miscompiled kernel would otherwise go unnoticed
    /// when it misses hits (verification only sees the hits it reports). Block 125552's nonce
    /// at its own target, and every hit of about 1 in 64 nonces at an easy target, against
    /// sha2. A few milliseconds on a GPU.
    fn self_test(&self) -> Result<(), GpuError> {
        let header = Header::from_hex(MAINNET_125552).expect("embedded header is valid");
        let block = Target::from_compact(header.bits());
        let around = NonceRange::from_start(header.nonce().wrapping_sub(2048), 4096);
        let mut easy = [0xffu8; 32];
        easy[28..].copy_from_slice(&0x03ff_ffffu32.to_le_bytes());
        let easy = Target::from_le_bytes(easy);
        for (target, range) in [
            (block, around),
            (easy, NonceRange::from_start(u32::MAX - 4095, 4096)),
            (easy, NonceRange::from_start(7, 12_288)),
        ] {
            let job = Job::new("self-test", header, target, NonceRange::FULL, 0);
            let expected: Vec<u32> = (range.start()..range.end())
                .map(|n| n as u32)
                .filter(|&n| {
                    hash_meets(&reference_digest(header.with_nonce(n).as_bytes()), &target)
                })
                .collect();
            let report = self
                .scan(&job, range, &Generation::new())
                .map_err(|f| f.error)?;
            compare_hits(&expected, &report, range).map_err(|source| GpuError::SelfTest {
                name: self.info.name.clone(),
                source,
            })?;
        }
        Ok(())
    }

    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// How this device's shader was built.
    pub fn options(&self) -> ShaderOptions {
        self.options
    }

    /// Invocations per workgroup, as a nonce count.
    fn workgroup(&self) -> u64 {
        u64::from(self.options.workgroup_size)
    }

    /// Lowers the result-buffer capacity used by later scans (tests use a tiny one to force
    /// the overflow path).
    pub fn limit_capacity(&mut self, capacity: u32) {
        self.capacity = self.capacity.min(capacity.max(1));
    }

    /// Nonces per dispatch (re-tuned by later dispatches unless `kernel_time` is zero).
    pub fn set_batch(&mut self, nonces: u64) {
        self.batch
            .store(nonces.clamp(MIN_BATCH, MAX_BATCH), Ordering::Relaxed);
    }

    /// The SHA-256d batch, whatever the device mines (`set_batch`'s counterpart).
    fn sha256d_batch(&self) -> u64 {
        self.batch.load(Ordering::Relaxed)
    }

    /// Current nonces per dispatch (of the algorithm this device mines).
    pub fn batch(&self) -> u64 {
        match &self.scrypt {
            Some(s) if self.algo == crate::algo::Algo::Scrypt => s.batch(),
            _ => self.batch.load(Ordering::Relaxed),
        }
    }

    /// The proof of work this device mines.
    pub fn algo(&self) -> crate::algo::Algo {
        self.algo
    }

    /// The scrypt lookup gap in use (`None` unless set up for scrypt).
    pub fn scrypt_gap(&self) -> Option<u32> {
        self.scrypt.as_ref().map(|s| s.gap())
    }

    /// The scrypt lookup gap asked for (`None`: chosen from the adapter's limits).
    pub fn lookup_gap(&self) -> Option<u32> {
        self.lookup_gap
    }

    /// The most scrypt hashes one dispatch can run (what the scratchpad holds at its gap;
    /// `None` unless set up for scrypt).
    pub fn scrypt_max_hashes(&self) -> Option<u64> {
        self.scrypt.as_ref().map(|s| s.max_hashes())
    }

    /// Destroys the device as a driver reset would: later and queued work fails. For tests of
    /// the device-failure path.
    #[doc(hidden)]
    pub fn lose(&self) {
        self.device.destroy();
    }

    /// Makes the device [`lose`](GpuDevice::lose) itself at its first dispatch `after` from
    /// now: the device-failure path end to end (`--lose-gpus-after-ms`).
    #[doc(hidden)]
    pub fn lose_after(&mut self, after: Duration) {
        self.lose_at = Some(Instant::now() + after);
    }

    /// Target duration of one dispatch (`--gpu-kernel-ms`); zero keeps the batch size fixed.
    pub fn set_kernel_time(&mut self, time: Duration) {
        self.kernel_time = time;
    }

    /// Most nonces one dispatch of `job` may cover so that its expected hits fill at most half
    /// the result buffer. Only very easy targets (regtest, tiny test shares) are capped: an
    /// overflow costs a CPU rescan of the whole dispatch.
    fn hit_cap(&self, job: &Job) -> u64 {
        // A nonce hits with probability at most (top word + 1) / 2^32.
        let top = u64::from(job.target_top_word()) + 1;
        let cap = (u64::from(self.capacity) / 2).max(1) * (1 << 32) / top;
        (cap / self.workgroup() * self.workgroup()).clamp(self.workgroup(), MAX_BATCH)
    }

    /// Target duration of one dispatch.
    pub fn kernel_time(&self) -> Duration {
        self.kernel_time
    }

    /// Moves the batch size towards `kernel_time` given that `nonces` took `took`.
    fn tune(&self, nonces: u64, took: Duration) {
        if self.kernel_time.is_zero() || took.is_zero() {
            return;
        }
        let rate = nonces as f64 / took.as_secs_f64();
        let wanted = (rate * self.kernel_time.as_secs_f64()) as u64;
        // At most 4x per step either way: one slow dispatch does not collapse the batch.
        let current = self.sha256d_batch();
        let next = wanted.clamp(current / 4, current.saturating_mul(4));
        let next = next.clamp(MIN_BATCH, MAX_BATCH) / self.workgroup() * self.workgroup();
        self.batch.store(next.max(MIN_BATCH), Ordering::Relaxed);
    }

    /// The failure wgpu reported, if any.
    fn failed(&self) -> Option<String> {
        self.failed.lock().ok().and_then(|f| f.clone())
    }

    /// The error for a failed step: what wgpu reported about the device (lost, refused work)
    /// when it did, else the step's own error.
    fn device_error(&self, doing: &str, detail: impl std::fmt::Display) -> GpuError {
        // Lets wgpu run its callbacks, so a lost device says so (a refused submission alone
        // only shows up as an unknown submission index).
        let _ = self.device.poll(wgpu::PollType::Poll);
        let reason = match self.failed() {
            Some(failed) => {
                tracing::debug!("{}: {doing}: {detail}", self.info.name);
                format!("{failed} (while {doing})")
            }
            None => format!("{doing}: {detail}"),
        };
        GpuError::Device {
            name: self.info.name.clone(),
            reason,
        }
    }

    /// Submits one dispatch over `range` (at most 2^32 - 64 nonces) in `slot` and starts
    /// mapping its results.
    fn submit(&self, slot: usize, job: &Job, range: NonceRange) -> Pending {
        let s = &self.slots[slot];
        let params = GpuParams::new(job.prepared(), job, range, self.capacity);
        self.queue
            .write_buffer(&s.params, 0, bytemuck::bytes_of(&params));
        self.queue.write_buffer(&s.results, 0, &0u32.to_le_bytes());
        let groups = range.len().div_ceil(self.workgroup()) as u32;
        let (cols, rows) = grid(groups);
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &s.bind_group, &[]);
            pass.dispatch_workgroups(cols, rows, 1);
        }
        let bytes = 4 * (1 + u64::from(self.capacity));
        encoder.copy_buffer_to_buffer(&s.results, 0, &s.readback, 0, bytes);
        let index = self.queue.submit([encoder.finish()]);
        // One message (the mapping's result): a one-slot queue.
        let (tx, rx) = mpsc::sync_channel(1);
        s.readback
            .slice(0..bytes)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        Pending {
            slot,
            range,
            submitted: Instant::now(),
            index,
            mapped: rx,
        }
    }

    /// Waits for `p` and returns its hit count and stored nonces.
    fn complete(&self, p: &Pending) -> Result<(u32, Vec<u32>), GpuError> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(p.index.clone()),
                timeout: Some(Duration::from_secs(60)),
            })
            .map_err(|e| self.device_error("waiting for the kernel", e))?;
        p.mapped
            .recv()
            .map_err(|_| self.device_error("mapping results", "the mapping was dropped"))?
            .map_err(|e| self.device_error("mapping results", e))?;
        // A submission wgpu refused leaves the results of a kernel that never ran.
        if let Some(failed) = self.failed() {
            return Err(GpuError::Device {
                name: self.info.name.clone(),
                reason: failed,
            });
        }
        let s = &self.slots[p.slot];
        let bytes = 4 * (1 + u64::from(self.capacity));
        let out = {
            let view = s
                .readback
                .slice(0..bytes)
                .get_mapped_range()
                .map_err(|e| self.device_error("reading results", format!("{e:?}")))?;
            let words: &[u32] = bytemuck::cast_slice(&view);
            let count = words[0];
            let stored = count.min(self.capacity) as usize;
            (count, words[1..1 + stored].to_vec())
        };
        s.readback.unmap();
        Ok(out)
    }

    /// Searches `range` of `job` with [`IN_FLIGHT`] dispatches queued so the host's readback
    /// overlaps the next kernel. No new dispatch starts once `generation` moves past the job's;
    /// those already queued finish and their hits are kept. A dispatch whose result buffer
    /// overflowed is rescanned on the CPU, so no hit is lost. On a device failure the error
    /// comes back together with everything found before it.
    pub fn scan(
        &self,
        job: &Job,
        range: NonceRange,
        generation: &Generation,
    ) -> Result<ScanReport, Box<ScanFailure>> {
        if job.algo == crate::algo::Algo::Scrypt {
            return self.scan_scrypt(job, range, generation);
        }
        let mut report = ScanReport::default();
        let mut rest = range;
        let mut pending: std::collections::VecDeque<Pending> = Default::default();
        let mut free: Vec<usize> = (0..self.slots.len()).rev().collect();
        loop {
            while !rest.is_empty() && !free.is_empty() {
                if generation.is_stale(job.generation) {
                    report.stale = true;
                    rest = NonceRange::from_start(0, 0);
                    break;
                }
                let (piece, after) = rest.split_at(self.sha256d_batch().min(self.hit_cap(job)));
                rest = after;
                if self.lose_at.is_some_and(|at| Instant::now() >= at) {
                    tracing::warn!(
                        "{}: destroying the device (--lose-gpus-after-ms)",
                        self.info.name
                    );
                    self.lose();
                }
                let slot = free.pop().expect("checked non-empty");
                pending.push_back(self.submit(slot, job, piece));
            }
            let Some(p) = pending.pop_front() else { break };
            let (count, nonces) = match self.complete(&p) {
                Ok(r) => r,
                Err(error) => {
                    return Err(Box::new(ScanFailure {
                        found: report,
                        error,
                    }))
                }
            };
            free.push(p.slot);
            let took = p.submitted.elapsed();
            if p.range.len() == self.sha256d_batch() {
                // With a second dispatch queued behind it, `took` includes waiting for the one
                // ahead; divided by the dispatches it waited for it estimates one kernel.
                self.tune(p.range.len(), took / (pending.len() as u32 + 1));
            }
            tracing::debug!(
                "{}: {} nonces done {:?} after submit, {count} hits",
                self.info.name,
                p.range.len(),
                took
            );
            report.hashes += p.range.len();
            if count > self.capacity {
                tracing::warn!(
                    "{}: {count} hits overflowed the result buffer ({}); rescanning {} nonces on the CPU",
                    self.info.name,
                    self.capacity,
                    p.range.len()
                );
                // A job that went stale meanwhile stops the rescan too: its hits are of no use.
                let again = crate::backend::cpu::CpuBackend::new(Kernel::best(), 1)
                    .map(|cpu| cpu.scan(job, p.range, generation));
                match again {
                    Ok(again) => {
                        report.rescanned += again.hashes;
                        report.merge(ScanReport {
                            hashes: 0,
                            rescanned: 0,
                            ..again
                        });
                    }
                    Err(e) => {
                        return Err(Box::new(ScanFailure {
                            found: report,
                            error: self.device_error("rescanning an overflow on the CPU", e),
                        }))
                    }
                }
                continue;
            }
            for nonce in nonces {
                self.check_hit(job, nonce, &mut report);
            }
        }
        Ok(report)
    }

    /// The host's full check of a GPU hit (the same as the CPU backend's).
    fn check_hit(&self, job: &Job, nonce: u32, report: &mut ScanReport) {
        let digest = digest_from_midstate(&job.prepared().midstate, &job.header, nonce);
        if report.full() {
            report.overflow += 1;
        } else if hash_meets(&digest, &job.target) {
            report.candidate(Candidate { nonce, digest });
        } else {
            tracing::error!(
                "hardware error: {} reported nonce {nonce:#010x} of header {}, whose hash does not meet the target",
                self.info.name,
                job.header
            );
            report.hw_errors += 1;
        }
    }

    /// The full SHA-256d digest the GPU computes for each nonce of `range` (at most 65536
    /// nonces), from the same generated code as the search. For self-tests.
    pub fn digests(&self, header: &Header, range: NonceRange) -> Result<Vec<[u8; 32]>, GpuError> {
        assert!(range.len() <= 1 << 16, "at most 65536 nonces");
        let pipeline = compile(&self.device, &sha256d_digests_wgsl(self.options), "digests")
            .map_err(|e| self.device_error("compiling the digest shader", e))?;
        let slot = make_slot(&self.device, &pipeline, 4 * (1 + 8 * range.len()));
        let job = Job::new("digests", *header, crate::chain::Target::MAX, range, 0);
        let params = GpuParams::new(job.prepared(), &job, range, 8 * range.len() as u32);
        self.queue
            .write_buffer(&slot.params, 0, bytemuck::bytes_of(&params));
        let words = self.dispatch_once(
            Dispatch {
                pipeline: &pipeline,
                bind_group: &slot.bind_group,
                results: &slot.results,
                readback: &slot.readback,
            },
            range.len().div_ceil(self.workgroup()) as u32,
            1 + 8 * range.len(),
            Duration::from_secs(60),
        )?;
        Ok(digests_from_words(&words[1..]))
    }

    /// Runs `groups` workgroups of `d.pipeline` once, waits for them (at most `timeout`) and
    /// returns the first `words` words of `d.results`: the one-shot path of self-tests, digest
    /// checks and the scrypt search (SHA-256d's search keeps its own pipelined slots).
    fn dispatch_once(
        &self,
        d: Dispatch<'_>,
        groups: u32,
        words: u64,
        timeout: Duration,
    ) -> Result<Vec<u32>, GpuError> {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(d.pipeline);
            pass.set_bind_group(0, d.bind_group, &[]);
            let (cols, rows) = grid(groups);
            pass.dispatch_workgroups(cols, rows, 1);
        }
        encoder.copy_buffer_to_buffer(d.results, 0, d.readback, 0, 4 * words);
        let index = self.queue.submit([encoder.finish()]);
        // One message (the mapping's result): a one-slot queue.
        let (tx, rx) = mpsc::sync_channel(1);
        d.readback
            .slice(..4 * words)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: Some(timeout),
            })
            .map_err(|e| self.device_error("waiting for the kernel", e))?;
        rx.recv()
            .map_err(|_| self.device_error("mapping results", "the mapping was dropped"))?
            .map_err(|e| self.device_error("mapping results", e))?;
        let out = {
            let view = d
                .readback
                .slice(..4 * words)
                .get_mapped_range()
                .map_err(|e| self.device_error("reading results", format!("{e:?}")))?;
            bytemuck::cast_slice::<u8, u32>(&view).to_vec()
        };
        d.readback.unmap();
        Ok(out)
    }
}

/// What one dispatch of [`GpuDevice::dispatch_once`] runs and where its results go.
#[derive(Clone, Copy)]
struct Dispatch<'a> {
    pipeline: &'a wgpu::ComputePipeline,
    bind_group: &'a wgpu::BindGroup,
    results: &'a wgpu::Buffer,
    readback: &'a wgpu::Buffer,
}

/// 32-byte hashes from the words a digests shader wrote (8 a hash, each stored byte-swapped,
/// as compared): back to the reference's byte order.
fn digests_from_words(words: &[u32]) -> Vec<[u8; 32]> {
    words
        .chunks_exact(8)
        .map(|w| {
            let mut d = [0u8; 32];
            for (k, word) in w.iter().enumerate() {
                d[4 * k..4 * k + 4].copy_from_slice(&word.to_le_bytes());
            }
            d
        })
        .collect()
}

/// Compiles `source` into a compute pipeline, turning validation errors into a message.
fn compile(
    device: &wgpu::Device,
    source: &str,
    label: &str,
) -> Result<wgpu::ComputePipeline, wgpu::Error> {
    compile_entry(device, source, label, shader::ENTRY_POINT)
}

/// [`compile`] of the entry point `entry`.
fn compile_entry(
    device: &wgpu::Device,
    source: &str,
    label: &str,
    entry: &str,
) -> Result<wgpu::ComputePipeline, wgpu::Error> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: None,
        module: &module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    });
    match pollster::block_on(scope.pop()) {
        Some(e) => Err(e),
        None => Ok(pipeline),
    }
}

fn make_slot(device: &wgpu::Device, pipeline: &wgpu::ComputePipeline, results_size: u64) -> Slot {
    let params = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("params"),
        size: std::mem::size_of::<GpuParams>() as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let results = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("results"),
        size: results_size,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: results_size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("sha256d"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: params.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: results.as_entire_binding(),
            },
        ],
    });
    Slot {
        params,
        results,
        readback,
        bind_group,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_largest_batch_numbers_its_invocations_in_u32() {
        for wg in WORKGROUP_SIZES.map(u64::from) {
            let groups = MAX_BATCH.div_ceil(wg);
            let (c, r) = grid(u32::try_from(groups).unwrap());
            assert!(
                u64::from(c) * u64::from(r) * wg <= 1 << 32,
                "workgroup {wg}"
            );
        }
    }

    #[test]
    fn grid_keeps_overshoot_small() {
        assert_eq!(grid(1), (1, 1));
        assert_eq!(grid(65_535), (65_535, 1));
        let (c, r) = grid(65_536);
        assert_eq!((c, r), (32_768, 2));
        for groups in [100_000u32, 1 << 20, 67_108_864, 4_000_037] {
            let (c, r) = grid(groups);
            assert!(c <= MAX_GROUPS_PER_DIM && r <= MAX_GROUPS_PER_DIM);
            let total = u64::from(c) * u64::from(r);
            assert!(total >= u64::from(groups));
            assert!(
                total - u64::from(groups) < u64::from(r),
                "overshoot under one per row"
            );
        }
    }

    /// Every member of the shader's `Params` sits where `GpuParams` puts it, by name.
    #[test]
    fn params_layout_matches_the_shader() {
        use std::mem::offset_of;
        macro_rules! offsets {
            ($($field:ident),*) => { [$((stringify!($field), offset_of!(GpuParams, $field))),*] };
        }
        let rust = offsets!(
            state3,
            midstate,
            target_words,
            t1_3,
            t2_3,
            w16,
            w17,
            w18_part,
            w19_part,
            w31_part,
            nonce_base,
            count,
            capacity,
            pad0,
            pad1
        );
        let source = sha256d_wgsl(ShaderOptions::default());
        let module = naga::front::wgsl::parse_str(&source).unwrap();
        let ty = module
            .types
            .iter()
            .map(|(_, t)| t)
            .find(|t| t.name.as_deref() == Some("Params"))
            .expect("struct Params");
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("Params is not a struct");
        };
        assert_eq!(*span as usize, std::mem::size_of::<GpuParams>());
        let shader: Vec<(&str, usize)> = members
            .iter()
            .map(|m| (m.name.as_deref().unwrap_or("?"), m.offset as usize))
            .collect();
        assert_eq!(shader, rust);
    }
}
