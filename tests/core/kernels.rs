//! Every CPU kernel against the reference (`sha2`): real mainnet headers, random headers, edge
//! nonces, ranges across lane and thread boundaries, and targets on both sides of a hash.

use crate::common;

use std::collections::BTreeSet;

use hashrig::algo::sha256d::{digest_h7, reference_digest, Prepared};
use hashrig::backend::cpu::{CpuBackend, Hit, Kernel};
use hashrig::chain::{hash_meets, CompactTarget, Header, Target};
use hashrig::job::{Generation, Job, NonceRange, NONCE_SPACE};
use rand::{Rng, RngCore, SeedableRng};

fn random_header(rng: &mut impl RngCore) -> Header {
    let mut bytes = [0u8; 80];
    rng.fill_bytes(&mut bytes);
    Header::from_bytes(bytes)
}

/// The reference hit set: nonces in `range` whose sha2 hash meets `target`.
fn reference_hits(header: &Header, range: NonceRange, target: &Target) -> BTreeSet<u32> {
    (range.start()..range.end())
        .map(|n| n as u32)
        .filter(|&n| hash_meets(&reference_digest(header.with_nonce(n).as_bytes()), target))
        .collect()
}

/// A target whose top word is `top` and whose other bits are all ones.
fn target_with_top(top: u32) -> Target {
    let mut le = [0xffu8; 32];
    le[28..].copy_from_slice(&top.to_le_bytes());
    Target::from_le_bytes(le)
}

fn job(header: Header, target: Target) -> Job {
    Job::new("test", header, target, NonceRange::FULL, 0)
}

fn golden_headers_hash_to_their_block_hash() -> common::Outcome {
    for g in common::golden() {
        let header = g.header();
        let digest = reference_digest(header.as_bytes());
        assert_eq!(
            digest,
            common::digest_from_display(&g.block_hash),
            "{}",
            g.block
        );
        assert_eq!(header.nonce(), g.nonce, "{}", g.block);
        assert_eq!(i64::from(header.version()), g.version, "{}", g.block);
        assert_eq!(
            format!("{:08x}", header.bits().to_consensus()),
            g.bits,
            "{}",
            g.block
        );
        if g.pow_algo == "sha256d" {
            // Our target check agrees with the bitcoin crate's, both ways.
            let target = Target::from_compact(header.bits());
            assert!(hash_meets(&digest, &target), "{}", g.block);
            let b = header.to_bitcoin();
            assert_eq!(
                b.validate_pow(target).map(|h| h.to_string()).ok(),
                Some(g.block_hash.clone())
            );
            let harder = Target::from_compact(CompactTarget::from_consensus(0x0300_0001));
            assert!(!hash_meets(&digest, &harder));
            assert!(b.validate_pow(harder).is_err());
        }
    }
    Ok(())
}

fn every_kernel_finds_the_known_nonce_of_golden_headers(kernel: Kernel) {
    let kernels = [kernel];
    for g in common::golden().iter().filter(|g| g.pow_algo == "sha256d") {
        let header = g.header();
        let target = Target::from_compact(header.bits());
        let job = job(header, target);
        // A range around the known nonce that is not aligned to any lane count.
        let range = NonceRange::new(
            u64::from(g.nonce).saturating_sub(3001),
            (u64::from(g.nonce) + 2999).min(NONCE_SPACE),
        )
        .unwrap();
        for kernel in &kernels {
            for threads in [1, 2] {
                let backend = CpuBackend::new(*kernel, threads).unwrap();
                let report = backend.scan(&job, range, &Generation::new());
                assert_eq!(report.hashes, range.len());
                assert_eq!(report.hw_errors, 0);
                let found: Vec<_> = report.candidates.iter().map(|c| c.nonce).collect();
                assert_eq!(found, vec![g.nonce], "{} with {}", g.block, kernel.name());
                assert_eq!(
                    report.candidates[0].digest,
                    common::digest_from_display(&g.block_hash),
                    "{} with {}",
                    g.block,
                    kernel.name()
                );
            }
        }
    }
}

/// Each kernel's H7 for every nonce of a range equals the reference's (target top word
/// `u32::MAX` makes every nonce a hit, so the kernel reports every H7).
fn check_h7(kernel: &Kernel, header: &Header, range: NonceRange) {
    let p = Prepared::new(header);
    let mut hits: Vec<Hit> = Vec::new();
    kernel.scan(&p, range, u32::MAX, &mut hits);
    let nonces: Vec<u64> = hits.iter().map(|h| u64::from(h.nonce)).collect();
    let expected: Vec<u64> = (range.start()..range.end()).collect();
    assert_eq!(
        nonces,
        expected,
        "{} reports each nonce once, in order",
        kernel.name()
    );
    for hit in hits {
        let reference = reference_digest(header.with_nonce(hit.nonce).as_bytes());
        assert_eq!(
            hit.h7,
            digest_h7(&reference),
            "{}: header {header} nonce {:#x}",
            kernel.name(),
            hit.nonce
        );
    }
}

fn every_kernel_matches_sha2_on_random_headers(kernel: Kernel) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_0001);
    {
        for _ in 0..2000 {
            let header = random_header(&mut rng);
            let start = rng.gen_range(0..NONCE_SPACE - 64);
            let len = rng.gen_range(1..=40);
            check_h7(
                &kernel,
                &header,
                NonceRange::new(start, start + len).unwrap(),
            );
        }
    }
}

fn every_kernel_matches_sha2_at_edge_nonces(kernel: Kernel) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_0002);
    {
        for _ in 0..50 {
            let header = random_header(&mut rng);
            check_h7(&kernel, &header, NonceRange::new(0, 37).unwrap());
            check_h7(
                &kernel,
                &header,
                NonceRange::new(NONCE_SPACE - 37, NONCE_SPACE).unwrap(),
            );
            check_h7(
                &kernel,
                &header,
                NonceRange::new(NONCE_SPACE - 1, NONCE_SPACE).unwrap(),
            );
            check_h7(&kernel, &header, NonceRange::new(0, 1).unwrap());
            check_h7(&kernel, &header, NonceRange::new(5, 5).unwrap());
        }
    }
}

fn targets_on_both_sides_of_a_hash(kernel: Kernel) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_0003);
    {
        let backend = CpuBackend::new(kernel, 2).unwrap();
        for _ in 0..40 {
            let header = random_header(&mut rng);
            let nonce: u32 = rng.gen();
            let digest = reference_digest(header.with_nonce(nonce).as_bytes());
            let range = NonceRange::from_start(nonce, 1);

            // Target equal to the hash: a hit (equal counts).
            let equal = Target::from_le_bytes(digest);
            let report = backend.scan(&job(header, equal), range, &Generation::new());
            assert_eq!(
                report.candidates.len(),
                1,
                "{}: equal target is a hit",
                kernel.name()
            );
            assert_eq!(report.candidates[0].digest, digest);

            // One below the hash: no hit.
            let mut below = digest;
            let mut i = 0;
            loop {
                let (v, borrow) = below[i].overflowing_sub(1);
                below[i] = v;
                if !borrow {
                    break;
                }
                i += 1;
            }
            let report = backend.scan(
                &job(header, Target::from_le_bytes(below)),
                range,
                &Generation::new(),
            );
            assert!(
                report.candidates.is_empty(),
                "{}: target one below the hash",
                kernel.name()
            );
            assert_eq!(report.hw_errors, 0);
        }
    }
}

fn hit_sets_equal_the_reference_across_lane_and_thread_boundaries(kernel: Kernel) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_0004);
    {
        for threads in [1, 2, 3] {
            let backend = CpuBackend::new(kernel, threads).unwrap();
            let header = random_header(&mut rng);
            // About 1 in 64 nonces is a hit: many hits, in every lane position.
            let target = target_with_top(0x03ff_ffff);
            let start = rng.gen_range(0..1000u64) * 7 + 5;
            // Several work pieces (16384 or 4096 nonces) plus a ragged end.
            let range = NonceRange::new(start, start + 3 * 16384 + 37).unwrap();
            let report = backend.scan(&job(header, target), range, &Generation::new());
            assert_eq!(report.hashes, range.len());
            let found: BTreeSet<u32> = report.candidates.iter().map(|c| c.nonce).collect();
            assert_eq!(
                found.len(),
                report.candidates.len(),
                "no nonce reported twice"
            );
            assert_eq!(
                found,
                reference_hits(&header, range, &target),
                "{} x{threads}",
                kernel.name()
            );
        }
        // The same at the end of the nonce space.
        let backend = CpuBackend::new(kernel, 2).unwrap();
        let header = random_header(&mut rng);
        let target = target_with_top(0x03ff_ffff);
        let range = NonceRange::new(NONCE_SPACE - 20_001, NONCE_SPACE).unwrap();
        let report = backend.scan(&job(header, target), range, &Generation::new());
        let found: BTreeSet<u32> = report.candidates.iter().map(|c| c.nonce).collect();
        assert_eq!(
            found,
            reference_hits(&header, range, &target),
            "{} at the top",
            kernel.name()
        );
    }
}

fn top_word_ties_are_decided_by_the_full_compare(kernel: Kernel) {
    // Targets whose top word equals the hash's top word, with the rest above or below.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_0005);
    {
        let backend = CpuBackend::new(kernel, 1).unwrap();
        for _ in 0..20 {
            let header = random_header(&mut rng);
            let nonce: u32 = rng.gen();
            let digest = reference_digest(header.with_nonce(nonce).as_bytes());
            let mut above = digest;
            above[..28].fill(0xff);
            let mut below = digest;
            below[..28].fill(0x00);
            let range = NonceRange::from_start(nonce, 1);
            let hit = backend.scan(
                &job(header, Target::from_le_bytes(above)),
                range,
                &Generation::new(),
            );
            assert_eq!(hit.candidates.len(), 1);
            let miss = backend.scan(
                &job(header, Target::from_le_bytes(below)),
                range,
                &Generation::new(),
            );
            // `below` is under the hash unless the hash's low 28 bytes are all zero.
            assert!(miss.candidates.is_empty() || digest[..28].iter().all(|&b| b == 0));
        }
    }
}

crate::tests!(golden_headers_hash_to_their_block_hash; every_kernel_finds_the_known_nonce_of_golden_headers, every_kernel_matches_sha2_on_random_headers, every_kernel_matches_sha2_at_edge_nonces, targets_on_both_sides_of_a_hash, hit_sets_equal_the_reference_across_lane_and_thread_boundaries, top_word_ties_are_decided_by_the_full_compare);
