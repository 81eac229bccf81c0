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

criterion_group!(benches, sha256d);
criterion_main!(benches);
