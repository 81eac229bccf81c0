//! The SHA-256d search: [`IN_FLIGHT`](super::IN_FLIGHT) dispatches queued per device, each with its own
//! buffers (a [`Slot`]), the batch tuned to the kernel time, overflowing dispatches rescanned on
//! the CPU and every hit checked on the host.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};

use super::{
    compile, digests_from_words, grid, sha256d_digests_wgsl, Dispatch, GpuDevice, GpuError,
    ScanFailure, MAX_BATCH, MIN_BATCH,
};
use crate::algo::sha256d::{digest_from_midstate, Prepared};
use crate::backend::cpu::Kernel;
use crate::backend::ScanReport;
use crate::chain::{hash_meets, Header};
use crate::job::{Generation, Job, NonceRange};
use crate::verify::Candidate;

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

/// Buffers of one in-flight dispatch.
pub(super) struct Slot {
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

impl GpuDevice {
    /// Most nonces one dispatch of `job` may cover so that its expected hits fill at most half
    /// the result buffer. Only very easy targets (regtest, tiny test shares) are capped: an
    /// overflow costs a CPU rescan of the whole dispatch.
    fn hit_cap(&self, job: &Job) -> u64 {
        // A nonce hits with probability at most (top word + 1) / 2^32.
        let top = u64::from(job.target_top_word()) + 1;
        let cap = (u64::from(self.capacity) / 2).max(1) * (1 << 32) / top;
        (cap / self.workgroup() * self.workgroup()).clamp(self.workgroup(), MAX_BATCH)
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

    /// Searches `range` of `job` with [`IN_FLIGHT`](super::IN_FLIGHT) dispatches queued so the host's readback
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
}

pub(super) fn make_slot(
    device: &wgpu::Device,
    pipeline: &wgpu::ComputePipeline,
    results_size: u64,
) -> Slot {
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
    use crate::backend::gpu::{sha256d_wgsl, ShaderOptions};

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
