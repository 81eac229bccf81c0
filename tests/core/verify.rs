//! Verification: the reference re-hash accepts true candidates and counts everything else as a
//! hardware error.

use crate::common;

use hashrig::algo::sha256d::reference_digest;
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
        .verify(&header.with_nonce(0), &target, candidate)
        .unwrap();
    assert_eq!(share.header, header);
    assert_eq!(share.hash_hex(), g.block_hash);
    assert_eq!((verifier.shares(), verifier.hw_errors()), (1, 0));
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
    a_corrupted_candidate_is_rejected_and_counted
);
