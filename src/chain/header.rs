//! The 80-byte block header as it is hashed, with named field offsets.
//!
//! Integer fields (version, time, bits, nonce) are stored little-endian. The previous block
//! hash and the merkle root are stored in internal byte order, which is the *reverse* of the
//! hex usually displayed by explorers and returned by node RPCs.

use std::ops::Range;

use bitcoin::consensus::encode;

use super::target::CompactTarget;

/// Mainnet block 125552's header, with its winning nonce: a real header for benchmarks and
/// self-tests.
pub const MAINNET_125552: &str = "0100000081cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122bc7f5d74df2b9441a42a14695";

/// An 80-byte block header in its serialized (hashed) form.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header([u8; Header::SIZE]);

/// Errors from building a [`Header`] out of external input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    #[error("a block header is {expected} bytes, got {got}")]
    Length { expected: usize, got: usize },
    #[error("block header is not valid hex: {0}")]
    Hex(String),
}

impl Header {
    /// Serialized size of a header.
    pub const SIZE: usize = 80;
    /// `i32` block version, little-endian.
    pub const VERSION: Range<usize> = 0..4;
    /// Hash of the previous block, internal byte order.
    pub const PREV_HASH: Range<usize> = 4..36;
    /// Merkle root of the transactions, internal byte order.
    pub const MERKLE_ROOT: Range<usize> = 36..68;
    /// `u32` block time (Unix seconds), little-endian.
    pub const TIME: Range<usize> = 68..72;
    /// Compact target ("bits"), little-endian.
    pub const BITS: Range<usize> = 72..76;
    /// `u32` nonce, little-endian.
    pub const NONCE: Range<usize> = 76..80;

    pub const fn from_bytes(bytes: [u8; Self::SIZE]) -> Self {
        Header(bytes)
    }

    /// Parses a header from the hex of its serialized bytes.
    pub fn from_hex(hex: &str) -> Result<Self, HeaderError> {
        let hex = hex.trim();
        if hex.len() != Self::SIZE * 2 {
            return Err(HeaderError::Length {
                expected: Self::SIZE,
                got: hex.len() / 2,
            });
        }
        use bitcoin::hex::FromHex;
        <[u8; Self::SIZE]>::from_hex(hex)
            .map(Header)
            .map_err(|e| HeaderError::Hex(e.to_string()))
    }

    pub const fn as_bytes(&self) -> &[u8; Self::SIZE] {
        &self.0
    }

    fn u32_at(&self, range: Range<usize>) -> u32 {
        u32::from_le_bytes(self.0[range].try_into().expect("4-byte field"))
    }

    pub fn version(&self) -> i32 {
        self.u32_at(Self::VERSION) as i32
    }
    pub fn time(&self) -> u32 {
        self.u32_at(Self::TIME)
    }
    pub fn bits(&self) -> CompactTarget {
        CompactTarget::from_consensus(self.u32_at(Self::BITS))
    }
    pub fn nonce(&self) -> u32 {
        self.u32_at(Self::NONCE)
    }

    pub fn set_nonce(&mut self, nonce: u32) {
        self.0[Self::NONCE].copy_from_slice(&nonce.to_le_bytes());
    }
    /// A copy of this header with `nonce`.
    pub fn with_nonce(mut self, nonce: u32) -> Self {
        self.set_nonce(nonce);
        self
    }
    pub fn set_time(&mut self, time: u32) {
        self.0[Self::TIME].copy_from_slice(&time.to_le_bytes());
    }
    /// Sets the merkle root from its internal byte order.
    pub fn set_merkle_root(&mut self, root: [u8; 32]) {
        self.0[Self::MERKLE_ROOT].copy_from_slice(&root);
    }

    /// The `bitcoin` crate's view of this header.
    pub fn to_bitcoin(&self) -> bitcoin::block::Header {
        encode::deserialize(&self.0).expect("any 80 bytes decode as a header")
    }

    pub fn from_bitcoin(header: &bitcoin::block::Header) -> Self {
        let bytes = encode::serialize(header);
        Header(bytes.try_into().expect("a header serializes to 80 bytes"))
    }
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use bitcoin::hex::DisplayHex;
        write!(f, "Header({})", self.0.as_hex())
    }
}

impl std::fmt::Display for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use bitcoin::hex::DisplayHex;
        write!(f, "{}", self.0.as_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

    #[test]
    fn fields_match_the_bitcoin_crate() {
        let h = Header::from_hex(GENESIS).unwrap();
        let b = h.to_bitcoin();
        assert_eq!(h.version(), b.version.to_consensus());
        assert_eq!(h.time(), b.time);
        assert_eq!(h.bits(), b.bits);
        assert_eq!(h.nonce(), b.nonce);
        assert_eq!(h.nonce(), 2083236893);
        assert_eq!(Header::from_bitcoin(&b), h);
        assert_eq!(h.to_string(), GENESIS);
    }

    #[test]
    fn setters_write_little_endian() {
        let mut h = Header::from_hex(GENESIS).unwrap();
        h.set_nonce(0x0102_0304);
        assert_eq!(&h.as_bytes()[Header::NONCE], &[4, 3, 2, 1]);
        h.set_time(7);
        assert_eq!(h.time(), 7);
        assert_eq!(h.to_bitcoin().nonce, 0x0102_0304);
    }

    #[test]
    fn bad_hex_is_an_error() {
        assert!(matches!(
            Header::from_hex("00"),
            Err(HeaderError::Length { got: 1, .. })
        ));
        let bad = format!("zz{}", &GENESIS[2..]);
        assert!(matches!(Header::from_hex(&bad), Err(HeaderError::Hex(_))));
        // 160 bytes of text that are not 160 ASCII digits: an error, not a panic on a
        // character boundary (the hand-written parser sliced the string).
        let wide = format!("€{}", &GENESIS[3..]);
        assert_eq!(wide.len(), 160);
        assert!(matches!(Header::from_hex(&wide), Err(HeaderError::Hex(_))));
    }
}
