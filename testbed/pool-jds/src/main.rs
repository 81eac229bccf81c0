//! Test support for hashrig's Job Declaration client: a Stratum V2 pool (pool_sv2 0.7.0's
//! `ChannelManager`, fed by a Template Provider) with an embedded Job Declaration Server
//! (jd_server_sv2 0.6.0's `JobDeclarator`), wired the way pool_sv2's own runtime wires them.
//! pool_sv2's binary runs a JDS only over Bitcoin Core's IPC interface; here the
//! `JobValidationEngine` talks to a bitcoind-style node (bcoin) over JSON-RPC instead:
//!
//! - DeclareMiningJob: the declared coinbase is rebuilt with the JDS's own rule (the 43-byte
//!   offset, extranonce size from the scriptSig); every wtxid must be in the engine's mirror,
//!   which starts empty and learns only what ProvideMissingTransactions brings, so every
//!   transaction of a job is asked for once; the block is then checked by the node
//!   (`getblocktemplate {"mode": "proposal"}`) on its current tip. A coinbase of another height
//!   or a tip the node left is `stale-chain-tip`, anything the node refuses `invalid-job`.
//! - SetCustomMiningJob: compared with its declaration as jd_server_sv2's IPC engine does
//!   (previous block, bits, version, coinbase fields and outputs, merkle path).
//! - PushSolution: the block is rebuilt from the declaration and sent with `submitblock`.
//!
//! `--control FILE`: lines consumed one per event, for tests that need the JDS or the pool to
//! refuse: `declare invalid-job`, `declare stale-chain-tip` (the next DeclareMiningJob is
//! answered with that code), `custom invalid-mining-job-token` (the next SetCustomMiningJob is
//! refused with it, as pool_sv2 answers a token that expired).
//!
//! Every decision is one line on stderr starting with `jds:`.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_channel::unbounded;
use jd_server_sv2::job_declarator::job_validation::{
    DeclareMiningJobResult, JobValidationEngine, SetCustomMiningJobResult,
};
use jd_server_sv2::job_declarator::JobDeclarator;
use pool_sv2::channel_manager::ChannelManager;
use pool_sv2::config::PoolConfig;
use pool_sv2::template_receiver::sv2_tp::Sv2Tp;
use stratum_apps::bitcoin_core_sv2::CancellationToken;
use stratum_apps::stratum_core::bitcoin::{
    self,
    block::{Header, Version},
    consensus::{encode, Decodable, Encodable},
    hashes::Hash,
    Block, BlockHash, CompactTarget, Transaction, TxMerkleNode, Wtxid,
};
use stratum_apps::stratum_core::job_declaration_sv2::{
    DeclareMiningJobOwned, ProvideMissingTransactionsSuccessOwned, PushSolutionOwned,
};
use stratum_apps::stratum_core::mining_sv2::SetCustomMiningJobOwned;
use stratum_apps::task_manager::TaskManager;
use stratum_apps::tp_type::TemplateProviderType;
use stratum_apps::utils::types::{DownstreamId, JdToken};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Transactions the mirror keeps (oldest dropped first).
const MIRROR_CAP: usize = 20_000;
/// Validated declarations kept for SetCustomMiningJob and PushSolution.
const JOBS_CAP: usize = 64;

#[derive(Clone)]
struct Node {
    host_port: String,
    auth: String,
}

impl Node {
    /// One JSON-RPC call (HTTP/1.0, basic auth), blocking.
    fn call(&self, method: &str, params: serde_json::Value) -> Result<serde_json::Value, Error> {
        let body =
            serde_json::json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
                .to_string();
        let mut s = std::net::TcpStream::connect(&self.host_port)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            s,
            "POST / HTTP/1.0\r\nHost: {}\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            self.host_port,
            self.auth,
            body.len(),
            body
        )?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        let json = reply
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(json)?;
        if !v["error"].is_null() {
            return Err(format!("{method}: {}", v["error"]).into());
        }
        Ok(v["result"].clone())
    }
}

/// A declaration the node accepted (or one waiting for its transactions).
#[derive(Clone)]
struct Job {
    declared: DeclareMiningJobOwned,
    coinbase: Transaction,
    /// The block's other transactions, once all are known.
    transactions: Option<Vec<Transaction>>,
    prev: BlockHash,
    bits: CompactTarget,
}

#[derive(Default)]
struct State {
    mirror: HashMap<Wtxid, Transaction>,
    mirror_order: VecDeque<Wtxid>,
    /// By (downstream, allocated token).
    jobs: HashMap<(DownstreamId, JdToken), Job>,
    /// Jobs that were set on the pool, newest last (PushSolution looks here).
    set: VecDeque<Job>,
}

struct Engine {
    node: Node,
    control: Option<PathBuf>,
    state: Mutex<State>,
}

fn log(line: String) {
    eprintln!("jds: {line}");
}

/// The declared coinbase with a zero extranonce, rebuilt as jd_server_sv2 0.6.0 does
/// (`DeclaredCustomJob::get_coinbase_tx`): version(4) + marker/flag(2) + input count(1) +
/// outpoint(36) = 43 bytes, then the scriptSig length; the extranonce fills what the prefix
/// leaves of the scriptSig.
fn coinbase_of(prefix: &[u8], suffix: &[u8], extranonce: Option<&[u8]>) -> Option<Transaction> {
    const COINBASE_PREFIX_LEN: usize = 43;
    let mut cursor = prefix.get(COINBASE_PREFIX_LEN..)?;
    let script_sig_size = bitcoin::VarInt::consensus_decode(&mut cursor).ok()?.0 as usize;
    let offset = COINBASE_PREFIX_LEN + bitcoin::VarInt(script_sig_size as u64).size();
    let in_prefix = prefix.len().checked_sub(offset)?;
    let size = script_sig_size.checked_sub(in_prefix)?;
    let mut bytes = prefix.to_vec();
    match extranonce {
        Some(e) if e.len() == size => bytes.extend_from_slice(e),
        Some(_) => return None,
        None => bytes.extend(std::iter::repeat_n(0, size)),
    }
    bytes.extend_from_slice(suffix);
    encode::deserialize(&bytes).ok()
}

fn merkle_path(coinbase: &Transaction, txs: &[Transaction]) -> Vec<TxMerkleNode> {
    let mut hashes: Vec<TxMerkleNode> = std::iter::once(coinbase.compute_txid().into())
        .chain(txs.iter().map(|t| t.compute_txid().into()))
        .collect();
    let mut branch = Vec::new();
    while hashes.len() > 1 {
        branch.push(hashes[1]);
        hashes = hashes
            .chunks(2)
            .map(|pair| {
                let mut engine = TxMerkleNode::engine();
                pair[0].consensus_encode(&mut engine).expect("in memory");
                pair[pair.len() - 1]
                    .consensus_encode(&mut engine)
                    .expect("in memory");
                TxMerkleNode::from_engine(engine)
            })
            .collect();
    }
    branch
}

fn block_of(job: &Job, header: Header, coinbase: Transaction) -> Block {
    let mut txdata = vec![coinbase];
    txdata.extend(job.transactions.clone().unwrap_or_default());
    Block { header, txdata }
}

/// The BIP34 height a coinbase carries.
fn coinbase_height(coinbase: &Transaction) -> Option<u64> {
    let script = coinbase.input.first()?.script_sig.as_bytes();
    let len = *script.first()? as usize;
    if !(1..=8).contains(&len) {
        return None;
    }
    let bytes = script.get(1..1 + len)?;
    Some(
        bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    )
}

impl Engine {
    /// The next control line for `kind` (`declare`, `custom`), consumed.
    fn control(&self, kind: &str) -> Option<String> {
        let path = self.control.as_ref()?;
        let text = std::fs::read_to_string(path).ok()?;
        let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let at = lines.iter().position(|l| l.starts_with(kind))?;
        let code = lines.remove(at)[kind.len()..].trim().to_string();
        let rest: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let _ = std::fs::write(path, rest);
        Some(code)
    }

    fn declare(
        &self,
        downstream: DownstreamId,
        m: &DeclareMiningJobOwned,
        provided: Option<&ProvideMissingTransactionsSuccessOwned>,
    ) -> Result<DeclareMiningJobResult, &'static str> {
        let token = m
            .mining_job_token
            .clone()
            .try_as_array::<8>()
            .map(u64::from_le_bytes)
            .map_err(|_| "invalid-mining-job-token")?;
        if let Some(code) = self.control("declare") {
            log(format!(
                "refusing DeclareMiningJob {} with {code} (control)",
                m.request_id
            ));
            return Err(match code.as_str() {
                "stale-chain-tip" => "stale-chain-tip",
                "invalid-job" => "invalid-job",
                _ => "internal-error",
            });
        }
        let coinbase = coinbase_of(
            m.coinbase_tx_prefix.as_bytes(),
            m.coinbase_tx_suffix.as_bytes(),
            None,
        )
        .ok_or("invalid-coinbase-tx")?;
        if coinbase.input.len() != 1 {
            return Err("invalid-coinbase-tx-input");
        }
        let wtxids: Vec<Wtxid> = m
            .wtxid_list
            .iter()
            .map(|w| Wtxid::from_byte_array(w.to_array()))
            .collect();
        let mut state = self.state.lock().unwrap();
        if let Some(p) = provided {
            let mut n = 0;
            for raw in p.transaction_list.iter() {
                let Ok(tx) = encode::deserialize::<Transaction>(raw.as_bytes()) else {
                    return Err("invalid-job");
                };
                let w = tx.compute_wtxid();
                if state.mirror.insert(w, tx).is_none() {
                    state.mirror_order.push_back(w);
                    n += 1;
                }
            }
            while state.mirror_order.len() > MIRROR_CAP {
                if let Some(old) = state.mirror_order.pop_front() {
                    state.mirror.remove(&old);
                }
            }
            log(format!(
                "{n} transactions provided for declaration {}",
                m.request_id
            ));
        }
        let missing: Vec<Wtxid> = wtxids
            .iter()
            .filter(|w| !state.mirror.contains_key(*w))
            .copied()
            .collect();
        if !missing.is_empty() {
            log(format!(
                "declaration {}: {} of {} transactions unknown; asking for them",
                m.request_id,
                missing.len(),
                wtxids.len()
            ));
            return Ok(DeclareMiningJobResult::MissingTransactions(missing));
        }
        let transactions: Vec<Transaction> =
            wtxids.iter().map(|w| state.mirror[w].clone()).collect();
        drop(state);
        let gbt = self
            .node
            .call(
                "getblocktemplate",
                serde_json::json!([{"rules": ["segwit"]}]),
            )
            .map_err(|e| {
                log(format!("getblocktemplate: {e}"));
                "internal-error"
            })?;
        let height = gbt["height"].as_u64().unwrap_or(0);
        if coinbase_height(&coinbase) != Some(height) {
            log(format!(
                "declaration {} builds block {:?}; the node's next block is {height}",
                m.request_id,
                coinbase_height(&coinbase)
            ));
            return Err("stale-chain-tip");
        }
        let prev: BlockHash = gbt["previousblockhash"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or("internal-error")?;
        let bits = gbt["bits"]
            .as_str()
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .map(CompactTarget::from_consensus)
            .ok_or("internal-error")?;
        let time = gbt["curtime"].as_u64().unwrap_or(0) as u32;
        let mut job = Job {
            declared: m.clone(),
            coinbase: coinbase.clone(),
            transactions: Some(transactions),
            prev,
            bits,
        };
        let header = Header {
            version: Version::from_consensus(m.version as i32),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits,
            nonce: 0,
        };
        let mut block = block_of(&job, header, coinbase);
        block.header.merkle_root = block.compute_merkle_root().ok_or("invalid-job")?;
        let answer = self
            .node
            .call(
                "getblocktemplate",
                serde_json::json!([{"mode": "proposal", "data": encode::serialize_hex(&block)}]),
            )
            .map_err(|e| {
                log(format!("proposal: {e}"));
                "internal-error"
            })?;
        match answer.as_str() {
            None => {}
            Some("inconclusive-not-best-prevblk") => return Err("stale-chain-tip"),
            Some(reason) => {
                log(format!(
                    "the node refused declaration {}: {reason}",
                    m.request_id
                ));
                return Err("invalid-job");
            }
        }
        job.transactions = Some(block.txdata[1..].to_vec());
        let mut state = self.state.lock().unwrap();
        if state.jobs.len() >= JOBS_CAP {
            state.jobs.clear();
        }
        state.jobs.insert((downstream, token), job);
        log(format!(
            "declaration {} accepted: block {height} with {} transactions",
            m.request_id,
            wtxids.len()
        ));
        Ok(DeclareMiningJobResult::Success)
    }

    fn custom(
        &self,
        downstream: DownstreamId,
        m: &SetCustomMiningJobOwned,
        token: JdToken,
    ) -> Result<(), &'static str> {
        if let Some(code) = self.control("custom") {
            log(format!(
                "refusing SetCustomMiningJob {} with {code} (control)",
                m.request_id
            ));
            return Err(match code.as_str() {
                "invalid-mining-job-token" => "invalid-mining-job-token",
                _ => "invalid-job",
            });
        }
        let mut state = self.state.lock().unwrap();
        let job = state
            .jobs
            .remove(&(downstream, token))
            .ok_or("invalid-mining-job-token")?;
        if BlockHash::from_byte_array(m.prev_hash.to_array()) != job.prev {
            return Err("stale-chain-tip");
        }
        if m.nbits != job.bits.to_consensus() {
            return Err("invalid-nbits");
        }
        if m.version != job.declared.version {
            return Err("invalid-version");
        }
        let cb = &job.coinbase;
        if cb.version.0 != m.coinbase_tx_version as i32 {
            return Err("invalid-coinbase-tx-version");
        }
        if !cb.input[0]
            .script_sig
            .as_bytes()
            .starts_with(m.coinbase_prefix.as_bytes())
        {
            return Err("invalid-coinbase-prefix");
        }
        if cb.input[0].sequence.0 != m.coinbase_tx_input_n_sequence {
            return Err("invalid-coinbase-tx-input-n-sequence");
        }
        if encode::serialize(&cb.output) != m.coinbase_tx_outputs.as_bytes() {
            return Err("invalid-coinbase-tx-outputs");
        }
        if cb.lock_time.to_consensus_u32() != m.coinbase_tx_locktime {
            return Err("invalid-coinbase-tx-locktime");
        }
        let path: Vec<TxMerkleNode> = m
            .merkle_path
            .iter()
            .map(|h| TxMerkleNode::from_byte_array(h.to_array()))
            .collect();
        if path != merkle_path(cb, job.transactions.as_deref().unwrap_or_default()) {
            return Err("invalid-merkle-path");
        }
        if state.set.len() >= JOBS_CAP {
            state.set.pop_front();
        }
        state.set.push_back(job);
        log(format!(
            "custom job {} set on channel {}",
            m.request_id, m.channel_id
        ));
        Ok(())
    }

    fn push(&self, p: &PushSolutionOwned) {
        let prev = BlockHash::from_byte_array(p.prev_hash.to_array());
        let jobs: Vec<Job> = {
            let state = self.state.lock().unwrap();
            state
                .set
                .iter()
                .rev()
                .filter(|j| j.prev == prev)
                .cloned()
                .collect()
        };
        for job in jobs {
            let Some(coinbase) = coinbase_of(
                job.declared.coinbase_tx_prefix.as_bytes(),
                job.declared.coinbase_tx_suffix.as_bytes(),
                Some(p.extranonce.as_bytes()),
            ) else {
                continue;
            };
            let header = Header {
                version: Version::from_consensus(p.version as i32),
                prev_blockhash: prev,
                merkle_root: TxMerkleNode::all_zeros(),
                time: p.ntime,
                bits: CompactTarget::from_consensus(p.nbits),
                nonce: p.nonce,
            };
            let mut block = block_of(&job, header, coinbase);
            let Some(root) = block.compute_merkle_root() else {
                continue;
            };
            block.header.merkle_root = root;
            if block.header.validate_pow(block.header.target()).is_err() {
                continue;
            }
            let hash = block.block_hash();
            match self.node.call(
                "submitblock",
                serde_json::json!([encode::serialize_hex(&block)]),
            ) {
                Ok(answer) => log(format!("pushed solution {hash} submitted: {answer}")),
                Err(e) => log(format!("pushed solution {hash}: submitblock failed: {e}")),
            }
            return;
        }
        log(format!(
            "a pushed solution on {prev} matches no job set on the pool"
        ));
    }
}

/// The blocking RPC work runs off the async runtime.
struct RpcEngine(Arc<Engine>);

#[async_trait::async_trait]
impl JobValidationEngine for RpcEngine {
    async fn handle_declare_mining_job(
        &self,
        downstream_id: DownstreamId,
        declare_mining_job: DeclareMiningJobOwned,
        provide_missing_transactions_success: Option<ProvideMissingTransactionsSuccessOwned>,
    ) -> DeclareMiningJobResult {
        let engine = Arc::clone(&self.0);
        let answer = tokio::task::spawn_blocking(move || {
            engine.declare(
                downstream_id,
                &declare_mining_job,
                provide_missing_transactions_success.as_ref(),
            )
        })
        .await;
        match answer {
            Ok(Ok(result)) => result,
            Ok(Err(code)) => DeclareMiningJobResult::Error(code),
            Err(_) => DeclareMiningJobResult::Error("internal-error"),
        }
    }

    async fn handle_push_solution(&self, _downstream_id: DownstreamId, push: PushSolutionOwned) {
        let engine = Arc::clone(&self.0);
        let _ = tokio::task::spawn_blocking(move || engine.push(&push)).await;
    }

    async fn handle_set_custom_mining_job(
        &self,
        downstream_id: DownstreamId,
        set_custom_mining_job: SetCustomMiningJobOwned,
        allocated_token: JdToken,
    ) -> SetCustomMiningJobResult {
        let engine = Arc::clone(&self.0);
        let answer = tokio::task::spawn_blocking(move || {
            engine.custom(downstream_id, &set_custom_mining_job, allocated_token)
        })
        .await;
        match answer {
            Ok(Ok(())) => SetCustomMiningJobResult::Success,
            Ok(Err(code)) => {
                log(format!("SetCustomMiningJob refused: {code}"));
                SetCustomMiningJobResult::Error(code)
            }
            Err(_) => SetCustomMiningJobResult::Error("invalid-job"),
        }
    }

    fn cleanup_downstream(&self, downstream_id: DownstreamId) {
        let mut state = self.0.state.lock().unwrap();
        state.jobs.retain(|(d, _), _| *d != downstream_id);
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut config_path = None;
    let mut node_url = "http://127.0.0.1:18443".to_string();
    let mut key = "test".to_string();
    let mut control = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "-c" | "--config" => config_path = Some(PathBuf::from(v)),
            "--node" => node_url = v,
            "--api-key" => key = v,
            "--control" => control = Some(PathBuf::from(v)),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let config_path = config_path.ok_or("-c CONFIG is required")?;
    let config: PoolConfig = stratum_apps::config_helpers::load_config(
        &config_path,
        "HASHRIG_POOL_JDS",
        &["supported_extensions", "required_extensions"],
        &["template_provider_type"],
    )?;
    stratum_apps::config_helpers::logging::init_logging(None);
    let jds = config
        .build_jds_config()
        .map_err(|e| format!("{e:?}"))?
        .ok_or("the config has no [jds] section")?;
    for addr in [config.listen_address(), jds.listen_address()] {
        if !addr.ip().is_loopback() {
            return Err(format!("{addr}: the test pool listens on 127.0.0.1 only").into());
        }
    }
    let TemplateProviderType::Sv2Tp {
        address,
        public_key,
    } = config.template_provider_type().clone()
    else {
        return Err("the test pool takes its templates from a Template Provider (Sv2Tp)".into());
    };
    use base64::Engine as _;
    let node = Node {
        host_port: node_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
        auth: base64::engine::general_purpose::STANDARD.encode(format!("x:{key}")),
    };
    let engine: Arc<dyn JobValidationEngine> = Arc::new(RpcEngine(Arc::new(Engine {
        node,
        control,
        state: Mutex::default(),
    })));
    // pool_sv2 0.7.0 shuts itself down when a downstream opens a channel between a
    // NewTemplate and its SetNewPrevHash (TemplateIdNotFound while bootstrapping the group
    // channel): on regtest, with a block a second, that happens. The pool is started again,
    // as a supervisor would.
    loop {
        let cancel = CancellationToken::new();
        let started = run(
            &config,
            &jds,
            address.clone(),
            public_key,
            Arc::clone(&engine),
            cancel.clone(),
        )
        .await;
        if let Err(e) = started {
            log(format!("the pool did not start: {e}"));
            cancel.cancel();
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                cancel.cancel();
                return Ok(());
            }
            _ = cancel.cancelled() => {}
        }
        log("the pool shut itself down; starting it again".into());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Starts the JDS, the Template Provider client, the channel manager and the servers; they
/// run until `cancel`.
async fn run(
    config: &PoolConfig,
    jds: &jd_server_sv2::config::JDSConfig,
    address: String,
    public_key: Option<stratum_apps::key_utils::Secp256k1PublicKey>,
    engine: Arc<dyn JobValidationEngine>,
    cancel: CancellationToken,
) -> Result<(), Error> {
    let tm = Arc::new(TaskManager::new());
    let coinbase_outputs = vec![config.get_txout()];
    let mut encoded_outputs = vec![];
    coinbase_outputs.consensus_encode(&mut encoded_outputs)?;

    let jd = JobDeclarator::new(
        engine,
        cancel.clone(),
        jds.coinbase_reward_script().clone(),
        tm.clone(),
    )
    .await
    .map_err(|e| format!("JobDeclarator: {e:?}"))?;
    jd.clone()
        .start(cancel.clone(), tm.clone())
        .await
        .map_err(|e| format!("JobDeclarator start: {e:?}"))?;
    jd.clone()
        .start_downstream_server(
            *jds.authority_public_key(),
            *jds.authority_secret_key(),
            jds.cert_validity_sec(),
            *jds.listen_address(),
            tm.clone(),
            cancel.clone(),
            jds.supported_extensions().to_vec(),
            jds.required_extensions().to_vec(),
        )
        .await
        .map_err(|e| format!("JDS server: {e:?}"))?;
    log(format!("listening on {}", jds.listen_address()));

    let (downstream_tx, downstream_rx) = unbounded();
    let (to_tp_tx, to_tp_rx) = unbounded();
    let (from_tp_tx, from_tp_rx) = unbounded();
    let tp = Sv2Tp::new(
        address.clone(),
        public_key,
        to_tp_rx,
        from_tp_tx,
        cancel.clone(),
        tm.clone(),
    )
    .await
    .map_err(|e| format!("Template Provider: {e:?}"))?;
    tp.start(address, cancel.clone(), tm.clone())
        .await
        .map_err(|e| format!("Template Provider start: {e:?}"))?;

    let cm = ChannelManager::new(
        config.clone(),
        to_tp_tx,
        from_tp_rx,
        downstream_rx,
        encoded_outputs,
        Some(jd.clone()),
    )
    .await
    .map_err(|e| format!("ChannelManager: {e:?}"))?;
    if let Some(addr) = config.monitoring_address() {
        let server = stratum_apps::monitoring::MonitoringServer::new(
            addr,
            None,
            Some(Arc::new(cm.clone())),
            Duration::from_secs(config.monitoring_cache_refresh_secs().unwrap_or(15)),
        )
        .map_err(|e| format!("monitoring: {e:?}"))?;
        let c = cancel.clone();
        tm.spawn(async move {
            if let Err(e) = server.run(async move { c.cancelled().await }).await {
                tracing::error!("monitoring server: {e}");
            }
        });
    }
    cm.clone()
        .start(cancel.clone(), tm.clone(), coinbase_outputs)
        .await
        .map_err(|e| format!("ChannelManager start: {e:?}"))?;
    cm.start_downstream_server(
        *config.authority_public_key(),
        *config.authority_secret_key(),
        config.cert_validity_sec(),
        *config.listen_address(),
        tm.clone(),
        cancel.clone(),
        downstream_tx,
    )
    .await
    .map_err(|e| format!("pool server: {e:?}"))?;
    log(format!("pool listening on {}", config.listen_address()));

    Ok(())
}
