//! A config file's text merged under a `mine` command line, then parsed as hashrig parses its
//! arguments. Invariants: nothing panics; what merges either parses or is a usage error.
#![no_main]

#[path = "../../src/cli/args.rs"]
#[allow(dead_code)]
mod args;
#[path = "../../src/cli/file.rs"]
#[allow(dead_code)]
mod file;

use clap::Parser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let argv = ["hashrig", "mine", "--backend", "cpu"]
        .iter()
        .map(std::ffi::OsString::from)
        .collect();
    let path = std::path::Path::new("fuzz.toml");
    if let Ok(merged) = file::merge_keyed(path, text, argv) {
        if let Err(e) = args::Cli::try_parse_from(&merged.argv) {
            let _ = file::explain(path, &merged, &e);
        }
        let _ = merged.name_key(path, text);
    }
});
