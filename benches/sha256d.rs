//! Per-kernel SHA-256d throughput (one thread), with the sha2 baseline in the same group so the
//! report reads as ratios measured side by side.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hashrig::algo::sha256d::reference_digest;
use hashrig::backend::cpu::Kernel;
use hashrig::bench::synthetic_job;
use hashrig::job::NonceRange;

const NONCES: u32 = 1 << 14;

fn sha256d(c: &mut Criterion) {
    let job = synthetic_job(0, 0);
    let mut group = c.benchmark_group("sha256d");
    group.throughput(Throughput::Elements(u64::from(NONCES)));

    group.bench_function(BenchmarkId::new("baseline", "sha2-plain"), |b| {
        let mut header = job.header;
        b.iter(|| {
            for nonce in 0..NONCES {
                header.set_nonce(nonce);
                black_box(reference_digest(black_box(header.as_bytes())));
            }
        })
    });

    for kernel in Kernel::supported() {
        let mut hits = Vec::new();
        let mut start = 0u32;
        group.bench_function(BenchmarkId::new("kernel", kernel.name()), |b| {
            b.iter(|| {
                hits.clear();
                let range = NonceRange::from_start(start, u64::from(NONCES));
                kernel.scan(job.prepared(), range, job.target_top_word(), &mut hits);
                start = start.wrapping_add(NONCES);
                black_box(&hits);
            })
        });
    }
    group.finish();
}

/// The WGSL kernel on the first GPU adapter (lavapipe here), 2^20 nonces per iteration.
#[cfg(feature = "gpu")]
fn sha256d_gpu(c: &mut Criterion) {
    use hashrig::backend::gpu::GpuDevice;
    use hashrig::job::Generation;
    let gpu = match GpuDevice::open_all(None) {
        Ok(mut gpus) => gpus.remove(0),
        Err(e) => {
            eprintln!("sha256d-gpu skipped: {e}");
            return;
        }
    };
    let job = synthetic_job(0, 0);
    let generation = Generation::new();
    let nonces: u64 = 1 << 20;
    let mut group = c.benchmark_group("sha256d-gpu");
    group.throughput(Throughput::Elements(nonces));
    group.sample_size(10);
    let mut start = 0u32;
    group.bench_function(BenchmarkId::new("wgsl", &gpu.info().name), |b| {
        b.iter(|| {
            let range = NonceRange::from_start(start, nonces);
            start = start.wrapping_add(nonces as u32);
            black_box(gpu.scan(&job, range, &generation).expect("GPU scan"));
        })
    });
    group.finish();
}

#[cfg(not(feature = "gpu"))]
fn sha256d_gpu(_c: &mut Criterion) {}

criterion_group!(benches, sha256d, sha256d_gpu);
criterion_main!(benches);
