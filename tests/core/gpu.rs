//! The WGSL kernel on a real adapter (lavapipe, the software Vulkan device, in CI): known
//! nonces, hit sets equal to the CPU's, digests equal to sha2's, overflow rescans, cancellation.
//! Skipped (or failed, with HASHRIG_REQUIRE_ALL) where no adapter exists.

use crate::common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hashrig::algo::sha256d::reference_digest;
use hashrig::backend::cpu::{CpuBackend, Kernel};
use hashrig::backend::gpu::GpuDevice;
use hashrig::chain::{Header, Target};
use hashrig::job::{Generation, Job, NonceRange, NONCE_SPACE};
use rand::{RngCore, SeedableRng};

/// The first adapter; a skip when there is none, a failure when one exists but does not open
/// or fails its self-test.
fn gpu() -> Result<GpuDevice, common::Skip> {
    common::gpu_adapter()?;
    Ok(GpuDevice::open_all(None)
        .expect("the adapter opened a moment ago")
        .remove(0))
}

fn easy_target(top: u32) -> Target {
    let mut le = [0xffu8; 32];
    le[28..].copy_from_slice(&top.to_le_bytes());
    Target::from_le_bytes(le)
}

fn job(header: Header, target: Target) -> Job {
    Job::new("gpu-test", header, target, NonceRange::FULL, 0)
}

fn nonces(report: &hashrig::backend::ScanReport) -> BTreeSet<u32> {
    report.candidates.iter().map(|c| c.nonce).collect()
}

/// Every candidate's digest is sha2's for its nonce.
fn assert_candidate_digests(header: &Header, report: &hashrig::backend::ScanReport) {
    for c in &report.candidates {
        let reference = reference_digest(header.with_nonce(c.nonce).as_bytes());
        assert_eq!(c.digest, reference, "header {header} nonce {:#x}", c.nonce);
    }
}

/// The GPU's digest of every nonce of `range` is sha2's.
fn assert_gpu_digests(gpu: &GpuDevice, header: &Header, range: NonceRange, context: &str) {
    let digests = gpu.digests(header, range).unwrap();
    assert_eq!(digests.len() as u64, range.len());
    for (n, d) in (range.start()..range.end()).zip(digests) {
        let reference = reference_digest(header.with_nonce(n as u32).as_bytes());
        assert_eq!(d, reference, "{context} header {header} nonce {n:#x}");
    }
}

fn gpu_finds_the_known_nonce_of_golden_headers() -> common::Outcome {
    let gpu = gpu()?;
    for g in common::golden().iter().filter(|g| g.pow_algo == "sha256d") {
        let header = g.header();
        let target = Target::from_compact(header.bits());
        let range = NonceRange::new(
            u64::from(g.nonce).saturating_sub(70_001),
            (u64::from(g.nonce) + 70_000).min(NONCE_SPACE),
        )
        .unwrap();
        let report = gpu
            .scan(&job(header, target), range, &Generation::new())
            .unwrap();
        assert_eq!(report.hashes, range.len());
        assert_eq!(report.hw_errors, 0);
        assert_eq!(nonces(&report), BTreeSet::from([g.nonce]), "{}", g.block);
        assert_eq!(
            report.candidates[0].digest,
            common::digest_from_display(&g.block_hash)
        );
    }
    Ok(())
}

fn gpu_hit_set_equals_the_cpu_over_2_20_nonces() -> common::Outcome {
    let mut gpu = gpu()?;
    gpu.set_batch(1 << 18); // several dispatches per range
    let cpu = CpuBackend::new(Kernel::best(), 2).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6e0_0001);
    let ranges = [
        NonceRange::new(0, 1 << 20).unwrap(),
        NonceRange::new(NONCE_SPACE - (1 << 20), NONCE_SPACE).unwrap(),
        NonceRange::new(123_457, 123_457 + (1 << 20) + 3).unwrap(),
    ];
    for range in ranges {
        let mut bytes = [0u8; 80];
        rng.fill_bytes(&mut bytes);
        let header = Header::from_bytes(bytes);
        // About 1 in 4096 nonces: ~256 hits per range, under the result capacity.
        let job = job(header, easy_target(0x000f_ffff));
        let g = gpu.scan(&job, range, &Generation::new()).unwrap();
        let c = cpu.scan(&job, range, &Generation::new());
        assert_eq!(g.hashes, range.len());
        assert_eq!(g.hw_errors, 0);
        assert!(!c.candidates.is_empty());
        assert_eq!(nonces(&g), nonces(&c), "range {range:?}");
        assert_candidate_digests(&header, &g);
    }
    Ok(())
}

fn result_buffer_overflow_is_rescanned_and_loses_nothing() -> common::Outcome {
    let mut gpu = gpu()?;
    gpu.limit_capacity(4);
    let header = common::golden()[2].header();
    // Half of all nonces hit: even the smallest dispatch (one workgroup) holds far more
    // than 4.
    let job = job(header, easy_target(0x7fff_ffff));
    let range = NonceRange::new(1000, 1000 + 20_000).unwrap();
    let g = gpu.scan(&job, range, &Generation::new()).unwrap();
    let c = CpuBackend::new(Kernel::best(), 1)
        .unwrap()
        .scan(&job, range, &Generation::new());
    assert!(c.candidates.len() > 100);
    assert_eq!(nonces(&g), nonces(&c));
    assert_eq!(g.rescanned, range.len(), "every dispatch overflowed");
    assert_eq!(g.hashes, range.len(), "rescanned nonces are counted once");
    Ok(())
}

fn a_stale_job_stops_between_dispatches() -> common::Outcome {
    let mut gpu = gpu()?;
    gpu.set_batch(1 << 16);
    gpu.set_kernel_time(Duration::from_millis(50));
    let generation = Generation::new();
    let header = common::golden()[0].header();
    let job = Job::new(
        "stale",
        header,
        easy_target(0),
        NonceRange::FULL,
        generation.current(),
    );
    generation.bump();
    let report = gpu.scan(&job, NonceRange::FULL, &generation).unwrap();
    assert!(report.stale);
    assert_eq!(report.hashes, 0);

    // Bumped while running: no new dispatch starts; the ones in flight finish.
    let generation = Generation::new();
    let job = Job::new(
        "stale",
        header,
        easy_target(0),
        NonceRange::FULL,
        generation.current(),
    );
    let (report, latency) = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let r = gpu.scan(&job, NonceRange::FULL, &generation).unwrap();
            (r, Instant::now())
        });
        std::thread::sleep(Duration::from_millis(300));
        let bumped = Instant::now();
        generation.bump();
        let (r, done) = h.join().unwrap();
        (r, done.duration_since(bumped))
    });
    assert!(report.stale);
    assert!(report.hashes < NONCE_SPACE);
    // At most the dispatches in flight (IN_FLIGHT x the 50 ms target) plus slack; the whole
    // range would take minutes.
    eprintln!("GPU stop latency {latency:?}, batch {}", gpu.batch());
    assert!(
        latency < Duration::from_millis(1500),
        "stop latency {latency:?}"
    );
    Ok(())
}

fn gpu_digests_of_sampled_nonces_equal_sha2() -> common::Outcome {
    let gpu = gpu()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6e0_0002);
    let golden = common::golden();
    let mut headers: Vec<Header> = golden.iter().map(|g| g.header()).collect();
    for _ in 0..4 {
        let mut bytes = [0u8; 80];
        rng.fill_bytes(&mut bytes);
        headers.push(Header::from_bytes(bytes));
    }
    for header in headers {
        for range in [
            NonceRange::new(0, 4096).unwrap(),
            NonceRange::new(NONCE_SPACE - 4096, NONCE_SPACE).unwrap(),
            NonceRange::from_start(header.nonce().saturating_sub(100), 1000),
        ] {
            assert_gpu_digests(&gpu, &header, range, "");
        }
    }
    Ok(())
}

/// The WGSL scrypt kernel on the adapter: its hashes equal the `scrypt` crate's around
/// Litecoin's genesis nonce (whose hash meets its own bits), on a random header at the top of
/// the nonce space, and with lookup gaps 1, 2 and 3 (entries recomputed on read).
fn gpu_scrypt_digests_equal_the_scrypt_crate() -> common::Outcome {
    use hashrig::algo::scrypt::reference;
    let gpu = gpu()?;
    let genesis = common::golden()
        .into_iter()
        .find(|g| g.pow_algo == "scrypt")
        .expect("a scrypt header");
    let mut random = [0u8; 80];
    rand::rngs::StdRng::seed_from_u64(0x5c_0001).fill_bytes(&mut random);
    let cases = [
        (
            genesis.header(),
            NonceRange::from_start(genesis.nonce - 8, 16),
            1,
        ),
        (
            Header::from_bytes(random),
            NonceRange::new(NONCE_SPACE - 12, NONCE_SPACE).unwrap(),
            2,
        ),
        (
            Header::from_bytes(random),
            NonceRange::new(0, 8).unwrap(),
            3,
        ),
    ];
    for (header, range, gap) in cases {
        let digests = gpu.scrypt_digests(&header, range, gap).unwrap();
        assert_eq!(digests.len() as u64, range.len());
        for (n, d) in (range.start()..range.end()).zip(digests) {
            let expected = reference(header.with_nonce(n as u32).as_bytes());
            assert_eq!(d, expected, "gap {gap} header {header} nonce {n:#x}");
        }
    }
    // Litecoin's genesis nonce: the GPU's hash is its known proof of work.
    let d = gpu
        .scrypt_digests(
            &genesis.header(),
            NonceRange::from_start(genesis.nonce, 1),
            1,
        )
        .unwrap();
    assert_eq!(d[0], common::digest_from_display(&genesis.pow_hash));
    Ok(())
}

/// Mining scrypt on the adapter: set up for scrypt (scratchpad, pipeline, the self-test on
/// Litecoin's genesis), a scan finds exactly the nonces the `scrypt` crate says meet an easy
/// target, each candidate carrying the crate's hash, across dispatches and at the top of the
/// nonce space, at the planned lookup gap and at gaps asked for (`--lookup-gap`); a stale job
/// stops.
fn gpu_scrypt_search_finds_what_the_crate_finds() -> common::Outcome {
    use hashrig::algo::Algo;
    let mut gpu = gpu()?;
    gpu.set_algo(Algo::Scrypt).unwrap();
    assert_eq!(gpu.algo(), Algo::Scrypt);
    let planned = gpu.scrypt_gap().unwrap();
    let mut bytes = [0u8; 80];
    rand::rngs::StdRng::seed_from_u64(0x5c_0002).fill_bytes(&mut bytes);
    let header = Header::from_bytes(bytes);
    // About one hash in eight.
    let target = easy_target(0x1fff_ffff);
    let job = Job::new("scrypt", header, target, NonceRange::FULL, 0).with_algo(Algo::Scrypt);
    let cases = [
        (None, NonceRange::new(1000, 1000 + 150).unwrap()),
        (
            None,
            NonceRange::new(NONCE_SPACE - 70, NONCE_SPACE).unwrap(),
        ),
        (Some(3), NonceRange::new(5000, 5000 + 130).unwrap()),
        (
            Some(32),
            NonceRange::new(NONCE_SPACE - 90, NONCE_SPACE).unwrap(),
        ),
    ];
    for (gap, range) in cases {
        gpu.set_lookup_gap(gap).unwrap();
        assert_eq!(gpu.scrypt_gap(), Some(gap.unwrap_or(planned)));
        let report = gpu.scan(&job, range, &Generation::new()).unwrap();
        assert_eq!(report.hashes, range.len());
        assert_eq!(report.hw_errors, 0);
        let expected: BTreeSet<u32> = (range.start()..range.end())
            .map(|n| n as u32)
            .filter(|&n| {
                hashrig::chain::hash_meets(
                    &Algo::Scrypt.reference_pow(header.with_nonce(n).as_bytes()),
                    &target,
                )
            })
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(nonces(&report), expected, "gap {gap:?} {range:?}");
        for c in &report.candidates {
            assert_eq!(
                c.digest,
                Algo::Scrypt.reference_pow(header.with_nonce(c.nonce).as_bytes())
            );
        }
    }
    // Out of range gaps are refused and change nothing.
    assert!(gpu.set_lookup_gap(Some(0)).is_err());
    assert!(gpu.set_lookup_gap(Some(33)).is_err());
    assert_eq!(gpu.scrypt_gap(), Some(32));
    // The gap sweep measures every gap that fits and leaves the device at the gap it had.
    gpu.set_lookup_gap(Some(3)).unwrap();
    let rows = hashrig::bench::sweep_gpu_scrypt(&mut gpu, 0.05, &mut |_, _| {}).unwrap();
    let gaps: Vec<u32> = rows.iter().map(|r| r.gap).collect();
    assert_eq!(gaps, hashrig::backend::gpu::scrypt::GAPS);
    assert!(rows.iter().all(|r| r.hashrate > 0.0), "{rows:?}");
    assert_eq!((gpu.lookup_gap(), gpu.scrypt_gap()), (Some(3), Some(3)));
    // A job already stale hashes nothing.
    let generation = Generation::new();
    generation.bump();
    let report = gpu
        .scan(&job, NonceRange::new(0, 1 << 20).unwrap(), &generation)
        .unwrap();
    assert!(report.stale && report.hashes == 0, "{report:?}");
    Ok(())
}

fn a_lost_device_stops_with_a_clear_error_and_keeps_its_hits() -> common::Outcome {
    let mut gpu = gpu()?;
    gpu.set_batch(1 << 16);
    gpu.set_kernel_time(Duration::ZERO);
    let header = common::golden()[1].header();
    // About 1 in 4096 nonces: some hits in every dispatch.
    let job = job(header, easy_target(0x000f_ffff));
    let failure = std::thread::scope(|s| {
        let h = s.spawn(|| gpu.scan(&job, NonceRange::FULL, &Generation::new()));
        std::thread::sleep(Duration::from_millis(500));
        gpu.lose();
        h.join().unwrap()
    })
    .expect_err("a lost device cannot finish 2^32 nonces");
    let message = failure.error.to_string();
    eprintln!("error: {message}");
    assert!(message.contains(&gpu.info().name), "{message}");
    assert!(message.to_lowercase().contains("lost"), "{message}");
    // What was found before the loss is kept, and it is exact.
    let found = failure.found;
    assert!(found.hashes > 0 && found.hashes < NONCE_SPACE);
    assert!(!found.candidates.is_empty());
    assert_candidate_digests(&header, &found);
    // Scanning again on a lost device is an error, not a panic or a hang.
    let again = gpu.scan(
        &job,
        NonceRange::new(0, 1 << 16).unwrap(),
        &Generation::new(),
    );
    assert!(again.is_err());
    // Nor is new work that creates resources (wgpu's default would panic on those errors).
    let digests = gpu.digests(&header, NonceRange::new(0, 64).unwrap());
    assert!(digests.is_err(), "{digests:?}");
    Ok(())
}

/// Every way the shader can be built (`--gpu-workgroup`, `--gpu-rotate`) computes the same
/// digests as sha2 and finds the same hits as the CPU.
fn every_shader_option_computes_the_same_hashes() -> common::Outcome {
    use hashrig::backend::gpu::{Rotate, ShaderOptions, WORKGROUP_SIZES};
    gpu()?;
    let mut options: Vec<ShaderOptions> = Rotate::ALL
        .into_iter()
        .map(|rotate| ShaderOptions {
            rotate,
            ..Default::default()
        })
        .collect();
    options.extend(
        WORKGROUP_SIZES
            .into_iter()
            .map(|workgroup_size| ShaderOptions {
                workgroup_size,
                ..Default::default()
            }),
    );
    options.dedup();
    let cpu = CpuBackend::new(Kernel::best(), 2).unwrap();
    let header = common::golden()[3].header();
    let job = job(header, easy_target(0x000f_ffff));
    // Not a multiple of any workgroup size: the last group is partly outside the range.
    let range = NonceRange::new(NONCE_SPACE - 200_003, NONCE_SPACE).unwrap();
    let expected = nonces(&cpu.scan(&job, range, &Generation::new()));
    assert!(!expected.is_empty());
    for o in options {
        let mut gpu = GpuDevice::open_all_with(None, o).unwrap().remove(0);
        assert_eq!(gpu.options(), o);
        gpu.set_batch(1 << 16);
        gpu.set_kernel_time(Duration::ZERO);
        let found = gpu.scan(&job, range, &Generation::new()).unwrap();
        assert_eq!(found.hashes, range.len(), "{o}");
        assert_eq!(nonces(&found), expected, "{o}");
        assert_gpu_digests(
            &gpu,
            &header,
            NonceRange::new(0, 1000).unwrap(),
            &o.to_string(),
        );
    }
    Ok(())
}

/// Easy targets (regtest's, small test shares) are dispatched in pieces whose expected hits fit
/// the result buffer, so the GPU does the work instead of overflowing into CPU rescans.
fn easy_targets_do_not_overflow_into_cpu_rescans() -> common::Outcome {
    let mut gpu = gpu()?;
    let cpu = CpuBackend::new(Kernel::best(), 2).unwrap();
    let header = common::golden()[4].header();
    gpu.set_kernel_time(Duration::ZERO);
    // regtest: half of all nonces hit; 1 in 4096.
    for (top, len) in [(0x7fff_ffffu32, 1u64 << 16), (0x000f_ffff, 1 << 23)] {
        gpu.set_batch(len);
        let job = job(header, easy_target(top));
        let range = NonceRange::new(5, 5 + len).unwrap();
        let g = gpu.scan(&job, range, &Generation::new()).unwrap();
        let c = cpu.scan(&job, range, &Generation::new());
        assert_eq!(g.hashes, len);
        assert_eq!(g.rescanned, 0, "target top {top:#x}");
        assert_eq!(nonces(&g), nonces(&c), "target top {top:#x}");
    }
    Ok(())
}

crate::tests!(
    gpu_finds_the_known_nonce_of_golden_headers,
    gpu_hit_set_equals_the_cpu_over_2_20_nonces,
    result_buffer_overflow_is_rescanned_and_loses_nothing,
    a_stale_job_stops_between_dispatches,
    gpu_digests_of_sampled_nonces_equal_sha2,
    gpu_scrypt_digests_equal_the_scrypt_crate,
    gpu_scrypt_search_finds_what_the_crate_finds,
    a_lost_device_stops_with_a_clear_error_and_keeps_its_hits,
    every_shader_option_computes_the_same_hashes,
    easy_targets_do_not_overflow_into_cpu_rescans
);
