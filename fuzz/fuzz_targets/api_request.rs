//! Raw bytes from a monitoring-API client on one connection (the real server code over an
//! in-memory pipe). Invariants: nothing panics; every answer is HTTP; with a token required,
//! no request without it gets data.
#![no_main]

use libfuzzer_sys::fuzz_target;

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
}

fuzz_target!(|data: &[u8]| {
    let token = data.first().is_some_and(|b| b & 1 == 1);
    let answer = RUNTIME.with(|rt| hashrig::ui::api::answer_bytes(rt, data, token));
    if answer.is_empty() {
        return;
    }
    assert!(
        answer.starts_with(b"HTTP/1."),
        "{:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(80)])
    );
    let text = String::from_utf8_lossy(&answer);
    let authorized = String::from_utf8_lossy(data)
        .to_ascii_lowercase()
        .contains("bearer t");
    if token && !authorized {
        assert!(!text.contains("\"hashes\""), "data without the token");
    }
});
