//! What a work source publishes: [`Work`]. The dispatcher turns it into jobs for the backends:
//! a [`Roll`] (extranonce2, version bits) picks one header out of the work's space, and each
//! backend scans the nonces of the headers it was given.
//!
//! The same shape serves every source: a node (the coinbase is ours, with our own extranonce),
//! a Stratum v1 pool (coinbase halves, extranonce1 from the pool, extranonce2 rolled here) and
//! header-only mining (a fixed merkle root; only version bits and the time roll).
//!
//! BIP 310 (version rolling): <https://github.com/bitcoin/bips/blob/master/bip-0310.mediawiki>
//! BIP 320 (the version bits miners may roll): <https://github.com/bitcoin/bips/blob/master/bip-0320.mediawiki>

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use bitcoin::hashes::{sha256d, Hash};
use bitcoin::BlockHash;

use crate::algo::Algo;
use crate::chain::{CompactTarget, Header, Target};

/// How the merkle root of a work's headers comes about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MerkleShape {
    /// One root for every header (header-only mining).
    Fixed([u8; 32]),
    /// The coinbase is `coinb1 | extranonce1 | extranonce2 | coinb2` (without witness); the
    /// root is the coinbase's txid hashed up `branch`.
    Coinbase {
        coinb1: Vec<u8>,
        extranonce1: Vec<u8>,
        extranonce2_size: usize,
        coinb2: Vec<u8>,
        /// Sibling hashes from the coinbase (leaf 0) to the root, internal byte order.
        branch: Vec<[u8; 32]>,
    },
}

/// The block time a work's headers carry: `base` plus the seconds since `since`, kept within
/// `min..=max` (set `min == max == base` for a time that may not change).
#[derive(Clone, Copy, Debug)]
pub struct BlockTime {
    pub base: u32,
    pub since: Instant,
    pub min: u32,
    pub max: u32,
}

impl BlockTime {
    /// A time that may not change.
    pub fn fixed(time: u32) -> Self {
        BlockTime {
            base: time,
            since: Instant::now(),
            min: time,
            max: time,
        }
    }

    /// The time for a header made now.
    pub fn now(&self) -> u32 {
        let elapsed = u32::try_from(self.since.elapsed().as_secs()).unwrap_or(u32::MAX);
        self.base
            .saturating_add(elapsed)
            .clamp(self.min, self.max.max(self.min))
    }
}

/// One piece of work from a source.
#[derive(Clone)]
pub struct Work {
    /// The source's name for it (block height and extranonce, pool job id).
    pub id: String,
    pub prev_hash: BlockHash,
    pub version: i32,
    /// Version bits that may be rolled (BIP 310); 0 for none.
    pub version_mask: u32,
    pub time: BlockTime,
    /// The block's compact target (the header's bits).
    pub bits: CompactTarget,
    /// A hash at or below this is a solution worth sending (the block target for solo mining).
    pub share_target: Target,
    pub merkle: MerkleShape,
    /// True when every older work is stale now (a new previous block, `clean_jobs`,
    /// SetNewPrevHash): solutions of older work are dropped, not sent.
    pub clean: bool,
    /// Only a block is worth anything (solo mining): once a solution of this work meets the
    /// block target, the work's other solutions are its rivals and are dropped unverified.
    pub one_block: bool,
    /// The pool (its index in [`Stats::pools`](crate::stats::Stats::pools)) the work came
    /// from; solutions the mining loop drops as stale are counted there too.
    pub pool: Option<usize>,
    /// What the source needs back with a solution of this work (its template, ...).
    pub context: Option<Arc<dyn Any + Send + Sync>>,
    /// The proof of work the targets are for.
    pub algo: Algo,
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work")
            .field("id", &self.id)
            .field("prev_hash", &self.prev_hash)
            .field("version", &format_args!("{:#010x}", self.version))
            .field("version_mask", &format_args!("{:#010x}", self.version_mask))
            .field("time", &self.time)
            .field("bits", &self.bits)
            .field("merkle", &self.merkle)
            .field("clean", &self.clean)
            .finish_non_exhaustive()
    }
}

/// The header of synthetic work (bench, the rate measured before pool mining): mainnet
/// block 125552 (any real header would do).
pub const SYNTHETIC_HEADER: &str = crate::chain::MAINNET_125552;

impl Work {
    /// Synthetic work: the [`SYNTHETIC_HEADER`] with its merkle root fixed, the BIP 320 version
    /// bits to roll (every backend gets headers of its own) and difficulty 1 (about one share
    /// per 2^32 hashes, so verification runs but rarely).
    pub fn synthetic() -> Work {
        let header = Header::from_hex(SYNTHETIC_HEADER)
            .expect("embedded header is valid")
            .to_bitcoin();
        Work {
            id: "bench".into(),
            prev_hash: header.prev_blockhash,
            version: header.version.to_consensus(),
            version_mask: 0x1fff_e000,
            time: BlockTime::fixed(header.time),
            bits: header.bits,
            share_target: Target::MAX,
            merkle: MerkleShape::Fixed(header.merkle_root.to_byte_array()),
            clean: true,
            one_block: false,
            pool: None,
            context: None,
            algo: Algo::Sha256d,
        }
    }
}

/// One choice of the rollable parts of a work: with a nonce, one header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roll {
    /// Position in the work's roll space (see [`Work::roll`]).
    pub index: u64,
    /// Extranonce2 bytes (empty for a fixed merkle root).
    pub extranonce2: Vec<u8>,
    /// The full header version, rolled bits included.
    pub version: i32,
}

impl Work {
    /// The block target from `bits`.
    pub fn block_target(&self) -> Target {
        Target::from_compact(self.bits)
    }

    /// The difficulty of `target` (or of a hash) as this work's source counts it: a pool's on
    /// its algorithm's share scale (scrypt pools' difficulty 1 is 2^16 times easier), a node's
    /// on the scale of its `getdifficulty` (the same formula for Bitcoin and Litecoin).
    pub fn difficulty_of(&self, target: &Target) -> f64 {
        match self.pool {
            Some(_) => self.algo.share_difficulty(target),
            None => crate::chain::target_difficulty(target),
        }
    }

    /// How many distinct version-bit patterns the mask allows.
    fn version_patterns(&self) -> u64 {
        1u64 << self.version_mask.count_ones()
    }

    /// How many distinct extranonce2 values there are.
    fn extranonce2_values(&self) -> u64 {
        match &self.merkle {
            MerkleShape::Fixed(_) => 1,
            MerkleShape::Coinbase {
                extranonce2_size, ..
            } => match *extranonce2_size {
                0 => 1,
                n if n >= 8 => u64::MAX,
                n => 1u64 << (8 * n),
            },
        }
    }

    /// Number of rolls (headers before the nonce) this work has, saturating at `u64::MAX`.
    pub fn roll_space(&self) -> u64 {
        self.version_patterns()
            .saturating_mul(self.extranonce2_values())
    }

    /// The `index`-th roll, `None` past the end of the roll space. Version bits roll first
    /// (index 0 is the work's own version), then extranonce2 (little-endian counter).
    pub fn roll(&self, index: u64) -> Option<Roll> {
        if index >= self.roll_space() {
            return None;
        }
        let patterns = self.version_patterns();
        let bits = deposit(index % patterns, self.version_mask);
        let counter = index / patterns;
        let extranonce2 = match &self.merkle {
            MerkleShape::Fixed(_) => Vec::new(),
            MerkleShape::Coinbase {
                extranonce2_size, ..
            } => {
                let mut bytes = vec![0u8; *extranonce2_size];
                let le = counter.to_le_bytes();
                let n = bytes.len().min(8);
                bytes[..n].copy_from_slice(&le[..n]);
                bytes
            }
        };
        Some(Roll {
            index,
            extranonce2,
            version: self.version ^ bits as i32,
        })
    }

    /// The serialized coinbase (without witness) for `extranonce2`; `None` for a fixed root.
    pub fn coinbase(&self, extranonce2: &[u8]) -> Option<Vec<u8>> {
        match &self.merkle {
            MerkleShape::Fixed(_) => None,
            MerkleShape::Coinbase {
                coinb1,
                extranonce1,
                coinb2,
                ..
            } => {
                let mut tx = Vec::with_capacity(
                    coinb1.len() + extranonce1.len() + extranonce2.len() + coinb2.len(),
                );
                for part in [&coinb1[..], extranonce1, extranonce2, coinb2] {
                    tx.extend_from_slice(part);
                }
                Some(tx)
            }
        }
    }

    /// The merkle root (internal byte order) of headers with `extranonce2`.
    pub fn merkle_root(&self, extranonce2: &[u8]) -> [u8; 32] {
        match &self.merkle {
            MerkleShape::Fixed(root) => *root,
            MerkleShape::Coinbase { branch, .. } => {
                let coinbase = self.coinbase(extranonce2).expect("coinbase shape");
                root_from_branch(sha256d::Hash::hash(&coinbase).to_byte_array(), branch)
            }
        }
    }

    /// The header for `roll` at `time`, nonce 0.
    pub fn header(&self, roll: &Roll, time: u32) -> Header {
        Header::from_bitcoin(&bitcoin::block::Header {
            version: bitcoin::block::Version::from_consensus(roll.version),
            prev_blockhash: self.prev_hash,
            merkle_root: bitcoin::TxMerkleNode::from_byte_array(
                self.merkle_root(&roll.extranonce2),
            ),
            time,
            bits: self.bits,
            nonce: 0,
        })
    }
}

/// Spreads the low bits of `value` over the set bits of `mask` (like x86 PDEP).
fn deposit(mut value: u64, mask: u32) -> u32 {
    let mut out = 0u32;
    for bit in 0..32 {
        if mask & (1 << bit) != 0 {
            if value & 1 != 0 {
                out |= 1 << bit;
            }
            value >>= 1;
        }
    }
    out
}

fn hash_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(left);
    both[32..].copy_from_slice(right);
    sha256d::Hash::hash(&both).to_byte_array()
}

/// The merkle branch of leaf 0 (the coinbase) in a tree whose other leaves are `txids`
/// (internal byte order): the siblings from the bottom up, as Stratum's `merkle_branch`.
pub fn merkle_branch(txids: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut branch = Vec::new();
    // The level's hashes to the right of our path; our own hash is left of them.
    let mut level: Vec<[u8; 32]> = txids.to_vec();
    while !level.is_empty() {
        branch.push(level[0]);
        // Pair up what is right of our pair; an odd count repeats the last hash.
        let rest = &level[1..];
        level = rest
            .chunks(2)
            .map(|pair| hash_pair(&pair[0], pair.get(1).unwrap_or(&pair[0])))
            .collect();
    }
    branch
}

/// Hashes `leaf` up a branch of left-side leaf 0.
pub fn root_from_branch(leaf: [u8; 32], branch: &[[u8; 32]]) -> [u8; 32] {
    branch
        .iter()
        .fold(leaf, |acc, sibling| hash_pair(&acc, sibling))
}

/// Work for unit tests: the bench header, a share target hit by about 1 hash in 16.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub fn easy_work(clean: bool, version_mask: u32) -> Work {
        let mut work = Work::synthetic();
        work.clean = clean;
        work.version_mask = version_mask;
        let mut le = [0xffu8; 32];
        le[28..].copy_from_slice(&0x0fff_ffffu32.to_le_bytes());
        work.share_target = Target::from_le_bytes(le);
        work
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn work(mask: u32, extranonce2_size: usize) -> Work {
        Work {
            id: "w".into(),
            prev_hash: BlockHash::all_zeros(),
            version: 0x2000_0000,
            version_mask: mask,
            time: BlockTime::fixed(1_700_000_000),
            bits: CompactTarget::from_consensus(0x207f_ffff),
            share_target: Target::MAX,
            merkle: MerkleShape::Coinbase {
                coinb1: vec![1, 2, 3],
                extranonce1: vec![0xaa; 4],
                extranonce2_size,
                coinb2: vec![4, 5],
                branch: vec![[7; 32]],
            },
            clean: true,
            one_block: false,
            algo: Algo::Sha256d,
            pool: None,
            context: None,
        }
    }

    #[test]
    fn branches_give_the_real_merkle_root_of_block_100000() {
        let txids: Vec<[u8; 32]> = [
            "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
            "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
            "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
            "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
        ]
        .iter()
        .map(|s| bitcoin::Txid::from_str(s).unwrap().to_byte_array())
        .collect();
        let root = root_from_branch(txids[0], &merkle_branch(&txids[1..]));
        assert_eq!(
            bitcoin::TxMerkleNode::from_byte_array(root).to_string(),
            "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766"
        );
        // Every count from 1 to 9 leaves agrees with the bitcoin crate.
        for n in 0..9usize {
            let leaves: Vec<[u8; 32]> = (0..=n).map(|i| [i as u8 + 1; 32]).collect();
            let expected = bitcoin::merkle_tree::calculate_root(
                leaves.iter().map(|l| sha256d::Hash::from_byte_array(*l)),
            )
            .unwrap()
            .to_byte_array();
            let got = root_from_branch(leaves[0], &merkle_branch(&leaves[1..]));
            assert_eq!(got, expected, "{} leaves", n + 1);
        }
        assert!(merkle_branch(&[]).is_empty());
    }

    #[test]
    fn rolls_cover_the_space_once_and_end() {
        // Two version bits and a one-byte extranonce2: 4 * 256 rolls.
        let w = work(0x0000_6000, 1);
        assert_eq!(w.roll_space(), 1024);
        let mut seen = std::collections::HashSet::new();
        for i in 0..1024 {
            let r = w.roll(i).unwrap();
            assert_eq!(r.version & !0x6000, 0x2000_0000, "only masked bits move");
            assert!(seen.insert((r.version, r.extranonce2.clone())), "roll {i}");
        }
        assert_eq!(w.roll(0).unwrap().version, 0x2000_0000);
        assert!(w.roll(1024).is_none());
        assert_eq!(work(0, 0).roll_space(), 1);
        assert!(work(0, 0).roll(1).is_none());
        assert_eq!(work(0x1fff_e000, 8).roll_space(), u64::MAX);
        assert_eq!(work(0, 12).roll(5).unwrap().extranonce2.len(), 12);
    }

    #[test]
    fn coinbase_and_header_follow_the_roll() {
        let w = work(0, 4);
        let r = w.roll(0x0102).unwrap();
        assert_eq!(r.extranonce2, [2, 1, 0, 0]);
        assert_eq!(
            w.coinbase(&r.extranonce2).unwrap(),
            [1, 2, 3, 0xaa, 0xaa, 0xaa, 0xaa, 2, 1, 0, 0, 4, 5]
        );
        let h = w.header(&r, 1_700_000_123);
        assert_eq!(h.time(), 1_700_000_123);
        assert_eq!(h.nonce(), 0);
        assert_ne!(
            w.header(&w.roll(1).unwrap(), 0),
            w.header(&w.roll(2).unwrap(), 0)
        );
    }

    #[test]
    fn block_time_follows_the_source_clock_within_its_range() {
        let past = Instant::now() - std::time::Duration::from_secs(30);
        let t = BlockTime {
            base: 1_000,
            since: past,
            min: 0,
            max: u32::MAX,
        };
        assert!((1_030..1_032).contains(&t.now()), "{}", t.now());
        assert_eq!(BlockTime { max: 1_010, ..t }.now(), 1_010);
        assert_eq!(BlockTime { min: 5_000, ..t }.now(), 5_000);
        assert_eq!(BlockTime::fixed(77).now(), 77);
    }
}
