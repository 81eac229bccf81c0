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
}
