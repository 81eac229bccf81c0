//! The scan loop shared by every [`Lanes`]-based kernel (scalar, AVX2, AVX-512).

use crate::algo::sha256d::{sha256d_h7, Lanes, Prepared};
use crate::job::NonceRange;

use super::Hit;

/// What a kernel needs beyond [`Lanes`] to walk a nonce range and find hits.
pub(super) trait ScanLanes: Lanes {
    /// Message words for nonces `base, base + 1, ...` (wrapping), one per lane, byte-swapped.
    fn nonce_words(base: u32) -> Self;
    /// Bit `i` set when lane `i`'s H7, read as the hash's top word (`h7.swap_bytes()`), is at
    /// or below `target_top`.
    fn hit_mask(h7: Self, target_top: u32) -> u32;
    /// Lane `i` as a `u32`.
    fn lane(self, i: usize) -> u32;
}

/// Scans `range`, pushing every nonce whose H7 passes the target's top word.
#[inline(always)]
pub(super) fn scan<L: ScanLanes>(
    p: &Prepared,
    range: NonceRange,
    target_top: u32,
    hits: &mut Vec<Hit>,
) {
    let mut base = range.start();
    while base < range.end() {
        // Lanes past the end of the range (last group only) are computed and ignored.
        let h7 = sha256d_h7(p, L::nonce_words(base as u32));
        let mut mask = L::hit_mask(h7, target_top);
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let nonce = base + i as u64;
            if nonce < range.end() {
                hits.push(Hit {
                    nonce: nonce as u32,
                    h7: h7.lane(i),
                });
            }
        }
        base += L::LANES as u64;
    }
}

impl ScanLanes for u32 {
    #[inline(always)]
    fn nonce_words(base: u32) -> Self {
        base.swap_bytes()
    }
    #[inline(always)]
    fn hit_mask(h7: Self, target_top: u32) -> u32 {
        u32::from(h7.swap_bytes() <= target_top)
    }
    #[inline(always)]
    fn lane(self, _i: usize) -> u32 {
        self
    }
}
