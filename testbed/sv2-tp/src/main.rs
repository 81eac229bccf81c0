//! A small Stratum V2 Template Provider for tests: it serves `pool_sv2` the templates of a node
//! that speaks getblocktemplate/submitblock (bcoin in the tests), and submits the blocks the
//! pool's miners find.
//!
//! Noise responder (the SRI example authority keys); answers SetupConnection; on
//! CoinbaseOutputConstraints sends NewTemplate (future) then SetNewPrevHash; on SubmitSolution
//! rebuilds the block, `submitblock`s it and pushes the next template. The node's tip is also
//! polled, so a block found elsewhere moves the pool too.
//!
//! Usage: hashrig-sv2-tp --listen 127.0.0.1:PORT --node http://127.0.0.1:18443 --api-key KEY

use std::io::{Read, Write};
use std::time::Duration;

use stratum_apps::key_utils::{Secp256k1PublicKey, Secp256k1SecretKey};
use stratum_apps::network_helpers::accept_noise_connection;
use stratum_apps::stratum_core::binary_sv2::{B0255Owned, B064KOwned, Seq0255Owned, U256Owned};
use stratum_apps::stratum_core::bitcoin::{
    self, block::Header, consensus, hashes::Hash, Block, BlockHash, CompactTarget, Target,
    Transaction, TxMerkleNode, TxOut, Witness,
};
use stratum_apps::stratum_core::common_messages_sv2::SetupConnectionSuccess;
use stratum_apps::stratum_core::parsers_sv2::{
    AnyMessageOwned, CommonMessages, CommonMessagesOwned, TemplateDistribution,
    TemplateDistributionOwned,
};
use stratum_apps::stratum_core::template_distribution_sv2::{
    NewTemplateOwned, SetNewPrevHashOwned,
};
use stratum_apps::utils::protocol_message_type::{protocol_message_type, MessageType};
use stratum_apps::utils::types::OutboundFrame;

/// The SRI examples' authority key pair (public test keys).
const PUBLIC_KEY: &str = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
const SECRET_KEY: &str = "mkDLTBBRxdBv998612qipDYoTK3YUrqLe8uWw7gu3iXbSrn2n";

type Error = Box<dyn std::error::Error + Send + Sync>;

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

/// A template as sent to the pool, with what is needed to rebuild its block.
struct Sent {
    id: u64,
    prev: BlockHash,
    height: u64,
    version: i32,
    bits: u32,
    segwit: bool,
    transactions: Vec<Transaction>,
}

fn sv2(e: stratum_apps::stratum_core::binary_sv2::Error) -> Error {
    format!("{e:?}").into()
}

fn hex(s: &str) -> Result<Vec<u8>, Error> {
    use bitcoin::hex::FromHex;
    Ok(Vec::<u8>::from_hex(s)?)
}

fn merkle_path(txids: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let pair = |a: &[u8; 32], b: &[u8; 32]| {
        let mut both = [0u8; 64];
        both[..32].copy_from_slice(a);
        both[32..].copy_from_slice(b);
        bitcoin::hashes::sha256d::Hash::hash(&both).to_byte_array()
    };
    let mut path = Vec::new();
    let mut level = txids.to_vec();
    while !level.is_empty() {
        path.push(level[0]);
        level = level[1..]
            .chunks(2)
            .map(|c| pair(&c[0], c.get(1).unwrap_or(&c[0])))
            .collect();
    }
    path
}

/// Fetches a template and turns it into NewTemplate + SetNewPrevHash.
fn template(node: &Node, id: u64) -> Result<(Sent, NewTemplateOwned, SetNewPrevHashOwned), Error> {
    let t = node.call(
        "getblocktemplate",
        serde_json::json!([{"rules": ["segwit"]}]),
    )?;
    let height = t["height"].as_u64().ok_or("no height")?;
    let version = t["version"].as_i64().ok_or("no version")? as i32;
    let bits = u32::from_str_radix(t["bits"].as_str().ok_or("no bits")?, 16)?;
    let prev: BlockHash = t["previousblockhash"]
        .as_str()
        .ok_or("no previousblockhash")?
        .parse()?;
    let value = t["coinbasevalue"].as_u64().ok_or("no coinbasevalue")?;
    let time = t["curtime"].as_u64().ok_or("no curtime")? as u32;
    let segwit = t["rules"].as_array().is_some_and(|r| {
        r.iter().any(|x| {
            x.as_str()
                .is_some_and(|s| s.trim_start_matches('!') == "segwit")
        })
    });
    let mut transactions = Vec::new();
    for tx in t["transactions"].as_array().cloned().unwrap_or_default() {
        let bytes = hex(tx["data"].as_str().ok_or("tx without data")?)?;
        transactions.push(consensus::deserialize::<Transaction>(&bytes)?);
    }
    let txids: Vec<[u8; 32]> = transactions
        .iter()
        .map(|tx| tx.compute_txid().to_byte_array())
        .collect();
    let mut outputs = Vec::new();
    let mut count = 0;
    if segwit {
        if let Some(c) = t["default_witness_commitment"].as_str() {
            let out = TxOut {
                value: bitcoin::Amount::ZERO,
                script_pubkey: bitcoin::ScriptBuf::from_bytes(hex(c)?),
            };
            outputs = consensus::serialize(&out);
            count = 1;
        }
    }
    let prefix = bitcoin::script::Builder::new()
        .push_int(height as i64)
        .into_script()
        .into_bytes();
    let new = NewTemplateOwned {
        template_id: id,
        future_template: true,
        version: version as u32,
        coinbase_tx_version: 2,
        coinbase_prefix: B0255Owned::new(prefix).map_err(sv2)?,
        coinbase_tx_input_sequence: 0xffff_ffff,
        coinbase_tx_value_remaining: value,
        coinbase_tx_outputs_count: count,
        coinbase_tx_outputs: B064KOwned::new(outputs).map_err(sv2)?,
        coinbase_tx_locktime: 0,
        merkle_path: Seq0255Owned::new(
            merkle_path(&txids)
                .into_iter()
                .map(U256Owned::from)
                .collect(),
        )
        .map_err(sv2)?,
    };
    let target = Target::from_compact(CompactTarget::from_consensus(bits)).to_le_bytes();
    let prev_hash = SetNewPrevHashOwned {
        template_id: id,
        prev_hash: U256Owned::from(prev.to_byte_array()),
        header_timestamp: time,
        n_bits: bits,
        target: U256Owned::from(target),
    };
    Ok((
        Sent {
            id,
            prev,
            height,
            version,
            bits,
            segwit,
            transactions,
        },
        new,
        prev_hash,
    ))
}

/// Rebuilds the block of a solution and submits it; the node's answer, as a line.
fn submit(
    node: &Node,
    sent: &Sent,
    version: u32,
    time: u32,
    nonce: u32,
    coinbase: &[u8],
) -> Result<String, Error> {
    let mut coinbase: Transaction = consensus::deserialize(coinbase)?;
    if sent.segwit && coinbase.input[0].witness.is_empty() {
        coinbase.input[0].witness = Witness::from_slice(&[[0u8; 32]]);
    }
    let mut txdata = vec![coinbase];
    txdata.extend(sent.transactions.iter().cloned());
    let mut block = Block {
        header: Header {
            version: bitcoin::block::Version::from_consensus(version as i32),
            prev_blockhash: sent.prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits: CompactTarget::from_consensus(sent.bits),
            nonce,
        },
        txdata,
    };
    block.header.merkle_root = block.compute_merkle_root().ok_or("no transactions")?;
    let _ = sent.version;
    let answer = node.call(
        "submitblock",
        serde_json::json!([bitcoin::hex::DisplayHex::to_lower_hex_string(
            &consensus::serialize(&block)[..]
        )]),
    )?;
    Ok(format!(
        "block {} {} version {:08x}: {}",
        sent.height,
        block.block_hash(),
        version,
        if answer.is_null() {
            "accepted".to_string()
        } else {
            answer.to_string()
        }
    ))
}

async fn send(
    writer: &mut stratum_apps::network_helpers::noise_stream::NoiseTcpWriteHalf,
    message: AnyMessageOwned,
) -> Result<(), Error> {
    let frame = OutboundFrame::from_message(message).map_err(|e| format!("{e:?}"))?;
    writer
        .write_frame(frame)
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(())
}

async fn serve(stream: tokio::net::TcpStream, node: Node) -> Result<(), Error> {
    let noise = accept_noise_connection(
        stream,
        PUBLIC_KEY
            .parse::<Secp256k1PublicKey>()
            .map_err(|e| format!("{e:?}"))?,
        SECRET_KEY
            .parse::<Secp256k1SecretKey>()
            .map_err(|e| format!("{e:?}"))?,
        3600,
    )
    .await
    .map_err(|e| format!("noise: {e:?}"))?;
    let (mut reader, mut writer) = noise.into_split();
    // Recent templates, newest last: a solution for an older one (a second block at the same
    // height) is still submitted, and the node's answer logged.
    let mut sent: std::collections::VecDeque<Sent> = std::collections::VecDeque::new();
    let mut next_id = 1u64;
    let mut poll = tokio::time::interval(Duration::from_millis(500));
    loop {
        let push = tokio::select! {
            frame = reader.read_frame() => {
                let mut frame = frame.map_err(|e| format!("read: {e:?}"))?;
                let header = frame.header();
                let (ext, kind) = (header.ext_type(), header.msg_type());
                match protocol_message_type(ext, kind) {
                    MessageType::Common => {
                        if let Ok(CommonMessages::SetupConnection(_)) = CommonMessages::try_from((kind, frame.payload())) {
                            let ok = SetupConnectionSuccess { used_version: 2, flags: 0 };
                            send(&mut writer, AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionSuccess(ok))).await?;
                            eprintln!("tp: connection set up");
                        }
                        false
                    }
                    MessageType::TemplateDistribution => {
                        match TemplateDistribution::try_from((kind, frame.payload())).map_err(|e| format!("{e:?}"))? {
                            TemplateDistribution::CoinbaseOutputConstraints(_) => true,
                            TemplateDistribution::SubmitSolution(s) => {
                                match sent.iter().find(|t| t.id == s.template_id) {
                                    Some(t) => {
                                        let node = node.clone();
                                        let coinbase = s.coinbase_tx.as_bytes().to_vec();
                                        let line = submit(&node, t, s.version, s.header_timestamp, s.header_nonce, &coinbase);
                                        match line {
                                            Ok(l) => eprintln!("tp: submitted {l}"),
                                            Err(e) => eprintln!("tp: submit failed: {e}"),
                                        }
                                    }
                                    None => eprintln!("tp: solution for unknown template {}", s.template_id),
                                }
                                true
                            }
                            other => {
                                eprintln!("tp: ignored {other:?}");
                                false
                            }
                        }
                    }
                    _ => false,
                }
            }
            _ = poll.tick() => {
                // A new tip found elsewhere moves the pool too.
                match (sent.back(), node.call("getbestblockhash", serde_json::json!([]))) {
                    (Some(t), Ok(best)) => best.as_str().and_then(|b| b.parse::<BlockHash>().ok()) != Some(t.prev),
                    _ => false,
                }
            }
        };
        if push {
            match template(&node, next_id) {
                Ok((t, new, prev)) => {
                    next_id += 1;
                    send(
                        &mut writer,
                        AnyMessageOwned::TemplateDistribution(
                            TemplateDistributionOwned::NewTemplate(new),
                        ),
                    )
                    .await?;
                    send(
                        &mut writer,
                        AnyMessageOwned::TemplateDistribution(
                            TemplateDistributionOwned::SetNewPrevHash(prev),
                        ),
                    )
                    .await?;
                    eprintln!("tp: template {} for height {}", t.id, t.height);
                    sent.push_back(t);
                    if sent.len() > 16 {
                        sent.pop_front();
                    }
                }
                Err(e) => eprintln!("tp: getblocktemplate failed: {e}"),
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut listen = "127.0.0.1:48442".to_string();
    let mut node_url = "http://127.0.0.1:18443".to_string();
    let mut key = "test".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--listen" => listen = v,
            "--node" => node_url = v,
            "--api-key" => key = v,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    use base64::Engine;
    let node = Node {
        host_port: node_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
        auth: base64::engine::general_purpose::STANDARD.encode(format!("x:{key}")),
    };
    if !listen.starts_with("127.0.0.1:") {
        return Err("the test Template Provider listens on 127.0.0.1 only".into());
    }
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("tp: listening on {listen}");
    loop {
        let (stream, _) = listener.accept().await?;
        let node = node.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(stream, node).await {
                eprintln!("tp: connection ended: {e}");
            }
        });
    }
}
