//! A found-block journal's text. Invariants: nothing panics; every block read back is written
//! back (one line) and read again the same; each hash once.
#![no_main]

use hashrig::source::node::journal::parse_journal;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (blocks, _) = parse_journal(text);
    let mut hashes = std::collections::HashSet::new();
    for b in &blocks {
        assert!(hashes.insert(b.hash.clone()), "a hash twice");
        let line = serde_json::to_string(b).expect("serializable");
        let (again, bad) = parse_journal(&line);
        assert!(bad.is_empty());
        assert_eq!(again.as_slice(), std::slice::from_ref(b));
    }
});
