//! hashrig: a proof-of-work miner. SHA-256d nonce search on CPUs (SIMD kernels) with every
//! winning hash re-checked against the reference `sha2` implementation before it leaves.
//!
//! Data path (see DESIGN.md): work source -> [`job::Job`] -> dispatch -> [`backend`] ->
//! [`verify`] (the only place a [`verify::Share`] is made) -> submit.

pub mod algo;
pub mod backend;
pub mod bench;
pub mod chain;
pub mod job;
pub mod mine;
pub mod source;
pub mod stats;
pub mod submit;
pub mod verify;
