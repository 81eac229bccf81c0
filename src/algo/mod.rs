//! Per-algorithm pieces shared by every backend, and [`Algo`]: which proof of work is mined.
//!
//! Everything that differs between SHA-256d (Bitcoin) and scrypt (Litecoin, Dogecoin) is
//! reached through [`Algo`]: the proof-of-work hash a target is compared with, the reference
//! that re-checks every candidate, and the pools' difficulty scale. The block id is SHA-256d for
//! both.

pub mod scrypt;
pub mod sha256d;

use std::fmt;
use std::str::FromStr;

use crate::chain::{difficulty_target, target_difficulty, Target};

/// A proof-of-work algorithm hashrig mines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Algo {
    /// Double SHA-256 of the header (Bitcoin).
    #[default]
    Sha256d,
    /// scrypt(N = 1024, r = 1, p = 1) of the header (Litecoin, Dogecoin).
    Scrypt,
}

/// `--algo` named an algorithm hashrig does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown algorithm {0:?} (known: sha256d, scrypt)")]
pub struct UnknownAlgo(pub String);

impl Algo {
    pub const ALL: [Algo; 2] = [Algo::Sha256d, Algo::Scrypt];

    pub fn name(self) -> &'static str {
        match self {
            Algo::Sha256d => "sha256d",
            Algo::Scrypt => "scrypt",
        }
    }

    /// The proof-of-work hash of `header` by the reference implementation (`sha2`, or the
    /// RustCrypto `scrypt` crate): what every candidate is checked against.
    pub fn reference_pow(self, header: &[u8; 80]) -> [u8; 32] {
        match self {
            Algo::Sha256d => sha256d::reference_digest(header),
            Algo::Scrypt => scrypt::reference(header),
        }
    }

    /// How much easier a pool's difficulty 1 is than SHA-256d's: pools set scrypt's difficulty 1
    /// at the target `0xffff * 2^224`, 2^16 times SHA-256d's `0xffff * 2^208`. (Nodes report
    /// the network difficulty on SHA-256d's scale for both: `getdifficulty` is the same code.)
    pub fn share_difficulty_factor(self) -> f64 {
        match self {
            Algo::Sha256d => 1.0,
            Algo::Scrypt => 65536.0,
        }
    }

    /// The target of a pool's share difficulty on this algorithm's scale (`None` for a
    /// difficulty that is not a finite number above zero).
    pub fn share_target(self, difficulty: f64) -> Option<Target> {
        if !(difficulty.is_finite() && difficulty > 0.0) {
            return None;
        }
        difficulty_target(difficulty / self.share_difficulty_factor())
    }

    /// A target's (or a hash's) share difficulty on this algorithm's scale.
    pub fn share_difficulty(self, target: &Target) -> f64 {
        target_difficulty(target) * self.share_difficulty_factor()
    }

    /// Hashes a share of difficulty 1 takes on average on this algorithm's scale.
    pub fn hashes_per_share_difficulty(self) -> f64 {
        4_294_967_296.0 / self.share_difficulty_factor()
    }
}

impl fmt::Display for Algo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algo {
    type Err = UnknownAlgo;
    fn from_str(s: &str) -> Result<Self, UnknownAlgo> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sha256d" | "sha256" | "sha-256d" => Ok(Algo::Sha256d),
            "scrypt" => Ok(Algo::Scrypt),
            _ => Err(UnknownAlgo(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrypt_difficulty_one_is_the_pools_target() {
        // Pools' scrypt difficulty 1: 0x0000ffff << 224.
        let mut le = [0u8; 32];
        le[28] = 0xff;
        le[29] = 0xff;
        let one = Algo::Scrypt.share_target(1.0).unwrap();
        assert_eq!(one, Target::from_le_bytes(le));
        assert!((Algo::Scrypt.share_difficulty(&one) - 1.0).abs() < 1e-12);
        assert_eq!(Algo::Sha256d.share_target(1.0), difficulty_target(1.0));
        // The same target is 2^16 times the difficulty on scrypt's scale.
        let t = difficulty_target(3.0).unwrap();
        let ratio = Algo::Scrypt.share_difficulty(&t) / Algo::Sha256d.share_difficulty(&t);
        assert!((ratio - 65536.0).abs() < 1e-6);
        assert_eq!(Algo::Scrypt.hashes_per_share_difficulty(), 65536.0);
        assert_eq!(Algo::Scrypt.share_target(0.0), None);
    }

    #[test]
    fn names_round_trip() {
        for a in Algo::ALL {
            assert_eq!(a.name().parse::<Algo>().unwrap(), a);
        }
        assert!("x11".parse::<Algo>().is_err());
    }
}
