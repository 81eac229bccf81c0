//! Stratum V2 on the SRI crates (`stratum-core`): the Noise NX wire and frame decoding
//! (`wire.rs`), and the mining channel as a sans-IO state machine over `channels_sv2`'s
//! client channels (`channel.rs`).
//!
//! Spec: <https://github.com/stratum-mining/sv2-spec> (Noise NX handshake, section 4; mining
//! protocol, section 5).

pub mod channel;
pub mod declare;
pub mod jd;
pub mod wire;

pub use channel::Channel;
pub use wire::{Frame, FrameError};

/// SetupConnection flags of the mining protocol (spec 5.3.1).
pub const REQUIRES_STANDARD_JOBS: u32 = 1 << 0;
/// The client sets its own jobs (SetCustomMiningJob, with a Job Declaration token).
pub const REQUIRES_WORK_SELECTION: u32 = 1 << 1;
pub const REQUIRES_VERSION_ROLLING: u32 = 1 << 2;

/// What is wrong with an authority key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("authority key {key:?} {reason}")]
pub struct KeyError {
    key: String,
    reason: String,
}

/// A pool's authority public key, as SRI prints it and pools publish it: base58check of a
/// 2-byte little-endian version (1) and the 32-byte x-only secp256k1 key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorityKey(pub [u8; 32]);

impl std::str::FromStr for AuthorityKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let bad = |reason: String| KeyError {
            key: crate::ui::output::clip(s, 80),
            reason,
        };
        let bytes = bitcoin::base58::decode_check(s)
            .map_err(|e| bad(format!("is not base58check: {e}")))?;
        if bytes.len() != 34 {
            return Err(bad(format!("holds {} bytes, not 34", bytes.len())));
        }
        let version = u16::from_le_bytes([bytes[0], bytes[1]]);
        if version != 1 {
            return Err(bad(format!("has version {version}, not 1")));
        }
        let key: [u8; 32] = bytes[2..].try_into().expect("34 - 2 bytes");
        bitcoin::secp256k1::XOnlyPublicKey::from_slice(&key)
            .map_err(|e| bad(format!("is not a secp256k1 key: {e}")))?;
        Ok(AuthorityKey(key))
    }
}

/// Which kind of mining channel to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    /// Header-only: the pool sends merkle roots; devices roll version bits and ntime.
    Standard,
    /// The coinbase is built here: extranonce rolling as well (for large rigs).
    Extended,
    /// An extended channel whose jobs hashrig sets itself (SetCustomMiningJob with a token
    /// from the pool's Job Declaration Server); the pool sends none.
    Custom,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_keys() {
        // The SRI examples' public authority key.
        let k: AuthorityKey = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72"
            .parse()
            .unwrap();
        assert_ne!(k.0, [0; 32]);
        for bad in [
            "",
            "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH73",
            "1111111111",
            "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n",
        ] {
            assert!(bad.parse::<AuthorityKey>().is_err(), "{bad}");
        }
    }
}
