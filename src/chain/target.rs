//! Proof-of-work targets: compact "bits" <-> 256-bit target, and "hash meets target".
//!
//! A hash meets a target when the digest, read as a *little-endian* 256-bit number, is less
//! than or equal to the target (equal counts). The most significant 32 bits of that number are
//! the last four digest bytes, which is what the kernels' early reject compares.

pub use bitcoin::pow::{CompactTarget, Target};
use bitcoin::{hashes::Hash, BlockHash};

/// True when the SHA-256d digest (internal byte order) meets `target`.
pub fn hash_meets(digest: &[u8; 32], target: &Target) -> bool {
    target.is_met_by(BlockHash::from_byte_array(*digest))
}

/// The most significant 32 bits of `target`. A hash whose top 32 bits are above this cannot
/// meet the target; at or below it, it may (equal top words need the full compare).
pub fn target_top_word(target: &Target) -> u32 {
    let le = target.to_le_bytes();
    u32::from_le_bytes(le[28..32].try_into().expect("4 bytes"))
}

/// The hash in the usual display order (byte-reversed digest), as hex.
pub fn display_hash(digest: &[u8; 32]) -> String {
    BlockHash::from_byte_array(*digest).to_string()
}

/// The share target for a pool difficulty: `0xffff * 2^208 / difficulty`, rounded down, at
/// most 2^256 - 1 (difficulty below ~2^-32). `None` for a difficulty that is not a finite
/// number above zero.
pub fn difficulty_target(difficulty: f64) -> Option<Target> {
    if !(difficulty.is_finite() && difficulty > 0.0) {
        return None;
    }
    // difficulty = m * 2^e with m an integer below 2^53.
    let bits = difficulty.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (m, e) = if exponent == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), exponent - 1075)
    };
    // target = 0xffff * 2^k / m, k = 208 - e.
    let k = 208 - e;
    if k + 16 - 53 >= 256 {
        return Some(Target::from_le_bytes([0xff; 32]));
    }
    // The numerator in 64-bit limbs, least significant first (k + 16 < 310 bits here).
    let mut numerator = [0u64; 6];
    if k >= 0 {
        let (limb, shift) = ((k / 64) as usize, (k % 64) as u32);
        let wide = (0xffffu128) << shift;
        numerator[limb] = wide as u64;
        if limb + 1 < numerator.len() {
            numerator[limb + 1] = (wide >> 64) as u64;
        }
    } else if -k < 16 {
        numerator[0] = 0xffff >> (-k);
    }
    // Long division by m, most significant limb first.
    let mut quotient = [0u64; 6];
    let mut rest: u128 = 0;
    for i in (0..numerator.len()).rev() {
        let part = (rest << 64) | numerator[i] as u128;
        quotient[i] = (part / m as u128) as u64;
        rest = part % m as u128;
    }
    if quotient[4] != 0 || quotient[5] != 0 {
        return Some(Target::from_le_bytes([0xff; 32]));
    }
    let mut le = [0u8; 32];
    for (i, limb) in quotient[..4].iter().enumerate() {
        le[i * 8..i * 8 + 8].copy_from_slice(&limb.to_le_bytes());
    }
    Some(Target::from_le_bytes(le))
}

/// The pool difficulty of `target` (difficulty 1 = `0xffff * 2^208`); infinite for a zero
/// target.
pub fn target_difficulty(target: &Target) -> f64 {
    let t = target
        .to_le_bytes()
        .iter()
        .rev()
        .fold(0f64, |acc, &b| acc * 256.0 + b as f64);
    if t == 0.0 {
        return f64::INFINITY;
    }
    65535.0 * 2f64.powi(208) / t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_word_of_difficulty_one_is_zero() {
        assert_eq!(target_top_word(&Target::MAX), 0);
        let regtest = Target::from_compact(CompactTarget::from_consensus(0x207f_ffff));
        assert_eq!(target_top_word(&regtest), 0x7fff_ff00);
    }

    #[test]
    fn equal_hash_meets_the_target() {
        let t = Target::from_compact(CompactTarget::from_consensus(0x1d00_ffff));
        let digest = t.to_le_bytes();
        assert!(hash_meets(&digest, &t));
        let mut above = digest;
        above[0] = above[0].wrapping_add(1);
        // Target::MAX's low bytes are zero, so adding one is strictly above.
        assert!(!hash_meets(&above, &t));
    }

    #[test]
    fn difficulty_targets() {
        assert_eq!(difficulty_target(1.0), Some(Target::MAX));
        // Half of difficulty 1's target: 0xffff << 207.
        let two = difficulty_target(2.0).unwrap().to_le_bytes();
        let mut half = [0u8; 32];
        half[25..28].copy_from_slice(&[0x80, 0xff, 0x7f]);
        assert_eq!(two, half);
        // Fractional difficulty: a bigger target.
        let quarter = difficulty_target(0.25).unwrap().to_le_bytes();
        assert_eq!(&quarter[26..28], &[0xfc, 0xff]);
        assert_eq!(quarter[28], 0x03);
        // Very small and very large difficulties stay in range.
        assert_eq!(difficulty_target(1e-12).unwrap().to_le_bytes(), [0xff; 32]);
        let tiny = difficulty_target(1e300).unwrap().to_le_bytes();
        assert_eq!(tiny, [0; 32]);
        assert!(difficulty_target(f64::MIN_POSITIVE / 2.0).is_some());
        for d in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(difficulty_target(d), None);
        }
        // Bitcoin mainnet difficulty of block 125552 (bits 1a44b9f2): about 244112.49.
        let bits = CompactTarget::from_consensus(0x1a44_b9f2);
        let block = Target::from_compact(bits);
        let d = block.difficulty_float();
        let t = difficulty_target(d).unwrap();
        let ratio = t.difficulty_float() / d;
        assert!((ratio - 1.0).abs() < 1e-9, "{ratio}");
    }
}
