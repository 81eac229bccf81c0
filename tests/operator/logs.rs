//! The log: `--log-file` holds every line the run printed (with timestamps), and
//! `--log-format json` writes JSON records only, on the terminal's streams and in the file.

use crate::common;

use std::time::Duration;

use common::miner::run;
use common::pool::honest_pool;
use serde_json::Value;

fn log_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("hashrig-{name}-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn mine(log: &std::path::Path, json: bool) -> std::process::Output {
    let pool = honest_pool();
    let mut args: Vec<String> = [
        "mine",
        "--pool",
        &pool.url(),
        "--user",
        "logs",
        "--backend",
        "cpu",
        "--threads",
        "1",
        "--shares",
        "3",
        "--log-file",
        &log.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    if json {
        args.extend(["--log-format".into(), "json".into()]);
    }
    let out = run(&args, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn printed(out: &std::process::Output) -> Vec<String> {
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

fn the_log_file_holds_every_printed_line() -> common::Outcome {
    let log = log_path("text");
    let out = mine(&log, false);
    let file = std::fs::read_to_string(&log).unwrap();
    let lines = printed(&out);
    assert!(lines.len() >= 6, "{lines:?}");
    for l in &lines {
        assert!(
            file.lines().any(|f| f.ends_with(l.as_str())),
            "printed but not in the log file: {l:?}\n--- file:\n{file}"
        );
    }
    for want in ["mining on", "accepted share", "summary: found"] {
        assert!(file.contains(want), "{want:?} not in:\n{file}");
    }
    // Each record starts with its time (RFC 3339, UTC).
    for f in file.lines() {
        let t = f.split_whitespace().next().unwrap_or("");
        assert!(
            t.len() >= 20 && t.as_bytes()[10] == b'T' && t.ends_with('Z'),
            "no timestamp: {f:?}"
        );
    }
    let _ = std::fs::remove_file(&log);
    Ok(())
}

fn json_mode_writes_json_records_only() -> common::Outcome {
    let log = log_path("json");
    let out = mine(&log, true);
    let file = std::fs::read_to_string(&log).unwrap();
    let record = |l: &str| -> Value {
        serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON record ({e}): {l:?}"))
    };
    let mut messages = Vec::new();
    for l in file.lines() {
        let r = record(l);
        assert!(r["timestamp"].is_string() && r["level"].is_string(), "{l}");
        messages.push(r["fields"]["message"].as_str().unwrap_or("").to_string());
    }
    for l in printed(&out) {
        let r = record(&l);
        let m = r["fields"]["message"].as_str().unwrap_or("");
        assert!(
            messages.iter().any(|f| f == m),
            "printed but not in the log file: {m:?}"
        );
    }
    assert!(
        messages.iter().any(|m| m.starts_with("summary: found")),
        "{file}"
    );
    let _ = std::fs::remove_file(&log);
    Ok(())
}

crate::tests!(
    the_log_file_holds_every_printed_line,
    json_mode_writes_json_records_only,
);
