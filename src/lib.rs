//! hashrig: a proof-of-work miner. SHA-256d nonce search on CPUs (SIMD kernels) with every
//! winning hash re-checked against the reference `sha2` implementation before it leaves.
//!
//! Data path (see DESIGN.md): a [`source`] publishes [`work::Work`] -> [`dispatch`] rolls it
//! into [`job::Job`]s, one per backend -> [`backend`] scans -> [`mine`] verifies with
//! [`verify`] (the only place a [`verify::Share`] is made) -> back to the source, which submits.

pub mod algo;
pub mod backend;
pub mod bench;
pub mod chain;
pub mod dispatch;
pub mod job;
pub mod mine;
pub mod secret;
pub mod source;
pub mod stats;
pub mod ui;
pub mod verify;
pub mod work;
