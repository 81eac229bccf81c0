//! What an operator touches: the command line, the config file, the status block (in a
//! pty), the dashboard (headless chromium) and the monitoring API.
//!
//! One test binary of a few (they share tests/common): each links the crate once per
//! feature set, so fewer binaries build faster.
#[macro_use]
#[path = "../common/mod.rs"]
mod common;
mod agree;
mod api;
mod cli;
mod config;
mod dashboard;
mod logs;
mod status;
mod terminal;

fn main() {
    let mut tests = Vec::new();
    tests.extend(cli::tests());
    tests.extend(config::tests());
    tests.extend(status::tests());
    tests.extend(terminal::tests());
    tests.extend(dashboard::tests());
    tests.extend(api::tests());
    tests.extend(logs::tests());
    tests.extend(agree::tests());
    common::run_tests(tests)
}
