//! Verification: the reference re-hash accepts true candidates and counts everything else as a
//! hardware error.

use crate::common;

use hashrig::algo::sha256d::reference_digest;
use hashrig::algo::Algo;
use hashrig::chain::Target;
use hashrig::verify::{Candidate, HardwareError, Verifier};

fn a_true_candidate_becomes_a_share() -> common::Outcome {
    let g = &common::golden()[0];
    let header = g.header();
    let target = Target::from_compact(header.bits());
    let verifier = Verifier::new();
    let candidate = Candidate {
        nonce: g.nonce,
        digest: reference_digest(header.as_bytes()),
    };
    let share = verifier
        .verify(Algo::Sha256d, &header.with_nonce(0), &target, candidate)
        .unwrap();
    assert_eq!(share.header, header);
    assert_eq!(share.hash_hex(), g.block_hash);
    assert_eq!((verifier.shares(), verifier.hw_errors()), (1, 0));
    Ok(())
}

/// scrypt candidates are checked with the `scrypt` crate: Litecoin's genesis meets its bits by
/// its scrypt hash (the block id, SHA-256d, is far above them), and is refused as SHA-256d.
fn a_scrypt_candidate_is_checked_with_scrypt() -> common::Outcome {
    let g = common::golden()
        .into_iter()
        .find(|g| g.pow_algo == "scrypt")
        .expect("a scrypt header in the golden file");
    let header = g.header();
    let target = Target::from_compact(header.bits());
    let pow = common::digest_from_display(&g.pow_hash);
    let verifier = Verifier::new();
    let share = verifier
        .verify(
            Algo::Scrypt,
            &header,
            &target,
            Candidate {
                nonce: g.nonce,
                digest: pow,
            },
        )
        .unwrap();
    assert_eq!(share.pow_hex(), g.pow_hash);
    // The block is named by its SHA-256d id.
    assert_eq!(share.hash_hex(), g.block_hash);
    // As SHA-256d the same nonce is a wrong digest.
    let err = verifier
        .verify(
            Algo::Sha256d,
            &header,
            &target,
            Candidate {
                nonce: g.nonce,
                digest: pow,
            },
        )
        .unwrap_err();
    assert!(matches!(err, HardwareError::DigestMismatch { .. }));
    assert_eq!((verifier.shares(), verifier.hw_errors()), (1, 1));
    Ok(())
}

fn a_corrupted_candidate_is_rejected_and_counted() -> common::Outcome {
    let g = &common::golden()[0];
    let header = g.header();
    let target = Target::from_compact(header.bits());
    let verifier = Verifier::new();
    let good = reference_digest(header.as_bytes());

    let mut digest = good;
    digest[5] ^= 0x10;
    let err = verifier
        .verify(
            Algo::Sha256d,
            &header,
            &target,
            Candidate {
                nonce: g.nonce,
                digest,
            },
        )
        .unwrap_err();
    assert!(matches!(err, HardwareError::DigestMismatch { nonce, .. } if nonce == g.nonce));

    // Right digest for the wrong nonce.
    let err = verifier
        .verify(
            Algo::Sha256d,
            &header,
            &target,
            Candidate {
                nonce: g.nonce ^ 1,
                digest: good,
            },
        )
        .unwrap_err();
    assert!(matches!(err, HardwareError::DigestMismatch { .. }));

    // A true digest that does not meet the target.
    let other = header.with_nonce(7);
    let err = verifier
        .verify(
            Algo::Sha256d,
            &other,
            &target,
            Candidate {
                nonce: 7,
                digest: reference_digest(other.as_bytes()),
            },
        )
        .unwrap_err();
    assert!(matches!(err, HardwareError::AboveTarget { nonce: 7, .. }));
    assert!(err.to_string().contains("does not meet the target"));

    assert_eq!((verifier.shares(), verifier.hw_errors()), (0, 3));
    Ok(())
}

crate::tests!(
    a_true_candidate_becomes_a_share,
    a_scrypt_candidate_is_checked_with_scrypt,
    a_corrupted_candidate_is_rejected_and_counted
);
