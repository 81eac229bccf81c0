//! The Job Declaration client's connection fed frames after SetupConnection (a JDS can send
//! anything): each frame is a type and a payload decoded by the SRI codec, with templates of
//! the node arriving now and then. Invariants: nothing panics, declarations awaiting an
//! answer stay under the cap, every declaration made parses as the JDS parses it.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::{
    absolute, transaction, Amount, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Txid, Witness,
};
use hashrig::chain::block::Template;
use hashrig::source::stratum::v2::jd::{JdAction, JdConfig, JdSession, MAX_PENDING};
use hashrig::source::stratum::v2::wire::{decode, Frame};
use libfuzzer_sys::fuzz_target;
use stratum_core::common_messages_sv2::SetupConnectionSuccess;
use stratum_core::parsers_sv2::CommonMessagesOwned;

fn template(n: u8) -> Arc<Template> {
    let txs: Vec<Transaction> = (0..n % 4)
        .map(|i| Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(Txid::from_byte_array([i; 32]), 0),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::from(vec![vec![i; 64]]),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            }],
        })
        .collect();
    Arc::new(Template {
        version: 0x2000_0000,
        prev_hash: BlockHash::from_byte_array([n; 32]),
        bits: CompactTarget::from_consensus(0x207f_ffff),
        height: u32::from(n) * 1000,
        coinbase_value: Amount::from_sat(5_000_000_000),
        curtime: 1_700_000_000,
        mintime: 1_700_000_000,
        maxtime: None,
        time_mutable: true,
        witness_commitment: Some(Template::commitment_for(&txs)),
        txids: txs.iter().map(|t| t.compute_txid()).collect(),
        transactions: txs,
        longpoll_id: None,
        algo: hashrig::algo::Algo::Sha256d,
        mweb: None,
        raw_transactions: vec![],
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let start = Instant::now();
    let mut s = JdSession::new(JdConfig {
        host: "127.0.0.1".into(),
        port: 1,
        user: "fuzz".into(),
        answer_timeout: Duration::from_secs(10),
    });
    s.connected(start);
    if first & 1 == 0 {
        s.frame(
            Ok(Frame::Common(CommonMessagesOwned::SetupConnectionSuccess(
                SetupConnectionSuccess {
                    used_version: 2,
                    flags: 0,
                },
            ))),
            start,
        );
    }
    let mut now = start;
    let mut n = 0u8;
    // Frames: msg_type (1), length (2), payload.
    while rest.len() >= 3 {
        let kind = rest[0];
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let mut payload = rest[3..3 + len].to_vec();
        rest = &rest[3 + len..];
        n = n.wrapping_add(1);
        now += Duration::from_millis(u64::from(kind) * 10);
        s.frame(decode(0, kind, &mut payload), now);
        if n % 3 == 0 {
            s.template(template(n), 4 + usize::from(kind % 40), now);
        }
        if n % 7 == 0 {
            s.tick(now);
        }
        for action in s.take_actions() {
            if let JdAction::Accepted { declared, .. } = action {
                let extranonce = vec![0; declared.full_extranonce_size];
                assert!(declared.coinbase(&extranonce).is_ok());
            }
        }
        assert!(s.pending() <= MAX_PENDING);
    }
});
