//! scrypt(1024, 1, 1) of a header, one thread: the RustCrypto `scrypt` crate (the baseline and
//! reference) and hashrig's kernels, in one group so the report reads as ratios measured side
//! by side.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hashrig::algo::scrypt::{hash, reference, Prepared, Scratch};

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

    group.bench_function(BenchmarkId::new("kernel", "portable"), |b| {
        let p = Prepared::new(&header);
        let mut scratch = Scratch::default();
        b.iter(|| {
            for nonce in 0..HASHES {
                black_box(hash(&p, nonce, &mut scratch));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, scrypt);
criterion_main!(benches);
