//! The job a Job Declaration client declares (Stratum V2 spec, section 6, Full-Template mode):
//! the node's template with the pool's payout, as the bytes the pool's Job Declaration Server
//! (DeclareMiningJob) and the pool (SetCustomMiningJob) parse.
//!
//! The coinbase comes from `channels_sv2`'s `JobFactory`, the code SRI's own JD client uses, so
//! the prefix, suffix and outputs are byte for byte what the SRI servers rebuild and compare:
//! `version | marker, flag | 1 input | null outpoint | scriptSig (BIP34 height, the
//! "Sv2//hashrig/" tag, then the full extranonce: the pool channel's prefix and our rollable
//! part) | sequence | outputs (the pool's, the first one paid subsidy + fees, then the witness
//! commitment over our transactions) | witness reserved value | locktime`.
//!
//! Spec: <https://github.com/stratum-mining/sv2-spec/blob/main/06-Job-Declaration-Protocol.md>
//! (6.4.3: the first output of AllocateMiningJobToken.Success is the pool payout, sent with 0
//! sats; any others are 0-valued too).

use std::sync::Arc;

use bitcoin::consensus::encode;
use bitcoin::hashes::Hash;
use bitcoin::{Amount, Transaction, TxOut, Weight};
use stratum_core::binary_sv2::{B0255Owned, B064KOwned, Seq0255Owned, Seq064KOwned, U256Owned};
use stratum_core::channels_sv2::chain_tip::ChainTip;
use stratum_core::channels_sv2::server::jobs::factory::JobFactory;
use stratum_core::job_declaration_sv2::DeclareMiningJobOwned;
use stratum_core::mining_sv2::SetCustomMiningJobOwned;
use stratum_core::template_distribution_sv2::NewTemplateOwned;

use crate::chain::block::Template;
use crate::chain::coinbase;
use crate::source::node::template::MAX_BLOCK_WEIGHT;
use crate::work::merkle_branch;

/// The tag SRI's factory writes into the scriptSig: `Sv2/<pool>/<miner>/`.
pub const MINER_TAG: &str = "hashrig";
/// Most outputs a JDS may ask for (a payout and a few 0-valued ones is usual).
pub const MAX_POOL_OUTPUTS: usize = 64;

/// Why a job could not be declared, or what a JDS sent that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeclareError {
    #[error("the JDS's coinbase outputs do not decode: {0}")]
    OutputsDecode(String),
    #[error("the JDS's coinbase outputs have {0} trailing bytes")]
    OutputsTrailing(usize),
    #[error("the JDS sent no coinbase output (the first one is the pool's payout)")]
    NoPayout,
    #[error("the JDS sent {0} coinbase outputs; at most {MAX_POOL_OUTPUTS} are accepted")]
    TooManyOutputs(usize),
    #[error("the JDS's coinbase output {index} carries {sats} sats; every output of AllocateMiningJobToken.Success must be 0")]
    OutputValue { index: usize, sats: u64 },
    #[error("the block would weigh {weight} WU with the pool's outputs (at most {max})")]
    TooHeavy { weight: u64, max: u64 },
    #[error("the extranonce of {0} bytes does not fit the coinbase scriptSig")]
    Extranonce(usize),
    #[error("the template cannot be declared: {0}")]
    Template(String),
    #[error("the JDS asked for transaction {position} of a job with {count}")]
    MissingPosition { position: u16, count: usize },
    #[error("the JDS asked for transaction {0} twice")]
    MissingTwice(u16),
}

/// The outputs a JDS puts in every job it pays for (AllocateMiningJobToken.Success), checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolOutputs(Vec<TxOut>);

impl PoolOutputs {
    /// Parses the `coinbase_outputs` field: a CompactSize count, then consensus-serialized
    /// outputs, every one of 0 sats.
    pub fn parse(bytes: &[u8]) -> Result<Self, DeclareError> {
        let (outputs, used): (Vec<TxOut>, usize) = encode::deserialize_partial(bytes)
            .map_err(|e| DeclareError::OutputsDecode(e.to_string()))?;
        if used != bytes.len() {
            return Err(DeclareError::OutputsTrailing(bytes.len() - used));
        }
        Self::new(outputs)
    }

    /// Checks outputs a JDS sent (or a test makes).
    pub fn new(outputs: Vec<TxOut>) -> Result<Self, DeclareError> {
        if outputs.is_empty() {
            return Err(DeclareError::NoPayout);
        }
        if outputs.len() > MAX_POOL_OUTPUTS {
            return Err(DeclareError::TooManyOutputs(outputs.len()));
        }
        if let Some((index, o)) = outputs
            .iter()
            .enumerate()
            .find(|(_, o)| o.value != Amount::ZERO)
        {
            return Err(DeclareError::OutputValue {
                index,
                sats: o.value.to_sat(),
            });
        }
        Ok(PoolOutputs(outputs))
    }

    /// The outputs of a job worth `value`: the pool's payout (the first) gets all of it.
    pub fn paid(&self, value: Amount) -> Vec<TxOut> {
        let mut outputs = self.0.clone();
        outputs[0].value = value;
        outputs
    }

    /// The pool's payout script (where the block reward of a JD block goes).
    pub fn payout_script(&self) -> &bitcoin::Script {
        &self.0[0].script_pubkey
    }
}

/// One declared job: a template, the pool outputs it pays and the channel's extranonce size,
/// with the bytes of DeclareMiningJob and SetCustomMiningJob.
#[derive(Clone, Debug)]
pub struct Declared {
    pub template: Arc<Template>,
    /// Outputs of the coinbase in order: the pool's (payout first), then the witness
    /// commitment.
    pub outputs: Vec<TxOut>,
    /// The coinbase up to the extranonce and after it, segwit serialization (DeclareMiningJob).
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
    /// The pool channel's extranonce prefix plus the rollable part.
    pub full_extranonce_size: usize,
    /// What the factory is given (the template as the Template Distribution Protocol would
    /// describe it).
    new_template: NewTemplateOwned,
    factory: JobFactory,
}

/// The template as a Template Provider's NewTemplate would carry it: BIP34 height as the
/// coinbase prefix, the witness commitment as the template's only output, the merkle path of
/// the transactions.
fn new_template(template: &Template) -> Result<NewTemplateOwned, DeclareError> {
    let bad = |what: &str| DeclareError::Template(what.to_string());
    let template_outputs: Vec<TxOut> = template
        .witness_commitment
        .iter()
        .map(|script| TxOut {
            value: Amount::ZERO,
            script_pubkey: script.clone(),
        })
        .collect();
    let mut serialized = Vec::new();
    for o in &template_outputs {
        serialized.extend(encode::serialize(o));
    }
    let txids: Vec<[u8; 32]> = template
        .txids
        .iter()
        .map(|t| t.to_raw_hash().to_byte_array())
        .collect();
    let path: Vec<U256Owned> = merkle_branch(&txids)
        .into_iter()
        .map(U256Owned::from)
        .collect();
    Ok(NewTemplateOwned {
        template_id: u64::from(template.height),
        future_template: false,
        version: template.version as u32,
        coinbase_tx_version: 2,
        coinbase_prefix: B0255Owned::new(coinbase::bip34_height(template.height).into_bytes())
            .map_err(|_| bad("BIP34 height"))?,
        coinbase_tx_input_sequence: u32::MAX,
        coinbase_tx_value_remaining: template.coinbase_value.to_sat(),
        coinbase_tx_outputs_count: template_outputs.len() as u32,
        coinbase_tx_outputs: B064KOwned::new(serialized).map_err(|_| bad("outputs"))?,
        coinbase_tx_locktime: 0,
        merkle_path: Seq0255Owned::new(path).map_err(|_| bad("merkle path"))?,
    })
}

/// The block's weight: header, transaction count, the coinbase and the template's
/// transactions.
fn block_weight(coinbase: &Transaction, template: &Template) -> u64 {
    let count = encode::VarInt(template.transactions.len() as u64 + 1).size() as u64;
    let txs: Weight = template.transactions.iter().map(|t| t.weight()).sum();
    (80 + count) * 4 + coinbase.weight().to_wu() + txs.to_wu()
}

impl Declared {
    /// Declares `template` paying `pool`'s outputs, for a channel whose full extranonce is
    /// `full_extranonce_size` bytes.
    pub fn new(
        template: Arc<Template>,
        pool: &PoolOutputs,
        full_extranonce_size: usize,
    ) -> Result<Self, DeclareError> {
        let factory = JobFactory::new(true, None, Some(MINER_TAG.to_string()));
        if full_extranonce_size > 32
            || factory.script_sig_size(
                coinbase::bip34_height(template.height).len(),
                full_extranonce_size,
            ) > coinbase::SCRIPT_SIG_MAX
        {
            return Err(DeclareError::Extranonce(full_extranonce_size));
        }
        let new_template = new_template(&template)?;
        let outputs = pool.paid(template.coinbase_value);
        let (prefix, suffix) = factory
            .new_coinbase_tx_prefix_and_suffix(
                new_template.clone(),
                outputs.clone(),
                full_extranonce_size,
            )
            .map_err(|e| DeclareError::Template(format!("{e:?}")))?;
        let mut all = outputs.clone();
        all.extend(template.witness_commitment.iter().map(|s| TxOut {
            value: Amount::ZERO,
            script_pubkey: s.clone(),
        }));
        let declared = Declared {
            template,
            outputs: all,
            prefix,
            suffix,
            full_extranonce_size,
            new_template,
            factory,
        };
        // The node picked transactions leaving room for its own small coinbase; the pool's
        // outputs can be larger: the block as a whole must stay within the limit.
        let coinbase = declared.coinbase(&vec![0; full_extranonce_size])?;
        let weight = block_weight(&coinbase, &declared.template);
        let max = MAX_BLOCK_WEIGHT;
        if weight > max {
            return Err(DeclareError::TooHeavy { weight, max });
        }
        Ok(declared)
    }

    /// The complete coinbase (with its witness) for `extranonce` (the full extranonce).
    pub fn coinbase(&self, extranonce: &[u8]) -> Result<Transaction, DeclareError> {
        if extranonce.len() != self.full_extranonce_size {
            return Err(DeclareError::Extranonce(extranonce.len()));
        }
        let mut bytes = self.prefix.clone();
        bytes.extend_from_slice(extranonce);
        bytes.extend_from_slice(&self.suffix);
        encode::deserialize(&bytes).map_err(|e| DeclareError::Template(e.to_string()))
    }

    /// The wtxids of the template's transactions in block order (DeclareMiningJob).
    pub fn wtxids(&self) -> Vec<[u8; 32]> {
        self.template
            .transactions
            .iter()
            .map(|t| t.compute_wtxid().to_raw_hash().to_byte_array())
            .collect()
    }

    /// DeclareMiningJob for `token`.
    pub fn declare(
        &self,
        request_id: u32,
        token: &[u8],
    ) -> Result<DeclareMiningJobOwned, DeclareError> {
        let bad = |what: &str| DeclareError::Template(format!("{what} does not fit the message"));
        let wtxids: Vec<U256Owned> = self.wtxids().into_iter().map(U256Owned::from).collect();
        Ok(DeclareMiningJobOwned {
            request_id,
            mining_job_token: B0255Owned::new(token.to_vec()).map_err(|_| bad("token"))?,
            version: self.template.version as u32,
            coinbase_tx_prefix: B064KOwned::new(self.prefix.clone()).map_err(|_| bad("prefix"))?,
            coinbase_tx_suffix: B064KOwned::new(self.suffix.clone()).map_err(|_| bad("suffix"))?,
            wtxid_list: Seq064KOwned::new(wtxids).map_err(|_| bad("wtxid list"))?,
            excess_data: B064KOwned::new(Vec::new()).map_err(|_| bad("excess data"))?,
        })
    }

    /// The time headers of this job start from, when no earlier job on the same previous
    /// block set one: the template's current time.
    pub fn default_min_ntime(&self) -> u32 {
        self.template.curtime.max(self.template.mintime)
    }

    /// The chain tip the job builds on, with the time its headers start from.
    pub fn chain_tip(&self, min_ntime: u32) -> ChainTip {
        ChainTip::new(
            U256Owned::from(self.template.prev_hash.to_byte_array()),
            self.template.bits.to_consensus(),
            min_ntime,
        )
    }

    /// SetCustomMiningJob on `channel_id` with the token DeclareMiningJob.Success gave, its
    /// headers starting at `min_ntime`.
    pub fn custom_job(
        &self,
        channel_id: u32,
        request_id: u32,
        token: &[u8],
        min_ntime: u32,
    ) -> Result<SetCustomMiningJobOwned, DeclareError> {
        let token = B0255Owned::new(token.to_vec())
            .map_err(|_| DeclareError::Template("token does not fit the message".into()))?;
        self.factory
            .new_custom_job(
                channel_id,
                request_id,
                token,
                self.chain_tip(min_ntime),
                self.new_template.clone(),
                self.outputs[..self.outputs.len() - self.template_outputs()].to_vec(),
                self.full_extranonce_size,
            )
            .map_err(|e| DeclareError::Template(format!("{e:?}")))
    }

    fn template_outputs(&self) -> usize {
        self.new_template.coinbase_tx_outputs_count as usize
    }

    /// The transactions at `positions` of the wtxid list, serialized with their witnesses
    /// (ProvideMissingTransactions.Success). Each at most once: the answer is never larger
    /// than the block.
    pub fn missing(&self, positions: &[u16]) -> Result<Vec<Vec<u8>>, DeclareError> {
        let count = self.template.transactions.len();
        let mut seen = std::collections::BTreeSet::new();
        if let Some(&twice) = positions.iter().find(|&&p| !seen.insert(p)) {
            return Err(DeclareError::MissingTwice(twice));
        }
        positions
            .iter()
            .map(|&position| {
                self.template
                    .transactions
                    .get(usize::from(position))
                    .map(encode::serialize)
                    .ok_or(DeclareError::MissingPosition { position, count })
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests;
