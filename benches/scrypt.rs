//! scrypt(1024, 1, 1) of a header, one thread: the RustCrypto `scrypt` crate (the baseline and
//! reference) and hashrig's kernels, in one group so the report reads as ratios measured side
//! by side; and the two PBKDF2-SHA256 steps alone (no ROMix), what a kernel spends outside the
//! memory-hard part.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hashrig::algo::scrypt::{finish, reference, start, Prepared};
use hashrig::backend::cpu::scrypt::{ScryptKernel, ScryptWorker};

const HASHES: u32 = 64;

fn scrypt(c: &mut Criterion) {
    let mut header = [0u8; 80];
    for (i, b) in header.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(11);
    }
    let mut group = c.benchmark_group("scrypt");
    group.throughput(Throughput::Elements(u64::from(HASHES)));
    group.sample_size(20);

    group.bench_function(BenchmarkId::new("baseline", "scrypt-crate"), |b| {
        let mut h = header;
        b.iter(|| {
            for nonce in 0..HASHES {
                h[76..].copy_from_slice(&nonce.to_le_bytes());
                black_box(reference(black_box(&h)));
            }
        })
    });

    let p = Prepared::new(&header);
    group.bench_function(BenchmarkId::new("part", "pbkdf2-only"), |b| {
        b.iter(|| {
            for nonce in 0..HASHES {
                let (key, x) = start(&p, black_box(nonce));
                black_box(finish(&key, black_box(&x)));
            }
        })
    });
    for kernel in ScryptKernel::supported() {
        let mut worker = ScryptWorker::new(kernel).expect("supported");
        let batches = HASHES / kernel.lanes() as u32;
        group.bench_function(BenchmarkId::new("kernel", kernel.name()), |b| {
            b.iter(|| {
                for i in 0..batches {
                    black_box(worker.hashes(&p, i * kernel.lanes() as u32));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, scrypt);
criterion_main!(benches);
