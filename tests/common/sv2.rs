//! The Stratum reference stack for tests, all on 127.0.0.1 and free ports: bcoin regtest
//! (segwit activated first), the project's Template Provider (testbed/sv2-tp), `pool_sv2`
//! 0.7.0 and `translator_sv2` 0.6.0 (a real Stratum v1 server). Installed by
//! `.ci/install-sv2` into `HASHRIG_SV2_DIR` (default ~/.cache/hashrig/sv2).
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::bcoin::{free_port, http, Bcoin};
use super::{skip, Skip};

/// An address bcoin takes for generatetoaddress (regtest bech32 of the tests' payout key).
pub const REGTEST_ADDRESS: &str = "rb1qw508d6qejxtdg4y5r3zarvary0c5xw7k38f4sn";
/// The SRI examples' public authority key (the TP and the pool use the pair).
const AUTHORITY_PUBLIC: &str = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
const AUTHORITY_SECRET: &str = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n";

fn sv2_dir() -> PathBuf {
    match std::env::var_os("HASHRIG_SV2_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/hashrig/sv2")
        }
    }
}

struct Binaries {
    tp: PathBuf,
    pool: PathBuf,
    translator: PathBuf,
}

fn binaries() -> Result<Binaries, Skip> {
    let dir = sv2_dir();
    let b = Binaries {
        tp: dir.join("tp-target/release/hashrig-sv2-tp"),
        pool: dir.join("bin/pool_sv2"),
        translator: dir.join("bin/translator_sv2"),
    };
    for p in [&b.tp, &b.pool, &b.translator] {
        if !p.is_file() {
            return Err(skip(format!(
                "{} is not installed (run .ci/install-sv2)",
                p.display()
            )));
        }
    }
    Ok(b)
}

/// A started server, killed when dropped; its output goes to `log`.
pub struct Server {
    child: Option<Child>,
    pub log: PathBuf,
    pub port: u16,
    program: PathBuf,
    args: Vec<String>,
}

impl Server {
    fn start(name: &str, dir: &Path, program: &Path, args: &[String], port: u16) -> Server {
        let mut s = Server {
            child: None,
            log: dir.join(format!("{name}.log")),
            port,
            program: program.to_path_buf(),
            args: args.to_vec(),
        };
        s.restart();
        s
    }

    /// Starts it again (after [`Server::kill`]), on the same port, and waits for the port.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.program.display()));
        self.child = Some(child);
        self.wait_listening();
    }

    fn wait_listening(&mut self) {
        let until = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "{} exited ({status}):\n{}",
                    self.program.display(),
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < until,
                "{} did not listen on {}:\n{}",
                self.program.display(),
                self.port,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// bcoin, the TP and pool_sv2; translators are added with [`Stack::translator`].
pub struct Stack {
    pub bcoin: Bcoin,
    pub tp: Server,
    pub pool: Server,
    pub pool_metrics: u16,
    dir: PathBuf,
    bins: Binaries,
    tp_port: u16,
}

/// `stratum2+tcp://127.0.0.1:PORT/KEY` for a pool of this stack.
pub fn v2_url(port: u16) -> String {
    format!("stratum2+tcp://127.0.0.1:{port}/{AUTHORITY_PUBLIC}")
}

/// The project's Template Provider in front of `bcoin`, on a free port: (server, port).
fn start_tp(dir: &Path, bins: &Binaries, bcoin: &Bcoin) -> (Server, u16) {
    let tp_port = free_port();
    let tp = Server::start(
        "tp",
        dir,
        &bins.tp,
        &[
            "--listen".into(),
            format!("127.0.0.1:{tp_port}"),
            "--node".into(),
            bcoin.url(),
            "--api-key".into(),
            super::bcoin::API_KEY.into(),
        ],
        tp_port,
    );
    (tp, tp_port)
}

/// A pool_sv2 on free ports: (server, metrics port).
fn start_pool(name: &str, dir: &Path, program: &Path, tp_port: u16, batch: usize) -> (Server, u16) {
    let pool_port = free_port();
    let pool_metrics = free_port();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"authority_public_key = "{AUTHORITY_PUBLIC}"
authority_secret_key = "{AUTHORITY_SECRET}"
cert_validity_sec = 3600
listen_address = "127.0.0.1:{pool_port}"
coinbase_reward_script = "raw({payout})"
server_id = 1
pool_signature = "hashrig test pool"
shares_per_minute = 60.0
share_batch_size = {batch}
monitoring_address = "127.0.0.1:{pool_metrics}"
monitoring_cache_refresh_secs = 1
[template_provider_type.Sv2Tp]
address = "127.0.0.1:{tp_port}"
"#,
            payout = super::miner::PAYOUT
        ),
    )
    .unwrap();
    let pool = Server::start(
        name,
        dir,
        program,
        &["-c".into(), config.display().to_string()],
        pool_port,
    );
    (pool, pool_metrics)
}

impl Stack {
    pub fn start() -> Result<Stack, Skip> {
        Self::start_with_batch(1)
    }

    /// With the pool acknowledging shares `batch` at a time (`share_batch_size`).
    pub fn start_with_batch(batch: usize) -> Result<Stack, Skip> {
        let bins = binaries()?;
        let bcoin = Bcoin::start(false)?;
        // The SRI pool always adds a witness commitment: segwit must be active (height 432
        // on bcoin's regtest).
        bcoin.rpc(
            "generatetoaddress",
            serde_json::json!([450, REGTEST_ADDRESS]),
        );
        let dir =
            std::env::temp_dir().join(format!("hashrig-sv2-{}-{}", std::process::id(), bcoin.port));
        std::fs::create_dir_all(&dir).unwrap();
        let (tp, tp_port) = start_tp(&dir, &bins, &bcoin);
        let (pool, pool_metrics) = start_pool("pool", &dir, &bins.pool, tp_port, batch);
        Ok(Stack {
            bcoin,
            tp,
            pool,
            pool_metrics,
            dir,
            bins,
            tp_port,
        })
    }

    /// A second pool_sv2 on the same Template Provider: (server, metrics port).
    pub fn second_pool(&self, name: &str) -> (Server, u16) {
        start_pool(name, &self.dir, &self.bins.pool, self.tp_port, 1)
    }

    /// The pool as a Stratum V2 URL (with the authority key).
    pub fn v2_url(&self) -> String {
        v2_url(self.pool.port)
    }

    /// A translator_sv2 (a Stratum v1 server) in front of the pool, at a fixed difficulty a
    /// CPU meets several times a second. Never with a telemetry section (it would scan a private network range).
    pub fn translator(&self, name: &str) -> Server {
        self.translator_to(name, self.pool.port)
    }

    /// A translator in front of the pool on `pool_port`.
    pub fn translator_to(&self, name: &str, pool_port: u16) -> Server {
        let port = free_port();
        let metrics = free_port();
        let config = self.dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                r#"downstream_address = "127.0.0.1"
downstream_port = {port}
max_supported_version = 2
min_supported_version = 2
downstream_extranonce2_size = 4
verify_payout = false
aggregate_channels = true
supported_extensions = []
monitoring_address = "127.0.0.1:{metrics}"
monitoring_cache_refresh_secs = 1
[downstream_difficulty_config]
min_individual_miner_hashrate = 20_000_000.0
shares_per_minute = 60.0
enable_vardiff = false
job_keepalive_interval_secs = 60
[[upstreams]]
address = "127.0.0.1"
port = {pool_port}
authority_pubkey = "{AUTHORITY_PUBLIC}"
user_identity = "hashrig-test-{name}"
"#
            ),
        )
        .unwrap();
        Server::start(
            name,
            &self.dir,
            &self.bins.translator,
            &["-c".into(), config.display().to_string()],
            port,
        )
    }

    /// The pool's Prometheus counter `name`, summed over its labels.
    pub fn metric(&self, name: &str) -> f64 {
        self.metric_where(name, "")
    }

    /// The pool's counter `name`, summed over the series whose labels contain `label`.
    pub fn metric_where(&self, name: &str, label: &str) -> f64 {
        metric_at(self.pool_metrics, name, label)
    }

    /// Waits (the metrics refresh every second) until `name` reaches `value`.
    pub fn wait_metric(&self, name: &str, value: f64) -> f64 {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.metric(name);
            if v >= value || Instant::now() > until {
                return v;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// (height, hash, version) of every block above the 450 the stack mined itself.
    pub fn mined_blocks(&self) -> Vec<(u64, String, u32)> {
        let tip = self.bcoin.height();
        (451..=tip)
            .map(|h| {
                let hash = self
                    .bcoin
                    .rpc("getblockhash", serde_json::json!([h]))
                    .as_str()
                    .unwrap()
                    .to_string();
                let header = self
                    .bcoin
                    .rpc("getblockheader", serde_json::json!([hash, true]));
                let version = header["version"].as_u64().unwrap() as u32;
                (h, hash, version)
            })
            .collect()
    }
}

/// The counter `name` of the pool whose metrics are on `port`, summed over the series whose
/// labels contain `label`.
pub fn metric_at(port: u16, name: &str, label: &str) -> f64 {
    let Ok(text) = http(port, "GET", "/metrics", "") else {
        return 0.0;
    };
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The pool's payout in job declaration tests (P2WPKH of another fixed key hash than the
/// miner's): what output 0 of a declared block pays.
pub const POOL_PAYOUT: &str = "00148b1d3a1e6a2f0d1c8e5f4a3b2c1d0e9f8a7b6c5d";

/// bcoin with a wallet (and witness transactions in its mempool), the Template Provider and
/// testbed/pool-jds: pool_sv2's channel manager with an embedded JDS whose validation engine
/// talks to bcoin (`HASHRIG_SV2_DIR/tp-target/release/hashrig-pool-jds`).
pub struct JdStack {
    pub bcoin: Bcoin,
    pub tp: Server,
    /// The pool and its JDS (one process).
    pub pool: Server,
    pub jds_port: u16,
    pub pool_metrics: u16,
    /// Lines the JDS and pool consume one per event (`declare CODE`, `custom CODE`).
    pub control: PathBuf,
    /// The wallet's transactions in the mempool (txids).
    pub txids: Vec<String>,
}

impl JdStack {
    /// With `txs` wallet transactions (spending P2WPKH outputs: witness data) in the mempool.
    pub fn start(txs: usize) -> Result<JdStack, Skip> {
        let bins = binaries()?;
        let pool_jds = sv2_dir().join("tp-target/release/hashrig-pool-jds");
        if !pool_jds.is_file() {
            return Err(skip(format!(
                "{} is not built (run .ci/install-sv2)",
                pool_jds.display()
            )));
        }
        let bcoin = Bcoin::start(true)?;
        bcoin.wallet_call("PUT", "/wallet/jd", serde_json::json!({"witness": true}));
        let address = bcoin.wallet(
            "/wallet/jd/address",
            serde_json::json!({"account": "default"}),
        )["address"]
            .as_str()
            .unwrap()
            .to_string();
        bcoin.rpc("generatetoaddress", serde_json::json!([450, address]));
        let mut txids = Vec::new();
        for _ in 0..txs {
            let tx = bcoin.wallet(
                "/wallet/jd/send",
                serde_json::json!({"rate": 20_000, "outputs": [{"value": 110_000_000, "address": address}]}),
            );
            let txid = tx["hash"]
                .as_str()
                .unwrap_or_else(|| panic!("send: {tx}"))
                .to_string();
            let until = Instant::now() + Duration::from_secs(10);
            while bcoin
                .try_rpc("getrawtransaction", serde_json::json!([txid]))
                .is_err()
            {
                assert!(Instant::now() < until, "{txid} never reached the mempool");
                std::thread::sleep(Duration::from_millis(50));
            }
            txids.push(txid);
        }
        let dir =
            std::env::temp_dir().join(format!("hashrig-jd-{}-{}", std::process::id(), bcoin.port));
        std::fs::create_dir_all(&dir).unwrap();
        let (tp, tp_port) = start_tp(&dir, &bins, &bcoin);
        let (pool_port, jds_port, pool_metrics) = (free_port(), free_port(), free_port());
        let config = dir.join("pool-jds.toml");
        std::fs::write(
            &config,
            format!(
                r#"authority_public_key = "{AUTHORITY_PUBLIC}"
authority_secret_key = "{AUTHORITY_SECRET}"
cert_validity_sec = 3600
listen_address = "127.0.0.1:{pool_port}"
coinbase_reward_script = "raw({POOL_PAYOUT})"
server_id = 1
pool_signature = "hashrig jd test pool"
shares_per_minute = 60.0
share_batch_size = 1
monitoring_address = "127.0.0.1:{pool_metrics}"
monitoring_cache_refresh_secs = 1
[template_provider_type.Sv2Tp]
address = "127.0.0.1:{tp_port}"
[jds]
listen_address = "127.0.0.1:{jds_port}"
"#
            ),
        )
        .unwrap();
        let control = dir.join("control");
        std::fs::write(&control, "").unwrap();
        let pool = Server::start(
            "pool-jds",
            &dir,
            &pool_jds,
            &[
                "-c".into(),
                config.display().to_string(),
                "--node".into(),
                bcoin.url(),
                "--api-key".into(),
                super::bcoin::API_KEY.into(),
                "--control".into(),
                control.display().to_string(),
            ],
            pool_port,
        );
        Ok(JdStack {
            bcoin,
            tp,
            pool,
            jds_port,
            pool_metrics,
            control,
            txids,
        })
    }

    pub fn pool_url(&self) -> String {
        v2_url(self.pool.port)
    }

    pub fn jds_url(&self) -> String {
        v2_url(self.jds_port)
    }

    /// Queues a control line for the JDS / pool (`declare invalid-job`, ...).
    pub fn control(&self, line: &str) {
        let mut text = std::fs::read_to_string(&self.control).unwrap_or_default();
        text.push_str(line);
        text.push('\n');
        std::fs::write(&self.control, text).unwrap();
    }

    /// The pool's counter `name`, summed over its labels.
    pub fn metric(&self, name: &str) -> f64 {
        metric_at(self.pool_metrics, name, "")
    }
}
