//! Running the `hashrig` binary against a node in tests: arguments, output, summary fields.
#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A payout script (P2WPKH of a fixed key hash).
pub const PAYOUT: &str = "0014751e76e8199196d454941c45d1b3a323f1433bd6";
/// The RPC password tests use (bcoin's API key).
pub const API_KEY: &str = super::bcoin::API_KEY;

/// The binary under test; `HASHRIG_TEST_BIN` runs these tests against another build (e.g. an
/// older commit's, to see a test fail without its fix).
pub fn hashrig() -> Command {
    match std::env::var_os("HASHRIG_TEST_BIN") {
        Some(bin) => Command::new(bin),
        None => Command::new(env!("CARGO_BIN_EXE_hashrig")),
    }
}

pub fn journal_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("hashrig-{name}-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(p.with_extension("jsonl.lock"));
    let _ = std::fs::remove_file(&p);
    p
}

pub fn mine_args(url: &str, journal: &std::path::Path) -> Vec<String> {
    vec![
        "mine".into(),
        "--node".into(),
        url.into(),
        "--rpc-user".into(),
        "hashrig".into(),
        "--rpc-password".into(),
        API_KEY.into(),
        "--payout-script".into(),
        PAYOUT.into(),
        "--backend".into(),
        "cpu".into(),
        "--poll-ms".into(),
        "100".into(),
        "--journal".into(),
        journal.display().to_string(),
    ]
}

/// Starts `hashrig ARGS` with its output captured.
pub fn spawn(args: &[String]) -> Child {
    hashrig()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn run(args: &[String], limit: Duration) -> Output {
    let mut child = spawn(args);
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "hashrig did not finish in {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `accepted block H HASH` lines of a run.
pub fn accepted(out: &Output) -> Vec<(u64, String)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("accepted block ")?;
            let mut it = rest.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.to_string()))
        })
        .collect()
}

pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("timed out: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

pub fn summary_field(summary: &str, name: &str) -> f64 {
    let rest = summary.split(&format!("{name} ")).nth(1).unwrap();
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

pub fn summary_hashes(stderr: &str) -> u64 {
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("summary:"))
        .expect("summary line");
    summary_field(summary, "hashes") as u64
}

/// The summary line of a run's stderr.
pub fn summary(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("summary:"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stderr}"))
}

/// Asks a running hashrig to stop (SIGTERM: a clean stop with the summary printed).
pub fn stop(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A field of the summary's line for pool `n` (`pool N URL: accepted ...`).
pub fn pool_field(stderr: &str, n: usize, name: &str) -> f64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&format!("pool {n} ")) && l.contains(" connects "))
        .unwrap_or_else(|| panic!("no summary line for pool {n}:\n{stderr}"));
    summary_field(line, name)
}

/// Polls `ok` every 20 ms until it holds; panics naming `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `mine` against `pool` as user `u` on one CPU thread, then `extra`: the command line most
/// operator and hostile tests start from.
pub fn pool_mine_args(pool: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "mine",
        "--pool",
        pool,
        "--user",
        "u",
        "--backend",
        "cpu",
        "--threads",
        "1",
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}
