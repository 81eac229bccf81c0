//! Building a block from a node's template: coinbase, merkle root, header, and the final block.
//!
//! Bitcoin Core's getblocktemplate (BIP22/23) is followed: the header takes the template's
//! version, previous block hash, time and bits; the transactions go in the template's order
//! after our coinbase; the merkle root is over txids (the coinbase without its witness); with
//! segwit active the coinbase carries the witness commitment and the witness reserved value.

use bitcoin::consensus::encode;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, ScriptBuf, Target, Transaction, TxMerkleNode, Txid,
};

use super::coinbase;

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
    /// The latest time a block may carry, when the node says (BIP23 `maxtime`).
    pub maxtime: Option<u32>,
    /// True when the template lets us change the time (`mutable` has "time").
    pub time_mutable: bool,
    /// Transactions in template order, and their txids.
    pub transactions: Vec<Transaction>,
    pub txids: Vec<Txid>,
    /// The witness commitment output, when a segwit rule is active.
    pub witness_commitment: Option<ScriptBuf>,
    /// For longpolling: the id to send back to be told about the next template.
    pub longpoll_id: Option<String>,
    /// The chain's proof of work.
    pub algo: crate::algo::Algo,
    /// Litecoin's MWEB extension block (the template's `mweb` hex) once MWEB is active: it
    /// follows the transactions, after a 0x01 byte.
    pub mweb: Option<Vec<u8>>,
    /// The transactions as the node sent them, sent back verbatim in the block (Litecoin's
    /// HogEx has a serialization the `bitcoin` crate does not write).
    pub raw_transactions: Vec<Vec<u8>>,
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
pub fn check_block(block: &Block, template: &Template) -> Result<(), BlockError> {
    if !block.check_merkle_root() {
        return Err(BlockError::MerkleRoot);
    }
    if template.witness_commitment.is_some() && !block.check_witness_commitment() {
        return Err(BlockError::WitnessCommitment);
    }
    if block.header.prev_blockhash != template.prev_hash {
        return Err(BlockError::PrevHash);
    }
    Ok(())
}

/// Why a block built here failed its local check (it is never sent).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    #[error("merkle root does not match the transactions")]
    MerkleRoot,
    #[error("witness commitment does not match the transactions")]
    WitnessCommitment,
    #[error("previous block hash differs from the template")]
    PrevHash,
    #[error("the work has no coinbase")]
    NoCoinbase,
    #[error("the extranonce is not where the coinbase layout puts it")]
    ExtranonceLayout,
    #[error("our coinbase does not decode: {0}")]
    Coinbase(#[from] bitcoin::consensus::encode::Error),
    #[error("cannot build the coinbase: {0}")]
    BuildCoinbase(String),
}

/// The block's serialization as hex, for submitblock.
pub fn block_hex(block: &Block) -> String {
    encode::serialize_hex(block)
}

/// The serialization of `block`, built from `template`, as hex for submitblock. Bitcoin's is
/// the `bitcoin` crate's. Litecoin's is the header, the transaction count, our coinbase, the
/// template's transactions exactly as the node sent them (the HogEx last), and once MWEB is
/// active the byte 0x01 and the template's MWEB block.
pub fn block_hex_for(block: &Block, template: &Template) -> String {
    use bitcoin::hex::DisplayHex;
    if template.algo == crate::algo::Algo::Sha256d {
        return block_hex(block);
    }
    let mut bytes = encode::serialize(&block.header);
    bytes.extend(encode::serialize(
        &encode::VarInt(block.txdata.len() as u64),
    ));
    bytes.extend(encode::serialize(&block.txdata[0]));
    for tx in &template.raw_transactions {
        bytes.extend_from_slice(tx);
    }
    if let Some(mweb) = &template.mweb {
        bytes.push(0x01);
        bytes.extend_from_slice(mweb);
    }
    bytes.to_lower_hex_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::Network;
    use std::str::FromStr;

    #[test]
    fn merkle_root_of_mainnet_genesis() {
        let genesis = bitcoin::constants::genesis_block(Network::Bitcoin);
        let root = merkle_root(genesis.txdata[0].compute_txid(), &[]);
        assert_eq!(root, genesis.header.merkle_root);
        assert_eq!(
            root.to_string(),
            "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
        );
    }

    #[test]
    fn merkle_root_of_mainnet_block_100000() {
        let txids: Vec<Txid> = [
            "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
            "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
            "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
            "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
        ]
        .iter()
        .map(|s| Txid::from_str(s).unwrap())
        .collect();
        let root = merkle_root(txids[0], &txids[1..]);
        assert_eq!(
            root.to_string(),
            "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766"
        );
        // Odd counts duplicate the last hash, as consensus does.
        let three = merkle_root(txids[0], &txids[1..3]);
        let dup = merkle_root(txids[0], &[txids[1], txids[2], txids[2]]);
        assert_eq!(three, dup);
    }
}
