//! Cancellation: a new job (generation bump) stops a running CPU scan within a few
//! milliseconds, and keeps what it found. In its own test binary so no other test loads the
//! CPU while it measures.

use crate::common;

use std::time::{Duration, Instant};

use hashrig::backend::cpu::{CpuBackend, Kernel, KernelKind};
use hashrig::chain::Target;
use hashrig::job::{Generation, Job, NonceRange, NONCE_SPACE};

fn a_generation_bump_stops_the_scan_within_milliseconds() -> common::Outcome {
    let header = common::golden()[1].header();
    let mut latencies = Vec::new();
    let mut kernels = vec![Kernel::new(KernelKind::Scalar).unwrap()];
    kernels.push(Kernel::best());
    for kernel in kernels {
        for _ in 0..5 {
            let backend = CpuBackend::new(kernel, 2).unwrap();
            let generation = Generation::new();
            // Easy target: hits all along, so the report has something to keep.
            let mut le = [0xffu8; 32];
            le[28..].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
            let job = Job::new(
                "c",
                header,
                Target::from_le_bytes(le),
                NonceRange::FULL,
                generation.current(),
            );
            let (stopped_at, report) = std::thread::scope(|s| {
                let scan = s.spawn(|| {
                    let report = backend.scan(&job, NonceRange::FULL, &generation);
                    (Instant::now(), report)
                });
                std::thread::sleep(Duration::from_millis(60));
                let bumped = Instant::now();
                generation.bump();
                let (done, report) = scan.join().unwrap();
                (done.duration_since(bumped), report)
            });
            assert!(report.stale, "scan reports that it was cut short");
            assert!(report.hashes > 0 && report.hashes < NONCE_SPACE);
            assert!(
                !report.candidates.is_empty(),
                "hits found before the bump are kept"
            );
            latencies.push(stopped_at);
        }
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    eprintln!(
        "cancellation latency: median {median:?}, max {:?}",
        latencies.last().unwrap()
    );
    assert!(
        median < Duration::from_millis(20),
        "median cancellation latency {median:?}"
    );
    assert!(*latencies.last().unwrap() < Duration::from_millis(500));
    Ok(())
}

crate::tests!(a_generation_bump_stops_the_scan_within_milliseconds);
