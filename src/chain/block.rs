//! Building a block from a node's template: coinbase, merkle root, header, and the final block.
//!
//! Bitcoin Core's getblocktemplate (BIP22/23) is followed: the header takes the template's
//! version, previous block hash, time and bits; the transactions go in the template's order
//! after our coinbase; the merkle root is over txids (the coinbase without its witness); with
//! segwit active the coinbase carries the witness commitment and the witness reserved value.

use std::sync::Arc;

use bitcoin::consensus::encode;
use bitcoin::{
    block, Amount, Block, BlockHash, CompactTarget, ScriptBuf, Target, Transaction, TxMerkleNode,
    Txid,
};

use super::coinbase::{self, CoinbaseError, CoinbaseSpec};
use super::Header;

/// Tag written after the extranonce in our coinbases.
pub const COINBASE_TAG: &[u8] = b"/hashrig/";

/// A block template, checked and decoded (see `source::node::template` for the JSON side).
#[derive(Clone, Debug)]
pub struct Template {
    pub version: i32,
    pub prev_hash: BlockHash,
    pub bits: CompactTarget,
    pub height: u32,
    pub coinbase_value: Amount,
    /// The template's current time, and the earliest time a block may carry.
    pub curtime: u32,
    pub mintime: u32,
    /// True when the template lets us change the time (`mutable` has "time").
    pub time_mutable: bool,
    /// Transactions in template order, and their txids.
    pub transactions: Vec<Transaction>,
    pub txids: Vec<Txid>,
    /// The witness commitment output, when a segwit rule is active.
    pub witness_commitment: Option<ScriptBuf>,
    /// For longpolling: the id to send back to be told about the next template.
    pub longpoll_id: Option<String>,
}

impl Template {
    /// The block target from `bits`.
    pub fn target(&self) -> Target {
        Target::from_compact(self.bits)
    }

    /// Builds the witness commitment output for `transactions` (call when segwit is active).
    pub fn commitment_for(transactions: &[Transaction]) -> ScriptBuf {
        let commitment =
            coinbase::witness_commitment(transactions.iter().map(|t| t.compute_wtxid()));
        coinbase::witness_commitment_script(&commitment)
    }
}

/// A template turned into a header to search: one coinbase (one extranonce), one merkle root.
#[derive(Clone, Debug)]
pub struct BlockWork {
    pub template: Arc<Template>,
    pub extranonce: u64,
    pub coinbase: Transaction,
    /// The header with nonce 0.
    pub header: Header,
}

impl BlockWork {
    /// The work for `extranonce` at block time `time`.
    pub fn new(
        template: Arc<Template>,
        payout: &ScriptBuf,
        extranonce: u64,
        time: u32,
    ) -> Result<BlockWork, CoinbaseError> {
        let coinbase = coinbase::coinbase(&CoinbaseSpec {
            height: template.height,
            value: template.coinbase_value,
            payout,
            witness_commitment: template.witness_commitment.clone(),
            extranonce: &extranonce.to_le_bytes(),
            tag: COINBASE_TAG,
        })?;
        let merkle_root = merkle_root(coinbase.compute_txid(), &template.txids);
        let header = Header::from_bitcoin(&block::Header {
            version: block::Version::from_consensus(template.version),
            prev_blockhash: template.prev_hash,
            merkle_root,
            time,
            bits: template.bits,
            nonce: 0,
        });
        Ok(BlockWork {
            template,
            extranonce,
            coinbase,
            header,
        })
    }

    /// The complete block with `header` (this work's header with the winning nonce).
    pub fn block(&self, header: &Header) -> Block {
        let mut txdata = Vec::with_capacity(1 + self.template.transactions.len());
        txdata.push(self.coinbase.clone());
        txdata.extend(self.template.transactions.iter().cloned());
        Block {
            header: header.to_bitcoin(),
            txdata,
        }
    }
}

/// The merkle root over the coinbase txid followed by `txids`.
pub fn merkle_root(coinbase: Txid, txids: &[Txid]) -> TxMerkleNode {
    let hashes = std::iter::once(coinbase)
        .chain(txids.iter().copied())
        .map(|t| t.to_raw_hash());
    bitcoin::merkle_tree::calculate_root(hashes)
        .expect("at least the coinbase")
        .into()
}

/// Local checks before a block goes to the node: merkle root, witness commitment (when the
/// template wants one) and BIP34 height. The proof of work was already checked by `verify`.
pub fn check_block(block: &Block, template: &Template) -> Result<(), String> {
    if !block.check_merkle_root() {
        return Err("merkle root does not match the transactions".into());
    }
    if template.witness_commitment.is_some() && !block.check_witness_commitment() {
        return Err("witness commitment does not match the transactions".into());
    }
    if block.header.prev_blockhash != template.prev_hash {
        return Err("previous block hash differs from the template".into());
    }
    Ok(())
}

/// The block's serialization as hex, for submitblock.
pub fn block_hex(block: &Block) -> String {
    encode::serialize_hex(block)
}
