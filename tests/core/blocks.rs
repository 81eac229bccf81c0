//! Our block-building pieces against real chain data: two Bitcoin testnet3 blocks with segwit
//! witness commitments (BIP 158 test vectors). Each block's header hashes to its known hash and
//! meets its target, so the data proves itself; we then rebuild its merkle root, its witness
//! commitment and its BIP34 height push with hashrig's own code.

use crate::common;

use bitcoin::consensus::encode;
use bitcoin::Block;
use hashrig::chain::block::{merkle_root, Template};
use hashrig::chain::coinbase::{bip34_height, witness_commitment, WITNESS_COMMITMENT_MAGIC};
use serde_json::Value;

fn blocks() -> Vec<(u32, String, Block)> {
    let data: Value =
        serde_json::from_str(include_str!("../data/testnet3-segwit-blocks.json")).unwrap();
    data["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let hex = b["block_hex"].as_str().unwrap();
            let bytes: Vec<u8> = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            (
                b["height"].as_u64().unwrap() as u32,
                b["block_hash"].as_str().unwrap().to_string(),
                encode::deserialize(&bytes).unwrap(),
            )
        })
        .collect()
}

fn the_data_proves_itself() -> common::Outcome {
    for (height, hash, block) in blocks() {
        assert_eq!(block.block_hash().to_string(), hash, "block {height}");
        let target = block.header.target();
        assert!(block.header.validate_pow(target).is_ok(), "block {height}");
    }
    Ok(())
}

fn merkle_roots_of_real_segwit_blocks() -> common::Outcome {
    for (height, _, block) in blocks() {
        let txids: Vec<_> = block.txdata.iter().map(|t| t.compute_txid()).collect();
        assert_eq!(
            merkle_root(txids[0], &txids[1..]),
            block.header.merkle_root,
            "block {height} ({} transactions)",
            txids.len()
        );
    }
    Ok(())
}

fn witness_commitments_of_real_segwit_blocks() -> common::Outcome {
    for (height, _, block) in blocks() {
        let coinbase = &block.txdata[0];
        // The witness reserved value we use is the one these blocks used: 32 zero bytes.
        assert_eq!(coinbase.input[0].witness.nth(0).unwrap(), &[0u8; 32]);
        let committed = coinbase
            .output
            .iter()
            .rev()
            .find(|o| {
                o.script_pubkey
                    .as_bytes()
                    .starts_with(&WITNESS_COMMITMENT_MAGIC)
            })
            .expect("a witness commitment output")
            .script_pubkey
            .clone();
        let others = &block.txdata[1..];
        let ours = witness_commitment(others.iter().map(|t| t.compute_wtxid()));
        assert_eq!(
            &committed.as_bytes()[6..38],
            ours.as_ref() as &[u8],
            "block {height}"
        );
        assert_eq!(
            Template::commitment_for(others),
            committed,
            "block {height}"
        );
    }
    Ok(())
}

fn bip34_height_push_of_real_blocks() -> common::Outcome {
    for (height, _, block) in blocks() {
        let script_sig = block.txdata[0].input[0].script_sig.as_bytes();
        assert!(
            script_sig.starts_with(bip34_height(height).as_bytes()),
            "block {height}: {script_sig:02x?}"
        );
        assert_eq!(block.bip34_block_height().unwrap(), u64::from(height));
    }
    Ok(())
}

crate::tests!(
    the_data_proves_itself,
    merkle_roots_of_real_segwit_blocks,
    witness_commitments_of_real_segwit_blocks,
    bip34_height_push_of_real_blocks
);
