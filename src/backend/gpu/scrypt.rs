//! scrypt on the GPU (shaders/scrypt.wgsl): one hash per invocation, the scratchpad in one
//! storage buffer laid out so neighbouring invocations' accesses coalesce, a lookup gap chosen
//! from the adapter's buffer limits. [`GpuDevice::set_algo`] makes the search pipeline and its
//! buffers (and self-tests them on Litecoin's genesis block); [`GpuDevice::scan`] then runs
//! scrypt jobs here, one dispatch at a time, every hit re-hashed on the host by the `scrypt`
//! crate. [`GpuDevice::scrypt_digests`] computes plain hashes for tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};

use super::{compile_entry, digests_from_words, Dispatch, GpuDevice, GpuError, ScanFailure};
use crate::algo::scrypt::N;
use crate::algo::Algo;
use crate::backend::ScanReport;
use crate::chain::{hash_meets, Header, Target};
use crate::job::{Generation, Job, NonceRange};
use crate::verify::Candidate;

/// Result slots of a scrypt dispatch (hits past them are rescanned on the CPU).
const CAPACITY: u32 = 1024;
/// The smallest dispatch (one workgroup).
const MIN_HASHES: u64 = 64;
/// Hashes in flight the scratchpad is sized for at most; more would not help (a datacenter
/// GPU runs about 270 000 invocations at once) and the lookup gap grows instead.
const MAX_HASHES: u64 = 1 << 18;
/// The largest scratchpad allocated on a hardware adapter, and on a software one (lavapipe:
/// the host's memory).
const MAX_SCRATCH: u64 = 4 << 30;
const MAX_SCRATCH_SOFTWARE: u64 = 64 << 20;
/// Lookup gaps tried, smallest first (and measured by `bench --sweep --algo scrypt`).
pub const GAPS: [u32; 6] = [1, 2, 4, 8, 16, 32];
/// The largest lookup gap `--lookup-gap` takes. The shader computes any gap from 1 to N; past
/// 32 the recomputation (gap/2 extra Salsa20/8 rounds a read on average) costs more than
/// any memory bandwidth it saves.
pub const MAX_GAP: u32 = 32;

/// The scrypt search of one device: pipeline, buffers, lookup gap, batch.
pub(super) struct ScryptSearch {
    pipeline: wgpu::ComputePipeline,
    params: wgpu::Buffer,
    results: wgpu::Buffer,
    readback: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    /// Hashes the scratchpad holds: the largest dispatch.
    max_hashes: u64,
    gap: u32,
    /// Hashes per dispatch, tuned towards the device's kernel time.
    batch: AtomicU64,
}

impl ScryptSearch {
    pub(super) fn gap(&self) -> u32 {
        self.gap
    }
    pub(super) fn batch(&self) -> u64 {
        self.batch.load(Ordering::Relaxed)
    }
    pub(super) fn max_hashes(&self) -> u64 {
        self.max_hashes
    }
}

/// Hashes a software adapter (lavapipe on a few cores) needs in flight.
const SOFTWARE_HASHES: u64 = 512;

/// The lookup gap and the hashes per dispatch for a scratchpad of at most `bytes` when
/// `wanted` hashes should be in flight: the gap asked for (`--lookup-gap`) with what fits at
/// it, else the smallest gap that lets them fit, else the largest gap and what fits. `None`
/// when not even one workgroup fits.
pub fn plan(bytes: u64, wanted: u64, gap: Option<u32>) -> Option<(u32, u64)> {
    let wanted = wanted.clamp(MIN_HASHES, MAX_HASHES);
    let fit = |gap: u32| (bytes / scratch_bytes(1, gap)).min(wanted) / MIN_HASHES * MIN_HASHES;
    let gap = gap.unwrap_or_else(|| {
        GAPS.into_iter()
            .find(|&g| fit(g) >= wanted)
            .unwrap_or(GAPS[GAPS.len() - 1])
    });
    let hashes = fit(gap);
    (hashes >= MIN_HASHES).then_some((gap, hashes))
}

/// The WGSL source (fixed workgroup of 64).
pub const SCRYPT_WGSL: &str = include_str!("../../../shaders/scrypt.wgsl");

/// Invocations per workgroup in the shader.
const WORKGROUP: u64 = 64;
/// The longest a scrypt dispatch may take before the device counts as hung.
const KERNEL_TIMEOUT: Duration = Duration::from_secs(300);

/// Params buffer. Mirrors `struct Params` in shaders/scrypt.wgsl: keep the two in step.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct ScryptParams {
    midstate: [u32; 8],
    header: [u32; 20],
    target_words: [u32; 8],
    nonce_base: u32,
    count: u32,
    capacity: u32,
    stride: u32,
    gap: u32,
    pad: [u32; 3],
}

impl ScryptParams {
    fn new(header: &Header, target: &Target, range: NonceRange, capacity: u32, gap: u32) -> Self {
        let bytes = header.as_bytes();
        let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4"));
        let mut midstate = crate::algo::sha256d::IV;
        let block = sha2::digest::generic_array::GenericArray::clone_from_slice(&bytes[..64]);
        sha2::compress256(&mut midstate, &[block]);
        let le = target.to_le_bytes();
        ScryptParams {
            midstate,
            header: std::array::from_fn(word),
            target_words: std::array::from_fn(|k| {
                u32::from_le_bytes(le[4 * k..4 * k + 4].try_into().expect("4"))
            }),
            nonce_base: range.start() as u32,
            count: range.len() as u32,
            capacity,
            stride: range.len() as u32,
            gap,
            pad: [0; 3],
        }
    }
}

/// Litecoin's genesis block header (its scrypt hash meets its bits).
const LITECOIN_GENESIS: &str = "010000000000000000000000000000000000000000000000000000000000000000000000d9ced4ed1130f7b7faad9be25323ffafa33232a17c3edf6cfd97bee6bafbdd97b9aa8e4ef0ff0f1ecd513f7c";

/// Bytes of scratchpad `hashes` invocations need with lookup gap `gap`.
pub fn scratch_bytes(hashes: u64, gap: u32) -> u64 {
    hashes * (N as u64).div_ceil(u64::from(gap.max(1))) * 128
}

impl GpuDevice {
    /// Sets the scrypt lookup gap (`--lookup-gap`; `None`: chosen from the adapter's limits).
    /// A device already set up for scrypt makes its search again at the new gap (scratchpad,
    /// self-test).
    pub fn set_lookup_gap(&mut self, gap: Option<u32>) -> Result<(), GpuError> {
        if let Some(g) = gap {
            if !(1..=MAX_GAP).contains(&g) {
                return Err(self.device_error(
                    "setting the scrypt lookup gap",
                    format!("{g} is not from 1 to {MAX_GAP}"),
                ));
            }
        }
        self.lookup_gap = gap;
        if self.algo == Algo::Scrypt {
            self.scrypt = None;
            self.set_algo(Algo::Scrypt)?;
        }
        Ok(())
    }

    /// Sets the proof of work this device mines. For scrypt: sizes the scratchpad from the
    /// adapter's limits at the lookup gap asked for or the smallest that lets enough hashes
    /// run at once (a clear error when not even 64 hashes fit), builds the search pipeline,
    /// and self-tests it on Litecoin's genesis block before any real work.
    pub fn set_algo(&mut self, algo: Algo) -> Result<(), GpuError> {
        self.algo = algo;
        if algo == Algo::Sha256d {
            self.scrypt = None;
            return Ok(());
        }
        let limits = self.device.limits();
        let (cap, wanted) = if self.info.device_type == "Cpu" {
            (MAX_SCRATCH_SOFTWARE, SOFTWARE_HASHES)
        } else {
            (MAX_SCRATCH, MAX_HASHES)
        };
        let bytes = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            .min(cap);
        let (gap, max_hashes) = plan(bytes, wanted, self.lookup_gap).ok_or_else(|| {
            let gap = self.lookup_gap.unwrap_or(GAPS[GAPS.len() - 1]);
            let advice = if gap < MAX_GAP {
                " (a larger --lookup-gap needs less)"
            } else {
                ""
            };
            self.device_error(
                "sizing the scrypt scratchpad",
                format!(
                    "this adapter's largest storage buffer is {bytes} bytes: scrypt needs {} for one workgroup at lookup gap {gap}{advice}",
                    scratch_bytes(MIN_HASHES, gap),
                ),
            )
        })?;
        let pipeline =
            compile_entry(&self.device, SCRYPT_WGSL, "scrypt", "search").map_err(|source| {
                GpuError::Shader {
                    name: self.info.name.clone(),
                    label: "scrypt",
                    source,
                }
            })?;
        let results_size = 4 * (1 + u64::from(CAPACITY));
        let (params, results, readback, bind_group) =
            self.scrypt_buffers(&pipeline, results_size, scratch_bytes(max_hashes, gap));
        tracing::info!(
            "{}: scrypt scratchpad for {max_hashes} hashes at lookup gap {gap} ({} MiB)",
            self.info.name,
            scratch_bytes(max_hashes, gap) >> 20
        );
        self.scrypt = Some(Box::new(ScryptSearch {
            pipeline,
            params,
            results,
            readback,
            bind_group,
            max_hashes,
            gap,
            batch: AtomicU64::new(MIN_HASHES.max(max_hashes / 64)),
        }));
        self.scrypt_self_test()
    }

    /// Litecoin's genesis nonce at its own target, among its neighbours, against the crate.
    fn scrypt_self_test(&self) -> Result<(), GpuError> {
        let header = Header::from_hex(LITECOIN_GENESIS).expect("embedded header is valid");
        let target = Target::from_compact(header.bits());
        let range = NonceRange::from_start(header.nonce().wrapping_sub(5), 8);
        let job = Job::new("scrypt self-test", header, target, NonceRange::FULL, 0)
            .with_algo(Algo::Scrypt);
        let expected: Vec<u32> = (range.start()..range.end())
            .map(|n| n as u32)
            .filter(|&n| {
                hash_meets(
                    &Algo::Scrypt.reference_pow(header.with_nonce(n).as_bytes()),
                    &target,
                )
            })
            .collect();
        let report = self
            .scan_scrypt(&job, range, &Generation::new())
            .map_err(|f| f.error)?;
        super::error::compare_hits(&expected, &report, range).map_err(|source| GpuError::SelfTest {
            name: self.info.name.clone(),
            source,
        })
    }

    /// Params, results, readback buffers and the bind group over a scratchpad of
    /// `scratch_size` bytes.
    fn scrypt_buffers(
        &self,
        pipeline: &wgpu::ComputePipeline,
        results_size: u64,
        scratch_size: u64,
    ) -> (wgpu::Buffer, wgpu::Buffer, wgpu::Buffer, wgpu::BindGroup) {
        use wgpu::BufferUsages as U;
        let buffer = |label: &str, size: u64, usage: wgpu::BufferUsages| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        let params = buffer(
            "scrypt params",
            std::mem::size_of::<ScryptParams>() as u64,
            U::UNIFORM | U::COPY_DST,
        );
        let results = buffer(
            "scrypt results",
            results_size,
            U::STORAGE | U::COPY_SRC | U::COPY_DST,
        );
        let readback = buffer("scrypt readback", results_size, U::MAP_READ | U::COPY_DST);
        let scratch = buffer("scrypt scratchpad", scratch_size.max(16), U::STORAGE);
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("scrypt"),
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
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: scratch.as_entire_binding(),
                },
            ],
        });
        (params, results, readback, bind_group)
    }

    /// Searches `range` of a scrypt `job`: dispatches of the tuned batch, one at a time, the
    /// job's staleness checked between them; each hit re-hashed here with the `scrypt` crate
    /// (a hit that does not meet the target is a hardware error); an overflowed result buffer
    /// rescanned on the CPU.
    pub(super) fn scan_scrypt(
        &self,
        job: &Job,
        range: NonceRange,
        generation: &Generation,
    ) -> Result<ScanReport, Box<ScanFailure>> {
        let mut report = ScanReport::default();
        let Some(s) = self.scrypt.as_ref() else {
            return Err(Box::new(ScanFailure {
                found: report,
                error: self.device_error("a scrypt job", "this device was not set up for scrypt"),
            }));
        };
        let fail = |found: ScanReport, error: GpuError| Box::new(ScanFailure { found, error });
        let mut rest = range;
        while !rest.is_empty() {
            if generation.is_stale(job.generation) {
                report.stale = true;
                break;
            }
            if let Some(e) = self.failed() {
                return Err(fail(report, self.device_error("a scrypt dispatch", e)));
            }
            // As for SHA-256d: expected hits fill at most half the result slots (a regtest
            // target, where every other hash is a block, would overflow into CPU rescans).
            let top = u64::from(job.target_top_word()) + 1;
            let hit_cap = (u64::from(CAPACITY / 2) << 32) / top;
            let (piece, after) =
                rest.split_at(s.batch().min(s.max_hashes).min(hit_cap.max(MIN_HASHES)));
            rest = after;
            let p = ScryptParams::new(&job.header, &job.target, piece, CAPACITY, s.gap);
            self.queue
                .write_buffer(&s.params, 0, bytemuck::bytes_of(&p));
            self.queue.write_buffer(&s.results, 0, &0u32.to_le_bytes());
            let started = Instant::now();
            let words = match self.dispatch_once(
                Dispatch {
                    pipeline: &s.pipeline,
                    bind_group: &s.bind_group,
                    results: &s.results,
                    readback: &s.readback,
                },
                piece.len().div_ceil(WORKGROUP) as u32,
                1 + u64::from(CAPACITY),
                KERNEL_TIMEOUT,
            ) {
                Ok(w) => w,
                Err(e) => return Err(fail(report, e)),
            };
            self.tune_scrypt(s, piece.len(), started.elapsed());
            report.hashes += piece.len();
            let count = words[0];
            if count > CAPACITY {
                tracing::warn!(
                    "{}: {count} scrypt hits overflowed the result buffer ({CAPACITY}); rescanning {} nonces on the CPU",
                    self.info.name,
                    piece.len()
                );
                let again =
                    crate::backend::cpu::CpuBackend::new(crate::backend::cpu::Kernel::best(), 1)
                        .map(|cpu| {
                            cpu.for_algo(
                                Algo::Scrypt,
                                crate::backend::cpu::scrypt::ScryptKernel::best(),
                            )
                            .scan(job, piece, generation)
                        });
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
                        return Err(fail(
                            report,
                            self.device_error("rescanning an overflow on the CPU", e),
                        ))
                    }
                }
                continue;
            }
            for &nonce in &words[1..1 + count as usize] {
                let pow = Algo::Scrypt.reference_pow(job.header.with_nonce(nonce).as_bytes());
                if report.full() {
                    report.overflow += 1;
                } else if hash_meets(&pow, &job.target) {
                    report.candidate(Candidate { nonce, digest: pow });
                } else {
                    tracing::error!(
                        "hardware error: {} reported scrypt nonce {nonce:#010x} of header {}, whose hash does not meet the target",
                        self.info.name,
                        job.header
                    );
                    report.hw_errors += 1;
                }
            }
        }
        Ok(report)
    }

    /// Moves the scrypt batch towards the kernel time (at most 4x per step).
    fn tune_scrypt(&self, s: &ScryptSearch, hashes: u64, took: Duration) {
        if self.kernel_time.is_zero() || took.is_zero() || hashes < s.batch() {
            return;
        }
        let wanted = (hashes as f64 / took.as_secs_f64() * self.kernel_time.as_secs_f64()) as u64;
        let current = s.batch();
        let next = wanted
            .clamp(current / 4, current.saturating_mul(4))
            .clamp(MIN_HASHES, s.max_hashes)
            / MIN_HASHES
            * MIN_HASHES;
        s.batch.store(next.max(MIN_HASHES), Ordering::Relaxed);
    }

    /// The scrypt hashes (internal byte order, as the `scrypt` crate writes them) of `header`
    /// with every nonce of `range` (at most 4096), computed with lookup gap `gap`: for checking
    /// the GPU's scrypt against the crate.
    pub fn scrypt_digests(
        &self,
        header: &Header,
        range: NonceRange,
        gap: u32,
    ) -> Result<Vec<[u8; 32]>, GpuError> {
        assert!(range.len() <= 4096, "at most 4096 nonces");
        assert!((1..=N as u32).contains(&gap), "a lookup gap from 1 to {N}");
        let scratch_size = scratch_bytes(range.len(), gap).max(16);
        let limits = self.device.limits();
        if scratch_size > limits.max_storage_buffer_binding_size
            || scratch_size > limits.max_buffer_size
        {
            return Err(self.device_error(
                "sizing the scrypt scratchpad",
                format!(
                    "{scratch_size} bytes for {} hashes at lookup gap {gap} is over this adapter's storage buffer limit ({} bytes): fewer hashes or a larger gap",
                    range.len(),
                    limits.max_storage_buffer_binding_size
                ),
            ));
        }
        let pipeline = compile_entry(&self.device, SCRYPT_WGSL, "scrypt digests", "digests")
            .map_err(|e| self.device_error("compiling the scrypt shader", e))?;
        let words = 1 + 8 * range.len();
        let (params, results, readback, bind_group) =
            self.scrypt_buffers(&pipeline, 4 * words, scratch_size);
        let p = ScryptParams::new(header, &Target::MAX, range, 8 * range.len() as u32, gap);
        self.queue.write_buffer(&params, 0, bytemuck::bytes_of(&p));
        let words = self.dispatch_once(
            Dispatch {
                pipeline: &pipeline,
                bind_group: &bind_group,
                results: &results,
                readback: &readback,
            },
            range.len().div_ceil(WORKGROUP) as u32,
            words,
            KERNEL_TIMEOUT,
        )?;
        Ok(digests_from_words(&words[1..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shader parses, validates and translates to SPIR-V, MSL and HLSL (both entry
    /// points), and its Params matches `ScryptParams` field by field.
    #[test]
    fn the_scrypt_shader_translates_and_its_params_match() {
        let (metal, hlsl) =
            super::super::shader::tests::translate_entries(SCRYPT_WGSL, &["search", "digests"]);
        assert!(metal.contains("digests"), "{metal}");
        assert!(hlsl.contains("digests"), "{hlsl}");
        let module = naga::front::wgsl::parse_str(SCRYPT_WGSL).unwrap();
        let params = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some("Params"))
            .expect("struct Params");
        let naga::TypeInner::Struct { members, span } = &params.1.inner else {
            panic!("Params is a struct");
        };
        assert_eq!(*span as usize, std::mem::size_of::<ScryptParams>());
        let offsets: Vec<(String, u32)> = members
            .iter()
            .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
            .collect();
        assert_eq!(
            offsets[..8],
            [
                ("midstate".to_string(), 0),
                ("header".into(), 32),
                ("target_words".into(), 112),
                ("nonce_base".into(), 144),
                ("count".into(), 148),
                ("capacity".into(), 152),
                ("stride".into(), 156),
                ("gap".into(), 160),
            ]
        );
    }

    #[test]
    fn the_gap_grows_only_when_the_scratchpad_must_shrink() {
        // 32 GiB: 2^18 hashes at gap 1.
        assert_eq!(plan(32 << 30, MAX_HASHES, None), Some((1, MAX_HASHES)));
        // 4 GiB: gap 8 fits 2^18 hashes (16 KiB each).
        assert_eq!(plan(4 << 30, MAX_HASHES, None), Some((8, MAX_HASHES)));
        // 64 MiB for a software adapter's 512 hashes: gap 1.
        assert_eq!(plan(64 << 20, SOFTWARE_HASHES, None), Some((1, 512)));
        // 64 MiB for a hardware GPU: the largest gap, 16384 hashes.
        assert_eq!(plan(64 << 20, MAX_HASHES, None), Some((32, 16384)));
        // Not even one workgroup at gap 32 (64 x 4 KiB).
        assert_eq!(plan(100_000, MAX_HASHES, None), None);
    }

    #[test]
    fn a_gap_asked_for_is_kept_and_the_hashes_fit_it() {
        // 4 GiB at gap 1: 32768 hashes (128 KiB each), not gap 8's 2^18.
        assert_eq!(plan(4 << 30, MAX_HASHES, Some(1)), Some((1, 32768)));
        // A larger gap than needed is kept: no more than the hashes wanted.
        assert_eq!(plan(32 << 30, MAX_HASHES, Some(4)), Some((4, MAX_HASHES)));
        // Gap 3 (not a power of two): 342 entries of 128 bytes a hash.
        assert_eq!(plan(64 << 20, SOFTWARE_HASHES, Some(3)), Some((3, 512)));
        // 8 MiB at gap 1 holds exactly one workgroup; just under it, none.
        assert_eq!(plan(8 << 20, MAX_HASHES, Some(1)), Some((1, 64)));
        assert_eq!(plan((8 << 20) - 1, MAX_HASHES, Some(1)), None);
    }

    #[test]
    fn scratch_sizes() {
        assert_eq!(scratch_bytes(1, 1), 128 * 1024);
        assert_eq!(scratch_bytes(64, 2), 64 * 64 * 1024);
        assert_eq!(scratch_bytes(1, 3), 342 * 128);
    }
}
