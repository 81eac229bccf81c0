//! Raw bytes from a client of cgminer's API (`--api-cgminer`): JSON or text commands, joined
//! ones, parameters. Invariants: nothing panics; every answer ends with one NUL; a request
//! that starts with `{` gets JSON (cgminer's STATUS, or the joined form), any other gets
//! cgminer's text form; nothing that changes state is ever answered with success.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let answer = hashrig::ui::api::cgminer::answer_bytes(data);
    assert_eq!(answer.last(), Some(&0), "no NUL at the end");
    let body = &answer[..answer.len() - 1];
    assert!(!body.contains(&0), "a NUL inside the answer");
    let text = std::str::from_utf8(body).expect("UTF-8");
    if data.trim_ascii_start().first() == Some(&b'{') {
        let v: serde_json::Value = serde_json::from_str(text).expect("JSON");
        assert!(v.get("STATUS").is_some() || v.get("id").is_some(), "{text}");
    } else {
        assert!(text.starts_with("STATUS="), "{text}");
    }
    let lower = String::from_utf8_lossy(data).to_ascii_lowercase();
    for verb in ["quit", "restart", "addpool", "switchpool"] {
        if lower
            .trim()
            .trim_matches(|c| c == '{' || c == '"')
            .starts_with(verb)
        {
            assert!(
                !text.contains("\"STATUS\":\"S\"") && !text.starts_with("STATUS=S"),
                "{text}"
            );
        }
    }
});
