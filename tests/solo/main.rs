//! Solo mining: against bcoin (a real full node) and against scripted nodes that answer
//! as Bitcoin Core and btcd do, or as no node should.
//!
//! One test binary of a few (they share tests/common): each links the crate once per
//! feature set, so fewer binaries build faster.
#[macro_use]
#[path = "../common/mod.rs"]
mod common;
mod litecoin;
mod node;
mod node_stubs;

fn main() {
    let mut tests = Vec::new();
    tests.extend(litecoin::tests());
    tests.extend(node::tests());
    tests.extend(node_stubs::tests());
    common::run_tests(tests)
}
