//! Hostile nodes (a scripted node on 127.0.0.1): each row of issue 15's table that a node can
//! do, and a stop while a block submit hangs.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common;
use crate::{watch, watch_until};
use common::miner::{journal_path, mine_args, spawn};
use common::stub::{stub_node, submitted, template, Reply, REGTEST_GENESIS};

fn args(port: u16, name: &str, extra: &[&str]) -> Vec<String> {
    let mut a = mine_args(
        &format!("http://127.0.0.1:{port}"),
        &journal_path(&format!("hostile-{name}")),
    );
    a.extend(["--threads".into(), "1".into()]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// A whole HTTP answer with `body`.
fn http(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Row: "a 63 MiB node answer [0,0,...]": the JSON tree reached 2.1 GB.
fn a_63_mib_answer_is_refused_in_bounded_memory() -> common::Outcome {
    let mut body = Vec::with_capacity(63 << 20);
    body.extend_from_slice(b"{\"result\":[");
    while body.len() < (63 << 20) {
        body.extend_from_slice(b"0,");
    }
    body.extend_from_slice(b"0],\"error\":null}");
    let answer = http(&body);
    drop(body);
    let (port, _) = stub_node(move |method, _, _| match method {
        "getblocktemplate" => Reply::Raw(answer.clone()),
        _ => Reply::Default,
    });
    let run = watch(
        spawn(&args(port, "63mib", &[])),
        Duration::from_secs(6),
        "-TERM",
    );
    run.assert_bounded("a 63 MiB answer");
    assert!(
        run.stderr().contains("answer larger than 16 MiB"),
        "{}",
        run.stderr()
    );
    Ok(())
}

/// Row: "a template of 400k transactions": 868 MB, re-parsed on every poll.
fn a_template_of_400k_transactions_is_refused() -> common::Outcome {
    let mut t = template("207fffff");
    t["transactions"] = json!([]);
    let entries = "{\"data\":\"00\"},".repeat(400_000);
    let text = t.to_string().replace(
        "\"transactions\":[]",
        &format!("\"transactions\":[{entries}{{\"data\":\"00\"}}]"),
    );
    let answer = http(format!("{{\"result\":{text},\"error\":null}}").as_bytes());
    let (port, calls) = stub_node(move |method, _, _| match method {
        "getblocktemplate" => Reply::Raw(answer.clone()),
        _ => Reply::Default,
    });
    let run = watch(
        spawn(&args(port, "400k", &[])),
        Duration::from_secs(6),
        "-TERM",
    );
    run.assert_bounded("400k transactions");
    let stderr = run.stderr();
    assert!(
        stderr.contains("transactions: not an array of at most 16666"),
        "{stderr}"
    );
    assert!(submitted(&calls).is_empty());
    Ok(())
}

/// Row: "a 10 MB template field ... echoed whole into the log on every retry".
fn a_10_mb_field_is_clipped_in_every_retry_line() -> common::Outcome {
    let mut t = template("207fffff");
    t["bits"] = json!(format!("\u{1b}[2J{}", "f".repeat(10_000_000)));
    let (port, _) = stub_node(move |method, _, _| match method {
        "getblocktemplate" => Reply::Result(t.clone()),
        _ => Reply::Default,
    });
    let run = watch(
        spawn(&args(port, "10mb", &[])),
        Duration::from_secs(5),
        "-TERM",
    );
    run.assert_bounded("a 10 MB field");
    let stderr = run.stderr();
    let retries = stderr.matches("getblocktemplate: bits").count();
    assert!(retries >= 2, "{}", common::clip_text(&stderr, 3000));
    assert!(stderr.len() < 20_000, "{} bytes of stderr", stderr.len());
    assert!(!stderr.contains('\u{1b}'));
    Ok(())
}

/// Row: "bits ffffffff or 00000000 in a template": a zero target mined forever without a word.
fn zero_and_over_easy_bits_are_refused_with_a_line() -> common::Outcome {
    for (bits, says) in [
        ("00000000", "zero target"),
        ("ffffffff", "zero target"),
        ("217fffff", "proof-of-work limit"),
    ] {
        let (port, calls) = stub_node(move |method, _, _| match method {
            "getblocktemplate" => Reply::Result(template(bits)),
            _ => Reply::Default,
        });
        let run = watch(
            spawn(&args(port, bits, &[])),
            Duration::from_secs(3),
            "-TERM",
        );
        run.assert_bounded(bits);
        assert!(run.stderr().contains(says), "{bits}: {}", run.stderr());
        assert!(submitted(&calls).is_empty(), "{bits}");
        assert_eq!(run.hashes(), 0, "{bits}: nothing mined");
    }
    Ok(())
}

/// A transaction's hex (spending output `vout` of a made-up one).
fn tx_hex(vout: u32) -> (String, String) {
    use bitcoin::{absolute, transaction, Amount, OutPoint, ScriptBuf, Transaction, TxIn, TxOut};
    let tx = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: bitcoin::Txid::from_raw_hash(bitcoin::hashes::Hash::all_zeros()),
                vout,
            },
            ..Default::default()
        }],
        output: vec![TxOut {
            value: Amount::from_sat(1000),
            script_pubkey: ScriptBuf::new(),
        }],
    };
    (
        bitcoin::consensus::encode::serialize_hex(&tx),
        tx.compute_txid().to_string(),
    )
}

/// Row: "duplicated transactions": a block with a duplicate transaction was submitted.
fn a_template_with_a_duplicate_transaction_is_refused() -> common::Outcome {
    let (data, txid) = tx_hex(3);
    let tx = json!({"data": data, "txid": txid});
    let mut t = template("207fffff");
    t["transactions"] = json!([tx, tx_hex_json(4), tx]);
    let (port, calls) = stub_node(move |method, _, _| match method {
        "getblocktemplate" => Reply::Result(t.clone()),
        _ => Reply::Default,
    });
    let run = watch(
        spawn(&args(port, "dup", &[])),
        Duration::from_secs(3),
        "-TERM",
    );
    run.assert_bounded("duplicate transactions");
    assert!(run.stderr().contains("appears twice"), "{}", run.stderr());
    assert!(submitted(&calls).is_empty());
    Ok(())
}

fn tx_hex_json(vout: u32) -> Value {
    let (data, txid) = tx_hex(vout);
    json!({"data": data, "txid": txid})
}

/// Row: "solo on a regtest node (every other hash meets the target)": 4.4 MH/s instead of
/// ~60, 13.3M stale solutions verified one by one, SIGTERM took 3.1 s.
fn solo_on_regtest_keeps_its_rate_and_stops_at_once() -> common::Outcome {
    // A new parent on every template call: blocks keep coming.
    let (port, calls) = stub_node(move |method, n, _| match method {
        "getblocktemplate" => {
            let mut t = template("207fffff");
            t["previousblockhash"] = json!(format!("{:064x}", n + 1));
            t["height"] = json!(n + 1);
            Reply::Result(t)
        }
        _ => Reply::Default,
    });
    let run = watch(
        spawn(&args(port, "regtest", &[])),
        Duration::from_secs(6),
        "-TERM",
    );
    run.assert_bounded("regtest solo");
    let blocks = submitted(&calls).len();
    assert!(blocks >= 3, "{blocks} blocks");
    let rate = run.hashes() as f64 / run.seconds;
    assert!(rate > 5e6, "{rate:.0} H/s");
    let stderr = run.stderr();
    let summary = common::miner::summary(&stderr);
    // Every block the node took was one solution handed over; the rivals were dropped.
    let accepted = common::miner::summary_field(summary, "accepted") as usize;
    assert!(accepted <= blocks, "{summary}");
    let _ = REGTEST_GENESIS;
    Ok(())
}

/// SIGTERM while a block's submitblock hangs: exit 0 within 2 s, the block in the journal
/// (sent at the next start).
fn sigterm_while_a_submit_hangs_exits_at_once_with_the_block_journaled() -> common::Outcome {
    let (port, calls) = stub_node(move |method, _, _| match method {
        "getblocktemplate" => Reply::Result(template("207fffff")),
        "submitblock" => Reply::Hold,
        _ => Reply::Default,
    });
    let journal = journal_path("hostile-hang");
    let mut a = mine_args(&format!("http://127.0.0.1:{port}"), &journal);
    a.extend(["--threads".into(), "1".into()]);
    let calls2 = std::sync::Arc::clone(&calls);
    let run = watch_until(spawn(&a), Duration::from_secs(20), "-TERM", |_| {
        !submitted(&calls2).is_empty()
    });
    run.assert_bounded("SIGTERM during a hanging submit");
    let sent = submitted(&calls);
    assert_eq!(sent.len(), 1);
    let journaled = std::fs::read_to_string(&journal).unwrap_or_default();
    assert!(
        journaled.contains(&sent[0][..200]),
        "the block is in the journal: {}",
        common::clip_text(&journaled, 500)
    );
    Ok(())
}

crate::tests!(
    a_63_mib_answer_is_refused_in_bounded_memory,
    a_template_of_400k_transactions_is_refused,
    a_10_mb_field_is_clipped_in_every_retry_line,
    zero_and_over_easy_bits_are_refused_with_a_line,
    a_template_with_a_duplicate_transaction_is_refused,
    solo_on_regtest_keeps_its_rate_and_stops_at_once,
    sigterm_while_a_submit_hangs_exits_at_once_with_the_block_journaled,
);
