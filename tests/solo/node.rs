//! `hashrig mine` against a real Bitcoin node (bcoin regtest); node-shaped stubs are in node_stubs.rs.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::bcoin::{free_port, Bcoin, Proxy, API_KEY};
use common::miner::*;
use serde_json::{json, Value};

fn coinbase_script(node: &Bcoin, block_hash: &str) -> String {
    let block = node.rpc("getblock", json!([block_hash, true, true]));
    let coinbase = &block["tx"][0];
    coinbase["vout"][0]["scriptPubKey"]["hex"]
        .as_str()
        .unwrap_or_else(|| panic!("coinbase output script in {coinbase}"))
        .to_string()
}

fn mines_five_blocks_from_genesis_to_a_raw_script() -> common::Outcome {
    let node = Bcoin::start(false)?;
    let journal = journal_path("five");
    let mut args = mine_args(&node.url(), &journal);
    args.extend(["--blocks".into(), "5".into()]);
    let out = run(&args, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blocks = accepted(&out);
    // Five blocks, and any found in the backends' last batches is submitted too (never
    // dropped at exit): every accepted block is on the chain, one after the other.
    let heights: Vec<u64> = blocks.iter().map(|b| b.0).collect();
    assert!(heights.len() >= 5, "{heights:?}");
    assert_eq!(heights, (1..=heights.len() as u64).collect::<Vec<_>>());
    assert_eq!(node.height(), heights.len() as u64);
    let best = node.rpc("getbestblockhash", json!([]));
    assert_eq!(best.as_str().unwrap(), blocks.last().unwrap().1);
    for (_, hash) in &blocks {
        assert_eq!(
            coinbase_script(&node, hash),
            PAYOUT,
            "payout in block {hash}"
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hw_errors 0"), "{stderr}");
    assert!(
        std::fs::read_to_string(&journal).unwrap().trim().is_empty(),
        "journal emptied"
    );
    Ok(())
}

fn mines_a_block_with_mempool_witness_transactions() -> common::Outcome {
    let node = Bcoin::start(true)?;
    // A witness (P2WPKH) wallet; mature coinbases to it and segwit active.
    node.wallet_call("PUT", "/wallet/seg", json!({"witness": true}));
    let address = node.wallet("/wallet/seg/address", json!({"account": "default"}))["address"]
        .as_str()
        .unwrap()
        .to_string();
    node.rpc("generatetoaddress", json!([450, address]));
    // No getblocktemplate before the transactions are in: bcoin keeps a template for ~10 s.

    let mut txids = Vec::new();
    for _ in 0..3 {
        let to = node.wallet("/wallet/seg/address", json!({"account": "default"}))["address"]
            .as_str()
            .unwrap()
            .to_string();
        let tx = node.wallet(
            "/wallet/seg/send",
            // bcoin's miner leaves out "free" transactions (fee under its minimum on the full
            // size): pay 20 sat/vB.
            json!({"rate": 20_000, "outputs": [{"value": 110_000_000, "address": to}]}),
        );
        let txid = tx["hash"]
            .as_str()
            .unwrap_or_else(|| panic!("send: {tx}"))
            .to_string();
        // Spends a P2WPKH output: the transaction carries witness data.
        // The wallet answers before the node's mempool has it: wait for it there.
        let deadline = Instant::now() + Duration::from_secs(10);
        let raw = loop {
            match node.try_rpc("getrawtransaction", json!([txid, true])) {
                Ok(raw) => break raw,
                Err(e) if Instant::now() > deadline => {
                    panic!("{txid} never reached the mempool: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        assert!(
            raw["vin"][0]["txinwitness"]
                .as_array()
                .is_some_and(|w| !w.is_empty()),
            "{raw}"
        );
        txids.push(txid);
    }
    let template = node.rpc("getblocktemplate", json!([{"rules": ["segwit"]}]));
    assert!(
        template["rules"].to_string().contains("segwit"),
        "segwit active: {template}"
    );
    assert_eq!(template["transactions"].as_array().unwrap().len(), 3);
    assert!(template["default_witness_commitment"].is_string());

    let journal = journal_path("mempool");
    let mut args = mine_args(&node.url(), &journal);
    args.extend(["--blocks".into(), "1".into()]);
    let out = run(&args, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blocks = accepted(&out);
    // A block found in the last batch (on top of 451) is submitted too.
    assert!(!blocks.is_empty());
    assert_eq!(blocks[0].0, 451);
    assert_eq!(node.height(), 450 + blocks.len() as u64);
    let block = node.rpc("getblock", json!([blocks[0].1, true, false]));
    let in_block: Vec<String> = block["tx"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    for txid in &txids {
        assert!(in_block.contains(txid), "{txid} in {in_block:?}");
    }
    assert_eq!(node.rpc("getmempoolinfo", json!([]))["size"], 0);
    assert_eq!(coinbase_script(&node, &blocks[0].1), PAYOUT);
    Ok(())
}

fn waits_for_a_node_that_is_not_running_yet() -> common::Outcome {
    Bcoin::available()?;
    let port = free_port();
    let journal = journal_path("late");
    let mut args = mine_args(&format!("http://127.0.0.1:{port}"), &journal);
    args.extend(["--blocks".into(), "2".into()]);
    let child = spawn(&args);
    std::thread::sleep(Duration::from_millis(1500));
    let node = Bcoin::start_on(port, false).unwrap_or_else(|s| panic!("{s:?}"));
    let out = wait_output(child, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("waiting for the node"), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    // Blocks found in the last batch are submitted too.
    assert!(node.height() >= 2);
    assert_eq!(node.height(), accepted(&out).len() as u64);
    Ok(())
}

fn a_block_found_while_the_node_is_down_is_journaled_and_submitted_after_restart() -> common::Outcome
{
    let mut node = Bcoin::start(false)?;
    let port = node.port;
    let proxy = Proxy::start(port);
    proxy
        .hold_submits
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let journal = journal_path("restart");
    let mut args = mine_args(&proxy.url(), &journal);
    args.extend(["--blocks".into(), "1".into()]);
    let child = spawn(&args);
    // hashrig finds block 1 at once; its submitblock goes nowhere, and the node dies.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !proxy.submit_seen.load(std::sync::atomic::Ordering::Relaxed) {
        assert!(
            Instant::now() < deadline,
            "no submitblock reached the proxy"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    node.kill();
    // Give hashrig time to see the failure and journal the block.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pending = loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| !l.trim().is_empty()) {
            break serde_json::from_str::<Value>(line).unwrap();
        }
        assert!(Instant::now() < deadline, "block not journaled");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(pending["height"], 1);
    std::thread::sleep(Duration::from_millis(500));

    // The node comes back (a fresh regtest chain: same genesis, so block 1 still fits).
    proxy
        .hold_submits
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let node = Bcoin::start_on(port, false).unwrap_or_else(|s| panic!("{s:?}"));
    let out = wait_output(child, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("kept in"), "{stderr}");
    assert!(stdout.contains("(from the journal)"), "{stdout}");
    // The journaled block is block 1 of the chain (a block found on top of it in the last
    // batch may follow it).
    assert!(node.height() >= 1);
    assert_eq!(
        node.rpc("getblockhash", json!([1])).as_str().unwrap(),
        pending["hash"].as_str().unwrap()
    );
    assert!(std::fs::read_to_string(&journal).unwrap().trim().is_empty());
    Ok(())
}

fn a_wrong_password_is_a_clear_error() -> common::Outcome {
    let node = Bcoin::start(false)?;
    let journal = journal_path("password");
    let mut args = mine_args(&node.url(), &journal);
    let i = args.iter().position(|a| a == API_KEY).unwrap();
    args[i] = "wrong-secret".into();
    args.extend(["--blocks".into(), "1".into()]);
    let out = run(&args, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused the RPC credentials"), "{stderr}");
    assert!(
        !stderr.contains("wrong-secret"),
        "the password is never printed"
    );
    assert_eq!(node.height(), 0);
    Ok(())
}

/// Runs hashrig on `backend` while the node gets two blocks from elsewhere; returns the summary
/// line. The share target is made hard so hashrig finds nothing itself and is always busy on
/// the old job when the new block comes. (At `1c00ffff`, about 2^-40 a hash, a CPU found one
/// block in about 1 run of 2500: it was accepted and its new template added switches, and the
/// test failed once in CI. `1b00ffff` is 256 times less likely.)
fn switch_run(node: &Bcoin, backend: &str) -> String {
    let journal = journal_path("switch");
    let mut args = mine_args(&node.url(), &journal);
    let i = args.iter().position(|a| a == "cpu").unwrap();
    args[i] = backend.into();
    args.extend([
        "--duration".into(),
        "5".into(),
        "--share-bits".into(),
        "1b00ffff".into(),
    ]);
    let child = spawn(&args);
    std::thread::sleep(Duration::from_millis(1500));
    // bcoin regtest P2PKH (version 0x3c) of the PAYOUT key hash.
    let address = "RKxTdfmtxtfLDKZBgx6SvNkBtNu9jRYnLh";
    node.rpc("generatetoaddress", json!([1, address]));
    std::thread::sleep(Duration::from_millis(1500));
    node.rpc("generatetoaddress", json!([1, address]));
    let out = wait_output(child, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    stderr
        .lines()
        .find(|l| l.starts_with("summary:"))
        .expect("summary line")
        .to_string()
}

/// A new block from elsewhere: each backend leaves the old work within one batch (measured
/// from the moment hashrig learns of the block to the last backend off the old job).
fn a_new_block_switches_the_cpu_within_one_batch() -> common::Outcome {
    let node = Bcoin::start(false)?;
    let cpu = switch_run(&node, "cpu");
    eprintln!("cpu: {cpu}");
    assert_eq!(summary_field(&cpu, "accepted"), 0.0, "{cpu}");
    assert!(
        summary_field(&cpu, "switches") >= 3.0,
        "first template + two new blocks: {cpu}"
    );
    // CPU work is cut every ~1 ms piece; the batch is ~50 ms. Generous for a loaded machine.
    let ms = summary_field(&cpu, "max_switch_ms");
    assert!(ms > 0.0 && ms < 50.0, "{cpu}");
    Ok(())
}

/// The same on a GPU: the dispatches already queued finish, none starts on the old work.
fn a_new_block_switches_the_gpu_within_one_batch() -> common::Outcome {
    common::gpu_adapter()?;
    let node = Bcoin::start(false)?;
    let gpu = switch_run(&node, "gpu");
    eprintln!("gpu: {gpu}");
    assert!(summary_field(&gpu, "switches") >= 3.0, "{gpu}");
    // The dispatches already queued finish: two of ~50 ms (--gpu-kernel-ms default).
    let ms = summary_field(&gpu, "max_switch_ms");
    assert!(ms > 0.0 && ms < 400.0, "{gpu}");
    Ok(())
}

fn a_payout_address_for_another_network_is_a_clear_error() -> common::Outcome {
    let node = Bcoin::start(false)?;
    let journal = journal_path("network");
    let mut args = mine_args(&node.url(), &journal);
    let i = args.iter().position(|a| a == "--payout-script").unwrap();
    // A mainnet P2WPKH address (BIP173 example) against a regtest node.
    args[i] = "--payout".into();
    args[i + 1] = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4".into();
    args.extend(["--blocks".into(), "1".into()]);
    let out = run(&args, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another network"), "{stderr}");
    assert_eq!(node.height(), 0);

    // A regtest address is fine (bcoin reports chain "regtest").
    args[i + 1] = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080".into();
    let out = run(&args, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(node.height() >= 1);
    assert_eq!(node.height(), accepted(&out).len() as u64);

    // Not an address at all: a usage error before anything is contacted.
    args[i + 1] = "not-an-address".into();
    let out = run(&args, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2));
    Ok(())
}

fn sigterm_stops_mining_cleanly() -> common::Outcome {
    let node = Bcoin::start(false)?;
    let journal = journal_path("sigterm");
    let mut args = mine_args(&node.url(), &journal);
    args.extend(["--share-bits".into(), "1c00ffff".into()]);
    let child = spawn(&args);
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = wait_output(child, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(summary_field(summary(&stderr), "accepted"), 0.0, "{stderr}");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "stopped in {:?}",
        sent.elapsed()
    );
    Ok(())
}

/// A GPU that fails (destroyed as a driver reset would) stops alone with a clear line; the CPU
/// mines on. With no backend left, hashrig exits with an error instead of idling.
fn a_lost_gpu_stops_alone_and_mining_goes_on() -> common::Outcome {
    common::gpu_adapter()?;
    let node = Bcoin::start(false)?;
    let journal = journal_path("lost-gpu");
    let mut args = mine_args(&node.url(), &journal);
    let i = args.iter().position(|a| a == "cpu").unwrap();
    args[i] = "all".into();
    args.extend([
        "--blocks".into(),
        "3".into(),
        "--lose-gpus-after-ms".into(),
        "0".into(),
    ]);
    let out = run(&args, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stopped: Vec<&str> = stderr
        .lines()
        .filter(|l| l.ends_with("; that device stops"))
        .collect();
    assert_eq!(stopped.len(), 1, "{stderr}");
    eprintln!("{}", stopped[0]);
    assert!(stopped[0].contains("device lost"), "{stderr}");
    let mined = accepted(&out).len() as u64;
    assert!(mined >= 3, "{stderr}");
    assert_eq!(node.height(), mined);

    let mut args = mine_args(&node.url(), &journal);
    let i = args.iter().position(|a| a == "cpu").unwrap();
    args[i] = "gpu".into();
    args.extend([
        "--duration".into(),
        "30".into(),
        "--lose-gpus-after-ms".into(),
        "0".into(),
    ]);
    let started = Instant::now();
    let out = run(&args, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "{stderr}");
    assert!(stderr.contains("device lost"), "{stderr}");
    // A dispatch that was already queued when the device went may still have found a block
    // (half of all regtest nonces do); such a block is submitted, not dropped.
    assert_eq!(
        node.height(),
        mined + accepted(&out).len() as u64,
        "{stderr}"
    );
    Ok(())
}

crate::tests!(
    mines_five_blocks_from_genesis_to_a_raw_script,
    mines_a_block_with_mempool_witness_transactions,
    waits_for_a_node_that_is_not_running_yet,
    a_block_found_while_the_node_is_down_is_journaled_and_submitted_after_restart,
    a_wrong_password_is_a_clear_error,
    a_new_block_switches_the_cpu_within_one_batch,
    a_new_block_switches_the_gpu_within_one_batch,
    a_payout_address_for_another_network_is_a_clear_error,
    sigterm_stops_mining_cleanly,
    a_lost_gpu_stops_alone_and_mining_goes_on
);
