//! Pool mining through the real Stratum stack (tests/common/sv2.rs): hashrig speaks Stratum v1
//! to translator_sv2, which feeds pool_sv2, whose Template Provider submits every block to
//! bcoin. On regtest every share is also a block, so the chain shows what hashrig mined.

use crate::common;

use std::time::{Duration, Instant};

use common::miner::{pool_field, run, spawn, stop, summary, summary_field, wait_for};
use common::sv2::Stack;

const ACCEPTED: &str = "sv2_client_shares_accepted_total";
const REJECTED: &str = "sv2_client_shares_rejected_total";
const BLOCKS: &str = "sv2_client_blocks_found_total";

fn args(pools: &[String], extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec!["mine".into()];
    for p in pools {
        a.extend(["--pool".to_string(), p.clone()]);
    }
    for x in [
        "--user",
        "worker.1",
        "--backend",
        "cpu",
        "--threads",
        "1",
        "--nonces-per-roll",
        "4194304",
        "--pool-timeout",
        "5",
    ] {
        a.push(x.into());
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn url(port: u16) -> String {
    format!("stratum+tcp://127.0.0.1:{port}")
}

/// Full hashes of the shares hashrig saw meet the network target.
fn candidates(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("block candidate: share "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn shares_through_translator_with_version_rolling_are_blocks_on_bcoin() -> common::Outcome {
    let stack = Stack::start()?;
    let translator = stack.translator("t1");
    let out = run(
        &args(&[url(translator.port)], &["--shares", "6"]),
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}\n{}", translator.log_text());
    assert!(stderr.contains("version rolling mask 1fffe000"), "{stderr}");
    let accepted = summary_field(summary(&stderr), "accepted");
    assert!(accepted >= 6.0, "{stderr}");
    // The pool's own counters agree with hashrig's.
    assert_eq!(stack.wait_metric(ACCEPTED, accepted), accepted, "{stderr}");
    assert_eq!(stack.metric(REJECTED), 0.0);
    assert_eq!(pool_field(&stderr, 0, "accepted"), accepted);
    assert_eq!(pool_field(&stderr, 0, "rejected"), 0.0);
    // Every accepted share was a block; each went to bcoin, and none was refused.
    assert_eq!(stack.wait_metric(BLOCKS, accepted), accepted);
    assert_eq!(
        pool_field(&stderr, 0, "block_candidates"),
        accepted,
        "{stderr}"
    );
    let tp = stack.tp.log_text();
    let submitted: Vec<&str> = tp
        .lines()
        .filter(|l| l.starts_with("tp: submitted block"))
        .collect();
    assert_eq!(submitted.len() as f64, accepted, "{tp}");
    assert!(
        submitted.iter().all(|l| l.ends_with(": accepted")
            || l.contains("inconclusive")
            || l.contains("duplicate")),
        "{tp}"
    );
    // The chain is made of hashrig's shares, and some carry rolled version bits.
    let blocks = stack.mined_blocks();
    let found = candidates(&stderr);
    assert!(!blocks.is_empty());
    for (height, hash, _) in &blocks {
        assert!(
            found.contains(hash),
            "block {height} {hash} is not one of hashrig's: {found:?}"
        );
    }
    let rolled = blocks
        .iter()
        .filter(|(_, _, v)| v & 0x1fff_e000 != 0)
        .count();
    assert!(rolled > 0, "no block with rolled version bits: {blocks:?}");
    Ok(())
}

fn failover_to_the_secondary_translator_and_back() -> common::Outcome {
    let stack = Stack::start()?;
    let mut primary = stack.translator("primary");
    let secondary = stack.translator("secondary");
    let on = |name: &str| stack.metric_where(ACCEPTED, &format!("hashrig-test-{name}"));
    let mut child = spawn(&args(
        &[url(primary.port), url(secondary.port)],
        &["--pool-failback", "2", "--duration", "100"],
    ));
    wait_for(
        "shares through the primary",
        Duration::from_secs(30),
        || on("primary") >= 2.0,
    );
    // The primary dies (SIGKILL) while mining.
    primary.kill();
    let died = Instant::now();
    wait_for(
        "shares through the secondary",
        Duration::from_secs(30),
        || on("secondary") >= 2.0,
    );
    let moved = died.elapsed();
    primary.restart();
    let before = on("primary");
    wait_for(
        "shares through the primary again",
        Duration::from_secs(40),
        || on("primary") >= before + 2.0,
    );
    stop(&mut child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(moved < Duration::from_secs(15), "{moved:?}\n{stderr}");
    assert!(pool_field(&stderr, 0, "connects") >= 2.0, "{stderr}");
    assert!(pool_field(&stderr, 0, "failovers") >= 1.0, "{stderr}");
    assert!(pool_field(&stderr, 1, "connects") >= 1.0, "{stderr}");
    assert!(stderr.contains("leaving pool 1"), "{stderr}");
    // Every share hashrig found is accounted for. Each accepted one reached bcoin as a
    // block (the pool's metrics drop the series of a translator that went away, so bcoin's
    // submissions are the count that survives the kill); everything else hashrig found is
    // counted as stale, rejected or unanswered.
    let line = summary(&stderr);
    let accepted = summary_field(line, "accepted");
    let submitted = || {
        stack
            .tp
            .log_text()
            .lines()
            .filter(|l| l.starts_with("tp: submitted block"))
            .count() as f64
    };
    // The pool may still be passing the last one on.
    let until = Instant::now() + Duration::from_secs(10);
    while submitted() < accepted && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(submitted(), accepted, "{stderr}\n{}", stack.tp.log_text());
    let candidates = candidates(&stderr).len() as f64;
    let accounted = accepted
        + summary_field(line, "rejected")
        + summary_field(line, "stale")
        + summary_field(line, "unanswered");
    assert!(
        candidates <= accounted,
        "{candidates} found, {accounted} accounted for:\n{stderr}"
    );
    Ok(())
}

fn tls_front_before_the_translator() -> common::Outcome {
    let stack = Stack::start()?;
    let translator = stack.translator("tls");
    let front = common::tls::TlsFront::start(translator.port);
    let ca = front.ca_file.display().to_string();
    let url = format!("stratum+ssl://127.0.0.1:{}", front.port);
    let out = run(
        &args(
            std::slice::from_ref(&url),
            &["--shares", "3", "--pool-ca", &ca],
        ),
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let accepted = summary_field(summary(&stderr), "accepted");
    assert!(accepted >= 3.0);
    assert_eq!(stack.wait_metric(ACCEPTED, accepted), accepted);
    // The same front without the CA: refused, nothing mined.
    let out = run(&args(&[url], &["--duration", "3"]), Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("TLS handshake"), "{stderr}");
    assert_eq!(summary_field(summary(&stderr), "accepted"), 0.0);
    Ok(())
}

crate::tests!(
    shares_through_translator_with_version_rolling_are_blocks_on_bcoin,
    failover_to_the_secondary_translator_and_back,
    tls_front_before_the_translator,
);
