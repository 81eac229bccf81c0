//! The declared job against what the SRI servers do with it: the JDS's parser (jd_server_sv2
//! 0.6.0), the pool's job from SetCustomMiningJob (`JobFactory::new_extended_job_from_custom_job`)
//! and the client channel's job (`ExtendedChannel::on_set_custom_mining_job_success`), down to
//! a block that passes the local checks.

use std::str::FromStr;

use bitcoin::hashes::Hash;
use bitcoin::{
    absolute, transaction, Amount, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Txid, Witness,
};
use stratum_core::channels_sv2::client::extended::ExtendedChannel;
use stratum_core::channels_sv2::extranonce_manager::ExtranoncePrefix;
use stratum_core::channels_sv2::server::jobs::factory::JobFactory;
use stratum_core::mining_sv2::SetCustomMiningJobSuccess;

use super::*;
use crate::chain::block::{check_block, merkle_root};

/// A segwit spend with a witness, unique by `n`.
pub(crate) fn spend(n: u8, script_len: usize) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array([n; 32]), u32::from(n)),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::from(vec![vec![n; 72], vec![2; 33]]),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(10_000 + u64::from(n)),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51; script_len.max(1)]),
        }],
    }
}

pub(crate) fn template(txs: Vec<Transaction>) -> Arc<Template> {
    let txids = txs.iter().map(|t| t.compute_txid()).collect();
    Arc::new(Template {
        version: 0x2000_0000,
        prev_hash: BlockHash::from_str(
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
        )
        .unwrap(),
        bits: CompactTarget::from_consensus(0x207f_ffff),
        height: 1234,
        coinbase_value: Amount::from_sat(5_000_000_000 + 3_000),
        curtime: 1_700_000_000,
        mintime: 1_699_999_000,
        maxtime: None,
        time_mutable: true,
        witness_commitment: Some(Template::commitment_for(&txs)),
        transactions: txs,
        txids,
        longpoll_id: None,
        algo: crate::algo::Algo::Sha256d,
        mweb: None,
        raw_transactions: vec![],
    })
}

/// A P2WPKH payout (SRI's example pool script) and one 0-valued OP_RETURN, as a JDS sends them.
pub(crate) fn pool_outputs() -> PoolOutputs {
    let payout = ScriptBuf::from_hex("0014ebe1b7dcc293ccaa0ee743a86f89df8258c208fc").unwrap();
    let note = ScriptBuf::from_hex("6a0b706f6f6c2d6e6f7465").unwrap();
    PoolOutputs::new(vec![
        TxOut {
            value: Amount::ZERO,
            script_pubkey: payout,
        },
        TxOut {
            value: Amount::ZERO,
            script_pubkey: note,
        },
    ])
    .unwrap()
}

/// jd_server_sv2 0.6.0's `DeclaredCustomJob::get_coinbase_tx`, step by step: the scriptSig
/// length at the fixed 43-byte offset (version, marker and flag, input count, outpoint), the
/// extranonce size as what the prefix leaves of the scriptSig, zeros in its place, and a
/// consensus decode of the whole.
fn jds_coinbase(prefix: &[u8], suffix: &[u8]) -> (usize, Transaction) {
    const COINBASE_PREFIX_LEN: usize = 43;
    let mut cursor = &prefix[COINBASE_PREFIX_LEN..];
    let script_sig_size =
        <encode::VarInt as bitcoin::consensus::Decodable>::consensus_decode(&mut cursor)
            .unwrap()
            .0 as usize;
    let offset = COINBASE_PREFIX_LEN + encode::VarInt(script_sig_size as u64).size();
    let extranonce = script_sig_size - (prefix.len() - offset);
    let mut bytes = prefix.to_vec();
    bytes.extend(vec![0; extranonce]);
    bytes.extend_from_slice(suffix);
    (extranonce, encode::deserialize(&bytes).unwrap())
}

const EXTRANONCE_PREFIX: [u8; 8] = [0, 0, 0, 1, 0, 0, 0, 7];
const ROLLABLE: usize = 8;
const FULL: usize = EXTRANONCE_PREFIX.len() + ROLLABLE;

fn declared(txs: Vec<Transaction>) -> Declared {
    Declared::new(template(txs), &pool_outputs(), FULL).unwrap()
}

#[test]
fn the_jds_parses_the_declared_coinbase() {
    let d = declared(vec![spend(1, 22), spend(2, 34), spend(3, 25)]);
    let (extranonce, tx) = jds_coinbase(&d.prefix, &d.suffix);
    assert_eq!(extranonce, FULL);
    // Segwit serialization: marker and flag after the version.
    assert_eq!(&d.prefix[4..6], &[0, 1]);
    let script = tx.input[0].script_sig.as_bytes();
    let height = coinbase::bip34_height(1234);
    assert!(script.starts_with(height.as_bytes()), "{script:x?}");
    assert!(
        script.windows(13).any(|w| w == b"Sv2//hashrig/"),
        "{script:x?}"
    );
    assert!(script.len() <= coinbase::SCRIPT_SIG_MAX);
    // The pool's payout takes subsidy + fees; its other output and the witness commitment
    // follow in order; the witness reserved value is there.
    assert_eq!(tx.output.len(), 3);
    assert_eq!(tx.output[0].value, Amount::from_sat(5_000_000_000 + 3_000));
    assert_eq!(tx.output[0].script_pubkey, *pool_outputs().payout_script());
    assert_eq!(tx.output[1].value, Amount::ZERO);
    assert_eq!(
        Some(&tx.output[2].script_pubkey),
        d.template.witness_commitment.as_ref()
    );
    assert_eq!(tx.input[0].witness.len(), 1);
    assert_eq!(tx.input[0].witness.nth(0).unwrap(), &[0u8; 32][..]);
    assert_eq!(tx, d.coinbase(&[0; FULL]).unwrap());
}

#[test]
fn the_pool_rebuilds_the_declared_coinbase_from_set_custom_mining_job() {
    let d = declared(vec![spend(1, 22), spend(2, 34)]);
    let job = d
        .custom_job(7, 3, &[1, 2, 3, 4], d.default_min_ntime())
        .unwrap();
    assert_eq!(job.channel_id, 7);
    assert_eq!(job.request_id, 3);
    assert_eq!(job.token.as_ref(), &[1, 2, 3, 4]);
    assert_eq!(
        job.prev_hash.to_array(),
        d.template.prev_hash.to_byte_array()
    );
    assert_eq!(job.nbits, 0x207f_ffff);
    assert_eq!(job.min_ntime, d.template.curtime);
    // What pool_sv2 does with it: the job its channel validates shares against, and the
    // coinbase it compares with the declaration byte for byte.
    let mut pool = JobFactory::new(true, None, None);
    let pool_job = pool
        .new_extended_job_from_custom_job(job.clone(), EXTRANONCE_PREFIX.to_vec(), FULL)
        .unwrap();
    assert_eq!(pool_job.get_coinbase_tx_prefix_with_bip141(), d.prefix);
    assert_eq!(pool_job.get_coinbase_tx_suffix_with_bip141(), d.suffix);
    let branch: Vec<[u8; 32]> = job.merkle_path.iter().map(|h| h.to_array()).collect();
    let txids: Vec<[u8; 32]> = d.template.txids.iter().map(|t| t.to_byte_array()).collect();
    assert_eq!(branch, merkle_branch(&txids));
}

#[test]
fn a_share_of_the_custom_job_is_a_valid_block() {
    let d = declared(vec![spend(1, 22), spend(2, 34), spend(3, 25), spend(4, 40)]);
    let job = d.custom_job(7, 3, b"token", d.default_min_ntime()).unwrap();
    // The miner's side: the client channel takes the job once the pool says Success; the
    // mining loop rolls the extranonce after the channel's prefix.
    let mut channel = ExtendedChannel::new(
        7,
        "user".into(),
        ExtranoncePrefix::from_wire(EXTRANONCE_PREFIX.to_vec()).unwrap(),
        crate::chain::Target::from_le_bytes([0xff; 32]),
        1e9,
        true,
        ROLLABLE as u16,
        None,
    )
    .unwrap();
    channel
        .on_chain_tip_update(d.chain_tip(d.default_min_ntime()))
        .unwrap();
    channel
        .on_set_custom_mining_job_success(
            job,
            SetCustomMiningJobSuccess {
                channel_id: 7,
                request_id: 3,
                job_id: 42,
            },
        )
        .unwrap();
    let active = channel.get_active_job().unwrap();
    let m = &active.job_message;
    let rolled = [9, 8, 7, 6, 5, 4, 3, 2];
    let mut stripped = m.coinbase_tx_prefix.as_bytes().to_vec();
    stripped.extend_from_slice(&active.extranonce_prefix);
    stripped.extend_from_slice(&rolled);
    stripped.extend_from_slice(m.coinbase_tx_suffix.as_bytes());
    let mut full = EXTRANONCE_PREFIX.to_vec();
    full.extend_from_slice(&rolled);
    let coinbase = d.coinbase(&full).unwrap();
    // The txid the header commits to is the one of the declared coinbase.
    assert_eq!(
        bitcoin::hashes::sha256d::Hash::hash(&stripped).to_byte_array(),
        coinbase.compute_txid().to_byte_array()
    );
    let branch: Vec<[u8; 32]> = m.merkle_path.iter().map(|h| h.to_array()).collect();
    let root = crate::work::root_from_branch(coinbase.compute_txid().to_byte_array(), &branch);
    assert_eq!(
        root,
        merkle_root(coinbase.compute_txid(), &d.template.txids).to_byte_array()
    );
    let mut txdata = vec![coinbase];
    txdata.extend(d.template.transactions.iter().cloned());
    let block = bitcoin::Block {
        header: bitcoin::block::Header {
            version: bitcoin::block::Version::from_consensus(m.version as i32),
            prev_blockhash: d.template.prev_hash,
            merkle_root: bitcoin::TxMerkleNode::from_byte_array(root),
            time: d.template.curtime,
            bits: d.template.bits,
            nonce: 0,
        },
        txdata,
    };
    check_block(&block, &d.template).unwrap();
    assert_eq!(block.bip34_block_height(), Ok(1234));
}

#[test]
fn an_empty_template_declares_too() {
    let d = Declared::new(
        Arc::new(Template {
            witness_commitment: None,
            ..(*template(vec![])).clone()
        }),
        &pool_outputs(),
        FULL,
    )
    .unwrap();
    let (extranonce, tx) = jds_coinbase(&d.prefix, &d.suffix);
    assert_eq!(extranonce, FULL);
    assert_eq!(tx.output.len(), 2);
    assert!(d.wtxids().is_empty());
    let job = d.custom_job(1, 1, b"t", d.default_min_ntime()).unwrap();
    assert!(job.merkle_path.is_empty());
}

#[test]
fn the_declaration_lists_wtxids_in_template_order_and_provides_missing_ones() {
    let txs = vec![spend(1, 22), spend(2, 34), spend(3, 25)];
    let d = declared(txs.clone());
    let m = d.declare(5, b"tok").unwrap();
    assert_eq!(m.request_id, 5);
    assert_eq!(m.mining_job_token.as_ref(), b"tok");
    assert_eq!(m.version, 0x2000_0000);
    assert_eq!(m.coinbase_tx_prefix.as_ref(), &d.prefix[..]);
    assert_eq!(m.coinbase_tx_suffix.as_ref(), &d.suffix[..]);
    let listed: Vec<[u8; 32]> = m.wtxid_list.iter().map(|w| w.to_array()).collect();
    let wtxids: Vec<[u8; 32]> = txs
        .iter()
        .map(|t| t.compute_wtxid().to_byte_array())
        .collect();
    assert_eq!(listed, wtxids);
    // Segwit transactions: the wtxid is not the txid.
    assert_ne!(wtxids[0], txs[0].compute_txid().to_byte_array());
    let provided = d.missing(&[2, 0]).unwrap();
    let back: Transaction = encode::deserialize(&provided[0]).unwrap();
    assert_eq!(back, txs[2]);
    assert_eq!(back.compute_wtxid().to_byte_array(), wtxids[2]);
    assert_eq!(
        d.missing(&[1, 3]),
        Err(DeclareError::MissingPosition {
            position: 3,
            count: 3
        })
    );
    // The same (large) transaction asked for again and again would make an answer many times
    // the block's size.
    assert_eq!(d.missing(&[0, 2, 0]), Err(DeclareError::MissingTwice(0)));
}

#[test]
fn pool_outputs_from_the_wire() {
    let good = pool_outputs();
    let bytes = encode::serialize(&good.0);
    assert_eq!(PoolOutputs::parse(&bytes).unwrap(), good);
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        PoolOutputs::parse(&trailing),
        Err(DeclareError::OutputsTrailing(1))
    );
    assert_eq!(
        PoolOutputs::parse(&encode::serialize(&Vec::<TxOut>::new())),
        Err(DeclareError::NoPayout)
    );
    assert!(matches!(
        PoolOutputs::parse(&bytes[..bytes.len() - 1]),
        Err(DeclareError::OutputsDecode(_))
    ));
    // A count far beyond the bytes: refused without allocating for it.
    assert!(PoolOutputs::parse(&[0xfe, 0xff, 0xff, 0xff, 0x7f]).is_err());
    let mut paid = good.0.clone();
    paid[1].value = Amount::from_sat(1);
    assert_eq!(
        PoolOutputs::parse(&encode::serialize(&paid)),
        Err(DeclareError::OutputValue { index: 1, sats: 1 })
    );
    let many = vec![good.0[1].clone(); MAX_POOL_OUTPUTS + 1];
    assert_eq!(
        PoolOutputs::parse(&encode::serialize(&many)),
        Err(DeclareError::TooManyOutputs(MAX_POOL_OUTPUTS + 1))
    );
}

#[test]
fn pool_outputs_that_overfill_the_block_are_refused() {
    // A template the node filled to the limit (one ~3.99 MWU transaction), and a pool whose
    // outputs take 30 kB (120 kWU): the block would be too heavy.
    let big = spend(1, 997_000);
    let t = template(vec![big]);
    let heavy = PoolOutputs::new(vec![TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(vec![0x6a; 30_000]),
    }])
    .unwrap();
    assert!(matches!(
        Declared::new(t.clone(), &heavy, FULL),
        Err(DeclareError::TooHeavy { .. })
    ));
    // The pool's usual outputs fit.
    Declared::new(t, &pool_outputs(), FULL).unwrap();
}

#[test]
fn an_extranonce_that_overflows_the_script_sig_is_refused() {
    let t = template(vec![spend(1, 22)]);
    assert_eq!(
        Declared::new(t.clone(), &pool_outputs(), 33).unwrap_err(),
        DeclareError::Extranonce(33)
    );
    Declared::new(t.clone(), &pool_outputs(), 32).unwrap();
    let d = Declared::new(t, &pool_outputs(), FULL).unwrap();
    assert_eq!(
        d.coinbase(&[0; 4]).unwrap_err(),
        DeclareError::Extranonce(4)
    );
}
