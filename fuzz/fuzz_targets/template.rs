//! getblocktemplate JSON -> template -> work -> block, as a Bitcoin and as a Litecoin (MWEB)
//! node's answer. Invariants: nothing panics; a block built from any template that parses
//! passes hashrig's own local checks (merkle root, witness commitment, previous block) and
//! serializes.
#![no_main]

use std::sync::Arc;
use std::time::Instant;

use bitcoin::ScriptBuf;
use hashrig::chain::params::{Chain, LitecoinNet};
use hashrig::source::node::{assemble, parse_template};
use hashrig::source::Solution;
use hashrig::verify::Share;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for chain in [
        Chain::Bitcoin(bitcoin::Network::Regtest),
        Chain::Litecoin(LitecoinNet::Regtest),
    ] {
        if let Ok(template) = parse_template(text, chain) {
            build(template);
        }
    }
});

fn build(template: hashrig::chain::block::Template) {
    let template = Arc::new(template);
    let payout = ScriptBuf::from_bytes(vec![0x51]);
    let Ok(work) = assemble::template_work(
        Arc::clone(&template),
        &payout,
        [1, 2, 3, 4],
        None,
        true,
        Instant::now(),
    ) else {
        return;
    };
    let roll = work.roll(7).expect("a template's work has rolls");
    let header = work.header(&roll, work.time.now());
    let digest = hashrig::algo::sha256d::reference_digest(header.as_bytes());
    let solution = Solution {
        work: Arc::new(work),
        roll,
        share: Share {
            header,
            digest,
            algo: template.algo,
        },
        found_at: Instant::now(),
    };
    match assemble::block(&template, &solution) {
        Ok(block) => {
            hashrig::chain::block::block_hex_for(&block, &template);
        }
        Err(e) => panic!("a block built from a parsed template fails its local check: {e}"),
    }
}
