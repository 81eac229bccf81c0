//! scrypt on the GPU (shaders/scrypt.wgsl): one hash per invocation, the scratchpad in one
//! storage buffer laid out so neighbouring invocations' accesses coalesce, an optional lookup
//! gap. This first slice computes hashes for checking against the `scrypt` crate
//! ([`GpuDevice::scrypt_digests`]); mining scrypt on a GPU is not wired in yet.

use std::sync::mpsc;
use std::time::Duration;

use bytemuck::{Pod, Zeroable};

use super::{compile_entry, grid, GpuDevice, GpuError};
use crate::algo::scrypt::N;
use crate::chain::{Header, Target};
use crate::job::NonceRange;

/// The WGSL source (fixed workgroup of 64).
pub const SCRYPT_WGSL: &str = include_str!("../../../shaders/scrypt.wgsl");

/// Invocations per workgroup in the shader.
const WORKGROUP: u64 = 64;

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

/// Bytes of scratchpad `hashes` invocations need with lookup gap `gap`.
pub fn scratch_bytes(hashes: u64, gap: u32) -> u64 {
    hashes * (N as u64).div_ceil(u64::from(gap.max(1))) * 128
}

impl GpuDevice {
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
        let results_size = 4 * (1 + 8 * range.len());
        let buffer = |label: &str, size: u64, usage: wgpu::BufferUsages| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        use wgpu::BufferUsages as U;
        let params = buffer(
            "scrypt params",
            std::mem::size_of::<ScryptParams>() as u64,
            U::UNIFORM | U::COPY_DST,
        );
        let results = buffer("scrypt results", results_size, U::STORAGE | U::COPY_SRC);
        let readback = buffer("scrypt readback", results_size, U::MAP_READ | U::COPY_DST);
        let scratch = buffer("scrypt scratchpad", scratch_size, U::STORAGE);
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
        let p = ScryptParams::new(header, &Target::MAX, range, 8 * range.len() as u32, gap);
        self.queue.write_buffer(&params, 0, bytemuck::bytes_of(&p));
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            let (cols, rows) = grid(range.len().div_ceil(WORKGROUP) as u32);
            pass.dispatch_workgroups(cols, rows, 1);
        }
        encoder.copy_buffer_to_buffer(&results, 0, &readback, 0, results_size);
        let index = self.queue.submit([encoder.finish()]);
        let (tx, rx) = mpsc::sync_channel(1);
        readback.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: Some(Duration::from_secs(300)),
            })
            .map_err(|e| self.device_error("waiting for the scrypt kernel", e))?;
        rx.recv()
            .map_err(|_| self.device_error("mapping results", "the mapping was dropped"))?
            .map_err(|e| self.device_error("mapping results", e))?;
        let view = readback
            .slice(..)
            .get_mapped_range()
            .map_err(|e| self.device_error("reading results", format!("{e:?}")))?;
        let words: &[u32] = bytemuck::cast_slice(&view);
        Ok(words[1..]
            .chunks_exact(8)
            .map(|w| {
                let mut d = [0u8; 32];
                for (k, word) in w.iter().enumerate() {
                    d[4 * k..4 * k + 4].copy_from_slice(&word.to_le_bytes());
                }
                d
            })
            .collect())
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
    fn scratch_sizes() {
        assert_eq!(scratch_bytes(1, 1), 128 * 1024);
        assert_eq!(scratch_bytes(64, 2), 64 * 64 * 1024);
        assert_eq!(scratch_bytes(1, 3), 342 * 128);
    }
}
