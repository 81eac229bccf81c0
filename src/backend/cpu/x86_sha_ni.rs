//! SHA-NI kernel: the x86 SHA extensions (`sha256rnds2`, `sha256msg1`, `sha256msg2`), with
//! `N` nonces interleaved so that independent round chains hide `sha256rnds2`'s latency.
//!
//! Layout used by the SHA instructions: the state lives in two registers, ABEF = lanes
//! (f, e, b, a) and CDGH = lanes (h, g, d, c), lane 0 first; message words are in lane order
//! (W[i] in lane 0). `sha256rnds2(cdgh, abef, kw)` does two rounds with lanes 0 and 1 of `kw` and
//! returns the new ABEF; the new CDGH is the old ABEF.

use std::arch::x86_64::*;

use crate::algo::sha256d::{Prepared, IV, K};
use crate::job::NonceRange;

use super::Hit;

/// Nonces in flight per thread. Measured on Zen 5 (one thread, same run): 2 ways 24.5 MH/s,
/// 4 ways 23.4, 6 ways 27.4, 8 ways 28.0; see BENCHMARKS.md.
pub(super) const WAYS: usize = 8;

#[inline(always)]
unsafe fn to_abef_cdgh(s: &[u32; 8]) -> (__m128i, __m128i) {
    let w = |i: usize| s[i] as i32;
    (
        _mm_set_epi32(w(0), w(1), w(4), w(5)),
        _mm_set_epi32(w(2), w(3), w(6), w(7)),
    )
}

/// ABEF/CDGH back to message order: (a, b, c, d) and (e, f, g, h).
#[inline(always)]
unsafe fn to_words(abef: __m128i, cdgh: __m128i) -> (__m128i, __m128i) {
    let feba = _mm_shuffle_epi32::<0x1b>(abef); // a b e f
    let dchg = _mm_shuffle_epi32::<0xb1>(cdgh); // g h c d
    (
        _mm_blend_epi16::<0xf0>(feba, dchg), // a b c d
        _mm_alignr_epi8::<8>(dchg, feba),    // e f g h
    )
}

#[inline(always)]
unsafe fn k4(i: usize) -> __m128i {
    _mm_loadu_si128(K.as_ptr().add(i).cast())
}

/// Next four message words from the last sixteen (W[t-16..t] as four registers).
#[inline(always)]
unsafe fn next_words(m: &[__m128i; 4]) -> __m128i {
    let t = _mm_add_epi32(
        _mm_sha256msg1_epu32(m[0], m[1]),
        _mm_alignr_epi8::<4>(m[3], m[2]),
    );
    _mm_sha256msg2_epu32(t, m[3])
}

/// Four rounds on each of the `N` states with `kw[j]` = K + W for rounds i..i+4.
#[inline(always)]
unsafe fn rounds4<const N: usize>(
    abef: &mut [__m128i; N],
    cdgh: &mut [__m128i; N],
    kw: [__m128i; N],
) {
    for j in 0..N {
        let t = _mm_sha256rnds2_epu32(cdgh[j], abef[j], kw[j]);
        let hi = _mm_shuffle_epi32::<0x0e>(kw[j]);
        let t2 = _mm_sha256rnds2_epu32(abef[j], t, hi);
        cdgh[j] = t;
        abef[j] = t2;
    }
}

/// Rounds 16..`end` (a multiple of 4) with the message schedule, four at a time.
#[inline(always)]
unsafe fn scheduled_rounds<const N: usize>(
    abef: &mut [__m128i; N],
    cdgh: &mut [__m128i; N],
    msg: &mut [[__m128i; 4]; N],
    end: usize,
) {
    let mut t = 16;
    while t < end {
        let k = k4(t);
        let mut kw = [k; N];
        for j in 0..N {
            let w = next_words(&msg[j]);
            msg[j] = [msg[j][1], msg[j][2], msg[j][3], w];
            kw[j] = _mm_add_epi32(w, k);
        }
        rounds4(abef, cdgh, kw);
        t += 4;
    }
}

/// H7 of SHA256d for nonce words `w3[j]` (already byte-swapped).
#[inline(always)]
unsafe fn h7<const N: usize>(c: &Consts, w3: [u32; N]) -> [u32; N] {
    // ---- First hash, second block, from the state after rounds 0 and 1.
    let mut abef = [c.abef2; N];
    let mut cdgh = [c.cdgh2; N];
    let mut msg = [[c.m0, c.pad1, _mm_setzero_si128(), c.len1]; N];
    for j in 0..N {
        msg[j][0] = _mm_insert_epi32::<3>(c.m0, w3[j] as i32);
        // Rounds 2 and 3: W2 is constant, W3 is the nonce.
        let kw = _mm_set_epi32(0, 0, K[3].wrapping_add(w3[j]) as i32, c.kw_round2 as i32);
        let t = _mm_sha256rnds2_epu32(cdgh[j], abef[j], kw);
        cdgh[j] = abef[j];
        abef[j] = t;
    }
    rounds4(&mut abef, &mut cdgh, [c.kw1[0]; N]);
    rounds4(&mut abef, &mut cdgh, [c.kw1[1]; N]);
    rounds4(&mut abef, &mut cdgh, [c.kw1[2]; N]);
    scheduled_rounds(&mut abef, &mut cdgh, &mut msg, 64);

    // ---- Second hash over the first digest.
    let mut msg2 = [[_mm_setzero_si128(); 4]; N];
    for j in 0..N {
        let (lo, hi) = to_words(
            _mm_add_epi32(abef[j], c.mid_abef),
            _mm_add_epi32(cdgh[j], c.mid_cdgh),
        );
        msg2[j] = [lo, hi, c.pad2, c.len2];
    }
    let mut abef = [c.iv_abef; N];
    let mut cdgh = [c.iv_cdgh; N];
    let mut kw = [_mm_setzero_si128(); N];
    for j in 0..N {
        kw[j] = _mm_add_epi32(msg2[j][0], k4(0));
    }
    rounds4(&mut abef, &mut cdgh, kw);
    for j in 0..N {
        kw[j] = _mm_add_epi32(msg2[j][1], k4(4));
    }
    rounds4(&mut abef, &mut cdgh, kw);
    rounds4(&mut abef, &mut cdgh, [c.kw2[0]; N]);
    rounds4(&mut abef, &mut cdgh, [c.kw2[1]; N]);
    scheduled_rounds(&mut abef, &mut cdgh, &mut msg2, 60);

    // Rounds 60 and 61 only: the new ABEF's lane 0 is f62 = e61 = h64, and H7 = IV7 + h64.
    let mut out = [0u32; N];
    for j in 0..N {
        let w = next_words(&msg2[j]);
        let t = _mm_sha256rnds2_epu32(cdgh[j], abef[j], _mm_add_epi32(w, k4(60)));
        out[j] = (_mm_cvtsi128_si32(t) as u32).wrapping_add(IV[7]);
    }
    out
}

/// Per-job constants in SHA-NI layout.
struct Consts {
    abef2: __m128i,
    cdgh2: __m128i,
    mid_abef: __m128i,
    mid_cdgh: __m128i,
    iv_abef: __m128i,
    iv_cdgh: __m128i,
    /// W0..W2 of the second block in lanes 0..2 (lane 3 takes the nonce word).
    m0: __m128i,
    pad1: __m128i,
    len1: __m128i,
    pad2: __m128i,
    len2: __m128i,
    /// K2 + W2.
    kw_round2: u32,
    /// K + W for rounds 4..16 of the first hash and 8..16 of the second (padding words).
    kw1: [__m128i; 3],
    kw2: [__m128i; 2],
}

impl Consts {
    #[inline(always)]
    unsafe fn new(p: &Prepared) -> Self {
        let (abef2, cdgh2) = to_abef_cdgh(&p.state2);
        let (mid_abef, mid_cdgh) = to_abef_cdgh(&p.midstate);
        let (iv_abef, iv_cdgh) = to_abef_cdgh(&IV);
        let pad = 0x8000_0000u32 as i32;
        let pad1 = _mm_set_epi32(0, 0, 0, pad);
        let len1 = _mm_set_epi32(640, 0, 0, 0);
        let pad2 = pad1;
        let len2 = _mm_set_epi32(256, 0, 0, 0);
        Consts {
            abef2,
            cdgh2,
            mid_abef,
            mid_cdgh,
            iv_abef,
            iv_cdgh,
            m0: _mm_set_epi32(0, p.tail[2] as i32, p.tail[1] as i32, p.tail[0] as i32),
            pad1,
            len1,
            pad2,
            len2,
            kw_round2: K[2].wrapping_add(p.tail[2]),
            kw1: [
                _mm_add_epi32(k4(4), pad1),
                k4(8),
                _mm_add_epi32(k4(12), len1),
            ],
            kw2: [_mm_add_epi32(k4(8), pad2), _mm_add_epi32(k4(12), len2)],
        }
    }
}

/// # Safety
/// The CPU must support the SHA extensions and SSE4.1.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(super) unsafe fn scan(p: &Prepared, range: NonceRange, target_top: u32, hits: &mut Vec<Hit>) {
    let c = Consts::new(p);
    let mut base = range.start();
    while base < range.end() {
        let w3: [u32; WAYS] =
            std::array::from_fn(|j| (base as u32).wrapping_add(j as u32).swap_bytes());
        let h7 = h7::<WAYS>(&c, w3);
        for (j, &h) in h7.iter().enumerate() {
            let nonce = base + j as u64;
            if h.swap_bytes() <= target_top && nonce < range.end() {
                hits.push(Hit {
                    nonce: nonce as u32,
                    h7: h,
                });
            }
        }
        base += WAYS as u64;
    }
}
