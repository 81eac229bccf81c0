//! Solo mining scrypt against two real Litecoin nodes (Debian's litecoind 0.21.2.1, regtest):
//! blocks before MWEB, the first MWEB block (a peg-in in the mempool, as the node requires),
//! and a block with an MWEB-to-MWEB transaction, all accepted; a block whose SHA-256d meets the
//! target but whose scrypt does not is refused as `high-hash`, which shows these blocks are
//! checked by scrypt.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::litecoind::{LitecoinPair, PASSWORD, USER};
use crate::common::miner::{accepted, journal_path, run, summary};
use crate::common::{self, Outcome};
use hashrig::algo::Algo;
use hashrig::chain::{hash_meets, Header, Target};

/// MWEB activates at this height on regtest (BIP 9, bit 4, signalled by the template's version).
const MWEB_HEIGHT: u64 = 432;

fn mine(pair: &LitecoinPair, payout: &str, blocks: u64, name: &str) -> std::process::Output {
    mine_on(pair, payout, blocks, name, "cpu")
}

fn mine_on(
    pair: &LitecoinPair,
    payout: &str,
    blocks: u64,
    name: &str,
    backend: &str,
) -> std::process::Output {
    let journal = journal_path(name);
    let args: Vec<String> = [
        "mine",
        "--algo",
        "scrypt",
        "--node",
        &pair.a.url(),
        "--rpc-user",
        USER,
        "--rpc-password",
        PASSWORD,
        "--payout",
        payout,
        "--backend",
        backend,
        "--poll-ms",
        "100",
        "--blocks",
        &blocks.to_string(),
        "--journal",
        &journal.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let out = run(&args, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "hashrig failed:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_file(&journal);
    out
}

/// The heights of the blocks `out` says were accepted: at least `at_least`, one after the other
/// from `first`. `--blocks N` exits after N acceptances, and a block found in the backends' last
/// batches is submitted too (never dropped at exit), so a fast run may add one or two.
fn accepted_from(out: &std::process::Output, first: u64, at_least: usize) -> Vec<u64> {
    let heights: Vec<u64> = accepted(out).iter().map(|b| b.0).collect();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(heights.len() >= at_least, "{heights:?}\n{stderr}");
    assert_eq!(
        heights,
        (first..first + heights.len() as u64).collect::<Vec<_>>(),
        "{stderr}"
    );
    heights
}

/// Block `height` (verbosity 2) as the node has it.
fn block_at(pair: &LitecoinPair, height: u64) -> Value {
    let hash = pair.a.rpc("getblockhash", json!([height]));
    pair.a.rpc("getblock", json!([hash, 2]))
}

/// The script hex the coinbase of block `height` pays in its first output.
fn coinbase_script(pair: &LitecoinPair, height: u64) -> String {
    block_at(pair, height)["tx"][0]["vout"][0]["scriptPubKey"]["hex"]
        .as_str()
        .unwrap()
        .to_string()
}

fn litecoin_blocks_before_and_after_mweb() -> Outcome {
    let pair = LitecoinPair::start()?;
    let payout = pair.address("bech32");
    let script = pair.a.wallet("getaddressinfo", json!([payout]))["scriptPubKey"]
        .as_str()
        .unwrap()
        .to_string();

    // Mining the node's chain as SHA-256d is refused before anything is mined.
    let journal = journal_path("ltc-wrong-algo");
    let out = run(
        &[
            "mine",
            "--node",
            &pair.a.url(),
            "--rpc-user",
            USER,
            "--rpc-password",
            PASSWORD,
            "--payout",
            &payout,
            "--backend",
            "cpu",
            "--journal",
            &journal.display().to_string(),
        ]
        .map(String::from),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("litecoin regtest") && stderr.contains("--algo scrypt"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&journal);

    // Five blocks (or a few more) from the genesis block on, before MWEB.
    let out = mine(&pair, &payout, 5, "ltc-first");
    let tip = *accepted_from(&out, 1, 5).last().unwrap();
    assert_eq!(pair.a.height(), tip);
    for h in 1..=tip {
        assert_eq!(coinbase_script(&pair, h), script, "block {h} pays --payout");
        assert!(block_at(&pair, h).get("mweb").is_none());
    }
    // The summary counts scrypt hashes and no hardware errors.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(summary(&stderr).contains("hw_errors 0"), "{stderr}");

    // Up to the block before MWEB's activation, then a peg-in waiting in the mempool (the
    // node cannot make the first MWEB block's template without one: bad-txns-vin-empty).
    pair.generate(MWEB_HEIGHT - 1 - tip);
    assert_eq!(pair.a.height(), MWEB_HEIGHT - 1);
    let mweb_address = pair.address("mweb");
    let pegin = pair.a.wallet("sendtoaddress", json!([mweb_address, 5]));
    let out = mine(&pair, &payout, 3, "ltc-mweb");
    let tip = *accepted_from(&out, MWEB_HEIGHT, 3).last().unwrap();
    // Block 431 came before MWEB; block 432 is the first MWEB block, with the peg-in (and the
    // integrating transaction last).
    assert!(block_at(&pair, MWEB_HEIGHT - 1).get("mweb").is_none());
    let first = block_at(&pair, MWEB_HEIGHT);
    assert!(first.get("mweb").is_some(), "{first}");
    let txids: Vec<&str> = first["tx"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["txid"].as_str().unwrap())
        .collect();
    assert!(txids.contains(&pegin.as_str().unwrap()), "{txids:?}");
    assert!(txids.len() >= 3, "coinbase, peg-in, HogEx: {txids:?}");
    assert_eq!(coinbase_script(&pair, MWEB_HEIGHT), script);
    assert!(block_at(&pair, MWEB_HEIGHT + 1).get("mweb").is_some());

    // A transaction inside MWEB (from the pegged-in coins to another MWEB address).
    let template = || {
        pair.a
            .rpc("getblocktemplate", json!([{"rules": ["mweb", "segwit"]}]))
    };
    let before = template()["mweb"].clone();
    let inside = pair
        .a
        .wallet("sendtoaddress", json!([pair.address("mweb"), 1]));
    assert_eq!(
        pair.a.rpc("getmempoolinfo", json!([]))["size"],
        json!(1),
        "the MWEB transaction waits in the mempool"
    );
    // The node keeps its template for 5 s after the mempool changes (as Bitcoin Core does):
    // wait until its MWEB block holds the transaction.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while template()["mweb"] == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the template never took {inside}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let out = mine(&pair, &payout, 1, "ltc-mweb-tx");
    let tip_after = *accepted_from(&out, tip + 1, 1).last().unwrap();
    let with_tx = block_at(&pair, tip + 1);
    let mweb = &with_tx["mweb"];
    assert!(
        mweb["kernels"].as_array().is_some_and(|k| !k.is_empty()),
        "block {} carries the MWEB transaction {inside}: {mweb}",
        tip + 1
    );
    assert_eq!(
        pair.a.rpc("getmempoolinfo", json!([]))["size"],
        json!(0),
        "the mempool is empty"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pair.b.height() != tip_after {
        assert!(
            std::time::Instant::now() < deadline,
            "the peer has every block"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The node checks scrypt: the tip's header with a nonce whose SHA-256d meets the target but
/// whose scrypt hash does not is `high-hash`; one whose scrypt meets it is not.
fn a_sha256d_only_block_is_high_hash() -> Outcome {
    let pair = LitecoinPair::start()?;
    let payout = pair.address("bech32");
    mine(&pair, &payout, 1, "ltc-high-hash");
    let tip = pair.a.rpc("getbestblockhash", json!([]));
    let raw = pair.a.rpc("getblock", json!([tip, 0]));
    let raw = raw.as_str().unwrap();
    let header = Header::from_hex(&raw[..160]).unwrap();
    let target = Target::from_compact(header.bits());
    let (mut sha_only, mut scrypt_ok) = (None, None);
    for nonce in 0u32.. {
        let h = header.with_nonce(nonce);
        let sha = hash_meets(&Algo::Sha256d.reference_pow(h.as_bytes()), &target);
        let scr = hash_meets(&Algo::Scrypt.reference_pow(h.as_bytes()), &target);
        if sha && !scr && sha_only.is_none() && nonce != header.nonce() {
            sha_only = Some(h);
        }
        if scr && scrypt_ok.is_none() && nonce != header.nonce() {
            scrypt_ok = Some(h);
        }
        if sha_only.is_some() && scrypt_ok.is_some() {
            break;
        }
    }
    let with = |h: Header| format!("{}{}", h, &raw[160..]);
    let answer = pair.a.rpc("submitblock", json!([with(sha_only.unwrap())]));
    assert_eq!(answer, json!("high-hash"));
    let answer = pair.a.rpc("submitblock", json!([with(scrypt_ok.unwrap())]));
    assert_ne!(
        answer,
        json!("high-hash"),
        "a scrypt-valid twin is not high-hash"
    );
    let _ = common::golden;
    Ok(())
}

/// scrypt blocks mined by the WGSL kernel (lavapipe in CI) and accepted by Litecoin Core.
fn litecoin_blocks_from_the_gpu() -> Outcome {
    common::gpu_adapter()?;
    let pair = LitecoinPair::start()?;
    let payout = pair.address("bech32");
    let out = mine_on(&pair, &payout, 2, "ltc-gpu", "gpu");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tip = *accepted_from(&out, 1, 2).last().unwrap();
    assert!(
        stderr.contains("mining on node") && stderr.contains("gpu "),
        "{stderr}"
    );
    assert!(summary(&stderr).contains("hw_errors 0"), "{stderr}");
    assert_eq!(pair.a.height(), tip);
    Ok(())
}

crate::tests!(
    litecoin_blocks_before_and_after_mweb,
    litecoin_blocks_from_the_gpu,
    a_sha256d_only_block_is_high_hash
);
