//! The coinbase transaction of a block we build: BIP34 height, extranonce, payout, and the
//! BIP141 witness commitment.
//!
//! BIP34: <https://github.com/bitcoin/bips/blob/master/bip-0034.mediawiki> — the scriptSig
//! starts with the height pushed exactly as Bitcoin Core's `CScript() << height` does: heights
//! 1..=16 as OP_1..OP_16, others as a minimal little-endian script number.
//! BIP141: <https://github.com/bitcoin/bips/blob/master/bip-0141.mediawiki#commitment-structure>

use bitcoin::blockdata::opcodes::all::OP_RETURN;
use bitcoin::blockdata::script::{Builder, PushBytesBuf};
use bitcoin::hashes::Hash;
use bitcoin::{
    absolute, transaction, Amount, Block, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Witness, WitnessCommitment, WitnessMerkleNode, Wtxid,
};

/// Consensus limits on the coinbase scriptSig length.
pub const SCRIPT_SIG_MIN: usize = 2;
pub const SCRIPT_SIG_MAX: usize = 100;

/// Prefix of the witness commitment output script: OP_RETURN, push 36, magic 0xaa21a9ed.
pub const WITNESS_COMMITMENT_MAGIC: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// The witness reserved value we put in the coinbase witness (32 zero bytes).
pub const WITNESS_RESERVED_VALUE: [u8; 32] = [0; 32];

/// Why a coinbase could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoinbaseError {
    #[error("coinbase scriptSig would be {len} bytes; consensus allows {SCRIPT_SIG_MIN}..={SCRIPT_SIG_MAX}")]
    ScriptSigLength { len: usize },
    #[error("block height {0} cannot be encoded (BIP34 needs 0..=2^31-1)")]
    Height(u64),
}

/// The BIP34 height push that starts the coinbase scriptSig.
pub fn bip34_height(height: u32) -> ScriptBuf {
    Builder::new().push_int(i64::from(height)).into_script()
}

/// What goes into the coinbase.
#[derive(Clone, Debug)]
pub struct CoinbaseSpec<'a> {
    pub height: u32,
    /// Subsidy plus fees (the template's `coinbasevalue`).
    pub value: Amount,
    pub payout: &'a ScriptBuf,
    /// The witness commitment output script, when segwit is active.
    pub witness_commitment: Option<ScriptBuf>,
    /// Bytes that make this coinbase (and so the merkle root) unique per nonce space.
    pub extranonce: &'a [u8],
    /// A short tag after the extranonce ("/hashrig/").
    pub tag: &'a [u8],
}

/// Builds the coinbase transaction (with the witness reserved value when segwit is active).
pub fn coinbase(spec: &CoinbaseSpec<'_>) -> Result<Transaction, CoinbaseError> {
    let mut script = bip34_height(spec.height).into_bytes();
    for data in [spec.extranonce, spec.tag] {
        if data.is_empty() {
            continue;
        }
        let push = PushBytesBuf::try_from(data.to_vec())
            .map_err(|_| CoinbaseError::ScriptSigLength { len: data.len() })?;
        script.extend(Builder::new().push_slice(push).into_script().into_bytes());
    }
    if !(SCRIPT_SIG_MIN..=SCRIPT_SIG_MAX).contains(&script.len()) {
        return Err(CoinbaseError::ScriptSigLength { len: script.len() });
    }
    let mut output = vec![TxOut {
        value: spec.value,
        script_pubkey: spec.payout.clone(),
    }];
    let mut witness = Witness::new();
    if let Some(commitment) = &spec.witness_commitment {
        output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: commitment.clone(),
        });
        witness.push(WITNESS_RESERVED_VALUE);
    }
    Ok(Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(script),
            sequence: Sequence::MAX,
            witness,
        }],
        output,
    })
}

/// The witness commitment for a block whose non-coinbase transactions have `wtxids`
/// (the coinbase's wtxid counts as zero), with our witness reserved value.
pub fn witness_commitment(wtxids: impl IntoIterator<Item = Wtxid>) -> WitnessCommitment {
    let hashes = std::iter::once(Wtxid::all_zeros())
        .chain(wtxids)
        .map(|w| w.to_raw_hash());
    let root: WitnessMerkleNode = bitcoin::merkle_tree::calculate_root(hashes)
        .expect("at least the coinbase")
        .into();
    Block::compute_witness_commitment(&root, &WITNESS_RESERVED_VALUE)
}

/// The output script carrying `commitment`.
pub fn witness_commitment_script(commitment: &WitnessCommitment) -> ScriptBuf {
    let mut bytes = WITNESS_COMMITMENT_MAGIC.to_vec();
    bytes.extend_from_slice(commitment.as_byte_array());
    let script = ScriptBuf::from_bytes(bytes);
    debug_assert!(script.as_bytes()[0] == OP_RETURN.to_u8());
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn bip34_heights_encode_like_bitcoin_core() {
        let cases: [(u32, &str); 10] = [
            (1, "51"),
            (16, "60"),
            (17, "0111"),
            (127, "017f"),
            (128, "028000"),
            (255, "02ff00"),
            (256, "020001"),
            (65535, "03ffff00"),
            (65536, "03000001"),
            (8_388_608, "0400008000"),
        ];
        for (height, expected) in cases {
            assert_eq!(
                hex(bip34_height(height).as_bytes()),
                expected,
                "height {height}"
            );
        }
    }

    #[test]
    fn coinbase_has_height_extranonce_and_limits() {
        let payout = ScriptBuf::from_bytes(vec![0x51]);
        let spec = CoinbaseSpec {
            height: 1,
            value: Amount::from_sat(50 * 100_000_000),
            payout: &payout,
            witness_commitment: None,
            extranonce: &[1, 2, 3, 4, 5, 6, 7, 8],
            tag: b"/hashrig/",
        };
        let tx = coinbase(&spec).unwrap();
        assert!(tx.is_coinbase());
        let script = tx.input[0].script_sig.as_bytes();
        assert_eq!(&script[..2], &[0x51, 0x08]);
        assert!(tx.input[0].witness.is_empty());
        assert_eq!(tx.output.len(), 1);

        let long_tag = [b'x'; 90];
        let err = coinbase(&CoinbaseSpec {
            tag: &long_tag,
            ..spec.clone()
        })
        .unwrap_err();
        assert!(matches!(err, CoinbaseError::ScriptSigLength { len } if len > SCRIPT_SIG_MAX));

        let commitment = witness_commitment_script(&witness_commitment([]));
        let tx = coinbase(&CoinbaseSpec {
            witness_commitment: Some(commitment.clone()),
            ..spec
        })
        .unwrap();
        assert_eq!(tx.output[1].script_pubkey, commitment);
        assert_eq!(tx.output[1].value, Amount::ZERO);
        assert_eq!(tx.input[0].witness.len(), 1);
        assert_eq!(tx.input[0].witness.nth(0).unwrap(), &[0u8; 32]);
    }
}
