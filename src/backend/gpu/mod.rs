//! GPU backend: the WGSL SHA-256d search shader run through wgpu (Vulkan, Metal, DX12).
//!
//! One [`GpuDevice`] per adapter. A scan splits its nonce range into dispatches on a 2-D grid,
//! reads back the hit list after each, rescans a dispatch on the CPU when its result buffer
//! overflowed, and checks for a stale job between dispatches. Every hit is run through the same
//! full check as the CPU's and reported as an unverified [`Candidate`](crate::verify::Candidate).
//!
//! Here: the device, its settings and how its failures are told. `open` (adapters opened and
//! self-tested), `search` (the SHA-256d search with its dispatches in flight), `dispatch`
//! (one-shot dispatches and shader compiling, shared with `scrypt`), `scrypt`, `shader` (the
//! generated SHA-256d WGSL), `adapters`, `error`.

mod adapters;
mod dispatch;
mod error;
mod open;
pub mod scrypt;
mod search;
mod shader;

pub use adapters::{devices, select, DeviceInfo};

pub use shader::{sha256d_digests_wgsl, sha256d_wgsl, Rotate, ShaderOptions, WORKGROUP_SIZES};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dispatch::{compile, compile_entry, digests_from_words, Dispatch};
pub use error::{GpuError, HitMismatch, ScanFailure};
use search::Slot;

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

    /// Target duration of one dispatch.
    pub fn kernel_time(&self) -> Duration {
        self.kernel_time
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
