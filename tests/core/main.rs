//! Hashing correctness: every CPU kernel and the GPU (software Vulkan) against sha2 on real
//! mainnet headers, random headers and edge nonces; verification; block assembly; cancel.
//!
//! One test binary of a few (they share tests/common): each links the crate once per
//! feature set, so fewer binaries build faster.
#[macro_use]
#[path = "../common/mod.rs"]
mod common;
mod blocks;
mod cancel;
#[cfg(feature = "gpu")]
mod gpu;
mod kernels;
mod verify;

fn main() {
    let mut tests = Vec::new();
    tests.extend(kernels::tests());
    tests.extend(verify::tests());
    #[cfg(feature = "gpu")]
    tests.extend(gpu::tests());
    #[cfg(not(feature = "gpu"))]
    tests.push(common::Test::Plain("gpu".into(), || {
        Err(common::skip("built without the `gpu` feature"))
    }));
    tests.extend(blocks::tests());
    tests.extend(cancel::tests());
    common::run_tests(tests)
}
