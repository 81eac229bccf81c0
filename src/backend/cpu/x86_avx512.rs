//! AVX-512 kernel: sixteen nonces per 512-bit register, native rotates (`vprord`) and
//! three-input logic (`vpternlogd`) for Ch, Maj and the three-way XORs of the sigma functions.

use std::arch::x86_64::*;

use crate::algo::sha256d::{Lanes, Prepared};
use crate::job::NonceRange;

use super::lanes::ScanLanes;
use super::Hit;

/// Sixteen `u32` lanes. Only built inside [`scan`], which runs after AVX-512 F+BW was detected.
#[derive(Clone, Copy)]
struct U32x16(__m512i);

/// `vpternlogd` truth tables: bit `(a << 2) | (b << 1) | c` of the immediate is the result.
const XOR3: i32 = 0x96;
const CH: i32 = 0xca; // a ? b : c
const MAJ: i32 = 0xe8; // at least two of a, b, c

// SAFETY (every `unsafe` block in this file): a `U32x16` exists only inside `scan`, which is
// `#[target_feature(enable = "avx512f,avx512bw")]` and reached only after runtime detection of
// both (`Kernel::new`), so the intrinsics below run on a CPU that has them.
impl Lanes for U32x16 {
    const LANES: usize = 16;
    #[inline(always)]
    fn splat(x: u32) -> Self {
        unsafe { U32x16(_mm512_set1_epi32(x as i32)) }
    }
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        unsafe { U32x16(_mm512_add_epi32(self.0, rhs.0)) }
    }
    #[inline(always)]
    fn bsig0(self) -> Self {
        let x = self.0;
        unsafe {
            U32x16(_mm512_ternarylogic_epi32::<XOR3>(
                _mm512_ror_epi32::<2>(x),
                _mm512_ror_epi32::<13>(x),
                _mm512_ror_epi32::<22>(x),
            ))
        }
    }
    #[inline(always)]
    fn bsig1(self) -> Self {
        let x = self.0;
        unsafe {
            U32x16(_mm512_ternarylogic_epi32::<XOR3>(
                _mm512_ror_epi32::<6>(x),
                _mm512_ror_epi32::<11>(x),
                _mm512_ror_epi32::<25>(x),
            ))
        }
    }
    #[inline(always)]
    fn ssig0(self) -> Self {
        let x = self.0;
        unsafe {
            U32x16(_mm512_ternarylogic_epi32::<XOR3>(
                _mm512_ror_epi32::<7>(x),
                _mm512_ror_epi32::<18>(x),
                _mm512_srli_epi32::<3>(x),
            ))
        }
    }
    #[inline(always)]
    fn ssig1(self) -> Self {
        let x = self.0;
        unsafe {
            U32x16(_mm512_ternarylogic_epi32::<XOR3>(
                _mm512_ror_epi32::<17>(x),
                _mm512_ror_epi32::<19>(x),
                _mm512_srli_epi32::<10>(x),
            ))
        }
    }
    #[inline(always)]
    fn ch(e: Self, f: Self, g: Self) -> Self {
        unsafe { U32x16(_mm512_ternarylogic_epi32::<CH>(e.0, f.0, g.0)) }
    }
    #[inline(always)]
    fn maj(a: Self, b: Self, c: Self) -> Self {
        unsafe { U32x16(_mm512_ternarylogic_epi32::<MAJ>(a.0, b.0, c.0)) }
    }
}

impl ScanLanes for U32x16 {
    #[inline(always)]
    fn nonce_words(base: u32) -> Self {
        unsafe {
            let n = _mm512_add_epi32(
                _mm512_set1_epi32(base as i32),
                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            );
            U32x16(bswap(n))
        }
    }
    #[inline(always)]
    fn hit_mask(h7: Self, target_top: u32) -> u32 {
        unsafe {
            u32::from(_mm512_cmple_epu32_mask(
                bswap(h7.0),
                _mm512_set1_epi32(target_top as i32),
            ))
        }
    }
    #[inline(always)]
    fn lane(self, i: usize) -> u32 {
        let mut out = [0u32; 16];
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), self.0) };
        out[i]
    }
}

#[inline(always)]
unsafe fn bswap(x: __m512i) -> __m512i {
    let mask = _mm512_set4_epi32(0x0c0d_0e0f, 0x0809_0a0b, 0x0405_0607, 0x0001_0203);
    _mm512_shuffle_epi8(x, mask)
}

/// # Safety
/// The CPU must support AVX-512 F and BW.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn scan(p: &Prepared, range: NonceRange, target_top: u32, hits: &mut Vec<Hit>) {
    super::lanes::scan::<U32x16>(p, range, target_top, hits);
}
