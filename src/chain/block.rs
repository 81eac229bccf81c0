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

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::{Network, Witness};
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

    fn segwit_template() -> Template {
        // Any transaction carrying witness data exercises the commitment.
        let mut tx = bitcoin::constants::genesis_block(Network::Bitcoin).txdata[0].clone();
        tx.input[0].previous_output.vout = 0;
        tx.input[0].previous_output.txid = Txid::all_zeros();
        tx.input[0].witness = Witness::from_slice(&[vec![1u8; 72], vec![2u8; 33]]);
        let transactions = vec![tx];
        Template {
            version: 0x2000_0000,
            prev_hash: BlockHash::all_zeros(),
            bits: CompactTarget::from_consensus(0x207f_ffff),
            height: 1000,
            coinbase_value: Amount::from_sat(5_000_000_000),
            curtime: 1_700_000_000,
            mintime: 0,
            time_mutable: true,
            txids: transactions.iter().map(|t| t.compute_txid()).collect(),
            witness_commitment: Some(Template::commitment_for(&transactions)),
            transactions,
            longpoll_id: None,
        }
    }

    #[test]
    fn built_blocks_pass_the_local_checks_and_tampered_ones_do_not() {
        let template = Arc::new(segwit_template());
        let payout = ScriptBuf::from_bytes(vec![0x51]);
        let work = BlockWork::new(Arc::clone(&template), &payout, 7, 1_700_000_001).unwrap();
        let block = work.block(&work.header.with_nonce(42));
        assert!(block.check_witness_commitment());
        assert_eq!(check_block(&block, &template), Ok(()));
        assert_eq!(block.bip34_block_height().unwrap(), 1000);
        assert_eq!(block.header.nonce, 42);

        // A different extranonce is a different merkle root.
        let other = BlockWork::new(Arc::clone(&template), &payout, 8, 1_700_000_001).unwrap();
        assert_ne!(other.header, work.header);

        let mut bad = block.clone();
        bad.txdata[1].input[0].witness = Witness::from_slice(&[vec![3u8; 72]]);
        assert!(check_block(&bad, &template)
            .unwrap_err()
            .contains("witness commitment"));
        let mut bad = block.clone();
        bad.txdata.swap(0, 1);
        assert!(check_block(&bad, &template).is_err());
        let mut bad = block;
        bad.header.prev_blockhash = BlockHash::from_byte_array([1; 32]);
        assert!(check_block(&bad, &template)
            .unwrap_err()
            .contains("previous block"));
    }
}
