//! Test support shared by the integration tests.
#![allow(dead_code)]

pub mod bcoin;

use hashrig::backend::cpu::{Kernel, KernelKind};
use hashrig::chain::Header;
use serde::Deserialize;

/// Environment variable that turns every skipped test into a failure (set by `.ci/run`).
pub const REQUIRE_ALL: &str = "HASHRIG_REQUIRE_ALL";

/// Reports a test (or part of one) that cannot run here: skipped with the reason, or a failure
/// when `HASHRIG_REQUIRE_ALL` is set.
pub fn skip(reason: &str) {
    if std::env::var_os(REQUIRE_ALL).is_some_and(|v| v != "0" && !v.is_empty()) {
        panic!("{REQUIRE_ALL} is set, but this would be skipped: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// Every kernel this CPU runs; each one it cannot run is reported through [`skip`].
pub fn kernels() -> Vec<Kernel> {
    KernelKind::ALL
        .into_iter()
        .filter_map(|kind| match Kernel::new(kind) {
            Ok(k) => Some(k),
            Err(e) => {
                skip(&format!("kernel {kind} not tested: {e}"));
                None
            }
        })
        .collect()
}

#[derive(Debug, Deserialize)]
pub struct GoldenFile {
    pub headers: Vec<Golden>,
}

#[derive(Debug, Deserialize)]
pub struct Golden {
    pub chain: String,
    pub block: String,
    pub header_hex: String,
    pub version: i64,
    pub bits: String,
    pub nonce: u32,
    pub block_hash: String,
    pub pow_algo: String,
    pub pow_hash: String,
}

impl Golden {
    pub fn header(&self) -> Header {
        Header::from_hex(&self.header_hex).expect("golden header hex")
    }
}

/// Real mainnet headers (tests/data/golden-headers.json).
pub fn golden() -> Vec<Golden> {
    let text = include_str!("../data/golden-headers.json");
    serde_json::from_str::<GoldenFile>(text)
        .expect("golden file parses")
        .headers
}

/// A display-order hash hex as digest bytes (internal order).
pub fn digest_from_display(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
    }
    out.reverse();
    out
}
