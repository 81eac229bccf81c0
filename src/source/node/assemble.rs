//! Solo mining's two ends of a block: a node's template becomes [`Work`] in the shared
//! coinbase-halves shape (our coinbase: BIP34 height, extranonce1 | extranonce2, `/hashrig/`,
//! the payout, the witness commitment), and a [`Solution`] of that work becomes the block to
//! submit.

use std::sync::Arc;
use std::time::Instant;

use bitcoin::consensus::encode;
use bitcoin::hashes::Hash;
use bitcoin::{Block, ScriptBuf, Transaction};

use crate::chain::block::{check_block, BlockError, Template, COINBASE_TAG};
use crate::chain::coinbase::{self, CoinbaseError, CoinbaseSpec, WITNESS_RESERVED_VALUE};
use crate::chain::Target;
use crate::source::Solution;
use crate::work::{merkle_branch, BlockTime, MerkleShape, Work};

/// Bytes of our extranonce1 (fresh per published work) and of the extranonce2 the dispatcher
/// rolls: 2^32 headers per work before the time or the template changes.
pub const EXTRANONCE1_SIZE: usize = 4;
pub const EXTRANONCE2_SIZE: usize = 4;

/// The block time rule of a template: the node's `curtime` plus the time since the template
/// came, within `[mintime, maxtime]`; fixed at `curtime` when the template says time is not
/// mutable.
pub fn block_time(template: &Template, received: Instant) -> BlockTime {
    if !template.time_mutable {
        return BlockTime::fixed(template.curtime);
    }
    BlockTime {
        base: template.curtime,
        since: received,
        min: template.mintime,
        max: template.maxtime.unwrap_or(u32::MAX),
    }
}

/// The work for `template` paying `payout`, with our `extranonce1`. `share_target` (a harder
/// target, for tests) replaces the block target as the search target when given.
pub fn template_work(
    template: Arc<Template>,
    payout: &ScriptBuf,
    extranonce1: [u8; EXTRANONCE1_SIZE],
    share_target: Option<Target>,
    clean: bool,
    received: Instant,
) -> Result<Work, BlockError> {
    let placeholder = [0u8; EXTRANONCE1_SIZE + EXTRANONCE2_SIZE];
    let mut tx = coinbase::coinbase(&CoinbaseSpec {
        height: template.height,
        value: template.coinbase_value,
        payout,
        witness_commitment: template.witness_commitment.clone(),
        extranonce: &placeholder,
        tag: COINBASE_TAG,
    })
    .map_err(|e: CoinbaseError| BlockError::BuildCoinbase(e.to_string()))?;
    // The txid (and so the merkle root) is over the serialization without witness.
    tx.input[0].witness.clear();
    let bytes = encode::serialize(&tx);
    // version(4) | input count(1) | outpoint(36) | script length(1, at most 100) | height push
    // | push opcode of the extranonce(1) | extranonce ...
    let at = 4 + 1 + 36 + 1 + coinbase::bip34_height(template.height).len() + 1;
    if bytes.get(at - 1) != Some(&(placeholder.len() as u8))
        || bytes.get(at..at + placeholder.len()) != Some(&placeholder[..])
    {
        return Err(BlockError::ExtranonceLayout);
    }
    let txids: Vec<[u8; 32]> = template
        .txids
        .iter()
        .map(|t| t.to_raw_hash().to_byte_array())
        .collect();
    let block_target = template.target();
    Ok(Work {
        id: format!(
            "{}-{}",
            template.height,
            bitcoin::hex::DisplayHex::to_lower_hex_string(&extranonce1[..])
        ),
        prev_hash: template.prev_hash,
        version: template.version,
        version_mask: 0,
        time: block_time(&template, received),
        bits: template.bits,
        share_target: share_target.map_or(block_target, |t| t.min(block_target)),
        merkle: MerkleShape::Coinbase {
            coinb1: bytes[..at].to_vec(),
            extranonce1: extranonce1.to_vec(),
            extranonce2_size: EXTRANONCE2_SIZE,
            coinb2: bytes[at + placeholder.len()..].to_vec(),
            branch: merkle_branch(&txids),
        },
        clean,
        one_block: true,
        pool: None,
        algo: template.algo,
        context: Some(template),
    })
}

/// The template a work of ours was made from.
pub fn template_of(solution: &Solution) -> Option<Arc<Template>> {
    solution
        .work
        .context
        .clone()
        .and_then(|c| c.downcast::<Template>().ok())
}

/// The complete block for `solution` (of work made by [`template_work`] from `template`),
/// checked locally: merkle root, witness commitment, previous block.
pub fn block(template: &Template, solution: &Solution) -> Result<Block, BlockError> {
    let bytes = solution
        .work
        .coinbase(&solution.roll.extranonce2)
        .ok_or(BlockError::NoCoinbase)?;
    let mut coinbase: Transaction = encode::deserialize(&bytes)?;
    if template.witness_commitment.is_some() {
        coinbase.input[0].witness.push(WITNESS_RESERVED_VALUE);
    }
    let mut txdata = Vec::with_capacity(1 + template.transactions.len());
    txdata.push(coinbase);
    txdata.extend(template.transactions.iter().cloned());
    let block = Block {
        header: solution.share.header.to_bitcoin(),
        txdata,
    };
    check_block(&block, template)?;
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algo::sha256d::reference_digest;
    use crate::chain::block::merkle_root;
    use crate::verify::Share;
    use bitcoin::{Amount, BlockHash, CompactTarget, Network, Txid, Witness};

    fn segwit_template() -> Template {
        // Any transaction carrying witness data exercises the commitment.
        let mut tx = bitcoin::constants::genesis_block(Network::Bitcoin).txdata[0].clone();
        tx.input[0].previous_output.vout = 0;
        tx.input[0].previous_output.txid = Txid::all_zeros();
        tx.input[0].witness = Witness::from_slice(&[vec![1u8; 72], vec![2u8; 33]]);
        let transactions = vec![tx.clone(), tx];
        Template {
            version: 0x2000_0000,
            prev_hash: BlockHash::all_zeros(),
            bits: CompactTarget::from_consensus(0x207f_ffff),
            height: 1000,
            coinbase_value: Amount::from_sat(5_000_000_000),
            curtime: 1_700_000_000,
            mintime: 0,
            maxtime: None,
            time_mutable: true,
            txids: transactions.iter().map(|t| t.compute_txid()).collect(),
            witness_commitment: Some(Template::commitment_for(&transactions)),
            transactions,
            longpoll_id: None,
            algo: crate::algo::Algo::Sha256d,
            mweb: None,
            raw_transactions: vec![],
        }
    }

    fn solve(work: &Arc<Work>, index: u64, nonce: u32) -> Solution {
        let roll = work.roll(index).unwrap();
        let header = work.header(&roll, work.time.now()).with_nonce(nonce);
        Solution {
            work: Arc::clone(work),
            roll,
            share: Share {
                header,
                digest: reference_digest(header.as_bytes()),
                algo: crate::algo::Algo::Sha256d,
            },
            found_at: std::time::Instant::now(),
        }
    }

    #[test]
    fn blocks_from_solutions_pass_the_local_checks() {
        let template = Arc::new(segwit_template());
        let payout = ScriptBuf::from_bytes(vec![0x51]);
        let work = Arc::new(
            template_work(
                Arc::clone(&template),
                &payout,
                [9, 8, 7, 6],
                None,
                true,
                Instant::now(),
            )
            .unwrap(),
        );
        let solution = solve(&work, 5, 42);
        let block = block(&template, &solution).unwrap();
        assert!(block.check_witness_commitment());
        assert_eq!(block.bip34_block_height().unwrap(), 1000);
        assert_eq!(block.header.nonce, 42);
        // The coinbase carries extranonce1 | extranonce2 after the height, then the tag.
        let script = block.txdata[0].input[0].script_sig.as_bytes();
        assert_eq!(&script[3..12], &[8, 9, 8, 7, 6, 5, 0, 0, 0]);
        assert_eq!(block.txdata[0].output[0].script_pubkey, payout);
        // The header's merkle root is the one over the block's transactions.
        let txids: Vec<Txid> = block.txdata.iter().map(|t| t.compute_txid()).collect();
        assert_eq!(block.header.merkle_root, merkle_root(txids[0], &txids[1..]));
        // Another roll, another coinbase and root.
        let other = block_for(&template, &solve(&work, 6, 42));
        assert_ne!(other.header.merkle_root, block.header.merkle_root);

        // A solution carried to the wrong template fails the check.
        let mut wrong = segwit_template();
        wrong.prev_hash = BlockHash::from_byte_array([1; 32]);
        assert!(super::block(&wrong, &solution)
            .unwrap_err()
            .to_string()
            .contains("previous block"));
    }

    fn block_for(template: &Template, solution: &Solution) -> Block {
        block(template, solution).unwrap()
    }

    #[test]
    fn block_time_follows_curtime_not_the_local_clock() {
        // A node whose clock (curtime) is years away from ours.
        let mut t = segwit_template();
        t.curtime = 1_500_000_000;
        t.mintime = 1_499_999_000;
        let received = Instant::now() - std::time::Duration::from_secs(12);
        let time = block_time(&t, received).now();
        assert!((1_500_000_012..=1_500_000_013).contains(&time), "{time}");
        t.mintime = 1_600_000_000;
        assert_eq!(block_time(&t, received).now(), 1_600_000_000);
        t.mintime = 0;
        t.maxtime = Some(1_500_000_005);
        assert_eq!(block_time(&t, received).now(), 1_500_000_005);
        t.time_mutable = false;
        assert_eq!(block_time(&t, received).now(), 1_500_000_000);
    }
}
