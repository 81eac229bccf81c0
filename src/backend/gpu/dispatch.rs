//! One-shot dispatches (self-tests, digest checks, the scrypt search) and shader compiling.

use std::sync::mpsc;
use std::time::Duration;

use super::{grid, shader, GpuDevice, GpuError};

impl GpuDevice {
    /// Runs `groups` workgroups of `d.pipeline` once, waits for them (at most `timeout`) and
    /// returns the first `words` words of `d.results`: the one-shot path of self-tests, digest
    /// checks and the scrypt search (SHA-256d's search keeps its own pipelined slots).
    pub(super) fn dispatch_once(
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
pub(super) struct Dispatch<'a> {
    pub(super) pipeline: &'a wgpu::ComputePipeline,
    pub(super) bind_group: &'a wgpu::BindGroup,
    pub(super) results: &'a wgpu::Buffer,
    pub(super) readback: &'a wgpu::Buffer,
}

/// 32-byte hashes from the words a digests shader wrote (8 a hash, each stored byte-swapped,
/// as compared): back to the reference's byte order.
pub(super) fn digests_from_words(words: &[u32]) -> Vec<[u8; 32]> {
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
pub(super) fn compile(
    device: &wgpu::Device,
    source: &str,
    label: &str,
) -> Result<wgpu::ComputePipeline, wgpu::Error> {
    compile_entry(device, source, label, shader::ENTRY_POINT)
}

/// [`compile`] of the entry point `entry`.
pub(super) fn compile_entry(
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
