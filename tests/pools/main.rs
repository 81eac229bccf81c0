//! Pool mining: through the Stratum V2 reference stack (pool_sv2, translator_sv2, bcoin) and
//! against scripted Stratum v1 and V2 pools that misbehave on purpose.
//!
//! One test binary of a few (they share tests/common): each links the crate once per
//! feature set, so fewer binaries build faster.
#[macro_use]
#[path = "../common/mod.rs"]
mod common;
mod jd;
mod pool;
mod pool_v2;
mod stratum_stubs;
mod stratum_v2_stubs;

fn main() {
    let mut tests = Vec::new();
    tests.extend(jd::tests());
    tests.extend(pool::tests());
    tests.extend(pool_v2::tests());
    tests.extend(stratum_stubs::tests());
    tests.extend(stratum_v2_stubs::tests());
    common::run_tests(tests)
}
