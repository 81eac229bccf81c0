//! The live status block end to end, in a real pseudo-terminal (util-linux `script`): it is
//! drawn, redrawn in place, stays below the log lines, and after Ctrl-C the run ends cleanly
//! with the terminal's settings as they were.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::pool::honest_pool;

fn script_available() -> Result<(), common::Skip> {
    match Command::new("script").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err(common::skip(
            "util-linux `script` is not installed (a pty to run hashrig in)",
        )),
    }
}

fn the_block_redraws_in_place_and_ctrl_c_restores_the_terminal() -> common::Outcome {
    script_available()?;
    let pool = honest_pool();
    let bin = std::env::var("HASHRIG_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_hashrig").to_string());
    let dir = std::env::temp_dir().join(format!("hashrig-pty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("typescript");
    let inner = format!(
        "stty -g > {d}/before; {bin} mine --pool {url} --user pty.{port} --backend cpu --threads 1 --nonces-per-roll 4194304 --duration 60; echo \"exit=$?\" > {d}/status; stty -g > {d}/after",
        d = dir.display(),
        url = pool.url(),
        port = pool.port,
    );
    let mut child = Command::new("script")
        .args(["-qfec", &inner])
        .arg(&log)
        .env("COLUMNS", "120")
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for shares and a few redraws, then Ctrl-C (SIGINT) the miner itself.
    let marker = format!("pty.{}", pool.port);
    let until = Instant::now() + Duration::from_secs(30);
    while pool.record.accepted() < 2 || Instant::now() < until - Duration::from_secs(26) {
        assert!(Instant::now() < until, "no shares in the pty run");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pids = Command::new("pgrep")
        .args(["-f", &marker])
        .output()
        .unwrap();
    let pids = String::from_utf8_lossy(&pids.stdout).into_owned();
    for pid in pids.split_whitespace() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "hashrig" {
            Command::new("kill").args(["-INT", pid]).status().unwrap();
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success());
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    assert_eq!(
        std::fs::read_to_string(dir.join("status")).unwrap().trim(),
        "exit=0",
        "{text}"
    );
    // Drawn (bold title), redrawn in place (cursor up over the block, clear below) several times.
    assert!(text.contains("\x1b[1mhashrig\x1b[0m"), "{text}");
    let redraws = text.matches("\x1b[0J").count();
    assert!(redraws >= 3, "{redraws} redraws:\n{text}");
    assert!(text.contains("  cpu "), "{text}");
    assert!(text.contains(&format!("* pool 0 {}", pool.url())), "{text}");
    // Log and share lines go above the block; the summary comes after the last block.
    assert!(text.contains("accepted share"), "{text}");
    let last_block = text.rfind("\x1b[1mhashrig").unwrap();
    let summary = text.rfind("summary: found").expect("a summary line");
    assert!(summary > last_block, "{text}");
    // The terminal's settings are what they were.
    assert_eq!(
        std::fs::read_to_string(dir.join("before")).unwrap(),
        std::fs::read_to_string(dir.join("after")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn no_tui_and_pipes_get_plain_lines() -> common::Outcome {
    let pool = honest_pool();
    // stderr is a pipe here: no block, no escape codes.
    let out = common::miner::run(
        &common::miner::pool_mine_args(&pool.url(), &["--shares", "1"]),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr}");
    Ok(())
}

crate::tests!(
    the_block_redraws_in_place_and_ctrl_c_restores_the_terminal,
    no_tui_and_pipes_get_plain_lines,
);
