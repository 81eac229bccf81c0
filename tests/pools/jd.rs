//! Job declaration mode against the real stack (tests/common/sv2.rs `JdStack`): bcoin with
//! wallet transactions in its mempool, the Template Provider, and testbed/pool-jds (pool_sv2's
//! channel manager with an embedded jd_server_sv2 JDS whose engine checks every declared block
//! with bcoin's `getblocktemplate` proposal mode). The JDS's transaction mirror starts empty,
//! so every transaction of a declared block reaches it through ProvideMissingTransactions. On
//! regtest every share is also a block: the chain shows what was mined, and for whom.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::bcoin::Bcoin;
use common::miner::{hashrig, journal_path, summary, summary_field, API_KEY, PAYOUT};
use common::sv2::{JdStack, POOL_PAYOUT};
use serde_json::json;

fn args(stack: &JdStack, journal: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "mine",
        "--node",
        &stack.bcoin.url(),
        "--rpc-user",
        "hashrig",
        "--rpc-password",
        API_KEY,
        "--payout-script",
        PAYOUT,
        "--pool",
        &stack.pool_url(),
        "--jds",
        &stack.jds_url(),
        "--user",
        "worker.jd",
        "--backend",
        "cpu",
        "--threads",
        "1",
        "--poll-ms",
        "100",
        "--pool-timeout",
        "5",
        "--journal",
        &journal.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// Output 0 of block `hash`'s coinbase: (script hex, value in sats), and the block's txids.
fn coinbase(node: &Bcoin, hash: &str) -> (String, u64, Vec<String>) {
    let block = node.rpc("getblock", json!([hash, true, true]));
    let cb = &block["tx"][0];
    let script = cb["vout"][0]["scriptPubKey"]["hex"]
        .as_str()
        .unwrap_or_else(|| panic!("coinbase in {block}"))
        .to_string();
    let value = (cb["vout"][0]["value"].as_f64().unwrap() * 1e8).round() as u64;
    let txids = block["tx"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["txid"].as_str().unwrap_or_default().to_string())
        .collect();
    (script, value, txids)
}

fn block_hash(node: &Bcoin, height: u64) -> String {
    node.rpc("getblockhash", json!([height]))
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs hashrig with its output in files (a long run never blocks on a full pipe).
struct Run {
    child: Child,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
}

impl Run {
    fn start(args: &[String], name: &str) -> Run {
        let dir = std::env::temp_dir();
        let out = dir.join(format!("hashrig-jd-{name}-{}.out", std::process::id()));
        let err = dir.join(format!("hashrig-jd-{name}-{}.err", std::process::id()));
        let child = hashrig()
            .args(args)
            .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
            .spawn()
            .unwrap();
        Run { child, out, err }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Waits for the exit (killed after `limit`): (success, stdout, stderr).
    fn wait(mut self, limit: Duration) -> (bool, String, String) {
        let until = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = std::fs::read_to_string(&self.out).unwrap_or_default();
        let err = self.stderr();
        assert!(
            status.is_some(),
            "hashrig did not finish in {limit:?}:\n{err}"
        );
        (status.unwrap().success(), out, err)
    }

    /// SIGTERM: a clean stop with the summary.
    fn stop(self, limit: Duration) -> (bool, String, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait(limit)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The summary's job declaration line.
fn jd_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("job declaration stratum2+tcp://"))
        .unwrap_or_else(|| panic!("no job declaration line in the summary:\n{stderr}"))
}

/// Waits until a block above `above` pays `script` in output 0; its height.
fn wait_block_paying(
    node: &Bcoin,
    above: u64,
    script: &str,
    limit: Duration,
    log: &dyn Fn() -> String,
) -> u64 {
    let until = Instant::now() + limit;
    loop {
        let tip = node.height();
        for h in above + 1..=tip {
            if coinbase(node, &block_hash(node, h)).0 == script {
                return h;
            }
        }
        assert!(
            Instant::now() < until,
            "no block paying {script} above {above} (tip {tip}):\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn declared_blocks_carry_our_transactions_and_pay_the_pool() -> common::Outcome {
    let stack = JdStack::start(3)?;
    let journal = journal_path("jd-blocks");
    let run = Run::start(&args(&stack, &journal, &["--blocks", "3"]), "blocks");
    let (ok, _, stderr) = run.wait(Duration::from_secs(120));
    let pool_log = stack.pool.log_text();
    assert!(ok, "{stderr}\n{pool_log}");
    assert!(
        stderr.contains("job declaration: mining our own template on pool"),
        "{stderr}"
    );
    // The first block: every mempool transaction, the pool's payout with subsidy + fees.
    let (script, value, txids) = coinbase(&stack.bcoin, &block_hash(&stack.bcoin, 451));
    assert_eq!(script, POOL_PAYOUT, "{stderr}\n{pool_log}");
    // Regtest halves every 150 blocks: 6.25 BTC at 451, plus the fees.
    assert!(value > 625_000_000, "{value}");
    for t in &stack.txids {
        assert!(txids.contains(t), "{t} in block 451: {txids:?}");
    }
    assert_eq!(stack.bcoin.rpc("getmempoolinfo", json!([]))["size"], 0);
    // Every block above 450 was declared and paid the pool.
    let tip = stack.bcoin.height();
    assert!(tip >= 453, "tip {tip}");
    for h in 451..=tip {
        assert_eq!(
            coinbase(&stack.bcoin, &block_hash(&stack.bcoin, h)).0,
            POOL_PAYOUT
        );
    }
    // The JDS learnt the transactions from us, accepted the declarations, and the pool took
    // the custom jobs and counted the shares.
    assert!(
        pool_log.contains("jds: 3 transactions provided for declaration"),
        "{pool_log}"
    );
    assert!(pool_log.contains("custom job "), "{pool_log}");
    assert!(
        !pool_log.contains("SetCustomMiningJob refused"),
        "{pool_log}"
    );
    let accepted = summary_field(summary(&stderr), "accepted");
    assert!(accepted >= 3.0, "{stderr}");
    // The pool acknowledged the shares (its per-channel metrics go with the channel when
    // hashrig exits, so its log is read instead).
    let acked = pool_log
        .lines()
        .filter(|l| {
            l.contains("SubmitSharesExtended") && (l.contains('✅') || l.contains("Block Found"))
        })
        .count();
    assert!(acked >= 1, "{pool_log}");
    let line = jd_line(&stderr);
    assert!(line.contains(" provided 3 "), "{line}");
    assert!(line.contains(" refused 0 "), "{line}");
    assert!(line.contains(" fallbacks 0"), "{line}");
    assert!(summary_field(line, "accepted") >= 3.0, "{line}");
    Ok(())
}

fn falls_back_to_solo_when_the_pool_goes_and_returns() -> common::Outcome {
    let mut stack = JdStack::start(1)?;
    let journal = journal_path("jd-fallback");
    let api = common::bcoin::free_port();
    let api_addr = format!("127.0.0.1:{api}");
    let run = Run::start(&args(&stack, &journal, &["--api", &api_addr]), "fallback");
    let log = || run.stderr();
    let first = wait_block_paying(
        &stack.bcoin,
        450,
        POOL_PAYOUT,
        Duration::from_secs(60),
        &log,
    );
    let state = || -> String {
        let text = common::bcoin::http(api, "GET", "/v1/summary", "").unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        v["job_declaration"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    common::miner::wait_for(
        "state declared in /v1/summary",
        Duration::from_secs(10),
        || state() == "declared",
    );
    stack.pool.kill();
    let solo = wait_block_paying(&stack.bcoin, first, PAYOUT, Duration::from_secs(60), &log);
    assert!(
        run.stderr()
            .contains("job declaration: mining solo on the node with the fallback payout"),
        "{}",
        run.stderr()
    );
    // The API and /metrics say so while it lasts.
    assert_eq!(state(), "fallback");
    let metrics = common::bcoin::http(api, "GET", "/metrics", "").unwrap();
    assert!(
        metrics.contains("hashrig_jd_state{state=\"fallback\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hashrig_jd_declarations_total{result=\"accepted\"}"),
        "{metrics}"
    );
    stack.pool.restart();
    let tip = stack.bcoin.height().max(solo);
    let back = wait_block_paying(
        &stack.bcoin,
        tip,
        POOL_PAYOUT,
        Duration::from_secs(90),
        &log,
    );
    let (_, _, stderr) = run.stop(Duration::from_secs(20));
    assert!(back > solo && solo > first, "{first} {solo} {back}");
    let line = jd_line(&stderr);
    assert!(summary_field(line, "fallbacks") >= 1.0, "{line}");
    // Every block found was taken: none lost, none left in the journal.
    assert!(
        std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .trim()
            .is_empty(),
        "journal emptied"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    Ok(())
}

fn refusals_and_expired_tokens_are_handled() -> common::Outcome {
    let stack = JdStack::start(1)?;
    // The first declaration is refused for good (fallback until the next template), the next
    // one for timing (retried), and the first custom job's token is refused as expired
    // (declared again).
    stack.control("declare invalid-job");
    stack.control("declare stale-chain-tip");
    stack.control("custom invalid-mining-job-token");
    let journal = journal_path("jd-refusals");
    let run = Run::start(&args(&stack, &journal, &["--blocks", "5"]), "refusals");
    let (ok, _, stderr) = run.wait(Duration::from_secs(120));
    let pool_log = stack.pool.log_text();
    assert!(ok, "{stderr}\n{pool_log}");
    assert!(
        stderr.contains("the JDS refused the job for block 451: invalid-job"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mining solo on the node with the fallback payout"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("refused the custom job's token (invalid-mining-job-token); declaring again"),
        "{stderr}"
    );
    // The refused declaration's block was mined solo; the chain then went back to the pool:
    // every block found on a declared job reached the node and pays the pool, and they are on
    // the chain. (Not "the tip pays the pool": a block found while the next template is being
    // declared is mined solo, by design, and can be the last one; a CI run ended so.)
    assert_eq!(
        coinbase(&stack.bcoin, &block_hash(&stack.bcoin, 451)).0,
        PAYOUT
    );
    let declared: Vec<(&str, u64)> = stderr
        .lines()
        .filter_map(|l| l.split("block found on the declared job: ").nth(1))
        .map(|rest| {
            let mut words = rest.split_whitespace();
            let hash = words.next().unwrap_or_default();
            let height = words
                .nth(2)
                .and_then(|h| h.trim_end_matches(';').parse().ok());
            (
                hash,
                height.unwrap_or_else(|| panic!("no height in {rest:?}")),
            )
        })
        .collect();
    assert!(
        !declared.is_empty(),
        "no block on a declared job:\n{stderr}"
    );
    let mut on_chain = 0;
    for (hash, height) in &declared {
        assert_eq!(
            coinbase(&stack.bcoin, hash).0,
            POOL_PAYOUT,
            "{hash}: {stderr}"
        );
        if block_hash(&stack.bcoin, *height) == *hash {
            on_chain += 1;
        }
    }
    assert!(
        on_chain > 0,
        "no declared block on the chain: {declared:?}\n{stderr}"
    );
    let line = jd_line(&stderr);
    assert!(line.contains("\"invalid-job\": 1"), "{line}");
    assert!(line.contains("\"stale-chain-tip\": 1"), "{line}");
    assert!(summary_field(line, "custom_refused") >= 1.0, "{line}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    Ok(())
}

tests!(
    declared_blocks_carry_our_transactions_and_pay_the_pool,
    falls_back_to_solo_when_the_pool_goes_and_returns,
    refusals_and_expired_tokens_are_handled
);
