//! Opening adapters: the device with its failure callbacks, the SHA-256d pipeline and its
//! slots, then the known-answer self-test before any real work.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use super::adapters::{adapters, info};
use super::error::compare_hits;
use super::search::make_slot;
use super::{
    compile, select, sha256d_wgsl, DeviceInfo, GpuDevice, GpuError, ShaderOptions,
    DEFAULT_CAPACITY, DEFAULT_KERNEL_TIME, IN_FLIGHT,
};
use crate::algo::sha256d::reference_digest;
use crate::chain::{hash_meets, Header, Target, MAINNET_125552};
use crate::job::{Generation, Job, NonceRange};

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
}
