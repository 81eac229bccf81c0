//! scrypt's ROMix with SIMD: the row layout of Percival's SSE2 scrypt and cpuminer's
//! scrypt-x64 ([`rows`]: 128-bit registers, one hash each, 2 to 8 hashes interleaved), and the
//! same layout four hashes wide in 512-bit registers ([`zmm`]).

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
    pub(super) fn to_rows(w: &[u32; WORDS]) -> Rows {
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
    pub(super) fn from_rows(r: &Rows) -> [u32; WORDS] {
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

/// The row layout four hashes wide: each 512-bit register holds the same row of four hashes,
/// one per 128-bit lane. `vpshufd` shuffles within each lane, so the Salsa20/8 code is the
/// 128-bit code with every operation on four hashes at once (a quarter of the instructions).
/// The write phase stores whole registers (an entry holds four hashes' blocks, 512 bytes);
/// the read phase loads each hash's own entry into its lane with masked loads. `G` groups of
/// four are interleaved step by step so the CPU overlaps their dependency chains.
pub mod zmm {
    use std::arch::x86_64::*;

    use super::rows::{from_rows, to_rows, Rows};
    use crate::algo::scrypt::{N, WORDS};

    /// One 128-byte block of four hashes: rows 0..8, each four hashes wide.
    type ZRows = [__m512i; 8];

    /// The scratchpad of one group of four hashes (512 KiB).
    pub struct ZScratch(Box<[ZRows]>);

    impl ZScratch {
        /// `None` when this CPU lacks AVX-512F (the zero register needs it).
        pub fn new() -> Option<ZScratch> {
            if !std::arch::is_x86_feature_detected!("avx512f") {
                return None;
            }
            // SAFETY: AVX-512F was detected just above.
            let zero = unsafe { zero512() };
            Some(ZScratch(vec![[zero; 8]; N].into_boxed_slice()))
        }
    }

    #[target_feature(enable = "avx512f")]
    fn zero512() -> __m512i {
        _mm512_setzero_si512()
    }

    /// Four hashes' rows into one register per row.
    #[target_feature(enable = "avx512f")]
    fn pack(r: [&Rows; 4]) -> ZRows {
        std::array::from_fn(|i| {
            let v = _mm512_castsi128_si512(r[0][i]);
            let v = _mm512_inserti32x4::<1>(v, r[1][i]);
            let v = _mm512_inserti32x4::<2>(v, r[2][i]);
            _mm512_inserti32x4::<3>(v, r[3][i])
        })
    }

    #[target_feature(enable = "avx512f")]
    fn unpack(z: &ZRows) -> [Rows; 4] {
        [
            std::array::from_fn(|i| _mm512_extracti32x4_epi32::<0>(z[i])),
            std::array::from_fn(|i| _mm512_extracti32x4_epi32::<1>(z[i])),
            std::array::from_fn(|i| _mm512_extracti32x4_epi32::<2>(z[i])),
            std::array::from_fn(|i| _mm512_extracti32x4_epi32::<3>(z[i])),
        ]
    }

    macro_rules! romix_zmm {
        ($name:ident, $g:literal) => {
            #[target_feature(enable = "avx512f")]
            fn $name(x: &mut [ZRows; $g], v: &mut [ZScratch; $g]) {
                #[target_feature(enable = "avx512f")]
                #[inline]
                fn salsa(b: &mut [[__m512i; 4]; $g], add: &[[__m512i; 4]; $g]) {
                    let mut s = *b;
                    for g in 0..$g {
                        for i in 0..4 {
                            s[g][i] = _mm512_xor_si512(s[g][i], add[g][i]);
                        }
                    }
                    let start = s;
                    for _ in 0..4 {
                        for g in 0..$g {
                            let [a, b, c, d] = &mut s[g];
                            *b = _mm512_xor_si512(
                                *b,
                                _mm512_rol_epi32::<7>(_mm512_add_epi32(*a, *d)),
                            );
                            *c = _mm512_xor_si512(
                                *c,
                                _mm512_rol_epi32::<9>(_mm512_add_epi32(*b, *a)),
                            );
                            *d = _mm512_xor_si512(
                                *d,
                                _mm512_rol_epi32::<13>(_mm512_add_epi32(*c, *b)),
                            );
                            *a = _mm512_xor_si512(
                                *a,
                                _mm512_rol_epi32::<18>(_mm512_add_epi32(*d, *c)),
                            );
                            let bb = _mm512_shuffle_epi32::<0x93>(*b);
                            let cc = _mm512_shuffle_epi32::<0x4e>(*c);
                            let dd = _mm512_shuffle_epi32::<0x39>(*d);
                            let dd = _mm512_xor_si512(
                                dd,
                                _mm512_rol_epi32::<7>(_mm512_add_epi32(*a, bb)),
                            );
                            let cc = _mm512_xor_si512(
                                cc,
                                _mm512_rol_epi32::<9>(_mm512_add_epi32(dd, *a)),
                            );
                            let bb = _mm512_xor_si512(
                                bb,
                                _mm512_rol_epi32::<13>(_mm512_add_epi32(cc, dd)),
                            );
                            *a = _mm512_xor_si512(
                                *a,
                                _mm512_rol_epi32::<18>(_mm512_add_epi32(bb, cc)),
                            );
                            *b = _mm512_shuffle_epi32::<0x39>(bb);
                            *c = _mm512_shuffle_epi32::<0x4e>(cc);
                            *d = _mm512_shuffle_epi32::<0x93>(dd);
                        }
                    }
                    for g in 0..$g {
                        for i in 0..4 {
                            b[g][i] = _mm512_add_epi32(s[g][i], start[g][i]);
                        }
                    }
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                fn block_mix(x: &mut [ZRows; $g]) {
                    let mut lo = [[_mm512_setzero_si512(); 4]; $g];
                    let mut hi = lo;
                    for g in 0..$g {
                        lo[g].copy_from_slice(&x[g][..4]);
                        hi[g].copy_from_slice(&x[g][4..]);
                    }
                    salsa(&mut lo, &hi);
                    salsa(&mut hi, &lo);
                    for g in 0..$g {
                        x[g][..4].copy_from_slice(&lo[g]);
                        x[g][4..].copy_from_slice(&hi[g]);
                    }
                }
                for i in 0..N {
                    for g in 0..$g {
                        v[g].0[i] = x[g];
                    }
                    block_mix(x);
                }
                for _ in 0..N {
                    for g in 0..$g {
                        // Each hash's index is the first word of its row 4 (word 16).
                        let mut first = [0u32; 16];
                        // SAFETY: `first` is 64 writable bytes; the store is unaligned.
                        unsafe { _mm512_storeu_si512(first.as_mut_ptr().cast(), x[g][4]) };
                        let j = [0, 1, 2, 3].map(|h| first[4 * h] as usize & (N - 1));
                        for r in 0..8 {
                            let mut e = _mm512_setzero_si512();
                            for (h, &jh) in j.iter().enumerate() {
                                let row: *const __m512i = &v[g].0[jh][r];
                                // SAFETY: `row` points at a whole 64-byte register of the
                                // scratchpad; the mask reads only lane `h`'s 16 bytes of it.
                                e = unsafe {
                                    _mm512_mask_loadu_epi32(e, 0xf << (4 * h), row.cast())
                                };
                            }
                            x[g][r] = _mm512_xor_si512(x[g][r], e);
                        }
                    }
                    block_mix(x);
                }
            }
        };
    }

    romix_zmm!(romix_g2, 2);
    romix_zmm!(romix_g4, 4);

    /// ROMix of `K` (8 or 16) hashes, four per 512-bit register; `None` when this CPU lacks
    /// AVX-512F. `v` holds one scratchpad per group of four.
    pub fn romix<const K: usize>(words: &mut [[u32; WORDS]; K], v: &mut [ZScratch]) -> Option<()> {
        if !std::arch::is_x86_feature_detected!("avx512f") || v.len() * 4 != K {
            return None;
        }
        // SAFETY: AVX-512F was detected on this CPU just above (SSE2 is part of every x86-64
        // CPU).
        unsafe { romix_words(words, v) };
        Some(())
    }

    #[target_feature(enable = "avx512f")]
    fn romix_words<const K: usize>(words: &mut [[u32; WORDS]; K], v: &mut [ZScratch]) {
        let rows: [Rows; K] = std::array::from_fn(|i| to_rows(&words[i]));
        let groups = K / 4;
        let mut x: Vec<ZRows> = (0..groups)
            .map(|g| {
                pack([
                    &rows[4 * g],
                    &rows[4 * g + 1],
                    &rows[4 * g + 2],
                    &rows[4 * g + 3],
                ])
            })
            .collect();
        match groups {
            2 => romix_g2(
                x.as_mut_slice().try_into().expect("2 groups"),
                v.try_into().expect("2 groups"),
            ),
            4 => romix_g4(
                x.as_mut_slice().try_into().expect("4 groups"),
                v.try_into().expect("4 groups"),
            ),
            _ => unreachable!("8 or 16 hashes"),
        }
        for (g, z) in x.iter().enumerate() {
            for (h, r) in unpack(z).iter().enumerate() {
                words[4 * g + h] = from_rows(r);
            }
        }
    }
}

/// The row layout two hashes wide in AVX2's 256-bit registers (one hash per 128-bit lane; AVX2
/// has no rotate instruction, so rotates are two shifts and an OR). Each hash's scratchpad entry
/// is read with two 128-bit loads per row. Four registers are interleaved (8 hashes).
pub mod ymm {
    // The groups and rows are indexed in lockstep across several arrays, as in the macro-made
    // kernels above (where the lint does not look).
    #![allow(clippy::needless_range_loop)]
    use std::arch::x86_64::*;

    use super::rows::{from_rows, to_rows, Rows};
    use crate::algo::scrypt::{N, WORDS};

    /// One 128-byte block of two hashes: rows 0..8, each two hashes wide.
    type YRows = [__m256i; 8];

    /// The scratchpad of one pair of hashes (256 KiB).
    pub struct YScratch(Box<[YRows]>);

    impl YScratch {
        /// `None` when this CPU lacks AVX2.
        pub fn new() -> Option<YScratch> {
            if !std::arch::is_x86_feature_detected!("avx2") {
                return None;
            }
            // SAFETY: AVX2 was detected just above.
            let zero = unsafe { zero256() };
            Some(YScratch(vec![[zero; 8]; N].into_boxed_slice()))
        }
    }

    #[target_feature(enable = "avx2")]
    fn zero256() -> __m256i {
        _mm256_setzero_si256()
    }

    macro_rules! rol {
        ($x:expr, $r:literal) => {{
            let t = $x;
            _mm256_or_si256(
                _mm256_slli_epi32::<$r>(t),
                _mm256_srli_epi32::<{ 32 - $r }>(t),
            )
        }};
    }

    const G: usize = 4;

    #[target_feature(enable = "avx2")]
    #[inline]
    fn salsa(b: &mut [[__m256i; 4]; G], add: &[[__m256i; 4]; G]) {
        let mut s = *b;
        for g in 0..G {
            for i in 0..4 {
                s[g][i] = _mm256_xor_si256(s[g][i], add[g][i]);
            }
        }
        let start = s;
        for _ in 0..4 {
            for g in 0..G {
                let [a, b, c, d] = &mut s[g];
                *b = _mm256_xor_si256(*b, rol!(_mm256_add_epi32(*a, *d), 7));
                *c = _mm256_xor_si256(*c, rol!(_mm256_add_epi32(*b, *a), 9));
                *d = _mm256_xor_si256(*d, rol!(_mm256_add_epi32(*c, *b), 13));
                *a = _mm256_xor_si256(*a, rol!(_mm256_add_epi32(*d, *c), 18));
                let bb = _mm256_shuffle_epi32::<0x93>(*b);
                let cc = _mm256_shuffle_epi32::<0x4e>(*c);
                let dd = _mm256_shuffle_epi32::<0x39>(*d);
                let dd = _mm256_xor_si256(dd, rol!(_mm256_add_epi32(*a, bb), 7));
                let cc = _mm256_xor_si256(cc, rol!(_mm256_add_epi32(dd, *a), 9));
                let bb = _mm256_xor_si256(bb, rol!(_mm256_add_epi32(cc, dd), 13));
                *a = _mm256_xor_si256(*a, rol!(_mm256_add_epi32(bb, cc), 18));
                *b = _mm256_shuffle_epi32::<0x39>(bb);
                *c = _mm256_shuffle_epi32::<0x4e>(cc);
                *d = _mm256_shuffle_epi32::<0x93>(dd);
            }
        }
        for g in 0..G {
            for i in 0..4 {
                b[g][i] = _mm256_add_epi32(s[g][i], start[g][i]);
            }
        }
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn block_mix(x: &mut [YRows; G]) {
        let mut lo = [[_mm256_setzero_si256(); 4]; G];
        let mut hi = lo;
        for g in 0..G {
            lo[g].copy_from_slice(&x[g][..4]);
            hi[g].copy_from_slice(&x[g][4..]);
        }
        salsa(&mut lo, &hi);
        salsa(&mut hi, &lo);
        for g in 0..G {
            x[g][..4].copy_from_slice(&lo[g]);
            x[g][4..].copy_from_slice(&hi[g]);
        }
    }

    #[target_feature(enable = "avx2")]
    fn romix_g4(x: &mut [YRows; G], v: &mut [YScratch; G]) {
        for i in 0..N {
            for g in 0..G {
                v[g].0[i] = x[g];
            }
            block_mix(x);
        }
        for _ in 0..N {
            for g in 0..G {
                let j0 = _mm256_extract_epi32::<0>(x[g][4]) as u32 as usize & (N - 1);
                let j1 = _mm256_extract_epi32::<4>(x[g][4]) as u32 as usize & (N - 1);
                for r in 0..8 {
                    let lo: *const __m256i = &v[g].0[j0][r];
                    let hi: *const __m256i = &v[g].0[j1][r];
                    // SAFETY: each pointer is a whole 32-byte register of the scratchpad; the
                    // loads read its first (hash 0) or second (hash 1) 16 bytes.
                    let e = unsafe {
                        _mm256_inserti128_si256::<1>(
                            _mm256_castsi128_si256(_mm_loadu_si128(lo.cast())),
                            _mm_loadu_si128(hi.cast::<__m128i>().add(1)),
                        )
                    };
                    x[g][r] = _mm256_xor_si256(x[g][r], e);
                }
            }
            block_mix(x);
        }
    }

    /// ROMix of 8 hashes, two per 256-bit register; `None` when this CPU lacks AVX2. `v`
    /// holds one scratchpad per pair.
    pub fn romix8(words: &mut [[u32; WORDS]; 8], v: &mut [YScratch]) -> Option<()> {
        if !std::arch::is_x86_feature_detected!("avx2") || v.len() != G {
            return None;
        }
        // SAFETY: AVX2 was detected on this CPU just above.
        unsafe { romix_words(words, v.try_into().expect("4 pairs")) };
        Some(())
    }

    #[target_feature(enable = "avx2")]
    fn romix_words(words: &mut [[u32; WORDS]; 8], v: &mut [YScratch; G]) {
        let rows: [Rows; 8] = std::array::from_fn(|i| to_rows(&words[i]));
        let mut x: [YRows; G] = std::array::from_fn(|g| {
            std::array::from_fn(|i| {
                _mm256_inserti128_si256::<1>(
                    _mm256_castsi128_si256(rows[2 * g][i]),
                    rows[2 * g + 1][i],
                )
            })
        });
        romix_g4(&mut x, v);
        for (g, y) in x.iter().enumerate() {
            let lo: Rows = std::array::from_fn(|i| _mm256_castsi256_si128(y[i]));
            let hi: Rows = std::array::from_fn(|i| _mm256_extracti128_si256::<1>(y[i]));
            words[2 * g] = from_rows(&lo);
            words[2 * g + 1] = from_rows(&hi);
        }
    }
}
