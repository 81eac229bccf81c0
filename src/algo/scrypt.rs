//! scrypt(N = 1024, r = 1, p = 1) of an 80-byte block header, Litecoin's and Dogecoin's proof of
//! work: the header is both password and salt, the output 32 bytes, compared with the target as
//! a little-endian 256-bit number (the block's id stays SHA-256d). RFC 7914 defines it; for a
//! header it is three steps:
//!
//! 1. `B = PBKDF2-HMAC-SHA256(header, header, 1, 128)`: four HMAC blocks;
//! 2. `ROMix(B)`: 1024 BlockMix(Salsa20/8) steps filling a 128 KiB scratchpad, then 1024 steps
//!    reading it back at data-dependent places (the memory-hard part: ~99% of the time);
//! 3. `PBKDF2-HMAC-SHA256(header, B', 1, 32)`: one HMAC block.
//!
//! The HMAC key is the 80-byte header, longer than SHA-256's 64-byte block, so HMAC first hashes
//! it: `key = SHA-256(header)`. Its first 64 bytes do not depend on the nonce: their compression
//! is done once per job ([`Prepared`]), like SHA-256d's midstate. Likewise the salt of step 1 is
//! the header, whose first 64 bytes are compressed once per nonce for all four HMAC blocks.
//!
//! [`hash`] is the portable kernel (one hash, a scratchpad the caller keeps); [`reference`] is
//! the RustCrypto `scrypt` crate, which every candidate is checked against before it leaves the
//! process (it shares hashrig's `sha2` 0.10).

use sha2::compress256;
use sha2::digest::generic_array::GenericArray;

use super::sha256d::IV;

/// scrypt's N for Litecoin: 1024 entries of 128 bytes (r = 1).
pub const N: usize = 1024;
/// 32-bit words in one ROMix entry (128 bytes).
pub const WORDS: usize = 32;
/// Bytes of one hash's scratchpad.
pub const SCRATCH_BYTES: usize = N * WORDS * 4;

/// The scrypt hash of `header` by the RustCrypto `scrypt` crate: the reference.
pub fn reference(header: &[u8; 80]) -> [u8; 32] {
    let params = scrypt::Params::new(10, 1, 1, 32).expect("N = 2^10, r = 1, p = 1 are valid");
    let mut out = [0u8; 32];
    scrypt::scrypt(header, header, &params, &mut out).expect("32 bytes is a valid length");
    out
}

/// One ROMix scratchpad (128 KiB), allocated once and reused for every hash.
pub struct Scratch(Box<[[u32; WORDS]]>);

impl Default for Scratch {
    fn default() -> Self {
        Scratch(vec![[0u32; WORDS]; N].into_boxed_slice())
    }
}

/// What a job's headers share: the SHA-256 state after their first 64 bytes (the HMAC key is
/// SHA-256 of the header), and the header's last 16 bytes but the nonce.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The header's first 64 bytes (also the first block of step 1's salt).
    head: [u8; 64],
    /// SHA-256 state after `head`.
    midstate: [u32; 8],
    /// Header bytes 64..76 (merkle root tail, time, bits).
    tail: [u8; 12],
}

fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    compress256(state, &[*GenericArray::from_slice(block)]);
}

fn be_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

impl Prepared {
    /// The per-job part of hashing headers that differ only in their nonce (bytes 76..80).
    pub fn new(header: &[u8; 80]) -> Self {
        let head: [u8; 64] = header[..64].try_into().expect("64 of 80 bytes");
        let mut midstate = IV;
        compress(&mut midstate, &head);
        Prepared {
            head,
            midstate,
            tail: header[64..76].try_into().expect("12 bytes"),
        }
    }

    /// The last 16 bytes of the header with `nonce`.
    fn last16(&self, nonce: u32) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..12].copy_from_slice(&self.tail);
        b[12..].copy_from_slice(&nonce.to_le_bytes());
        b
    }
}

/// HMAC-SHA256 keyed with one header: the states after the inner and outer pads.
struct Hmac {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl Hmac {
    fn new(p: &Prepared, last16: &[u8; 16]) -> Self {
        // key = SHA-256(header): the midstate, then the last 16 bytes and padding (80 bytes).
        let mut block = [0u8; 64];
        block[..16].copy_from_slice(last16);
        block[16] = 0x80;
        block[56..].copy_from_slice(&(80u64 * 8).to_be_bytes());
        let mut key = p.midstate;
        compress(&mut key, &block);
        let key = be_bytes(&key);
        let pad = |byte: u8| {
            let mut b = [byte; 64];
            for (x, k) in b.iter_mut().zip(key) {
                *x ^= k;
            }
            let mut s = IV;
            compress(&mut s, &b);
            s
        };
        Hmac {
            inner: pad(0x36),
            outer: pad(0x5c),
        }
    }

    /// The outer hash over an inner digest (64 + 32 bytes).
    fn finish(&self, inner: &[u32; 8]) -> [u8; 32] {
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&be_bytes(inner));
        block[32] = 0x80;
        block[56..].copy_from_slice(&((64u64 + 32) * 8).to_be_bytes());
        let mut s = self.outer;
        compress(&mut s, &block);
        be_bytes(&s)
    }
}

/// Step 1: PBKDF2(header, header, 1, 128) as 32 little-endian words.
fn pbkdf2_header(p: &Prepared, hmac: &Hmac, last16: &[u8; 16]) -> [u32; WORDS] {
    // The salt's first 64 bytes are the same for the four blocks.
    let mut mid = hmac.inner;
    compress(&mut mid, &p.head);
    let mut x = [0u32; WORDS];
    for i in 0..4u32 {
        // header[64..80] || INT(i + 1) || padding; 64 + 84 bytes in all.
        let mut block = [0u8; 64];
        block[..16].copy_from_slice(last16);
        block[16..20].copy_from_slice(&(i + 1).to_be_bytes());
        block[20] = 0x80;
        block[56..].copy_from_slice(&((64u64 + 84) * 8).to_be_bytes());
        let mut s = mid;
        compress(&mut s, &block);
        let t = hmac.finish(&s);
        for (w, c) in x[i as usize * 8..][..8].iter_mut().zip(t.chunks_exact(4)) {
            *w = u32::from_le_bytes(c.try_into().expect("4 bytes"));
        }
    }
    x
}

/// Step 3: PBKDF2(header, B', 1, 32).
fn pbkdf2_out(hmac: &Hmac, x: &[u32; WORDS]) -> [u8; 32] {
    let mut bytes = [0u8; 128];
    for (b, w) in bytes.chunks_exact_mut(4).zip(x) {
        b.copy_from_slice(&w.to_le_bytes());
    }
    let mut s = hmac.inner;
    compress(&mut s, bytes[..64].try_into().expect("64"));
    compress(&mut s, bytes[64..].try_into().expect("64"));
    // INT(1) || padding; 64 + 132 bytes in all.
    let mut block = [0u8; 64];
    block[..4].copy_from_slice(&1u32.to_be_bytes());
    block[4] = 0x80;
    block[56..].copy_from_slice(&((64u64 + 132) * 8).to_be_bytes());
    compress(&mut s, &block);
    hmac.finish(&s)
}

/// Salsa20/8's core: `b = b + salsa(b)` after `b ^= x` (scrypt's `xor_salsa8`).
#[inline(always)]
fn xor_salsa8(b: &mut [u32; 16], x: &[u32; 16]) {
    for (bi, xi) in b.iter_mut().zip(x) {
        *bi ^= xi;
    }
    let mut s = *b;
    macro_rules! quarter {
        ($a:expr, $b:expr, $c:expr, $d:expr) => {
            s[$b] ^= s[$a].wrapping_add(s[$d]).rotate_left(7);
            s[$c] ^= s[$b].wrapping_add(s[$a]).rotate_left(9);
            s[$d] ^= s[$c].wrapping_add(s[$b]).rotate_left(13);
            s[$a] ^= s[$d].wrapping_add(s[$c]).rotate_left(18);
        };
    }
    for _ in 0..4 {
        // Columns, then rows.
        quarter!(0, 4, 8, 12);
        quarter!(5, 9, 13, 1);
        quarter!(10, 14, 2, 6);
        quarter!(15, 3, 7, 11);
        quarter!(0, 1, 2, 3);
        quarter!(5, 6, 7, 4);
        quarter!(10, 11, 8, 9);
        quarter!(15, 12, 13, 14);
    }
    for (bi, si) in b.iter_mut().zip(s) {
        *bi = bi.wrapping_add(si);
    }
}

/// BlockMix for r = 1 on the two 64-byte halves of `x`.
#[inline(always)]
fn block_mix(x: &mut [u32; WORDS]) {
    let (lo, hi) = x.split_at_mut(16);
    let lo: &mut [u32; 16] = lo.try_into().expect("16");
    let hi: &mut [u32; 16] = hi.try_into().expect("16");
    xor_salsa8(lo, hi);
    xor_salsa8(hi, lo);
}

/// Step 2: ROMix in `scratch`.
fn romix(x: &mut [u32; WORDS], scratch: &mut Scratch) {
    for v in scratch.0.iter_mut() {
        *v = *x;
        block_mix(x);
    }
    for _ in 0..N {
        let j = x[16] as usize & (N - 1);
        for (xi, vi) in x.iter_mut().zip(&scratch.0[j]) {
            *xi ^= vi;
        }
        block_mix(x);
    }
}

/// The HMAC key of one header (both PBKDF2 steps use it).
pub struct Keyed(Hmac);

/// Step 1 for the job's header with `nonce`: its key and ROMix's input (32 words), for
/// kernels that run ROMix their own way; [`finish`] does step 3.
pub fn start(p: &Prepared, nonce: u32) -> (Keyed, [u32; WORDS]) {
    let last16 = p.last16(nonce);
    let hmac = Hmac::new(p, &last16);
    let x = pbkdf2_header(p, &hmac, &last16);
    (Keyed(hmac), x)
}

/// Step 3: the hash from ROMix's output.
pub fn finish(key: &Keyed, x: &[u32; WORDS]) -> [u8; 32] {
    pbkdf2_out(&key.0, x)
}

/// The scrypt hash of the job's header with `nonce` (the portable kernel).
pub fn hash(p: &Prepared, nonce: u32, scratch: &mut Scratch) -> [u8; 32] {
    let last16 = p.last16(nonce);
    let hmac = Hmac::new(p, &last16);
    let mut x = pbkdf2_header(p, &hmac, &last16);
    romix(&mut x, scratch);
    pbkdf2_out(&hmac, &x)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Litecoin mainnet headers and their scrypt hashes (display order), the vectors Litecoin
    /// Core's scrypt test carries. Each hash meets its own header's bits (0x1b47c7ea):
    /// self-proving.
    pub(crate) const LITECOIN: [(&str, &str); 5] = [
        (
            "020000004c1271c211717198227392b029a64a7971931d351b387bb80db027f270411e398a07046f7d4a08dd815412a8712f874a7ebf0507e3878bd24e20a3b73fd750a667d2f451eac7471b00de6659",
            "00000000002bef4107f882f6115e0b01f348d21195dacd3582aa2dabd7985806",
        ),
        (
            "0200000011503ee6a855e900c00cfdd98f5f55fffeaee9b6bf55bea9b852d9de2ce35828e204eef76acfd36949ae56d1fbe81c1ac9c0209e6331ad56414f9072506a77f8c6faf551eac7471b00389d01",
            "00000000003a0d11bdd5eb634e08b7feddcfbbf228ed35d250daf19f1c88fc94",
        ),
        (
            "02000000a72c8a177f523946f42f22c3e86b8023221b4105e8007e59e81f6beb013e29aaf635295cb9ac966213fb56e046dc71df5b3f7f67ceaeab24038e743f883aff1aaafaf551eac7471b0166249b",
            "00000000000b40f895f288e13244728a6c2d9d59d8aff29c65f8dd5114a8ca81",
        ),
        (
            "010000007824bc3a8a1b4628485eee3024abd8626721f7f870f8ad4d2f33a27155167f6a4009d1285049603888fe85a84b6c803a53305a8d497965a5e896e1a00568359589faf551eac7471b0065434e",
            "00000000003007005891cd4923031e99d8e8d72f6e8e7edc6a86181897e105fe",
        ),
        (
            "0200000050bfd4e4a307a8cb6ef4aef69abc5c0f2d579648bd80d7733e1ccc3fbc90ed664a7f74006cb11bde87785f229ecd366c2d4e44432832580e0608c579e4cb76f383f7f551eac7471b00c36982",
            "000000000018f0b426a4afc7130ccb47fa02af730d345b4fe7c7724d3800ec8c",
        ),
    ];

    pub(crate) fn header(hex: &str) -> [u8; 80] {
        use bitcoin::hex::FromHex;
        <[u8; 80]>::from_hex(hex).unwrap()
    }

    pub(crate) fn display(hash: &[u8; 32]) -> String {
        let mut h = *hash;
        h.reverse();
        bitcoin::hex::DisplayHex::to_lower_hex_string(&h[..])
    }

    #[test]
    fn litecoin_headers_hash_to_their_known_values_and_meet_their_bits() {
        let mut scratch = Scratch::default();
        for (input, expected) in LITECOIN {
            let h = header(input);
            assert_eq!(display(&reference(&h)), expected);
            let nonce = u32::from_le_bytes(h[76..].try_into().unwrap());
            let got = hash(&Prepared::new(&h), nonce, &mut scratch);
            assert_eq!(display(&got), expected);
            let bits = u32::from_le_bytes(h[72..76].try_into().unwrap());
            let target =
                bitcoin::Target::from_compact(bitcoin::CompactTarget::from_consensus(bits));
            assert!(crate::chain::hash_meets(&got, &target), "{expected}");
        }
    }

    #[test]
    fn the_portable_kernel_matches_the_crate_on_random_headers_and_edge_nonces() {
        let mut scratch = Scratch::default();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..6 {
            let mut h = [0u8; 80];
            for b in h.iter_mut() {
                *b = next() as u8;
            }
            let p = Prepared::new(&h);
            for nonce in [0, 1, 0x7fff_ffff, 0xffff_ffff, next() as u32] {
                h[76..].copy_from_slice(&nonce.to_le_bytes());
                assert_eq!(
                    hash(&p, nonce, &mut scratch),
                    reference(&h),
                    "{round} {nonce}"
                );
            }
        }
    }
}
