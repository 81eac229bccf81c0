//! Consensus pieces: the 80-byte block header and proof-of-work targets, on the `bitcoin`
//! crate's types.

pub mod block;
pub mod coinbase;
pub mod header;
pub mod params;
pub mod target;

pub use header::{Header, HeaderError, MAINNET_125552};
pub use target::{
    difficulty_target, hash_meets, target_difficulty, target_top_word, CompactTarget, Target,
};
