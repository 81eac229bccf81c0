//! `hashrig mine` against node-shaped stubs: what bcoin does not do. Bitcoin Core's and btcd's
//! exact answers (shared/TESTBED.md), hostile bodies, and the defects each test pins down.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::miner::*;
use common::stub::{stub_node, submitted, template, Reply, REGTEST_GENESIS};
use serde_json::json;

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// Runs `hashrig mine` against the stub on `port` with a journal of its own and `extra` flags.
fn mine(port: u16, name: &str, extra: &[&str]) -> (std::process::Output, std::path::PathBuf) {
    let journal = journal_path(name);
    let mut args = mine_args(&url(port), &journal);
    args.extend(extra.iter().map(|a| a.to_string()));
    (run(&args, Duration::from_secs(30)), journal)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A header field of a submitted block (hex): bytes `range` little-endian.
fn header_u32(block_hex: &str, at: usize) -> u32 {
    let b = |i: usize| u32::from_str_radix(&block_hex[2 * i..2 * i + 2], 16).unwrap();
    b(at) | b(at + 1) << 8 | b(at + 2) << 16 | b(at + 3) << 24
}

fn mining_goes_on_after_a_rejected_block() -> common::Outcome {
    // The first block is rejected, the second accepted. A block is about 1 in 2^24 hashes
    // here, so after the rejection hashrig has to go on hashing to find the second one.
    let (port, _) = stub_node(|method, n, _| match (method, n) {
        ("getblocktemplate", _) => Reply::Result(template("1e00ffff")),
        ("submitblock", 0) => Reply::Result(json!("bad-txns-inputs-missingorspent")),
        _ => Reply::Default,
    });
    let (out, journal) = mine(port, "rejected", &["--blocks", "1"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("rejected block 1 "), "{stdout}");
    assert!(
        stdout.contains(": bad-txns-inputs-missingorspent"),
        "{stdout}"
    );
    assert_eq!(accepted(&out).len(), 1, "{stdout}");
    assert!(std::fs::read_to_string(&journal).unwrap().trim().is_empty());
    Ok(())
}

/// Defect 8: one unparsable template used to end the run. It is retried with a line per try,
/// and mining starts once the node sends a good one.
fn a_malformed_template_is_retried_with_a_line_each_time() -> common::Outcome {
    let (port, _) = stub_node(|method, n, _| match (method, n) {
        ("getblocktemplate", 0) => Reply::Result(json!({"version": 536870912, "bits": "zz"})),
        ("getblocktemplate", 1) => Reply::Result(json!("not an object")),
        ("getblocktemplate", _) => Reply::Result(template("207fffff")),
        _ => Reply::Default,
    });
    let (out, _) = mine(port, "malformed", &["--blocks", "1"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("getblocktemplate: previousblockhash"),
        "{stderr}"
    );
    assert!(stderr.contains("getblocktemplate: result"), "{stderr}");
    assert_eq!(stderr.matches("retrying in").count(), 2, "{stderr}");
    assert_eq!(accepted(&out).len(), 1, "{stderr}");
    Ok(())
}

/// BIP 9: a template requiring a rule hashrig does not implement is refused with its name.
fn a_required_rule_hashrig_lacks_is_a_clear_error() -> common::Outcome {
    let (port, _) = stub_node(|method, _, _| match method {
        "getblocktemplate" => {
            let mut t = template("207fffff");
            t["rules"] = json!(["csv", "!segwit", "!newrule"]);
            Reply::Result(t)
        }
        _ => Reply::Default,
    });
    let journal = journal_path("rule");
    let out = run(&mine_args(&url(port), &journal), Duration::from_secs(30));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("\"!newrule\""), "{stderr}");
    Ok(())
}

/// Defect 3: Bitcoin Core v31 on signet answers -8 without the signet rule (its exact message).
fn signet_templates_are_asked_for_with_the_signet_rule() -> common::Outcome {
    let (port, calls) = stub_node(|method, _, params| match method {
        "getblockchaininfo" => Reply::Result(json!({"chain": "signet"})),
        "getblockhash" => Reply::Result(json!(SIGNET_GENESIS)),
        "getblocktemplate" => {
            let rules = params[0]["rules"].to_string();
            if !rules.contains("\"signet\"") {
                return Reply::Error(
                    -8,
                    "getblocktemplate must be called with the signet rule set (call with {\"rules\": [\"segwit\", \"signet\"]})",
                );
            }
            // Signet's proof-of-work limit (a template easier than it is refused).
            let mut t = template("1e0377ae");
            t["rules"] = json!(["csv", "!segwit", "taproot", "!signet"]);
            t["signet_challenge"] = json!("51");
            Reply::Result(t)
        }
        _ => Reply::Default,
    });
    let (out, _) = mine(port, "signet", &["--blocks", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(accepted(&out).len(), 1);
    let asked = calls
        .lock()
        .unwrap()
        .iter()
        .find(|(m, _)| m == "getblocktemplate")
        .cloned();
    assert_eq!(asked.unwrap().1[0]["rules"], json!(["segwit", "signet"]));
    Ok(())
}

/// Every signet's genesis block (Bitcoin Core's chainparams).
const SIGNET_GENESIS: &str = "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6";

/// A chain is told by its genesis block, not its name: btcd calls Bitcoin's main network
/// "mainnet" (chaincfg `Name`), which hashrig once refused as a chain it did not know; a
/// Dogecoin node calls its network "main" and was taken for Bitcoin's.
fn chains_are_told_by_genesis_not_by_name() -> common::Outcome {
    const MAINNET_GENESIS: &str =
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
    const DOGECOIN_GENESIS: &str =
        "1a91e3dace36e2be3bf030a65679fe821aa1d6ef92e7c9902eb318182c355691";
    let (port, _) = stub_node(|method, _, _| match method {
        "getblockchaininfo" => Reply::Result(json!({"chain": "mainnet", "blocks": 0})),
        "getblockhash" => Reply::Result(json!(MAINNET_GENESIS)),
        "getblocktemplate" => Reply::Result(template("1d00ffff")),
        _ => Reply::Default,
    });
    let (out, _) = mine(port, "btcd-mainnet", &["--duration", "1.5"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("mining on node"), "{stderr}");

    let (port, _) = stub_node(|method, _, _| match method {
        "getblockchaininfo" => Reply::Result(json!({"chain": "main", "blocks": 0})),
        "getblockhash" => Reply::Result(json!(DOGECOIN_GENESIS)),
        "getblocktemplate" => Reply::Result(template("1e0fffff")),
        _ => Reply::Default,
    });
    for algo in ["sha256d", "scrypt"] {
        let (out, _) = mine(port, "doge", &["--algo", algo, "--duration", "5"]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains(DOGECOIN_GENESIS) && stderr.contains("hashrig mines only those"),
            "{stderr}"
        );
        assert!(summary(&stderr).contains(" hashes 0 "), "{stderr}");
    }
    Ok(())
}

/// Defect 4: btcd leaves out coinbasevalue when coinbasetxn is asked for without it, and
/// without --miningaddr refuses with -32603 (its exact message, from its source).
fn btcd_gets_a_request_it_can_answer() -> common::Outcome {
    let (port, _) = stub_node(|method, _, params| match method {
        "getblocktemplate" => {
            let caps = params[0]["capabilities"].to_string();
            if caps.contains("\"coinbasetxn\"") && !caps.contains("\"coinbasevalue\"") {
                return Reply::Error(
                    -32603,
                    "A coinbase transaction has been requested, but the server has not been configured with any payment addresses via --miningaddr",
                );
            }
            Reply::Result(template("207fffff"))
        }
        _ => Reply::Default,
    });
    let (out, _) = mine(port, "btcd", &["--blocks", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(accepted(&out).len(), 1);
    Ok(())
}

/// Defect 6: Core says `inconclusive` for a valid side-chain block (confirmations -1 after):
/// stale, not accepted. `duplicate` of a block on the active chain is accepted; bcoin 1.0.2
/// says `rejected: duplicate` for it (its reasons carry that prefix), found when a JDS had
/// pushed the same block first.
fn a_side_chain_block_is_stale_and_a_duplicate_on_the_active_chain_accepted() -> common::Outcome {
    for (answer, confirmations, accepted_blocks) in [
        ("inconclusive", -1, 0),
        ("duplicate", 3, 1),
        ("rejected: duplicate", 1, 1),
    ] {
        let (port, _) = stub_node(move |method, n, _| match (method, n) {
            ("getblocktemplate", _) => Reply::Result(template("207fffff")),
            ("submitblock", 0) => Reply::Result(json!(answer)),
            // Later blocks never get an answer: the first one decides the run.
            ("submitblock", _) => Reply::Hold,
            ("getblockheader", _) => Reply::Result(json!({"confirmations": confirmations})),
            _ => Reply::Default,
        });
        let journal = journal_path("sidechain");
        let mut args = mine_args(&url(port), &journal);
        args.extend([
            "--duration".into(),
            "2".into(),
            "--rpc-timeout".into(),
            "1".into(),
        ]);
        let out = run(&args, Duration::from_secs(30));
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(accepted(&out).len(), accepted_blocks, "{answer}: {stdout}");
        if accepted_blocks == 0 {
            assert!(stdout.contains("stale block 1 "), "{stdout}");
            assert!(stdout.contains("side chain"), "{stdout}");
        }
    }
    Ok(())
}

/// Defect 5: a chunk size of 2^64-1 used to abort the binary (overflow in a hand-written
/// decoder). Now it is a clear error line and a retry.
fn a_hostile_chunked_body_is_an_error_line_not_a_crash() -> common::Outcome {
    let (port, _) = stub_node(|_, _, _| {
        Reply::Raw(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc\r\n0\r\n\r\n"
                .to_vec(),
        )
    });
    let (out, _) = mine(port, "chunked", &["--duration", "2"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("waiting for the node"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    Ok(())
}

/// A closed stdout (EPIPE) loses the output lines, not the miner.
fn a_closed_stdout_does_not_stop_mining() -> common::Outcome {
    let (port, calls) = stub_node(|method, _, _| match method {
        "getblocktemplate" => Reply::Result(template("207fffff")),
        _ => Reply::Default,
    });
    let journal = journal_path("epipe");
    let mut args = mine_args(&url(port), &journal);
    args.extend(["--blocks".into(), "1".into()]);
    let mut child = hashrig()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = wait_output(child, Duration::from_secs(30));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!submitted(&calls).is_empty());
    Ok(())
}

/// Defect 10: the block time follows the node's curtime plus elapsed time, not the local
/// clock, and stays within [mintime, maxtime].
fn block_time_follows_the_nodes_clock() -> common::Outcome {
    let (port, calls) = stub_node(|method, _, _| match method {
        "getblocktemplate" => {
            let mut t = template("207fffff");
            t["curtime"] = json!(1_500_000_000u32);
            t["mintime"] = json!(1_499_000_000u32);
            t["maxtime"] = json!(1_500_000_100u32);
            Reply::Result(t)
        }
        _ => Reply::Default,
    });
    let (out, _) = mine(port, "time", &["--blocks", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let blocks = submitted(&calls);
    let time = header_u32(&blocks[0], 68);
    assert!(
        (1_500_000_000..=1_500_000_010).contains(&time),
        "block time {time}"
    );
    Ok(())
}

/// Defect 7: once our journaled block is answered, the old template is not mined again
/// (that would be a sibling of our own block). The stub keeps offering the old template.
fn an_answered_journal_block_is_not_followed_by_a_sibling() -> common::Outcome {
    let (port, calls) = stub_node(|method, n, _| match (method, n) {
        ("getblocktemplate", _) => Reply::Result(template("207fffff")),
        // The first submission gets no answer (kept in the journal); the retry is accepted.
        ("submitblock", 0) => Reply::Hold,
        _ => Reply::Default,
    });
    let (out, _) = mine(port, "sibling", &["--duration", "5", "--rpc-timeout", "1"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("(from the journal)"), "{stdout}");
    let mut distinct = submitted(&calls);
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 1, "blocks sent: {distinct:?}");
    Ok(())
}

/// Defects 2 and 8: a journal entry of another chain is kept for a node of that chain, and one
/// the node refuses (an RPC error) does not hold back the entry behind it.
fn journal_entries_go_only_to_their_chain_and_a_refused_one_blocks_nothing() -> common::Outcome {
    let journal = journal_path("chains");
    let entry = |height: u32, hash: char, chain: &str, block: &str| {
        json!({"height": height, "hash": hash.to_string().repeat(64), "prev": REGTEST_GENESIS,
               "chain": chain, "block": block, "found_at": 1})
        .to_string()
    };
    let mainnet = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";
    std::fs::write(
        &journal,
        [
            entry(7, 'a', mainnet, "aa"),
            entry(1, 'b', REGTEST_GENESIS, "bb"),
            entry(1, 'c', REGTEST_GENESIS, "cc"),
        ]
        .join("\n")
            + "\n",
    )
    .unwrap();
    let (port, calls) = stub_node(|method, _, params| match method {
        // No work: only the journal is exercised.
        "getblocktemplate" => Reply::Hold,
        "submitblock" if params[0] == "bb" => Reply::Error(-22, "Block decode failed"),
        _ => Reply::Default,
    });
    let mut args = mine_args(&url(port), &journal);
    args.extend(["--duration".into(), "1.5".into()]);
    let out = run(&args, Duration::from_secs(30));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!(
            "rejected block 1 {} (from the journal)",
            "b".repeat(64)
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "accepted block 1 {} (from the journal)",
            "c".repeat(64)
        )),
        "{stdout}"
    );
    assert!(stderr.contains("of another chain"), "{stderr}");
    let sent = submitted(&calls);
    assert!(!sent.contains(&"aa".to_string()), "{sent:?}");
    let left = std::fs::read_to_string(&journal).unwrap();
    assert!(
        left.contains(&"a".repeat(64)) && !left.contains(&"c".repeat(64)),
        "{left}"
    );
    Ok(())
}

/// Defect 8: a missing cookie file is waited out (Bitcoin Core deletes it when it stops and
/// writes a new one when it starts), not fatal.
fn a_missing_cookie_file_is_waited_for() -> common::Outcome {
    let (port, _) = stub_node(|method, _, _| match method {
        "getblocktemplate" => Reply::Result(template("207fffff")),
        _ => Reply::Default,
    });
    let journal = journal_path("cookie");
    let cookie = journal.with_extension("cookie");
    let _ = std::fs::remove_file(&cookie);
    let mut args = mine_args(&url(port), &journal);
    let i = args.iter().position(|a| a == "--rpc-user").unwrap();
    args.splice(
        i..i + 4,
        ["--rpc-cookie".to_string(), cookie.display().to_string()],
    );
    args.extend(["--blocks".into(), "1".into()]);
    let child = spawn(&args);
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(&cookie, "__cookie__:abc\n").unwrap();
    let out = wait_output(child, Duration::from_secs(30));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("RPC cookie file"), "{stderr}");
    assert_eq!(accepted(&out).len(), 1, "{stderr}");
    Ok(())
}

/// Defect 2: a second run on the same journal is refused with a clear error.
fn a_second_run_on_the_same_journal_is_refused() -> common::Outcome {
    let (port, _) = stub_node(|method, _, _| match method {
        "getblocktemplate" => Reply::Result(template("1d00ffff")),
        _ => Reply::Default,
    });
    let journal = journal_path("locked");
    let mut first = mine_args(&url(port), &journal);
    first.extend(["--duration".into(), "5".into()]);
    let child = spawn(&first);
    std::thread::sleep(Duration::from_millis(700));
    let out = run(&mine_args(&url(port), &journal), Duration::from_secs(30));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("in use by another hashrig"), "{stderr}");
    let first = wait_output(child, Duration::from_secs(30));
    assert!(first.status.success());
    Ok(())
}

/// A long poll that outlasts its timeout is a quiet chain, not a dead node: hashrig asks again at
/// once and keeps mining, without reporting the node as unreachable.
fn a_long_poll_timeout_is_not_a_node_failure() -> common::Outcome {
    let plain = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = plain.clone();
    // Long polls are held and never answered; plain requests get the template.
    let (port, _) = stub_node(move |method, _, params| match method {
        "getblocktemplate" if params[0].get("longpollid").is_some() => Reply::Hold,
        "getblocktemplate" => {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut t = template("1d00ffff");
            t["longpollid"] = json!("tip-0");
            Reply::Result(t)
        }
        _ => Reply::Default,
    });
    let (out, _) = mine(
        port,
        "longpoll",
        &["--longpoll-timeout", "1", "--duration", "4.5"],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("waiting for the node"), "{stderr}");
    // The first request, then one after each 1 s long poll timeout.
    let asked = plain.load(std::sync::atomic::Ordering::Relaxed);
    assert!(asked >= 3, "plain template requests: {asked}");
    assert!(summary_hashes(&stderr) > 0, "{stderr}");
    Ok(())
}

/// Defect 2: when the journal cannot take a block (here its path became a directory, as a
/// full or broken disk would refuse the write), the block is still sent, with a line saying so.
fn a_block_the_journal_cannot_take_is_still_submitted() -> common::Outcome {
    let (port, calls) = stub_node(|method, n, _| match (method, n) {
        // "Loading block index": waited out, while the test breaks the journal.
        ("getblocktemplate", 0) => Reply::Error(-28, "Loading block index..."),
        ("getblocktemplate", _) => Reply::Result(template("207fffff")),
        _ => Reply::Default,
    });
    let journal = journal_path("broken");
    let mut args = mine_args(&url(port), &journal);
    args.extend(["--blocks".into(), "1".into()]);
    let child = spawn(&args);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_file(&journal).unwrap();
    std::fs::create_dir(&journal).unwrap();
    let out = wait_output(child, Duration::from_secs(30));
    let _ = std::fs::remove_dir(&journal);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("is sent without it"), "{stderr}");
    assert_eq!(accepted(&out).len(), 1, "{stderr}");
    assert!(!submitted(&calls).is_empty());
    Ok(())
}

/// Defect 5: HTTP 403 (a client address the node's rpcallowip does not allow) is reported as
/// 403, not as wrong credentials, and ends the run at start (the user's configuration).
fn http_403_is_reported_as_403() -> common::Outcome {
    let (port, _) = stub_node(|_, _, _| {
        Reply::Raw(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".to_vec())
    });
    let journal = journal_path("forbidden");
    let out = run(&mine_args(&url(port), &journal), Duration::from_secs(30));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("HTTP 403"), "{stderr}");
    assert!(!stderr.contains("credentials"), "{stderr}");
    Ok(())
}

/// A node that answers byte by byte, each byte within any per-read timeout, is cut off by the
/// whole-request deadline (`--rpc-timeout`) and waited out like a slow node.
fn a_node_that_answers_byte_by_byte_hits_the_request_deadline() -> common::Outcome {
    let (port, _) = stub_node(|_, _, _| {
        let body = "{\"result\": {\"chain\": \"regtest\"}, \"error\": null}";
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Reply::Trickle(answer.into_bytes(), Duration::from_millis(200))
    });
    let journal = journal_path("trickle");
    let mut args = mine_args(&url(port), &journal);
    args.extend([
        "--rpc-timeout".into(),
        "1".into(),
        "--duration".into(),
        "4".into(),
    ]);
    let started = std::time::Instant::now();
    let out = run(&args, Duration::from_secs(30));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("did not answer in time"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "{stderr}");
    Ok(())
}

/// Defect 8: a 401 under cookie auth is waited out (the node restarted and wrote a new
/// cookie), unlike a 401 for --rpc-user/--rpc-password.
fn a_401_under_cookie_auth_is_waited_out() -> common::Outcome {
    let (port, _) = stub_node(|method, n, _| match (method, n) {
        ("getblockchaininfo", 0 | 1) => {
            Reply::Raw(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".to_vec())
        }
        ("getblocktemplate", _) => Reply::Result(template("207fffff")),
        _ => Reply::Default,
    });
    let journal = journal_path("cookie401");
    let cookie = journal.with_extension("cookie");
    std::fs::write(&cookie, "__cookie__:old\n").unwrap();
    let mut args = mine_args(&url(port), &journal);
    let i = args.iter().position(|a| a == "--rpc-user").unwrap();
    args.splice(
        i..i + 4,
        ["--rpc-cookie".to_string(), cookie.display().to_string()],
    );
    args.extend(["--blocks".into(), "1".into()]);
    let out = run(&args, Duration::from_secs(30));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("HTTP 401").count(), 2, "{stderr}");
    assert_eq!(accepted(&out).len(), 1, "{stderr}");
    Ok(())
}

crate::tests!(
    a_node_that_answers_byte_by_byte_hits_the_request_deadline,
    a_401_under_cookie_auth_is_waited_out,
    a_block_the_journal_cannot_take_is_still_submitted,
    http_403_is_reported_as_403,
    mining_goes_on_after_a_rejected_block,
    a_malformed_template_is_retried_with_a_line_each_time,
    a_required_rule_hashrig_lacks_is_a_clear_error,
    signet_templates_are_asked_for_with_the_signet_rule,
    chains_are_told_by_genesis_not_by_name,
    btcd_gets_a_request_it_can_answer,
    a_side_chain_block_is_stale_and_a_duplicate_on_the_active_chain_accepted,
    a_hostile_chunked_body_is_an_error_line_not_a_crash,
    a_closed_stdout_does_not_stop_mining,
    block_time_follows_the_nodes_clock,
    an_answered_journal_block_is_not_followed_by_a_sibling,
    journal_entries_go_only_to_their_chain_and_a_refused_one_blocks_nothing,
    a_missing_cookie_file_is_waited_for,
    a_second_run_on_the_same_journal_is_refused,
    a_long_poll_timeout_is_not_a_node_failure,
);
