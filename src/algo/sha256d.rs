//! SHA-256d of an 80-byte block header: the pieces every SHA-256d backend shares.
//!
//! A header is hashed as two 64-byte SHA-256 blocks. The first block (version, previous hash,
//! most of the merkle root) does not depend on the nonce, so its compression is done once per
//! job: that is the *midstate*. Per nonce only the second block (merkle tail, time, bits, nonce,
//! padding) and the second SHA-256 (over the 32-byte digest, also mostly padding) remain.
//!
//! The kernel below ([`sha256d_h7`]) is written once over the [`Lanes`] trait and instantiated
//! for `u32` (the scalar reference kernel), AVX2 (8 lanes) and AVX-512 (16 lanes). It uses the
//! usual tricks, all computed per job in [`Prepared`]:
//! - rounds 0..=2 of the second block use only job constants and are precomputed, round 3 is
//!   three additions (its T1 without the nonce word is a constant);
//! - message words that are padding constants are folded into `K[i] + W[i]`, and the parts of
//!   the message schedule that depend only on the job are precomputed;
//! - the second hash starts from the SHA-256 IV, so its round 0 is mostly a constant;
//! - only the last state word H7 of the second hash is computed (it is the most significant
//!   32 bits of the block hash read as a number): rounds 61..=63 are skipped and the parts of
//!   rounds 57..=60 that do not feed `e` are left to dead-code elimination. A lane whose H7 passes
//!   the target's top word is a *hit*; the full 256-bit check happens later, on hits only.
//!
//! Byte order, where it bites: SHA-256 reads its message as big-endian 32-bit words, while the
//! header stores its integer fields little-endian. So the message word for the nonce is
//! `nonce.swap_bytes()`, and the hash compared against the target is the digest read as a
//! *little-endian* 256-bit number, whose top 32 bits are `H7.swap_bytes()`.

use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256};

use crate::chain::header::Header;

/// SHA-256 round constants (FIPS 180-4, 4.2.2).
pub const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 initial hash value (FIPS 180-4, 5.3.3).
pub const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Padding word that follows the message: a single 1 bit.
pub(crate) const PAD: u32 = 0x8000_0000;
/// Message length in bits of the first hash (80 bytes) and of the second (32 bytes).
pub(crate) const LEN1: u32 = 80 * 8;
pub(crate) const LEN2: u32 = 32 * 8;

/// `K[i] + W[i]` for rounds 4..=15 of the header's second block, where W is padding:
/// W4 = 0x80000000, W5..=W14 = 0, W15 = 640.
pub(crate) const KW1: [u32; 16] = {
    let mut kw = [0u32; 16];
    let mut i = 4;
    while i < 16 {
        kw[i] = K[i];
        i += 1;
    }
    kw[4] = K[4].wrapping_add(PAD);
    kw[15] = K[15].wrapping_add(LEN1);
    kw
};

/// `K[i] + W[i]` for rounds 8..=15 of the second hash: W8 = 0x80000000, W9..=W14 = 0, W15 = 256.
pub(crate) const KW2: [u32; 16] = {
    let mut kw = [0u32; 16];
    let mut i = 8;
    while i < 16 {
        kw[i] = K[i];
        i += 1;
    }
    kw[8] = K[8].wrapping_add(PAD);
    kw[15] = K[15].wrapping_add(LEN2);
    kw
};

pub(crate) const fn bsig0(x: u32) -> u32 {
    x.rotate_right(2) ^ x.rotate_right(13) ^ x.rotate_right(22)
}
pub(crate) const fn bsig1(x: u32) -> u32 {
    x.rotate_right(6) ^ x.rotate_right(11) ^ x.rotate_right(25)
}
pub(crate) const fn ssig0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}
pub(crate) const fn ssig1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}
pub(crate) const fn ch(e: u32, f: u32, g: u32) -> u32 {
    g ^ (e & (f ^ g))
}
pub(crate) const fn maj(a: u32, b: u32, c: u32) -> u32 {
    (a & b) | (c & (a | b))
}

/// Round 0 of the second hash: the state is the IV, so T1 is `H2_T1_0 + W0` and T2 is constant.
pub(crate) const H2_T1_0: u32 = IV[7]
    .wrapping_add(bsig1(IV[4]))
    .wrapping_add(ch(IV[4], IV[5], IV[6]))
    .wrapping_add(K[0]);
pub(crate) const H2_T2_0: u32 = bsig0(IV[0]).wrapping_add(maj(IV[0], IV[1], IV[2]));

/// Schedule constants of the second hash that come from its padding words.
pub(crate) const SSIG1_LEN2: u32 = ssig1(LEN2);
pub(crate) const SSIG0_PAD: u32 = ssig0(PAD);
pub(crate) const SSIG0_LEN2: u32 = ssig0(LEN2);
/// `K[60] + IV[7]`: round 60's constant with the final addition of H7 folded in.
const K60_IV7: u32 = K[60].wrapping_add(IV[7]);

/// A vector of independent 32-bit lanes, one nonce per lane.
///
/// Implemented for `u32` (one lane) and for the x86 SIMD registers in `backend::cpu`. Every
/// method is `#[inline(always)]` so that the generic kernel compiles into the caller's
/// `#[target_feature]` context.
pub trait Lanes: Copy {
    /// Number of nonces processed at once.
    const LANES: usize;
    fn splat(x: u32) -> Self;
    fn add(self, rhs: Self) -> Self;
    /// Σ0 (FIPS 180-4, 4.1.2): rotr 2 ^ rotr 13 ^ rotr 22.
    fn bsig0(self) -> Self;
    /// Σ1: rotr 6 ^ rotr 11 ^ rotr 25.
    fn bsig1(self) -> Self;
    /// σ0: rotr 7 ^ rotr 18 ^ shr 3.
    fn ssig0(self) -> Self;
    /// σ1: rotr 17 ^ rotr 19 ^ shr 10.
    fn ssig1(self) -> Self;
    /// Ch(e, f, g) = (e & f) ^ (!e & g).
    fn ch(e: Self, f: Self, g: Self) -> Self;
    /// Maj(a, b, c) = (a & b) ^ (a & c) ^ (b & c).
    fn maj(a: Self, b: Self, c: Self) -> Self;
}

impl Lanes for u32 {
    const LANES: usize = 1;
    #[inline(always)]
    fn splat(x: u32) -> Self {
        x
    }
    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        self.wrapping_add(rhs)
    }
    #[inline(always)]
    fn bsig0(self) -> Self {
        bsig0(self)
    }
    #[inline(always)]
    fn bsig1(self) -> Self {
        bsig1(self)
    }
    #[inline(always)]
    fn ssig0(self) -> Self {
        ssig0(self)
    }
    #[inline(always)]
    fn ssig1(self) -> Self {
        ssig1(self)
    }
    #[inline(always)]
    fn ch(e: Self, f: Self, g: Self) -> Self {
        ch(e, f, g)
    }
    #[inline(always)]
    fn maj(a: Self, b: Self, c: Self) -> Self {
        maj(a, b, c)
    }
}

/// One SHA-256 round on a working state kept in "rotating" order: instead of moving eight
/// variables every round, round `i` reads `a` from `v[(0 - i) mod 8]`, `b` from `v[(1 - i) mod 8]`
/// and so on, and writes the new `e` over `d` and the new `a` over `h`. With `i` a constant (all
/// call sites are unrolled) the indices fold away and `v` lives in registers. After a multiple of
/// 8 rounds `v` is back in a..h order. `kw` is `K[i] + W[i]`.
#[inline(always)]
fn round<L: Lanes>(v: &mut [L; 8], i: usize, kw: L) {
    let at = |k: usize| (k + 8 - i % 8) % 8;
    let (a, b, c, d) = (v[at(0)], v[at(1)], v[at(2)], v[at(3)]);
    let (e, f, g, h) = (v[at(4)], v[at(5)], v[at(6)], v[at(7)]);
    // h + kw does not depend on the previous round: keep it off the critical path.
    let t1 = h.add(kw).add(L::ch(e, f, g)).add(e.bsig1());
    let t2 = a.bsig0().add(L::maj(a, b, c));
    v[at(3)] = d.add(t1);
    v[at(7)] = t1.add(t2);
}

/// `W[i] = σ1(W[i-2]) + W[i-7] + σ0(W[i-15]) + W[i-16]`.
#[inline(always)]
fn schedule<L: Lanes>(w: &[L; 64], i: usize) -> L {
    w[i - 2]
        .ssig1()
        .add(w[i - 7])
        .add(w[i - 15].ssig0())
        .add(w[i - 16])
}

/// Expands `$body!(i)` for each listed round index (a hand-unrolled loop).
macro_rules! unroll {
    ($body:ident; $($i:literal)*) => { $( $body!($i); )* };
}

/// Everything about a header that does not depend on the nonce, precomputed once per job.
///
/// Computed from the 80-byte header; the nonce bytes in it are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// SHA-256 state after the first 64 header bytes.
    pub midstate: [u32; 8],
    /// The first three message words of the second block: merkle root tail, time, bits.
    pub tail: [u32; 3],
    /// Working state after rounds 0..=1 of the second block, in a..h order (for kernels that
    /// run rounds in pairs, like SHA-NI).
    pub state2: [u32; 8],
    /// Working state after rounds 0..=2 of the second block, in the rotating order of round 3.
    pub state3: [u32; 8],
    /// Round 3's T1 without its message word (the nonce).
    pub t1_3: u32,
    /// Round 3's T2 (depends only on a, b, c).
    pub t2_3: u32,
    /// Message schedule of the second block: W16 and W17 (constant), and the constant parts of
    /// W18 (plus σ0(nonce word)) and W19 (plus the nonce word).
    pub w16: u32,
    pub w17: u32,
    pub w18_part: u32,
    pub w19_part: u32,
    /// σ0(W16) + W15, the constant part of W31.
    pub w31_part: u32,
}

impl Prepared {
    /// Precomputes the nonce-independent work for `header`.
    pub fn new(header: &Header) -> Self {
        let bytes = header.as_bytes();
        let midstate = midstate(bytes[..64].try_into().expect("64 bytes"));
        let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let tail = [word(64), word(68), word(72)];

        let mut v = midstate;
        let mut state2 = [0; 8];
        for (i, &w) in tail.iter().enumerate() {
            if i == 2 {
                // Round 2 reads a..h from v[6], v[7], v[0], ..., v[5].
                state2 = std::array::from_fn(|k| v[(k + 6) % 8]);
            }
            round(&mut v, i, K[i].wrapping_add(w));
        }
        // Round 3 reads a..h from v[5], v[6], v[7], v[0], v[1], v[2], v[3], v[4].
        let (a, b, c) = (v[5], v[6], v[7]);
        let (e, f, g, h) = (v[1], v[2], v[3], v[4]);
        let t1_3 = h
            .wrapping_add(bsig1(e))
            .wrapping_add(ch(e, f, g))
            .wrapping_add(K[3]);
        let t2_3 = bsig0(a).wrapping_add(maj(a, b, c));

        let w16 = ssig0(tail[1]).wrapping_add(tail[0]);
        let w17 = ssig1(LEN1)
            .wrapping_add(ssig0(tail[2]))
            .wrapping_add(tail[1]);
        let w18_part = ssig1(w16).wrapping_add(tail[2]);
        let w19_part = ssig1(w17).wrapping_add(ssig0(PAD));
        let w31_part = ssig0(w16).wrapping_add(LEN1);
        Prepared {
            midstate,
            tail,
            state2,
            state3: v,
            t1_3,
            t2_3,
            w16,
            w17,
            w18_part,
            w19_part,
            w31_part,
        }
    }
}

/// The last state word H7 of `SHA256(SHA256(header))` for each lane's nonce word
/// (`w3 = nonce.swap_bytes()`), as the big-endian word of the digest. The hash's top 32 bits
/// as a number are `H7.swap_bytes()`.
#[inline(always)]
pub fn sha256d_h7<L: Lanes>(p: &Prepared, w3: L) -> L {
    let s = L::splat;

    // ---- First hash, second block. Rounds 0..=2 are in `p.state3`; round 3 is three adds.
    let mut v = [
        s(p.state3[0]),
        s(p.state3[1]),
        s(p.state3[2]),
        s(p.state3[3]),
        s(p.state3[4]),
        s(p.state3[5]),
        s(p.state3[6]),
        s(p.state3[7]),
    ];
    let t1 = s(p.t1_3).add(w3);
    v[0] = v[0].add(t1); // d + T1 becomes e
    v[4] = t1.add(s(p.t2_3)); // T1 + T2 becomes a

    macro_rules! const_round {
        ($i:literal) => {
            round(&mut v, $i, s(KW1[$i]))
        };
    }
    unroll!(const_round; 4 5 6 7 8 9 10 11 12 13 14 15);

    let mut w = [s(0); 64];
    w[16] = s(p.w16);
    w[17] = s(p.w17);
    w[18] = s(p.w18_part).add(w3.ssig0());
    w[19] = s(p.w19_part).add(w3);
    w[20] = w[18].ssig1().add(s(PAD));
    w[21] = w[19].ssig1();
    w[22] = w[20].ssig1().add(s(LEN1));
    w[23] = w[21].ssig1().add(w[16]);
    w[24] = w[22].ssig1().add(w[17]);
    w[25] = w[23].ssig1().add(w[18]);
    w[26] = w[24].ssig1().add(w[19]);
    w[27] = w[25].ssig1().add(w[20]);
    w[28] = w[26].ssig1().add(w[21]);
    w[29] = w[27].ssig1().add(w[22]);
    w[30] = w[28].ssig1().add(w[23]).add(s(ssig0(LEN1)));
    w[31] = w[29].ssig1().add(w[24]).add(s(p.w31_part));
    macro_rules! sched_round {
        ($i:literal) => {
            if $i >= 32 {
                w[$i] = schedule(&w, $i);
            }
            round(&mut v, $i, w[$i].add(s(K[$i])));
        };
    }
    unroll!(sched_round; 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
        48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);

    // The first digest, which is the second hash's message W0..=W7.
    let x = [
        v[0].add(s(p.midstate[0])),
        v[1].add(s(p.midstate[1])),
        v[2].add(s(p.midstate[2])),
        v[3].add(s(p.midstate[3])),
        v[4].add(s(p.midstate[4])),
        v[5].add(s(p.midstate[5])),
        v[6].add(s(p.midstate[6])),
        v[7].add(s(p.midstate[7])),
    ];

    // ---- Second hash: one block, starting from the IV. Round 0 is mostly constant.
    let mut v = [
        s(IV[0]),
        s(IV[1]),
        s(IV[2]),
        s(IV[3]),
        s(IV[4]),
        s(IV[5]),
        s(IV[6]),
        s(IV[7]),
    ];
    let t1 = s(H2_T1_0).add(x[0]);
    v[3] = v[3].add(t1);
    v[7] = t1.add(s(H2_T2_0));
    macro_rules! msg_round {
        ($i:literal) => {
            round(&mut v, $i, x[$i].add(s(K[$i])))
        };
    }
    unroll!(msg_round; 1 2 3 4 5 6 7);
    macro_rules! pad_round {
        ($i:literal) => {
            round(&mut v, $i, s(KW2[$i]))
        };
    }
    unroll!(pad_round; 8 9 10 11 12 13 14 15);

    let mut w = [s(0); 64];
    w[16] = x[1].ssig0().add(x[0]);
    w[17] = x[2].ssig0().add(x[1]).add(s(SSIG1_LEN2));
    w[18] = w[16].ssig1().add(x[3].ssig0()).add(x[2]);
    w[19] = w[17].ssig1().add(x[4].ssig0()).add(x[3]);
    w[20] = w[18].ssig1().add(x[5].ssig0()).add(x[4]);
    w[21] = w[19].ssig1().add(x[6].ssig0()).add(x[5]);
    w[22] = w[20].ssig1().add(x[7].ssig0()).add(x[6]).add(s(LEN2));
    w[23] = w[21].ssig1().add(w[16]).add(x[7]).add(s(SSIG0_PAD));
    w[24] = w[22].ssig1().add(w[17]).add(s(PAD));
    w[25] = w[23].ssig1().add(w[18]);
    w[26] = w[24].ssig1().add(w[19]);
    w[27] = w[25].ssig1().add(w[20]);
    w[28] = w[26].ssig1().add(w[21]);
    w[29] = w[27].ssig1().add(w[22]);
    w[30] = w[28].ssig1().add(w[23]).add(s(SSIG0_LEN2));
    w[31] = w[29].ssig1().add(w[24]).add(w[16].ssig0()).add(s(LEN2));
    macro_rules! sched_round2 {
        ($i:literal) => {
            if $i >= 32 {
                w[$i] = schedule(&w, $i);
            }
            round(&mut v, $i, w[$i].add(s(K[$i])));
        };
    }
    unroll!(sched_round2; 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
        48 49 50 51 52 53 54 55 56 57 58 59);

    // Round 60, e only: H7 = IV7 + h64 = IV7 + e61 = IV7 + d60 + T1(60). Rounds 61..=63 are
    // not needed, and neither are the `a` halves of rounds 57..=60 (dead code, eliminated).
    w[60] = schedule(&w, 60);
    // Round 60 reads a..h from v[4], v[5], v[6], v[7], v[0], v[1], v[2], v[3].
    let (d, e, f, g, h) = (v[7], v[0], v[1], v[2], v[3]);
    h.add(d)
        .add(w[60].add(s(K60_IV7)))
        .add(L::ch(e, f, g))
        .add(e.bsig1())
}

/// SHA-256 state after compressing the first 64 bytes of a header (sha2's compression function).
pub fn midstate(first_block: &[u8; 64]) -> [u32; 8] {
    let mut state = IV;
    sha2::compress256(&mut state, &[*GenericArray::from_slice(first_block)]);
    state
}

/// Full `SHA256(SHA256(header))` from a midstate, with `header`'s nonce replaced by `nonce`:
/// the full check that a kernel's hit is run through. Uses sha2's compression function.
pub fn digest_from_midstate(midstate: &[u32; 8], header: &Header, nonce: u32) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..16].copy_from_slice(&header.as_bytes()[64..80]);
    block[12..16].copy_from_slice(&nonce.to_le_bytes());
    block[16] = 0x80;
    block[62..].copy_from_slice(&(LEN1 as u16).to_be_bytes());
    let mut state = *midstate;
    sha2::compress256(&mut state, &[*GenericArray::from_slice(&block)]);

    let mut block = [0u8; 64];
    for (chunk, word) in block.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    block[32] = 0x80;
    block[62..].copy_from_slice(&(LEN2 as u16).to_be_bytes());
    let mut state = IV;
    sha2::compress256(&mut state, &[*GenericArray::from_slice(&block)]);
    state_to_digest(&state)
}

/// The digest bytes of a SHA-256 state (big-endian words).
pub fn state_to_digest(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// The reference: plain `Sha256(Sha256(80 bytes))` with the `sha2` crate, no shortcuts.
/// Every candidate is re-checked with this before it becomes a share.
pub fn reference_digest(header: &[u8; Header::SIZE]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(header)).into()
}

/// H7 as the kernels report it (big-endian word 7 of the digest).
pub fn digest_h7(digest: &[u8; 32]) -> u32 {
    u32::from_be_bytes(digest[28..32].try_into().expect("4 bytes"))
}
