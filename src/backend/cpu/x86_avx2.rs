//! AVX2 kernel: eight nonces per 256-bit register. Rotates are shift + shift + or.

use std::arch::x86_64::*;

use crate::algo::sha256d::{Lanes, Prepared};
use crate::job::NonceRange;

use super::lanes::ScanLanes;
use super::Hit;

/// Eight `u32` lanes. Only built inside [`scan`], which runs after AVX2 was detected.
#[derive(Clone, Copy)]
struct U32x8(__m256i);

macro_rules! rotr {
    ($x:expr, $n:literal) => {
        _mm256_or_si256(
            _mm256_srli_epi32::<$n>($x),
            _mm256_slli_epi32::<{ 32 - $n }>($x),
        )
    };
}

// SAFETY (every `unsafe` block in this file): a `U32x8` exists only inside `scan`, which is
// `#[target_feature(enable = "avx2")]` and reached only after runtime detection of AVX2
// (`Kernel::new`), so the AVX2 intrinsics below run on a CPU that has them.
impl Lanes for U32x8 {
    const LANES: usize = 8;
    #[inline(always)]
    fn splat(x: u32) -> Self {
        unsafe { U32x8(_mm256_set1_epi32(x as i32)) }
    }
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        unsafe { U32x8(_mm256_add_epi32(self.0, rhs.0)) }
    }
    #[inline(always)]
    fn bsig0(self) -> Self {
        let x = self.0;
        unsafe {
            U32x8(_mm256_xor_si256(
                _mm256_xor_si256(rotr!(x, 2), rotr!(x, 13)),
                rotr!(x, 22),
            ))
        }
    }
    #[inline(always)]
    fn bsig1(self) -> Self {
        let x = self.0;
        unsafe {
            U32x8(_mm256_xor_si256(
                _mm256_xor_si256(rotr!(x, 6), rotr!(x, 11)),
                rotr!(x, 25),
            ))
        }
    }
    #[inline(always)]
    fn ssig0(self) -> Self {
        let x = self.0;
        unsafe {
            U32x8(_mm256_xor_si256(
                _mm256_xor_si256(rotr!(x, 7), rotr!(x, 18)),
                _mm256_srli_epi32::<3>(x),
            ))
        }
    }
    #[inline(always)]
    fn ssig1(self) -> Self {
        let x = self.0;
        unsafe {
            U32x8(_mm256_xor_si256(
                _mm256_xor_si256(rotr!(x, 17), rotr!(x, 19)),
                _mm256_srli_epi32::<10>(x),
            ))
        }
    }
    #[inline(always)]
    fn ch(e: Self, f: Self, g: Self) -> Self {
        unsafe {
            U32x8(_mm256_xor_si256(
                g.0,
                _mm256_and_si256(e.0, _mm256_xor_si256(f.0, g.0)),
            ))
        }
    }
    #[inline(always)]
    fn maj(a: Self, b: Self, c: Self) -> Self {
        unsafe {
            U32x8(_mm256_or_si256(
                _mm256_and_si256(a.0, b.0),
                _mm256_and_si256(c.0, _mm256_or_si256(a.0, b.0)),
            ))
        }
    }
}

impl ScanLanes for U32x8 {
    #[inline(always)]
    fn nonce_words(base: u32) -> Self {
        unsafe {
            let n = _mm256_add_epi32(
                _mm256_set1_epi32(base as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            );
            U32x8(bswap(n))
        }
    }
    #[inline(always)]
    fn hit_mask(h7: Self, target_top: u32) -> u32 {
        unsafe {
            let top = bswap(h7.0);
            let t = _mm256_set1_epi32(target_top as i32);
            // Unsigned top <= t  <=>  max(top, t) == t.
            let le = _mm256_cmpeq_epi32(_mm256_max_epu32(top, t), t);
            _mm256_movemask_ps(_mm256_castsi256_ps(le)) as u32
        }
    }
    #[inline(always)]
    fn lane(self, i: usize) -> u32 {
        let mut out = [0u32; 8];
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), self.0) };
        out[i]
    }
}

#[inline(always)]
unsafe fn bswap(x: __m256i) -> __m256i {
    let mask = _mm256_setr_epi8(
        3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8,
        15, 14, 13, 12,
    );
    _mm256_shuffle_epi8(x, mask)
}

/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn scan(p: &Prepared, range: NonceRange, target_top: u32, hits: &mut Vec<Hit>) {
    super::lanes::scan::<U32x8>(p, range, target_top, hits);
}
