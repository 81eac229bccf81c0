//! scrypt's ROMix for 8 (AVX2) and 16 (AVX-512) hashes at once: the lanes code of
//! `algo::scrypt` ([`romix_lanes`]) compiled with those instruction sets enabled, so its
//! per-lane loops become 256- and 512-bit vector operations (rotates become `vprold` on
//! AVX-512) and each lane's read of its own scratchpad entry a gather.

use crate::algo::scrypt::{romix_lanes, LaneBlock, LaneScratch};

#[target_feature(enable = "avx2")]
fn romix8(x: &mut LaneBlock<8>, scratch: &mut LaneScratch<8>) {
    romix_lanes(x, scratch)
}

#[target_feature(enable = "avx512f,avx512vl")]
fn romix16(x: &mut LaneBlock<16>, scratch: &mut LaneScratch<16>) {
    romix_lanes(x, scratch)
}

/// ROMix of 8 hashes with AVX2; `None` when this CPU lacks AVX2.
pub fn romix_avx2(x: &mut LaneBlock<8>, scratch: &mut LaneScratch<8>) -> Option<()> {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return None;
    }
    // SAFETY: AVX2 was detected on this CPU just above.
    unsafe { romix8(x, scratch) };
    Some(())
}

/// ROMix of 16 hashes with AVX-512; `None` when this CPU lacks AVX-512F/VL.
pub fn romix_avx512(x: &mut LaneBlock<16>, scratch: &mut LaneScratch<16>) -> Option<()> {
    if !(std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl"))
    {
        return None;
    }
    // SAFETY: AVX-512F and AVX-512VL were detected on this CPU just above.
    unsafe { romix16(x, scratch) };
    Some(())
}

/// scrypt's ROMix in the layout fast scrypt code uses (Colin Percival's SSE2 scrypt,
/// cpuminer's scrypt-x64): each hash's 16-word Salsa20/8 state as four 128-bit rows holding
/// its diagonals, `a = (w0 w5 w10 w15)`, `b = (w4 w9 w14 w3)`, `c = (w8 w13 w2 w7)`,
/// `d = (w12 w1 w6 w11)`, so a column round is four vector steps and a row round the same after
/// rotating three rows by a lane (`pshufd`). Scratchpad entries are stored in that layout
/// (XOR does not care), each hash with its own contiguous scratchpad, and `K` hashes are
/// interleaved step by step so the CPU overlaps their dependency chains.
pub mod rows {
    use std::arch::x86_64::*;

    use crate::algo::scrypt::{N, WORDS};

    /// One 128-byte block: two halves of four rows.
    pub type Rows = [__m128i; 8];

    /// One hash's scratchpad in row layout.
    pub struct RowScratch(Box<[Rows]>);

    impl Default for RowScratch {
        fn default() -> Self {
            // SAFETY: SSE2 is part of every x86-64 CPU (the target's baseline).
            let zero = unsafe { _mm_setzero_si128() };
            RowScratch(vec![[zero; 8]; N].into_boxed_slice())
        }
    }

    /// Words (little-endian scrypt order) to rows.
    #[target_feature(enable = "sse2")]
    fn to_rows(w: &[u32; WORDS]) -> Rows {
        let half = |o: usize| {
            let g = |i: usize| w[o + i] as i32;
            [
                _mm_setr_epi32(g(0), g(5), g(10), g(15)),
                _mm_setr_epi32(g(4), g(9), g(14), g(3)),
                _mm_setr_epi32(g(8), g(13), g(2), g(7)),
                _mm_setr_epi32(g(12), g(1), g(6), g(11)),
            ]
        };
        let (lo, hi) = (half(0), half(16));
        [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]]
    }

    #[target_feature(enable = "sse2")]
    fn lanes(v: __m128i) -> [u32; 4] {
        let mut out = [0u32; 4];
        // SAFETY: `out` is 16 writable bytes; the store is unaligned.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), v) };
        out
    }

    /// Rows back to words.
    #[target_feature(enable = "sse2")]
    fn from_rows(r: &Rows) -> [u32; WORDS] {
        let mut w = [0u32; WORDS];
        for (o, half) in [(0, &r[..4]), (16, &r[4..])] {
            let [a, b, c, d] = [
                lanes(half[0]),
                lanes(half[1]),
                lanes(half[2]),
                lanes(half[3]),
            ];
            for (i, &k) in [0, 5, 10, 15].iter().enumerate() {
                w[o + k] = a[i];
            }
            for (i, &k) in [4, 9, 14, 3].iter().enumerate() {
                w[o + k] = b[i];
            }
            for (i, &k) in [8, 13, 2, 7].iter().enumerate() {
                w[o + k] = c[i];
            }
            for (i, &k) in [12, 1, 6, 11].iter().enumerate() {
                w[o + k] = d[i];
            }
        }
        w
    }

    /// The ROMix of `K` hashes, with `rot!(x, r)` the 32-bit rotate left; `$attr` the target
    /// features the function is compiled for.
    macro_rules! romix_rows {
        ($name:ident, $k:literal, $rot:ident, $features:literal) => {
            #[target_feature(enable = $features)]
            fn $name(x: &mut [Rows; $k], v: &mut [RowScratch; $k]) {
                #[target_feature(enable = $features)]
                #[inline]
                fn salsa(b: &mut [[__m128i; 4]; $k], add: &[[__m128i; 4]; $k]) {
                    let mut s = *b;
                    for k in 0..$k {
                        for i in 0..4 {
                            s[k][i] = _mm_xor_si128(s[k][i], add[k][i]);
                        }
                    }
                    let start = s;
                    for _ in 0..4 {
                        for k in 0..$k {
                            let [a, b, c, d] = &mut s[k];
                            *b = _mm_xor_si128(*b, $rot!(_mm_add_epi32(*a, *d), 7));
                            *c = _mm_xor_si128(*c, $rot!(_mm_add_epi32(*b, *a), 9));
                            *d = _mm_xor_si128(*d, $rot!(_mm_add_epi32(*c, *b), 13));
                            *a = _mm_xor_si128(*a, $rot!(_mm_add_epi32(*d, *c), 18));
                            let bb = _mm_shuffle_epi32::<0x93>(*b);
                            let cc = _mm_shuffle_epi32::<0x4e>(*c);
                            let dd = _mm_shuffle_epi32::<0x39>(*d);
                            let dd = _mm_xor_si128(dd, $rot!(_mm_add_epi32(*a, bb), 7));
                            let cc = _mm_xor_si128(cc, $rot!(_mm_add_epi32(dd, *a), 9));
                            let bb = _mm_xor_si128(bb, $rot!(_mm_add_epi32(cc, dd), 13));
                            *a = _mm_xor_si128(*a, $rot!(_mm_add_epi32(bb, cc), 18));
                            *b = _mm_shuffle_epi32::<0x39>(bb);
                            *c = _mm_shuffle_epi32::<0x4e>(cc);
                            *d = _mm_shuffle_epi32::<0x93>(dd);
                        }
                    }
                    for k in 0..$k {
                        for i in 0..4 {
                            b[k][i] = _mm_add_epi32(s[k][i], start[k][i]);
                        }
                    }
                }
                #[target_feature(enable = $features)]
                #[inline]
                fn block_mix(x: &mut [Rows; $k]) {
                    let mut lo: [[__m128i; 4]; $k] = [[_mm_setzero_si128(); 4]; $k];
                    let mut hi = lo;
                    for k in 0..$k {
                        lo[k].copy_from_slice(&x[k][..4]);
                        hi[k].copy_from_slice(&x[k][4..]);
                    }
                    salsa(&mut lo, &hi);
                    salsa(&mut hi, &lo);
                    for k in 0..$k {
                        x[k][..4].copy_from_slice(&lo[k]);
                        x[k][4..].copy_from_slice(&hi[k]);
                    }
                }
                for i in 0..N {
                    for k in 0..$k {
                        v[k].0[i] = x[k];
                    }
                    block_mix(x);
                }
                for _ in 0..N {
                    for k in 0..$k {
                        let j = _mm_cvtsi128_si32(x[k][4]) as u32 as usize & (N - 1);
                        let e = &v[k].0[j];
                        for r in 0..8 {
                            x[k][r] = _mm_xor_si128(x[k][r], e[r]);
                        }
                    }
                    block_mix(x);
                }
            }
        };
    }

    macro_rules! rot_sse2 {
        ($x:expr, $r:literal) => {{
            let t = $x;
            _mm_or_si128(_mm_slli_epi32::<$r>(t), _mm_srli_epi32::<{ 32 - $r }>(t))
        }};
    }

    macro_rules! rot_avx512 {
        ($x:expr, $r:literal) => {
            _mm_rol_epi32::<$r>($x)
        };
    }

    romix_rows!(romix_sse2_x2, 2, rot_sse2, "sse2");
    romix_rows!(romix_sse2_x4, 4, rot_sse2, "sse2");
    romix_rows!(romix_avx512_x4, 4, rot_avx512, "sse2,avx512f,avx512vl");
    romix_rows!(romix_avx512_x8, 8, rot_avx512, "sse2,avx512f,avx512vl");

    /// ROMix of `K` (2 or 4) hashes, words in and out, with the SSE2 rows kernel.
    pub fn romix_sse2<const K: usize>(words: &mut [[u32; WORDS]; K], v: &mut [RowScratch; K]) {
        // SAFETY: SSE2 is part of every x86-64 CPU (the target's baseline).
        unsafe { romix_sse2_words(words, v) }
    }

    #[target_feature(enable = "sse2")]
    fn romix_sse2_words<const K: usize>(words: &mut [[u32; WORDS]; K], v: &mut [RowScratch; K]) {
        match (K, words.as_mut_slice(), v.as_mut_slice()) {
            (2, w, s) => {
                let mut x: [Rows; 2] = [to_rows(&w[0]), to_rows(&w[1])];
                let s: &mut [RowScratch; 2] = s.try_into().expect("2");
                romix_sse2_x2(&mut x, s);
                for (wi, xi) in w.iter_mut().zip(&x) {
                    *wi = from_rows(xi);
                }
            }
            (4, w, s) => {
                let mut x: [Rows; 4] = std::array::from_fn(|i| to_rows(&w[i]));
                let s: &mut [RowScratch; 4] = s.try_into().expect("4");
                romix_sse2_x4(&mut x, s);
                for (wi, xi) in w.iter_mut().zip(&x) {
                    *wi = from_rows(xi);
                }
            }
            _ => unreachable!("2 or 4 hashes"),
        }
    }

    /// ROMix of `K` (4 or 8) hashes with AVX-512's rotate; `None` when this CPU lacks
    /// AVX-512F/VL.
    pub fn romix_avx512<const K: usize>(
        words: &mut [[u32; WORDS]; K],
        v: &mut [RowScratch; K],
    ) -> Option<()> {
        if !(std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl"))
        {
            return None;
        }
        // SAFETY: AVX-512F and AVX-512VL were detected on this CPU just above (SSE2 is part of
        // every x86-64 CPU).
        unsafe {
            let mut x: [Rows; K] = std::array::from_fn(|i| to_rows(&words[i]));
            match (x.as_mut_slice(), v.as_mut_slice()) {
                (x4, v4) if K == 4 => {
                    romix_avx512_x4(x4.try_into().expect("4"), v4.try_into().expect("4"))
                }
                (x8, v8) if K == 8 => {
                    romix_avx512_x8(x8.try_into().expect("8"), v8.try_into().expect("8"))
                }
                _ => unreachable!("4 or 8 hashes"),
            }
            for (wi, xi) in words.iter_mut().zip(&x) {
                *wi = from_rows(xi);
            }
        }
        Some(())
    }
}
